//! Operator commands against a running watchdog's API: `status`, `pause`, `resume`,
//! `switchover`, `failover`, `failback`, `ack`. Like patronictl: nobody needs curl.
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::exit;
use crate::api::model::{CommandOutcome, RegionDepth, Status};

/// Where the watchdog's API is, and how to authenticate.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The watchdog's API base URL.
    #[arg(long, env = "NATSDR_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// A file holding the bearer token (the first token in it).
    #[arg(long, env = "NATSDR_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the raw JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A command's arguments.
#[derive(Debug, Args)]
pub struct CommandArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Why (required): written to the audit log and shown in pages.
    #[arg(long)]
    pub reason: String,
    /// Ask what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client builds")
}

fn token(a: &ApiArgs) -> Result<Option<String>, String> {
    let Some(p) = &a.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    // Token files hold `name:role:token`, `name:token` or bare tokens; send the first one's secret.
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    Ok(line.map(|l| l.rsplit(':').next().unwrap_or(l).to_owned()))
}

/// The API's base URL, refused (EX_USAGE) without its scheme: `host:8080` would otherwise
/// fail later as an opaque "builder error".
fn base(a: &ApiArgs) -> Result<&str, u8> {
    if a.api.starts_with("http://") || a.api.starts_with("https://") {
        Ok(a.api.trim_end_matches('/'))
    } else {
        eprintln!(
            "natsdr: --api {:?} needs its scheme, e.g. https://{} or http://{}",
            a.api, a.api, a.api
        );
        Err(exit::USAGE)
    }
}

/// The exit code and message for an API answer that is not a success.
fn answered(what: &str, code: reqwest::StatusCode, body: &str) -> u8 {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    eprintln!("natsdr: {what}: {code}: {msg}");
    match code.as_u16() {
        401 | 403 => exit::UNAUTHORIZED,
        400 | 404 | 413 => exit::USAGE,
        409 => exit::REFUSED,
        _ => exit::FAILURE,
    }
}

fn unreachable(api: &str, e: &reqwest::Error) -> u8 {
    eprintln!("natsdr: cannot reach {api}: {}", crate::error_chain(e));
    exit::UNAVAILABLE
}

/// `natsdr status`: exit 0 when the watchdog is healthy, 3 when it answered in another state;
/// `--watch` repeats every N seconds until interrupted.
pub fn status(a: &ApiArgs, watch: Option<u64>) -> u8 {
    let Some(every) = watch else {
        return status_once(a, false);
    };
    loop {
        status_once(a, true);
        std::thread::sleep(Duration::from_secs(every.max(1)));
    }
}

fn status_once(a: &ApiArgs, clear: bool) -> u8 {
    let base = match base(a) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut req = client().get(format!("{base}/v1/status"));
    match token(a) {
        Ok(Some(t)) => req = req.bearer_auth(t),
        Ok(None) => {}
        Err(e) => return fail(&e),
    }
    let resp = match req.send() {
        Ok(r) => r,
        Err(e) => return unreachable(&a.api, &e),
    };
    let code = resp.status();
    let text = resp.text().unwrap_or_default();
    if !code.is_success() {
        return answered("status", code, &text);
    }
    let s = match serde_json::from_str::<Status>(&text) {
        Ok(s) => s,
        Err(e) => return fail(&format!("unexpected answer: {e}")),
    };
    let mut out = std::io::stdout().lock();
    if clear {
        // Clear the screen and go home: one table on screen, refreshed in place.
        let _ = write!(out, "\x1b[2J\x1b[H");
    }
    if a.json {
        let _ = writeln!(out, "{text}");
    } else {
        let _ = write!(out, "{}", render(&s));
    }
    if s.state == "healthy" {
        exit::OK
    } else {
        exit::REFUSED
    }
}

/// A table as wide as its content: a header row, then one row per item, columns separated by
/// two spaces, no borders (as `kubectl get` prints), so long names never misalign it.
fn table<T>(header: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(items.iter().map(row));
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    let mut out: String = t
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// [`table`] after a blank line; nothing at all when there are no items.
fn section<T>(header: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("\n{}", table(header, items, row))
    }
}

/// A readable table of a status: the state, then regions, their depth, mirrors, consumers,
/// peers and transitions, each with its error where there is one.
pub fn render(s: &Status) -> String {
    let mut o = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let secs = |v: Option<f64>| opt(v.map(|v| format!("{v:.1}")));
    o += &format!("watchdog  {} ({} in {})\n", s.watchdog, s.role, s.site);
    o += &format!("state     {}   mode {}\n", s.state, s.mode);
    o += &format!(
        "epoch     {}   active {}   dns -> {}\n",
        opt(s.epoch.map(|e| e.to_string())),
        opt(s.active_region.as_ref().map(ToString::to_string)),
        opt(s.dns_points_at.as_ref().map(ToString::to_string))
    );
    o += &format!("next      {}\n\n", s.next);
    o += &table(
        &[
            "REGION", "HOME", "UP", "SERVERS", "FENCED", "EPOCH", "ERROR",
        ],
        &s.regions,
        |r| {
            vec![
                r.region.to_string(),
                r.home.clone(),
                r.up.to_string(),
                format!("{}/{}", r.servers, r.cluster_size),
                r.fenced.to_string(),
                opt(r.epoch_stamp.map(|e| e.to_string())),
                opt(r.error.clone()),
            ]
        },
    );
    if s.regions.iter().any(|r| r.depth != RegionDepth::default()) {
        let pair = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => format!("{a}/{b}"),
            _ => "-".into(),
        };
        o += "\n";
        o += &table(
            &[
                "REGION",
                "META LEADER",
                "PEERS(cur/off)",
                "PEER ACTIVE(s)",
                "HEALTHZ(ok/of)",
                "LEAFNODES",
            ],
            &s.regions,
            |r| {
                let d = &r.depth;
                vec![
                    r.region.to_string(),
                    opt(d.meta_leader_name.clone()),
                    pair(d.meta_peers_current, d.meta_peers_offline),
                    secs(d.meta_peer_active_max_seconds),
                    pair(d.healthz_ok, d.healthz_answered),
                    opt(d.leafnodes.map(|v| v.to_string())),
                ]
            },
        );
    }
    o += "\n";
    o += &table(
        &[
            "MIRROR",
            "SOURCE",
            "LAG(msgs)",
            "LAG(s)",
            "ACTIVE(s)",
            "PROMOTED",
            "ERROR",
        ],
        &s.mirrors,
        |m| {
            vec![
                m.stream.clone(),
                m.source.clone(),
                opt(m.lag_messages.map(|v| v.to_string())),
                secs(m.lag_seconds),
                secs(m.active_age_seconds),
                m.promoted.to_string(),
                opt(m.error.clone()),
            ]
        },
    );
    o += &section(
        &[
            "CONSUMERS ON",
            "READ FROM",
            "TRACKED",
            "OLDEST(s)",
            "AT RISK",
            "ERROR",
        ],
        &s.consumers,
        |c| {
            vec![
                format!("{}/{}", c.region, c.stream),
                c.read_from.clone(),
                c.consumers.to_string(),
                secs(c.oldest_position_age_seconds),
                c.redelivery_at_risk.to_string(),
                opt(c.error.clone()),
            ]
        },
    );
    o += &section(
        &["PEER", "VANTAGE", "ID", "AGE(s)", "ERROR"],
        &s.peers,
        |p| {
            vec![
                p.url.clone(),
                p.vantage.clone(),
                opt(p.id.clone()),
                secs(p.age_seconds),
                opt(p.error.clone()),
            ]
        },
    );
    if !s.transitions.is_empty() {
        o += "\nRECENT TRANSITIONS\n";
        for t in s.transitions.iter().take(10) {
            o += &format!("{}  {} -> {}  {}\n", t.at, t.from, t.to, t.reason);
        }
    }
    o
}

/// `natsdr pause|resume|switchover|failover|failback|ack`: exit 0 when accepted, 3 when refused,
/// 77 when the token is refused, 69 when the watchdog cannot be reached.
pub fn command(name: &str, a: &CommandArgs, more: &Extra) -> u8 {
    let mut body = serde_json::json!({ "reason": a.reason, "dry_run": a.dry_run });
    if more.allow_data_loss {
        if !a.dry_run && !more.yes && !confirmed_break_glass() {
            return exit::USAGE;
        }
        body["allow_data_loss"] = true.into();
    }
    if let Some(to) = &more.to {
        body["to"] = to.clone().into();
    }
    let base = match base(&a.api) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut req = client().post(format!("{base}/v1/{name}")).json(&body);
    match token(&a.api) {
        Ok(Some(t)) => req = req.bearer_auth(t),
        Ok(None) => {}
        Err(e) => return fail(&e),
    }
    let resp = match req.send() {
        Ok(r) => r,
        Err(e) => return unreachable(&a.api.api, &e),
    };
    let code = resp.status();
    let text = resp.text().unwrap_or_default();
    if a.api.json {
        println!("{text}");
    }
    match serde_json::from_str::<CommandOutcome>(&text) {
        Ok(o) => {
            if !a.api.json {
                let verdict = match (o.accepted, o.dry_run) {
                    (true, true) => "would be accepted",
                    (true, false) => "accepted",
                    (false, _) => "refused",
                };
                println!("{name}: {verdict} (state {}): {}", o.state, o.message);
            }
            if o.accepted { exit::OK } else { exit::REFUSED }
        }
        Err(_) => answered(name, code, &text),
    }
}

/// What only some commands take.
#[derive(Debug, Default)]
pub struct Extra {
    /// Break-glass: fail over past the RPO budget.
    pub allow_data_loss: bool,
    /// The region to move the primary to (switchover, failover).
    pub to: Option<String>,
    /// Skip the typed confirmation of break-glass.
    pub yes: bool,
}

/// Asks the operator to type `lose data` before a break-glass failover; refuses (false) when
/// nobody is at a terminal to answer (scripts pass `--yes`).
fn confirmed_break_glass() -> bool {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "natsdr: --allow-data-loss may lose acknowledged messages; confirm with --yes when \
             no one can type the confirmation"
        );
        return false;
    }
    eprint!(
        "--allow-data-loss may lose acknowledged messages beyond the RPO budget.\n\
         Type `lose data` to proceed: "
    );
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim() == "lose data" {
        true
    } else {
        eprintln!("natsdr: not confirmed; nothing sent");
        false
    }
}

fn fail(msg: &str) -> u8 {
    eprintln!("natsdr: {msg}");
    exit::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{PeerStatus, RegionStatus};

    fn region(name: &str, depth: RegionDepth) -> RegionStatus {
        RegionStatus {
            region: crate::model::Region::new(name).unwrap(),
            home: "primary".into(),
            up: true,
            servers: 2,
            cluster_size: 3,
            meta_leader: true,
            fenced: false,
            epoch_stamp: None,
            error: None,
            depth,
        }
    }

    /// The lines of the first rendered table whose header names `column`: the header first,
    /// then its rows (up to the blank line that ends the table).
    fn table_of<'a>(out: &'a str, column: &str) -> Vec<&'a str> {
        out.lines()
            .skip_while(|l| !l.contains(column))
            .take_while(|l| !l.is_empty())
            .collect()
    }

    fn cells(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn the_status_table_shows_each_region_s_meta_peers_healthz_and_leafnodes() {
        let s = Status {
            regions: vec![
                region(
                    "us-east-1",
                    RegionDepth {
                        meta_leader_name: Some("us-1".into()),
                        meta_peers_current: Some(1),
                        meta_peers_offline: Some(1),
                        meta_peer_active_max_seconds: Some(4.26),
                        healthz_answered: Some(2),
                        healthz_ok: Some(2),
                        leafnodes: Some(3),
                    },
                ),
                region("eu-central-1", RegionDepth::default()),
            ],
            ..Status::default()
        };
        let out = render(&s);
        let depth = table_of(&out, "META LEADER");
        assert_eq!(
            cells(depth[1]),
            ["us-east-1", "us-1", "1/1", "4.3", "2/2", "3"]
        );
        assert_eq!(cells(depth[2]), ["eu-central-1", "-", "-", "-", "-", "-"]);
    }

    #[test]
    fn the_status_table_shows_each_stream_s_tracked_consumers_age_and_redeliveries_at_risk() {
        let s = Status {
            consumers: vec![crate::consumers::StreamSummary {
                stream: "events-eu-mirror".into(),
                region: "eu-central-1".into(),
                read_from: "us-east-1/events-us".into(),
                consumers: 2,
                oldest_position_age_seconds: Some(0.84),
                redelivery_at_risk: 37,
                error: None,
            }],
            ..Status::default()
        };
        let out = render(&s);
        assert_eq!(
            cells(table_of(&out, "CONSUMERS ON")[1]),
            [
                "eu-central-1/events-eu-mirror",
                "us-east-1/events-us",
                "2",
                "0.8",
                "37",
                "-"
            ]
        );
        assert!(!render(&Status::default()).contains("TRACKED"));
    }

    #[test]
    fn a_status_without_depth_shows_no_depth_table() {
        let s = Status {
            regions: vec![region("us-east-1", RegionDepth::default())],
            ..Status::default()
        };
        assert!(!render(&s).contains("META LEADER"));
    }

    #[test]
    fn the_status_table_lists_each_peer_with_its_age_and_last_error() {
        let s = Status {
            peers: vec![
                PeerStatus {
                    url: "http://127.0.0.1:18082".into(),
                    vantage: "peer".into(),
                    id: Some("natsdr-us".into()),
                    age_seconds: Some(0.73),
                    regions: Vec::new(),
                    error: None,
                },
                PeerStatus {
                    url: "http://127.0.0.1:18083".into(),
                    vantage: "witness".into(),
                    id: None,
                    age_seconds: None,
                    regions: Vec::new(),
                    error: Some("peer http://127.0.0.1:18083 unreachable".into()),
                },
            ],
            ..Status::default()
        };
        let out = render(&s);
        let peers = table_of(&out, "VANTAGE");
        assert_eq!(
            cells(peers[1]),
            ["http://127.0.0.1:18082", "peer", "natsdr-us", "0.7", "-"]
        );
        assert_eq!(
            cells(peers[2])[..4],
            ["http://127.0.0.1:18083", "witness", "-", "-"]
        );
        assert!(peers[2].ends_with("peer http://127.0.0.1:18083 unreachable"));
    }

    #[test]
    fn long_names_keep_the_columns_aligned_and_region_and_mirror_errors_are_shown() {
        let mut us = region("us-east-1", RegionDepth::default());
        us.up = false;
        us.error = Some("nats: connection refused".into());
        let s = Status {
            regions: vec![us, region("eu-central-1", RegionDepth::default())],
            mirrors: vec![
                crate::api::model::MirrorStatus {
                    stream: "a-very-long-mirror-name-for-tenant-0042-events".into(),
                    source: "us-east-1/events-tenant-0042".into(),
                    promoted: false,
                    lag_messages: Some(12),
                    lag_seconds: Some(0.5),
                    active_age_seconds: Some(0.2),
                    error: None,
                },
                crate::api::model::MirrorStatus {
                    stream: "m".into(),
                    source: "us-east-1/s".into(),
                    promoted: false,
                    lag_messages: None,
                    lag_seconds: None,
                    active_age_seconds: None,
                    error: Some("source unreachable".into()),
                },
            ],
            ..Status::default()
        };
        let out = render(&s);
        let regions = table_of(&out, "REGION");
        assert!(regions[1].ends_with("nats: connection refused"), "{out}");
        let mirrors = table_of(&out, "MIRROR");
        // Every column starts at the same offset in the header and in each row.
        let lag_at = mirrors[0].find("LAG(msgs)").unwrap();
        for row in &mirrors[1..] {
            assert_eq!(row.as_bytes()[lag_at - 1], b' ', "{row}");
            assert_ne!(row.as_bytes()[lag_at], b' ', "{out}");
        }
        assert_eq!(mirrors.len(), 3, "{out}");
        assert!(mirrors[2].ends_with("source unreachable"), "{out}");
    }
}
