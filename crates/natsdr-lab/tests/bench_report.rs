//! The bench's arithmetic and its report writer, on made-up runs (no servers): the statistics,
//! the phase summaries, the overhead, the target verdicts, the /proc parsing and the Markdown.
use std::collections::BTreeMap;
use std::time::Duration;

use natsdr_lab::bench::{
    BackupFigures, BenchReport, ConsumersBench, ConsumersCpu, Footprint, LossAtKill, OutageCase,
    Promoted, RtoProfile, ScaleRto, Switchover, cpu_percent, parse_stat_ticks, parse_vm_hwm_kib,
    parse_vm_rss_kib, render_backup,
};
use natsdr_lab::demo::{Consumers, Phases, Report, Scenario, Steps};
use natsdr_lab::lab::WanProfile;

fn failover(rto: u64, fence: u64) -> Report {
    Report {
        scenario: Scenario::RegionLoss,
        nats_version: "2.15.1".into(),
        failover: true,
        rto_ms: Some(rto),
        phases_ms: Phases {
            detect: Some(rto / 10),
            confirm: Some(rto - 1_000),
            claim: Some(rto - 900),
            failed_over: Some(rto - 300),
            dns_swapped: Some(rto - 200),
            first_ack: Some(rto),
        },
        steps_ms: Steps {
            claim: Some(40),
            fence: Some(fence),
            promote: Some(120),
            dns: Some(30),
        },
        ok: true,
        ..Report::default()
    }
}

fn default_profile(runs: Vec<Result<Report, String>>) -> RtoProfile {
    RtoProfile::from_runs("default", WanProfile::Lan, BTreeMap::new(), 5_000, runs)
}

#[test]
fn ten_runs_give_the_median_and_the_nearest_rank_p95_of_the_rto_and_of_each_phase() {
    let runs = (1..=10u64)
        .map(|i| Ok(failover(6_000 + i * 100, i)))
        .collect();
    let p = default_profile(runs);
    let total = p.total.unwrap();
    assert_eq!((total.n, total.median, total.p95), (10, 6_500, 7_000));
    let overhead = p.overhead.unwrap();
    assert_eq!((overhead.median, overhead.p95), (1_500, 2_000));
    assert_eq!(p.offsets["confirm"].median, 5_500);
    assert_eq!(p.steps["fence"].median, 5);
    assert_eq!(p.steps["fence"].p95, 10);
    assert!(p.failures.is_empty(), "{:?}", p.failures);
}

#[test]
fn a_failed_run_is_reported_and_left_out_of_the_statistics() {
    let no_move = Report {
        failover: false,
        rto_ms: None,
        unmet: vec!["failover was false, expected true".into()],
        ..failover(9_999, 1)
    };
    let p = default_profile(vec![
        Ok(failover(6_000, 1)),
        Err("lab: nats-server did not start".into()),
        Ok(no_move),
    ]);
    assert_eq!(p.total.unwrap().n, 1);
    assert_eq!(p.failures.len(), 2, "{:?}", p.failures);
    assert!(p.failures[0].starts_with("run 2: lab"), "{:?}", p.failures);
    assert!(p.failures[1].contains("no failover"), "{:?}", p.failures);
}

#[test]
fn an_rto_inside_the_detection_window_has_no_negative_overhead() {
    let p = default_profile(vec![Ok(failover(4_000, 1))]);
    assert_eq!(p.overhead.unwrap().median, 0);
}

#[test]
fn switchover_losses_add_up_and_unavailability_is_the_longest_ack_gap() {
    let run = |gap, lost| {
        Ok(Report {
            scenario: Scenario::Switchover,
            failover: true,
            max_ack_gap_ms: gap,
            acked_lost: lost,
            ..Report::default()
        })
    };
    let s = Switchover::from_runs(vec![run(800, 0), run(1_200, 2), run(900, 0)]);
    assert_eq!(s.acked_lost, 2);
    let u = s.unavailability.unwrap();
    assert_eq!((u.median, u.max), (900, 1_200));
}

fn measured() -> BenchReport {
    let mut r = BenchReport {
        nats_version: "2.15.1".into(),
        command: "natsdr-lab bench --runs 10".into(),
        rto: vec![default_profile(
            (0..10).map(|i| Ok(failover(4_000 + i * 10, 1))).collect(),
        )],
        switchover: Switchover::from_runs(vec![Ok(Report {
            failover: true,
            ..Report::default()
        })]),
        footprint: vec![
            Footprint {
                streams: 100,
                rss_kib: Some(20 * 1024),
                cpu_percent: Some(3.5),
                ..Footprint::default()
            },
            Footprint {
                streams: 1000,
                probe_round_ms: BTreeMap::from([
                    ("eu-central-1".to_owned(), 1_400.0),
                    ("us-east-1".to_owned(), 300.0),
                ]),
                ..Footprint::default()
            },
        ],
        ..BenchReport::default()
    };
    r.check_targets();
    r
}

fn verdict(r: &BenchReport, what: &str) -> Option<bool> {
    r.targets
        .iter()
        .find(|t| t.what.starts_with(what))
        .unwrap_or_else(|| panic!("no target {what}: {:?}", r.targets))
        .met
}

#[test]
fn each_target_is_met_missed_or_not_measured_as_the_figures_say() {
    let r = measured();
    assert_eq!(verdict(&r, "RTO median"), Some(true));
    assert_eq!(verdict(&r, "RTO p95"), Some(true));
    assert_eq!(verdict(&r, "messages lost"), Some(true));
    assert_eq!(verdict(&r, "watchdog RSS"), Some(true));
    assert_eq!(verdict(&r, "watchdog CPU"), Some(false));
    // The slowest region decides.
    assert_eq!(verdict(&r, "probe round"), Some(false));

    let mut empty = BenchReport::default();
    empty.check_targets();
    assert!(
        empty.targets.iter().all(|t| t.met.is_none()),
        "{:?}",
        empty.targets
    );
}

#[test]
fn the_markdown_states_the_server_version_the_settings_and_every_verdict() {
    let mut r = measured();
    r.rto[0].settings = BTreeMap::from([("failover_delay".to_owned(), "5s".to_owned())]);
    let md = r.markdown();
    assert!(md.contains("nats-server 2.15.1"), "{md}");
    assert!(
        md.contains("Generated by `natsdr-lab bench --runs 10`"),
        "{md}"
    );
    assert!(md.contains("`failover_delay = 5s`"), "{md}");
    assert!(
        md.contains("| **RTO** (fault -> first acked publish in EU) | 4040 | 4090 |"),
        "{md}"
    );
    assert!(
        md.contains("| watchdog CPU at 100 streams | <= 2% of a core | 3.50% of a core | **no** |"),
        "{md}"
    );
    assert!(md.contains("| 100 | 0 | 20.0 / - | 3.50 |"), "{md}");
}

#[test]
fn each_network_profile_gets_its_row_with_loss_against_lag_and_dual_writes() {
    let lossy = |rto, lost, lag| {
        Ok(Report {
            acked_lost: lost,
            lag_at_kill: lag,
            dual_writes: 0,
            ..failover(rto, 1)
        })
    };
    let far = RtoProfile::from_runs(
        "default",
        WanProfile::Far,
        BTreeMap::new(),
        4_000,
        vec![
            lossy(6_000, 2, Some(5)),
            lossy(7_000, 0, None),
            Err("lab: no".into()),
        ],
    );
    assert_eq!(
        far.loss_at_kill,
        [
            LossAtKill {
                acked_lost: 2,
                lag_at_kill: Some(5)
            },
            LossAtKill {
                acked_lost: 0,
                lag_at_kill: None
            }
        ]
    );
    let mut r = BenchReport {
        rto: vec![
            default_profile(vec![lossy(5_000, 0, Some(0))]),
            RtoProfile {
                wan: WanProfile::Transatlantic,
                ..default_profile(vec![lossy(5_500, 0, Some(0))])
            },
            far,
        ],
        ..BenchReport::default()
    };
    r.check_targets();
    let md = r.markdown();
    assert!(
        md.contains("| far | default | 2/3 | 6000 | 7000 | 2/5, 0/? | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("### Profile `default`, `transatlantic` network"),
        "{md}"
    );
    // The target is judged on the deployment's own distance.
    let median = r
        .targets
        .iter()
        .find(|t| t.what.starts_with("RTO median"))
        .unwrap();
    assert!(median.what.ends_with("transatlantic network"), "{median:?}");
    assert!(median.measured.starts_with("5500 ms"), "{median:?}");
}

#[test]
fn an_isolation_that_failed_over_misses_the_false_failover_target_and_shows_in_bold() {
    let case = |secs: u64, moved: bool| OutageCase {
        case: format!("US isolated for {secs} s"),
        wan: WanProfile::Transatlantic,
        hold_ms: Some(secs * 1000),
        failed_over: moved,
        write_outage_ms: Some(secs * 1000 + 120),
        fences: u64::from(moved),
        // How far the standby counted: none when it failed over (never left suspect).
        closest_ms: (!moved).then_some(secs * 1000 + 400),
        ..OutageCase::default()
    };
    let mut r = BenchReport {
        false_failover: vec![case(1, false), case(3, true)],
        availability: vec![OutageCase {
            error: Some("lab: nats-server missing".into()),
            ..case(2, false)
        }],
        ..BenchReport::default()
    };
    r.check_targets();
    assert_eq!(verdict(&r, "false failovers"), Some(false));
    let md = r.markdown();
    assert!(
        md.contains("| US isolated for 3 s | transatlantic | **yes** | - | 3120 | 1 | 0 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("| US isolated for 1 s | transatlantic | no | 1400 | 1120 | 0 | 0 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("- failed: US isolated for 2 s (transatlantic): lab: nats-server missing"),
        "{md}"
    );
    // Parts that did not run are left out, not shown empty.
    for absent in [
        "## Planned switchover",
        "## Footprint",
        "No fence was attempted",
    ] {
        assert!(!md.contains(absent), "{absent}: {md}");
    }
    r.false_failover.pop();
    r.check_targets();
    assert_eq!(verdict(&r, "false failovers"), Some(true));
}

#[test]
fn proc_stat_times_are_read_past_a_command_name_with_spaces_and_parentheses() {
    let stat = "4242 (natsdr (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 17 5 0 0 20 0 9 0 100 \
                2000000 3000 18446744073709551615";
    assert_eq!(parse_stat_ticks(stat), Some(22));
    assert_eq!(parse_stat_ticks("garbage"), None);
}

#[test]
fn vm_rss_is_read_in_kib() {
    let status = "Name:\tnatsdr\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
    assert_eq!(parse_vm_rss_kib(status), Some(12_345));
    assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
}

#[test]
fn the_peak_rss_is_read_from_vm_hwm_not_vm_rss() {
    let status = "Name:\tnatsdr\nVmHWM:\t   65432 kB\nVmRSS:\t   12345 kB\n";
    assert_eq!(parse_vm_hwm_kib(status), Some(65_432));
    assert_eq!(parse_vm_hwm_kib("VmRSS:\t 1 kB\n"), None);
}

fn backup_figures() -> BackupFigures {
    BackupFigures {
        store: "s3s-fs 0.14.1".into(),
        messages: 8192,
        stream_bytes: 1024 * 1024 * 1024,
        object_bytes: Some(1_073_000_000),
        snapshot_ms: Some(4_000),
        backup_ms: Some(10_240),
        backup_peak_rss_kib: Some(64 * 1024),
        restore_ms: None,
        restore_peak_rss_kib: None,
        error: Some("natsdr backup restore: exit status: 1: access denied".into()),
    }
}

#[test]
fn the_backup_section_shows_each_steps_throughput_and_peak_rss_next_to_the_raw_snapshot() {
    let b = backup_figures();
    assert_eq!(b.mib_per_s(Some(2_000)), Some(512.0));
    assert_eq!(b.mib_per_s(None), None);
    let text = render_backup(&b);
    assert!(
        text.starts_with("## Backup and restore throughput\n"),
        "{text}"
    );
    assert!(
        text.contains("8192 messages") && text.contains("1024.0 MiB stored"),
        "{text}"
    );
    assert!(text.contains("s3s-fs 0.14.1"), "{text}");
    assert!(
        text.contains("| JetStream snapshot API alone (into nothing) | 4000 | 256.0 | - |"),
        "{text}"
    );
    assert!(
        text.contains("| `natsdr backup run` (snapshot to S3, manifest) | 10240 | 100.0 | 64.0 |"),
        "{text}"
    );
    assert!(
        text.contains("| `natsdr backup restore --replace` (verify, restore) | - | - | - |"),
        "{text}"
    );
    assert!(
        text.contains("- failed: natsdr backup restore: exit status: 1: access denied"),
        "{text}"
    );

    // In the whole report only when the part ran, and in its JSON under "backup".
    let mut r = BenchReport::default();
    assert!(!r.markdown().contains("## Backup"));
    assert!(serde_json::to_value(&r).unwrap().get("backup").is_none());
    r.backup = Some(b);
    assert!(r.markdown().ends_with(&text));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["backup"]["backup_peak_rss_kib"], 65_536);
    assert!(json["backup"]["restore_ms"].is_null());
}

#[test]
fn cpu_ticks_over_a_window_are_a_share_of_one_core() {
    let pct = cpu_percent(50, 100, Duration::from_secs(10));
    assert!((pct - 5.0).abs() < 1e-9, "{pct}");
}

#[test]
fn the_consumer_part_shows_each_runs_redeliveries_against_its_bound_the_cpu_medians_and_the_added_rto()
 {
    let run = |redelivered, bound| Consumers {
        tracked: 1,
        recreated: 1,
        redelivered,
        never_delivered: 0,
        bound,
    };
    let r = BenchReport {
        consumers: ConsumersBench {
            region_loss: vec![run(66, 167), run(70, 170)],
            switchover: vec![run(0, 25)],
            cpu: Some(ConsumersCpu {
                streams: 100,
                consumers: 1000,
                window_s: 5,
                baseline_samples: vec![3.0, 1.0, 2.0],
                baseline_percent: 2.0,
                tracking_samples: vec![4.5, 4.0, 6.0],
                tracking_percent: 4.5,
                error: None,
            }),
            recreated: 100,
            rto_without: natsdr_lab::bench::Summary::of(&[4_700, 4_800, 4_750]),
            rto_with: natsdr_lab::bench::Summary::of(&[4_900, 5_000, 4_950]),
            failures: vec!["switchover run 2: lab did not start".into()],
        },
        ..BenchReport::default()
    };
    let md = r.markdown();
    assert!(md.contains("## Durable consumers across a move"), "{md}");
    assert!(
        md.contains("| region loss | 2 | 70 | 170 | 0 | 1 | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("| switchover | 1 | 0 | 25 | 0 | 1 | 1 |"),
        "{md}"
    );
    assert!(md.contains("| 0 | 2.00 | 3.00, 1.00, 2.00 |"), "{md}");
    assert!(md.contains("| 1000 | 4.50 | 4.50, 4.00, 6.00 |"), "{md}");
    assert!(md.contains("| RTO, 100 more durables | 4950 |"), "{md}");
    assert!(
        md.contains("Added by recreating them (medians): 200 ms."),
        "{md}"
    );
    assert!(md.contains("- failed: switchover run 2"), "{md}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["consumers"]["region_loss"][1]["redelivered"], 70);
    assert_eq!(json["consumers"]["cpu"]["tracking_percent"], 4.5);
}

#[test]
fn a_bench_without_the_consumer_part_renders_no_consumer_section() {
    assert!(
        !BenchReport::default()
            .markdown()
            .contains("Durable consumers")
    );
}

#[test]
fn check_config_times_render_per_stream_and_judge_the_hundred_thousand_target() {
    let mut r = BenchReport {
        config_check: vec![
            natsdr_lab::bench::ConfigCheck {
                streams: 1_000,
                runs_ms: vec![40, 42, 41],
                median_ms: Some(41),
                error: None,
            },
            natsdr_lab::bench::ConfigCheck {
                streams: 100_000,
                runs_ms: vec![6_000, 6_100, 5_900],
                median_ms: Some(6_000),
                error: None,
            },
        ],
        ..BenchReport::default()
    };
    r.check_targets();
    assert_eq!(verdict(&r, "`natsdr check-config`"), Some(false));
    let md = r.markdown();
    assert!(md.contains("| 1000 | 40, 42, 41 | 41 | 41.0 |"), "{md}");
    assert!(
        md.contains("| 100000 | 6000, 6100, 5900 | 6000 | 60.0 |"),
        "{md}"
    );
    r.config_check[1].median_ms = Some(900);
    r.check_targets();
    assert_eq!(verdict(&r, "`natsdr check-config`"), Some(true));
}

fn scale_row(
    streams: usize,
    rss_mib: u64,
    cpu: f64,
    promote: u64,
    seq: u64,
    conc: u64,
) -> Footprint {
    Footprint {
        streams,
        window_s: 20,
        rss_kib: Some(rss_mib * 1024),
        rss_max_kib: Some(rss_mib * 1024),
        cpu_percent: Some(cpu),
        probe_round_ms: BTreeMap::from([("eu-central-1".to_owned(), 40.0)]),
        promote_ms: Some(promote),
        baseline_read_ms: Some(9),
        baseline_list_ms: Some(7),
        baseline_promote_sequential_ms: Some(seq),
        baseline_promote_concurrent_ms: Some(conc),
        promoted: Promoted {
            natsdr: Some(streams),
            baseline_sequential: Some(streams),
            baseline_concurrent: Some(streams),
        },
        ..Footprint::default()
    }
}

#[test]
fn per_stream_figures_divide_by_the_streams_and_marginal_ones_by_the_streams_added() {
    let small = scale_row(100, 20, 1.0, 200, 700, 180);
    let big = scale_row(1000, 38, 4.6, 2_000, 7_000, 1_600);
    assert_eq!(small.cpu_per_stream(), Some(0.01));
    assert_eq!(small.rss_kib_per_stream(), Some(20.0 * 1024.0 / 100.0));
    let (cpu, rss) = big.marginal_since(&small).unwrap();
    assert!((cpu - 3.6 / 900.0).abs() < 1e-12, "{cpu}");
    assert!((rss - 18.0 * 1024.0 / 900.0).abs() < 1e-9, "{rss}");
    assert_eq!(small.marginal_since(&big), None, "fewer streams is no base");
    // Against the faster of the two plain loops.
    assert_eq!(big.promote_vs_floor(), Some(2_000.0 / 1_600.0));
    let none = Footprint {
        streams: 0,
        ..Footprint::default()
    };
    assert_eq!(
        (none.cpu_per_stream(), none.promote_vs_floor()),
        (None, None)
    );
}

#[test]
fn the_scale_tables_show_natsdr_next_to_the_floor_and_the_targets_judge_them() {
    let mut r = BenchReport {
        footprint: vec![
            scale_row(5000, 120, 24.0, 9_000, 30_000, 8_000),
            scale_row(100, 20, 1.0, 200, 700, 180),
            scale_row(1000, 38, 4.6, 2_000, 7_000, 1_600),
        ],
        scale_rto: vec![ScaleRto {
            streams: 1000,
            rto: default_profile(vec![
                Ok(failover(7_000, 1)),
                Ok(failover(7_400, 1)),
                Ok(failover(9_000, 1)),
            ]),
        }],
        ..BenchReport::default()
    };
    r.check_targets();
    assert_eq!(
        verdict(&r, "RTO median on region loss with 1,000 mirrored streams"),
        Some(true)
    );
    assert_eq!(verdict(&r, "watchdog CPU at 1,000 streams"), Some(true));
    assert_eq!(verdict(&r, "watchdog RSS at 1,000 streams"), Some(true));
    // Marginal from 1,000 to 5,000: 19.4% / 4,000 = 0.00485% a stream against 0.01% at 100;
    // RSS 82 MiB / 4,000 = 21 KiB against 204.8 KiB.
    assert_eq!(
        verdict(&r, "CPU and RSS per stream at 5,000 streams against 100"),
        Some(true)
    );
    assert_eq!(
        verdict(
            &r,
            "natsdr's promotion of 1,000 mirrors against the plain client's best loop"
        ),
        Some(true)
    );
    let md = r.markdown();
    assert!(
        md.contains("## Scale: one watchdog at N mirrored streams"),
        "{md}"
    );
    // Rows in stream order, marginal figures from the next smaller size.
    let at100 = md.find("| 100 | 20 |").unwrap();
    let at1000 = md.find("| 1000 | 20 |").unwrap();
    assert!(at100 < at1000, "{md}");
    assert!(
        md.contains("| 1000 | 20 | 38.0 / 38.0 | 4.60 | 0.00460 / 38.9 | 0.00400 / 20.5 |"),
        "{md}"
    );
    assert!(
        md.contains("| 1000 | 40 | 9 / 7 | - | 2000 | 7000 | 1600 | 1.25x | 1000 / 1000 / 1000 |"),
        "{md}"
    );
    assert!(
        md.contains("## RTO on region loss with many mirrored streams"),
        "{md}"
    );
    assert!(
        md.contains("| 1000 + 3 | default | lan | 3 | 7400 / 9000 |"),
        "{md}"
    );

    r.footprint[2].promote_ms = Some(2_500);
    r.footprint[2].cpu_percent = Some(5.5);
    r.check_targets();
    assert_eq!(verdict(&r, "watchdog CPU at 1,000 streams"), Some(false));
    assert_eq!(
        verdict(
            &r,
            "natsdr's promotion of 1,000 mirrors against the plain client's best loop"
        ),
        Some(false)
    );
}
