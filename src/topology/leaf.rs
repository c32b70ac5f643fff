//! The leafnode permissions that keep application subjects in their region.
//!
//! A mirror needs only JetStream's own cross-domain traffic over the leafnode (the
//! `$JS.<domain>.API` requests and the mirror's internal delivery). If application subjects
//! crossed too, a publish in one region would also reach a stream listening on the same subjects
//! in the other, and both would store it and acknowledge: after a failover, a returning old
//! primary stores (and acks) the new primary's writes from the moment its stream leaders are
//! elected, before its meta leader exists to accept the fence (measured on 2.15.1: 1.4 s). GDPR
//! subjects must not leave their region at all.
use std::collections::BTreeSet;

use crate::config::{Config, RawConfig};

/// Every subject a configured stream or KV bucket listens on, in either region: the list a
/// leafnode remote denies both ways (`deny_imports` and `deny_exports`).
pub fn leaf_deny(cfg: &Config) -> Vec<String> {
    deny_list(
        cfg.streams.iter().flat_map(|s| s.subjects.iter()),
        cfg.kv.iter().map(|k| &k.bucket),
    )
}

/// [`leaf_deny`] of a config that is not complete yet (the lab renders the servers' configs
/// before its DNS server, and so the arbiter, exists).
pub fn leaf_deny_raw(raw: &RawConfig) -> Vec<String> {
    deny_list(
        raw.streams.iter().flat_map(|s| s.subjects.iter()),
        raw.kv.iter().map(|k| &k.bucket),
    )
}

fn deny_list<'a>(
    subjects: impl Iterator<Item = &'a String>,
    buckets: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let buckets = buckets.map(|b| format!("$KV.{b}.>"));
    subjects
        .cloned()
        .chain(buckets)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_denies_every_stream_subject_of_both_regions_and_its_kv_buckets_once() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/blue-green.example.toml"
        );
        let cfg = Config::load(path.as_ref()).expect("the example loads");
        let deny = leaf_deny(&cfg);
        for s in &cfg.streams {
            for subject in &s.subjects {
                assert!(deny.contains(subject), "{subject} crosses the leafnode");
            }
        }
        for k in &cfg.kv {
            assert!(
                deny.contains(&format!("$KV.{}.>", k.bucket)),
                "{}",
                k.bucket
            );
        }
        let unique: BTreeSet<&String> = deny.iter().collect();
        assert_eq!(unique.len(), deny.len(), "no duplicates: {deny:?}");
        let raw = crate::config::load_raw(path.as_ref()).expect("raw");
        assert_eq!(leaf_deny_raw(&raw), deny);
    }
}
