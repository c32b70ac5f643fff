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

/// A readable table of a status.
pub fn render(s: &Status) -> String {
    let mut o = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    o += &format!("watchdog  {} ({} in {})\n", s.watchdog, s.role, s.site);
    o += &format!("state     {}   mode {}\n", s.state, s.mode);
    o += &format!(
        "epoch     {}   active {}   dns -> {}\n",
        opt(s.epoch.map(|e| e.to_string())),
        opt(s.active_region.as_ref().map(ToString::to_string)),
        opt(s.dns_points_at.as_ref().map(ToString::to_string))
    );
    o += &format!("next      {}\n\n", s.next);
    o += "REGION          HOME     UP    SERVERS  FENCED  EPOCH\n";
    for r in &s.regions {
        o += &format!(
            "{:<15} {:<8} {:<5} {}/{:<6} {:<7} {}\n",
            r.region.to_string(),
            r.home,
            r.up,
            r.servers,
            r.cluster_size,
            r.fenced,
            opt(r.epoch_stamp.map(|e| e.to_string()))
        );
    }
    if s.regions.iter().any(|r| r.depth != RegionDepth::default()) {
        o += "\nREGION          META LEADER      PEERS(cur/off)  PEER ACTIVE(s)  HEALTHZ(ok/of)  LEAFNODES\n";
        for r in &s.regions {
            let d = &r.depth;
            let pair = |a: Option<u32>, b: Option<u32>| match (a, b) {
                (Some(a), Some(b)) => format!("{a}/{b}"),
                _ => "-".into(),
            };
            o += &format!(
                "{:<15} {:<16} {:<15} {:<15} {:<15} {}\n",
                r.region.to_string(),
                opt(d.meta_leader_name.clone()),
                pair(d.meta_peers_current, d.meta_peers_offline),
                opt(d.meta_peer_active_max_seconds.map(|v| format!("{v:.1}"))),
                pair(d.healthz_ok, d.healthz_answered),
                opt(d.leafnodes.map(|v| v.to_string()))
            );
        }
    }
    o += "\nMIRROR               SOURCE          LAG(msgs)  LAG(s)  ACTIVE(s)  PROMOTED\n";
    for m in &s.mirrors {
        o += &format!(
            "{:<20} {:<15} {:<10} {:<7} {:<10} {}\n",
            m.stream,
            m.source,
            opt(m.lag_messages.map(|v| v.to_string())),
            opt(m.lag_seconds.map(|v| format!("{v:.1}"))),
            opt(m.active_age_seconds.map(|v| format!("{v:.1}"))),
            m.promoted
        );
    }
    if !s.consumers.is_empty() {
        o += "\nCONSUMERS ON           READ FROM                      TRACKED  OLDEST(s)  AT RISK  ERROR\n";
        for c in &s.consumers {
            o += &format!(
                "{:<22} {:<30} {:<8} {:<10} {:<8} {}\n",
                format!("{}/{}", c.region, c.stream),
                c.read_from,
                c.consumers,
                opt(c.oldest_position_age_seconds.map(|v| format!("{v:.1}"))),
                c.redelivery_at_risk,
                opt(c.error.clone())
            );
        }
    }
    if !s.peers.is_empty() {
        o += "\nPEER                           VANTAGE  ID                    AGE(s)  ERROR\n";
        for p in &s.peers {
            o += &format!(
                "{:<30} {:<8} {:<21} {:<7} {}\n",
                p.url,
                p.vantage,
                opt(p.id.clone()),
                opt(p.age_seconds.map(|v| format!("{v:.1}"))),
                opt(p.error.clone())
            );
        }
    }
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
        let lines: Vec<&str> = out.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.contains("META LEADER"))
            .unwrap();
        let us: Vec<&str> = lines[header + 1].split_whitespace().collect();
        assert_eq!(us, ["us-east-1", "us-1", "1/1", "4.3", "2/2", "3"]);
        let eu: Vec<&str> = lines[header + 2].split_whitespace().collect();
        assert_eq!(eu, ["eu-central-1", "-", "-", "-", "-", "-"]);
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
        let lines: Vec<&str> = out.lines().collect();
        let header = lines.iter().position(|l| l.contains("TRACKED")).unwrap();
        let row: Vec<&str> = lines[header + 1].split_whitespace().collect();
        assert_eq!(
            row,
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
        let lines: Vec<&str> = out.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("PEER ")).unwrap();
        let us: Vec<&str> = lines[header + 1].split_whitespace().collect();
        assert_eq!(
            us,
            ["http://127.0.0.1:18082", "peer", "natsdr-us", "0.7", "-"]
        );
        let witness: Vec<&str> = lines[header + 2].split_whitespace().collect();
        assert_eq!(
            witness[..4],
            ["http://127.0.0.1:18083", "witness", "-", "-"]
        );
        assert!(lines[header + 2].ends_with("peer http://127.0.0.1:18083 unreachable"));
    }
}
