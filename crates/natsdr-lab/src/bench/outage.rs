//! The bench's outage cases: a fresh lab under acked load through DNS, one fault held (an
//! isolation of the primary region, watchdogs started together, one watchdog restarted), and
//! what the client saw and natsdr did: a failover or not, the write outage, the fences.
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::report::OutageCase;
use crate::demo::LoadGen;
use crate::demo::run::{caught_up, connect_js, load_target};
use crate::demo::went_through;
use crate::lab::watchdogs::Watchdogs;
use crate::lab::{Lab, LabOptions, LabRegion, NetPath, Site, WanProfile};
use natsdr::api::model::TransitionRecord;
use natsdr::config::Config;
use natsdr::dns::{AnyArbiter, Arbiter as _, Ownership};
use natsdr::topology::{Desired, apply, expected};

/// How long a case is watched after its fault ends: well past the default `failover_delay`
/// (4.5 s) and a self-fenced primary's unfence, so a late failover or a fence's whole outage is
/// seen.
const OBSERVE_AFTER: Duration = Duration::from_secs(15);
/// Bound for the lab's and the watchdogs' start-up waits.
const WAIT: Duration = Duration::from_secs(90);

/// What a case does to the running lab.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Cut every path to and from US except its own watchdog's for this long, then heal.
    IsolateUs(Duration),
    /// Stop all three watchdogs (SIGTERM, as a redeploy of every overlay or a node pool
    /// restart does) and start them again at the same moment.
    StartTogether,
    /// Kill one watchdog and start it again at once.
    Restart(Site),
    /// Stop the US watchdog for good, let US serve on without it past a report's freshness,
    /// then isolate US (its clients still writing) for this long: nobody fences US, so the
    /// standby must not fail over to a second writable region.
    DeadWatchdog(Duration),
}

impl Fault {
    /// The case's name in the report.
    pub fn describe(self) -> String {
        match self {
            Self::IsolateUs(d) => format!("US isolated for {}", secs(d)),
            Self::StartTogether => "the three watchdogs started together".to_owned(),
            Self::Restart(site) => format!("the {site} watchdog restarted alone"),
            Self::DeadWatchdog(d) => {
                format!("US isolated for {} after its watchdog stopped", secs(d))
            }
        }
    }

    fn hold_ms(self) -> Option<u64> {
        match self {
            Self::IsolateUs(d) | Self::DeadWatchdog(d) => Some(millis(d)),
            Self::StartTogether | Self::Restart(_) => None,
        }
    }
}

/// `1 s`, `3.5 s`.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every path an isolation of US cuts: all that reach or leave US, except its own watchdog's
/// view of it (a region cut off from the world still sees itself).
pub fn isolation_paths() -> Vec<NetPath> {
    let us = Site::Us;
    NetPath::all()
        .into_iter()
        .filter(|p| match *p {
            NetPath::Leaf => true,
            NetPath::Client(_) => false,
            NetPath::Watchdog { from, to } => to == LabRegion::Us && from != us,
            NetPath::Peer { from, to } => from == us || to == us,
        })
        .collect()
}

/// Runs one case on a fresh lab whose places are `wan` apart; what fails is recorded in the
/// case's `error`.
pub async fn run_case(exe: &Path, wan: WanProfile, fault: Fault, n: usize) -> OutageCase {
    let mut case = OutageCase {
        case: fault.describe(),
        wan,
        hold_ms: fault.hold_ms(),
        observed_ms: millis(OBSERVE_AFTER),
        ..OutageCase::default()
    };
    let dir = std::env::temp_dir().join(format!("natsdr-bench-outage-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = async {
        let mut lab_opts = LabOptions::new(&dir).map_err(|e| natsdr::error_chain(&e))?;
        lab_opts.natsdr_exe = exe.to_owned();
        lab_opts.owner_pid = Some(std::process::id());
        lab_opts.wan = wan;
        let mut lab = Lab::up(lab_opts)
            .await
            .map_err(|e| natsdr::error_chain(&e))?;
        let r = drive(exe, &mut lab, fault, &mut case).await;
        let _ = lab.shutdown().await;
        r
    }
    .await;
    if let Err(e) = outcome {
        case.error = Some(e);
    }
    let _ = std::fs::remove_dir_all(&dir);
    case
}

async fn drive(
    exe: &Path,
    lab: &mut Lab,
    fault: Fault,
    case: &mut OutageCase,
) -> Result<(), String> {
    let chain = |e: &dyn std::error::Error| natsdr::error_chain(e);
    let m = lab.manifest().clone();
    let cfg = Config::load(&m.natsdr_config).map_err(|e| chain(&e))?;
    let apis = connect_js(&cfg).await.map_err(|e| chain(&e))?;
    let plan = expected(&Desired::from(&cfg)).map_err(|e| chain(&e))?;
    if let Some(bad) = apply(&plan, &apis).await.iter().find(|c| !c.is_change()) {
        return Err(format!("topology: {bad}"));
    }
    let (arbiter, _) = natsdr::dns::from_config(&cfg).await?;
    let mut dogs = Watchdogs::start(&m, exe, &[], WAIT)
        .await
        .map_err(|e| chain(&e))?;
    for site in [Site::Us, Site::Eu] {
        dogs.wait_for(site, WAIT, |s| s.state == "healthy" && caught_up(s))
            .await
            .map_err(|s| format!("the {site} watchdog never became healthy ({})", s.state))?;
    }
    let load = LoadGen::start(load_target(&m).map_err(|e| chain(&e))?)
        .map_err(|e| format!("load generator: {e}"))?;
    let warm = tokio::time::Instant::now() + Duration::from_secs(10);
    while load.snapshot().acks.len() < 100 && tokio::time::Instant::now() < warm {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = owner(&arbiter).await?;
    let logs: Vec<PathBuf> = Site::ALL
        .iter()
        .map(|s| m.dir.join("logs").join(format!("natsdr-{s}.log")))
        .collect();
    let marks: Vec<u64> = logs.iter().map(|l| log_len(l)).collect();

    let at = OffsetDateTime::now_utc();
    match fault {
        Fault::IsolateUs(hold) => {
            let paths = isolation_paths();
            lab.cut_all(&paths).await.map_err(|e| chain(&e))?;
            tokio::time::sleep(hold).await;
            lab.heal_all(&paths).await.map_err(|e| chain(&e))?;
        }
        Fault::StartTogether => {
            for site in Site::ALL {
                dogs.stop(site).await;
            }
            for site in Site::ALL {
                dogs.start_again(site).map_err(|e| chain(&e))?;
            }
        }
        Fault::Restart(site) => dogs.restart(site).map_err(|e| chain(&e))?,
        Fault::DeadWatchdog(hold) => {
            dogs.kill(Site::Us);
            // Past `peer_stale_after` (3 s): the others see US serve on without its watchdog.
            tokio::time::sleep(Duration::from_secs(5)).await;
            lab.cut_all(&isolation_paths())
                .await
                .map_err(|e| chain(&e))?;
            tokio::time::sleep(hold).await;
        }
    }
    tokio::time::sleep(OBSERVE_AFTER).await;
    let end = OffsetDateTime::now_utc();
    let ledger = load.stop().await;

    let after = owner(&arbiter).await?;
    let eu = dogs.status(Site::Eu).await.map_err(|e| chain(&e))?;
    let moved = match (&before, &after) {
        (Some(b), Some(a)) => a.epoch != b.epoch || a.region != b.region,
        _ => false,
    };
    case.failed_over = moved
        || went_through(&eu.transitions, "failing_over", at)
        || went_through(&eu.transitions, "failed_over", at);
    case.closest_ms = longest_down_count(&eu.transitions, at);
    case.standby_state = Some(eu.state.clone());
    case.standby_reason = Some(eu.next.clone());
    case.dual_writes = ledger.dual_writes(crate::demo::run::US_STREAM, crate::demo::run::EU_STREAM);
    let gap = ledger.longest_ack_gap(at);
    let last = ledger.acks.iter().map(|a| a.at).filter(|t| *t >= at).max();
    let tail = end - last.unwrap_or(at);
    case.write_outage_ms = Some(u64::try_from(gap.max(tail).whole_milliseconds()).unwrap_or(0));
    for (log, mark) in logs.iter().zip(marks) {
        let text = read_from(log, mark);
        let (fences, self_fenced) = count_fences(&text);
        case.fences += fences;
        case.self_fenced += self_fenced;
    }
    drop(dogs);
    Ok(())
}

async fn owner(arbiter: &AnyArbiter) -> Result<Option<Ownership>, String> {
    arbiter.read().await.map_err(|e| natsdr::error_chain(&e))
}

fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The log from byte `from` on (what the watchdog wrote during the case).
fn read_from(path: &Path, from: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Fence actions (`action=Fence { .. }`) and transitions into `self_fenced` in a watchdog's log
/// text, colours or not.
pub fn count_fences(log: &str) -> (u64, u64) {
    let mut fences = 0;
    let mut self_fenced = 0;
    for line in log.lines().map(strip_ansi) {
        if !line.contains(" INFO ") {
            continue;
        }
        if line.contains("action=Fence {") {
            fences += 1;
        }
        if line.contains("transition") && line.contains("to=SelfFenced") {
            self_fenced += 1;
        }
    }
    (fences, self_fenced)
}

/// How far the standby's count of the primary's outage got, ms, from its transitions at or after
/// `since`: each stay in `suspect` counts from the outage's start its entry names ("down by 2 of
/// 3 vantage points for 1.0s") to the transition out of it. A failover starts when the count
/// reaches `failover_delay`; none when the standby never suspected the primary.
pub fn longest_down_count(transitions: &[TransitionRecord], since: OffsetDateTime) -> Option<u64> {
    let mut ts: Vec<(OffsetDateTime, &TransitionRecord)> = transitions
        .iter()
        .filter_map(|t| Some((OffsetDateTime::parse(&t.at, &Rfc3339).ok()?, t)))
        .filter(|(at, _)| *at >= since)
        .collect();
    ts.sort_by_key(|(at, _)| *at);
    let mut longest = None;
    for (i, (entered, t)) in ts.iter().enumerate() {
        if t.to != "suspect" {
            continue;
        }
        let counted = counted_in(&t.reason).unwrap_or(Duration::ZERO);
        let Some((left, _)) = ts[i + 1..].iter().find(|(_, n)| n.from == "suspect") else {
            continue;
        };
        let stay = u64::try_from((*left - *entered).whole_milliseconds()).unwrap_or(0);
        let total = stay + millis(counted);
        longest = Some(longest.map_or(total, |l: u64| l.max(total)));
    }
    longest
}

/// The outage a suspect reason counts: `... vantage points for 1.0s; ...` gives 1 s.
fn counted_in(reason: &str) -> Option<Duration> {
    let rest = &reason[reason.find("vantage points for ")? + "vantage points for ".len()..];
    let secs = rest.split('s').next()?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// The line without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(at: &str, from: &str, to: &str, reason: &str) -> TransitionRecord {
        TransitionRecord {
            at: at.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            reason: reason.to_owned(),
            epoch: None,
        }
    }

    #[test]
    fn the_down_count_runs_from_the_outage_the_suspect_entry_names_to_leaving_suspect() {
        let since = OffsetDateTime::parse("2026-12-05T01:39:50Z", &Rfc3339).unwrap();
        // Newest first, as the API lists them; a stay before `since` is not counted.
        let ts = vec![
            tr(
                "2026-12-05T01:39:57.260Z",
                "degraded",
                "healthy",
                "us-east-1 healthy",
            ),
            tr(
                "2026-12-05T01:39:56.783Z",
                "suspect",
                "degraded",
                "not confirmed",
            ),
            tr(
                "2026-12-05T01:39:54.066Z",
                "degraded",
                "suspect",
                "primary us-east-1 down by 2 of 3 vantage points for 1.0s; failing over at 4.5s",
            ),
            tr(
                "2026-12-05T01:39:49.000Z",
                "suspect",
                "degraded",
                "not confirmed",
            ),
            tr(
                "2026-12-05T01:39:40.000Z",
                "healthy",
                "suspect",
                "primary us-east-1 down by 2 of 3 vantage points for 9.0s; failing over at 4.5s",
            ),
        ];
        assert_eq!(longest_down_count(&ts, since), Some(3_717));
        assert_eq!(longest_down_count(&ts[..2], since), None, "never suspected");
        // Still suspect at the end (a failover follows): no stay to measure.
        assert_eq!(longest_down_count(&ts[2..3], since), None);
    }

    #[test]
    fn an_isolation_cuts_every_path_of_us_but_its_own_watchdogs_view() {
        let names: Vec<String> = isolation_paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "leaf",
                "wd:eu->us-east-1",
                "wd:witness->us-east-1",
                "peer:us->eu",
                "peer:us->witness",
                "peer:eu->us",
                "peer:witness->us",
            ]
        );
    }

    #[test]
    fn fences_and_self_fences_are_counted_in_coloured_and_plain_logs() {
        let log = "\
2026-12-04T22:00:00Z \u{1b}[32m INFO\u{1b}[0m natsdr::driver: \u{1b}[3mfrom\u{1b}[0m\u{1b}[2m=\u{1b}[0mHealthy \u{1b}[3mto\u{1b}[0m\u{1b}[2m=\u{1b}[0mSelfFenced transition
2026-12-04T22:00:00Z \u{1b}[32m INFO\u{1b}[0m natsdr::driver: \u{1b}[3maction\u{1b}[0m\u{1b}[2m=\u{1b}[0mFence { region: \"us-east-1\" } action
2026-12-04T22:00:01Z  INFO natsdr::driver: action=Unfence { region: \"us-east-1\" } action
2026-12-04T22:00:01Z DEBUG natsdr::driver: action=Fence { region: \"us-east-1\" } planned
2026-12-04T22:00:02Z  INFO natsdr::driver: from=Healthy to=Suspect transition
2026-12-04T22:00:03Z  INFO natsdr::driver: action=Fence { region: \"us-east-1\" } action
";
        assert_eq!(count_fences(log), (2, 1));
    }

    #[test]
    fn isolations_are_named_in_seconds() {
        assert_eq!(
            Fault::IsolateUs(Duration::from_millis(3500)).describe(),
            "US isolated for 3.5 s"
        );
        assert_eq!(
            Fault::IsolateUs(Duration::from_secs(1)).describe(),
            "US isolated for 1 s"
        );
    }
}
