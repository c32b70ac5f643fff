//! What each promoted stream takes over from its source, looked up in the config's topology
//! indexed once per action: a promotion of N streams costs O(N), not a topology rebuild and a
//! linear search per stream (O(N²), seconds at a few thousand streams).
use std::collections::HashMap;

use super::edit::Takeover;
use crate::model::{Region, StreamName};
use crate::topology::{ExpectedStream, StreamKind};

/// The expected streams by (region, name), and each source's configured mirror by the source's
/// (region, name).
#[derive(Debug)]
pub struct TakeoverIndex<'a> {
    by_name: HashMap<(&'a Region, &'a StreamName), &'a ExpectedStream>,
    /// A home stream's twin: the mirror of it in the other region (first one configured).
    twin_of: HashMap<(&'a Region, &'a StreamName), &'a ExpectedStream>,
}

impl<'a> TakeoverIndex<'a> {
    /// Indexes `all` (from [`crate::topology::expected`]); the first entry of a duplicated key
    /// wins, as a linear search would find it.
    pub fn new(all: &'a [ExpectedStream]) -> Self {
        let mut by_name = HashMap::with_capacity(all.len());
        let mut twin_of = HashMap::new();
        for e in all {
            by_name.entry((&e.region, &e.name)).or_insert(e);
            let source = match &e.kind {
                StreamKind::Mirror {
                    source,
                    source_region,
                } => Some((source_region, source)),
                // A KV mirror's stream has its source's name (`KV_<bucket>`).
                StreamKind::KvMirror { source_region, .. } => Some((source_region, &e.name)),
                StreamKind::Stream | StreamKind::Kv { .. } => None,
            };
            if let Some(key) = source {
                twin_of.entry(key).or_insert(e);
            }
        }
        Self { by_name, twin_of }
    }

    /// What promoting `stream` in `region` takes over: a mirror takes its source's subjects
    /// and duplicate window; a home source reseeded as a mirror by a failback takes its own
    /// subjects back, its origin being its twin. `None`: the config does not make `stream` a
    /// mirror (or a home stream with a twin) in `region`.
    pub fn takeover(&self, region: &Region, stream: &StreamName) -> Option<Takeover> {
        let mirror = self.by_name.get(&(region, stream))?;
        let (source, source_region) = match &mirror.kind {
            StreamKind::Mirror {
                source,
                source_region,
            } => (source, source_region),
            StreamKind::KvMirror { source_region, .. } => (&mirror.name, source_region),
            StreamKind::Stream | StreamKind::Kv { .. } => {
                let twin = self.twin_of.get(&(region, stream))?;
                return Some(Takeover {
                    origin: twin.name.to_string(),
                    subjects: mirror.config.subjects(),
                    duplicate_window: mirror.config.get("duplicate_window").cloned(),
                });
            }
        };
        let source_cfg = &self.by_name.get(&(source_region, source))?.config;
        Some(Takeover {
            origin: source.to_string(),
            subjects: source_cfg.subjects(),
            duplicate_window: source_cfg.get("duplicate_window").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::nats::StreamConfig;

    fn region(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    fn name(s: &str) -> StreamName {
        StreamName::new(s).unwrap()
    }

    fn stream(r: &str, n: &str, kind: StreamKind, config: serde_json::Value) -> ExpectedStream {
        ExpectedStream {
            region: region(r),
            name: name(n),
            kind,
            gdpr: false,
            config: serde_json::from_value::<StreamConfig>(config).unwrap(),
        }
    }

    fn mirror(r: &str, n: &str, source: &str, source_region: &str) -> ExpectedStream {
        stream(
            r,
            n,
            StreamKind::Mirror {
                source: name(source),
                source_region: region(source_region),
            },
            json!({"name": n}),
        )
    }

    fn topology() -> Vec<ExpectedStream> {
        vec![
            stream(
                "us-east-1",
                "orders",
                StreamKind::Stream,
                json!({"name": "orders", "subjects": ["orders.>"], "duplicate_window": 120_000_000_000_u64}),
            ),
            mirror("eu-central-1", "orders-eu", "orders", "us-east-1"),
            stream(
                "us-east-1",
                "KV_cfg",
                StreamKind::Kv {
                    bucket: "cfg".into(),
                },
                json!({"name": "KV_cfg", "subjects": ["$KV.cfg.>"]}),
            ),
            stream(
                "eu-central-1",
                "KV_cfg",
                StreamKind::KvMirror {
                    bucket: "cfg".into(),
                    source_bucket: "cfg".into(),
                    source_region: region("us-east-1"),
                },
                json!({"name": "KV_cfg"}),
            ),
            stream(
                "us-east-1",
                "alone",
                StreamKind::Stream,
                json!({"name": "alone", "subjects": ["alone"]}),
            ),
        ]
    }

    /// What `stream` in `region` of [`topology`] takes over (it must take something over).
    fn takeover_in_topology(region_name: &str, stream: &str) -> Takeover {
        TakeoverIndex::new(&topology())
            .takeover(&region(region_name), &name(stream))
            .unwrap()
    }

    #[test]
    fn a_mirror_takes_over_its_sources_subjects_and_duplicate_window() {
        let t = takeover_in_topology("eu-central-1", "orders-eu");
        assert_eq!(t.origin, "orders");
        assert_eq!(t.subjects, ["orders.>"]);
        assert_eq!(t.duplicate_window, Some(json!(120_000_000_000_u64)));
    }

    #[test]
    fn a_kv_mirror_takes_over_the_buckets_subjects_under_its_own_name() {
        let t = takeover_in_topology("eu-central-1", "KV_cfg");
        assert_eq!(t.origin, "KV_cfg");
        assert_eq!(t.subjects, ["$KV.cfg.>"]);
    }

    #[test]
    fn a_reseeded_home_stream_takes_its_own_subjects_back_with_its_twin_as_origin() {
        let t = takeover_in_topology("us-east-1", "orders");
        assert_eq!(t.origin, "orders-eu");
        assert_eq!(t.subjects, ["orders.>"]);
        let kv = takeover_in_topology("us-east-1", "KV_cfg");
        assert_eq!(kv.origin, "KV_cfg");
    }

    #[test]
    fn a_stream_without_a_mirror_or_twin_and_an_unknown_one_take_nothing_over() {
        let all = topology();
        let index = TakeoverIndex::new(&all);
        assert_eq!(index.takeover(&region("us-east-1"), &name("alone")), None);
        assert_eq!(
            index.takeover(&region("eu-central-1"), &name("orders")),
            None
        );
        assert_eq!(index.takeover(&region("eu-central-1"), &name("nope")), None);
    }

    #[test]
    fn thousands_of_mirrors_each_find_their_own_source() {
        let mut all = Vec::new();
        for i in 0..5_000 {
            let s = format!("s{i}");
            all.push(stream(
                "us-east-1",
                &s,
                StreamKind::Stream,
                json!({"name": s, "subjects": [format!("s.{i}.>")]}),
            ));
            all.push(mirror("eu-central-1", &format!("m{i}"), &s, "us-east-1"));
        }
        let index = TakeoverIndex::new(&all);
        for i in [0, 2_499, 4_999] {
            let t = index
                .takeover(&region("eu-central-1"), &name(&format!("m{i}")))
                .unwrap();
            assert_eq!(t.origin, format!("s{i}"));
            assert_eq!(t.subjects, [format!("s.{i}.>")]);
        }
    }
}
