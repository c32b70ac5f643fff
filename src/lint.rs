//! `natsdr lint`: what would hurt in an incident, found before one. Pure: config in, findings out.
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Retention};
use crate::model::subjects_overlap;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Will lose data or time in some incident.
    Warning,
}

/// One finding: what, where, and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A stable id, for suppressing or grepping (`mirrored-workqueue`...).
    pub code: &'static str,
    /// The stream, bucket or key concerned.
    pub subject: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev:7} {:24} {}: {}",
            self.code, self.subject, self.message
        )
    }
}

/// The RTO natsdr aims for; a DNS TTL above it keeps clients on the old region longer.
const RTO_TARGET: Duration = Duration::from_secs(10);

/// Every finding for `cfg`, warnings first.
pub fn lint(cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, code, subject: String, message: String| {
        out.push(Finding {
            severity,
            code,
            subject,
            message,
        });
    };
    for m in &cfg.mirrors {
        let Some(src) = cfg.stream(&m.source_region, &m.source) else {
            continue;
        };
        match src.retention {
            Retention::WorkQueue | Retention::Interest => push(
                Severity::Warning,
                "mirrored-ack-retention",
                src.name.to_string(),
                format!(
                    "{:?} retention deletes acked messages, and mirrors do not copy deletes: {} keeps messages the source already removed, so consumers re-read them after a failover (ADR-58); prefer limits retention for mirrored streams",
                    src.retention, m.name
                ),
            ),
            Retention::Limits => {}
        }
        if src.duplicate_window.is_none() {
            push(
                Severity::Warning,
                "no-dedupe-window",
                src.name.to_string(),
                "no duplicate_window: publishers retrying across a failover, and failback's re-publish of the divergent tail, cannot be de-duplicated by Nats-Msg-Id".into(),
            );
        }
        if m.name != m.source {
            push(
                Severity::Warning,
                "mirror-renamed",
                m.name.to_string(),
                format!(
                    "named differently from its source {}: clients that bind a consumer by stream name break after a failover (binding by subject finds the promoted stream); give the mirror its source's name, which the other region's JetStream domain allows",
                    m.source
                ),
            );
        }
        if m.replicas < src.replicas {
            push(
                Severity::Warning,
                "mirror-fewer-replicas",
                m.name.to_string(),
                format!(
                    "{} replicas vs {} on its source: after promotion the stream is less durable than before",
                    m.replicas, src.replicas
                ),
            );
        }
        if m.limits.max_bytes < src.limits.max_bytes || m.limits.max_age < src.limits.max_age {
            push(
                Severity::Warning,
                "mirror-smaller-limits",
                m.name.to_string(),
                "smaller max_bytes or max_age than its source: the mirror holds less history than clients expect after promotion".into(),
            );
        }
    }
    for s in &cfg.streams {
        let region = cfg.region(&s.region).expect("validated");
        if u32::from(s.replicas) < u32::from(region.cluster_size).min(3) {
            push(
                Severity::Warning,
                "low-replicas",
                s.name.to_string(),
                format!(
                    "{} replica(s) in a {}-node cluster: losing one node loses this stream's quorum",
                    s.replicas, region.cluster_size
                ),
            );
        }
        if s.gdpr {
            let leaks: Vec<String> = cfg
                .streams
                .iter()
                .filter(|o| o.region != s.region)
                .flat_map(|o| o.subjects.iter().map(move |x| (o, x)))
                .filter(|(_, x)| s.subjects.iter().any(|g| subjects_overlap(g, x)))
                .map(|(o, x)| format!("{} ({x})", o.name))
                .collect();
            if !leaks.is_empty() {
                push(
                    Severity::Warning,
                    "gdpr-subject-reachable",
                    s.name.to_string(),
                    format!(
                        "GDPR-only, but streams in the other region capture overlapping subjects: {}; a publisher there stores this data outside {}",
                        leaks.join(", "),
                        s.region
                    ),
                );
            }
            continue;
        }
        let primary = &cfg.primary().name;
        if &s.region == primary && !cfg.mirrors.iter().any(|m| m.source == s.name) {
            push(
                Severity::Warning,
                "unprotected-stream",
                s.name.to_string(),
                format!(
                    "not mirrored to {}: a failover leaves its subjects with no stream (publishers get no responders) and its history behind",
                    cfg.standby().name
                ),
            );
        }
    }
    for k in &cfg.kv {
        if k.mirror_region.is_none() && k.region == cfg.primary().name {
            push(
                Severity::Warning,
                "unprotected-bucket",
                k.bucket.clone(),
                "KV bucket without mirror_region: a failover leaves it behind".into(),
            );
        }
    }
    if let Some(dns) = cfg.dns.as_ref().filter(|d| d.ttl > RTO_TARGET) {
        push(
            Severity::Warning,
            "dns-ttl-high",
            "dns.ttl".into(),
            format!(
                "{}: resolvers may keep clients on the old region this long after the swap, beyond the {}s RTO target; 5-10s is typical for failover records",
                humantime::format_duration(dns.ttl),
                RTO_TARGET.as_secs()
            ),
        );
    }
    push(
        Severity::Info,
        "deletes-not-mirrored",
        "*".into(),
        "message deletes and purges on a source are not copied by its mirror: purge both sides by hand when you must".into(),
    );
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Config {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/natsdr.example.toml");
        Config::load(&path).unwrap()
    }

    fn codes(cfg: &Config) -> Vec<(&'static str, String)> {
        lint(cfg).into_iter().map(|f| (f.code, f.subject)).collect()
    }

    /// Asserts that linting `cfg` reports `code` about `subject`.
    fn assert_reported(cfg: &Config, code: &str, subject: &str) {
        let found = codes(cfg);
        assert!(
            found.iter().any(|(c, s)| *c == code && s == subject),
            "no {code} about {subject} in {found:?}"
        );
    }

    fn stream<'a>(cfg: &'a mut Config, name: &str) -> &'a mut crate::config::StreamSpec {
        cfg.streams
            .iter_mut()
            .find(|s| s.name.as_str() == name)
            .unwrap()
    }

    #[test]
    fn the_seeds_unmirrored_notifications_stream_and_a_long_ttl_are_reported() {
        let mut cfg = example();
        assert!(!codes(&cfg).iter().any(|(c, _)| *c == "dns-ttl-high"));
        cfg.dns.as_mut().unwrap().ttl = Duration::from_secs(300);
        assert_reported(&cfg, "unprotected-stream", "notifications-us");
        assert_reported(&cfg, "dns-ttl-high", "dns.ttl");
        assert!(
            !codes(&cfg)
                .iter()
                .any(|(c, _)| *c == "mirrored-ack-retention")
        );
    }

    #[test]
    fn a_mirrored_workqueue_and_a_missing_dedupe_window_are_warned_about() {
        let mut cfg = example();
        let s = stream(&mut cfg, "audit-us");
        s.retention = Retention::WorkQueue;
        s.duplicate_window = None;
        assert_reported(&cfg, "mirrored-ack-retention", "audit-us");
        assert_reported(&cfg, "no-dedupe-window", "audit-us");
    }

    #[test]
    fn a_gdpr_stream_whose_subjects_another_region_captures_is_reported() {
        let mut cfg = example();
        stream(&mut cfg, "metrics-us")
            .subjects
            .push("gdpr.>".into());
        assert_reported(&cfg, "gdpr-subject-reachable", "events-eu-gdpr");
    }

    #[test]
    fn a_mirror_named_differently_from_its_source_is_reported_and_one_with_its_name_is_not() {
        let mut cfg = example();
        let m = cfg.mirrors.first().unwrap().clone();
        let renamed = m.name != m.source;
        let found = codes(&cfg);
        assert_eq!(
            found.contains(&("mirror-renamed", m.name.to_string())),
            renamed,
            "{found:?}"
        );
        cfg.mirrors[0].name = m.source.clone();
        let found = codes(&cfg);
        assert!(
            !found
                .iter()
                .any(|(c, s)| *c == "mirror-renamed" && s == m.source.as_str()),
            "{found:?}"
        );
        cfg.mirrors[0].name = crate::model::StreamName::new("renamed-copy").unwrap();
        assert_reported(&cfg, "mirror-renamed", "renamed-copy");
    }

    #[test]
    fn warnings_come_before_infos() {
        let f = lint(&example());
        assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity));
        assert_eq!(f.last().unwrap().severity, Severity::Info);
    }
}
