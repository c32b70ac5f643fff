//! The deeper region probes (JSZ meta group, HEALTHZ, LEAFZ) boiled down to a few numbers.
use std::time::Duration;

use crate::nats::{Healthz, Leafz, MetaCluster};

/// A meta-group peer the leader has not heard from for longer than this counts as offline.
/// NB: the leader keeps `current: true` for ~10 s after a peer dies and almost never sets
/// `offline` (see the notes), so `active` is the only early signal. Raft heartbeats go out every
/// second; three missed ones are not a slow round.
pub const META_PEER_SILENT: Duration = Duration::from_secs(3);

/// A count as the probes report it, saturating (no region has four billion servers or peers).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The meta group as its leader sees it (`PING.JSZ {"leader_only":true}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDepth {
    /// The leader's server name, if it named one.
    pub leader: Option<String>,
    /// Configured size of the meta group.
    pub cluster_size: usize,
    /// Peers (the leader excluded) heard from within [`META_PEER_SILENT`] and not marked offline.
    pub peers_current: u32,
    /// Peers marked offline or silent for longer than [`META_PEER_SILENT`].
    pub peers_offline: u32,
    /// The longest time since the leader heard from any peer.
    pub max_active_age: Duration,
}

impl MetaDepth {
    /// Summarises the leader's answer.
    pub fn from_cluster(meta: &MetaCluster) -> Self {
        let offline = |p: &crate::nats::MetaReplica| p.offline || p.active > META_PEER_SILENT;
        Self {
            leader: meta.leader.clone(),
            cluster_size: meta.cluster_size,
            peers_current: count(meta.replicas.iter().filter(|p| !offline(p)).count()),
            peers_offline: count(meta.replicas.iter().filter(|p| offline(p)).count()),
            max_active_age: meta
                .replicas
                .iter()
                .map(|p| p.active)
                .max()
                .unwrap_or_default(),
        }
    }
}

/// How many servers said their JetStream meta layer is healthy (HEALTHZ `js-meta-only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthDepth {
    /// Servers that answered.
    pub answered: u32,
    /// Of those, the ones answering 200.
    pub ok: u32,
}

impl HealthDepth {
    /// Counts the replies.
    pub fn from_replies(replies: &[Healthz]) -> Self {
        Self {
            answered: count(replies.len()),
            ok: count(replies.iter().filter(|h| h.status_code == 200).count()),
        }
    }
}

/// The region's leafnode connections (LEAFZ), summed over its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafDepth {
    /// Servers that answered.
    pub answered: u32,
    /// Leafnode connections up, over every server that answered.
    pub connections: u32,
}

impl LeafDepth {
    /// Counts the replies.
    pub fn from_replies(replies: &[Leafz]) -> Self {
        Self {
            answered: count(replies.len()),
            connections: count(replies.iter().map(|l| l.leafs.len()).sum()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nats::{Leaf, MetaReplica, ServerId};

    fn server(name: &str) -> ServerId {
        ServerId {
            name: name.into(),
            id: String::new(),
            cluster: None,
            domain: None,
            version: String::new(),
            jetstream: true,
        }
    }

    fn peer(name: &str, active_ms: u64, offline: bool) -> MetaReplica {
        MetaReplica {
            name: name.into(),
            current: true,
            active: Duration::from_millis(active_ms),
            offline,
            lag: 0,
        }
    }

    /// The depth the leader `us-1` of a three-server group reports with these two peers.
    fn depth(replicas: Vec<MetaReplica>) -> MetaDepth {
        MetaDepth::from_cluster(&MetaCluster {
            server: server("us-1"),
            leader: Some("us-1".into()),
            cluster_size: 3,
            replicas,
        })
    }

    #[test]
    fn a_peer_silent_past_the_limit_counts_offline_even_while_the_leader_calls_it_current() {
        let d = depth(vec![peer("us-2", 400, false), peer("us-3", 7_000, false)]);
        assert_eq!((d.peers_current, d.peers_offline), (1, 1));
        assert_eq!(d.max_active_age, Duration::from_secs(7));
    }

    #[test]
    fn a_peer_marked_offline_counts_offline_however_fresh_its_active_age() {
        let d = depth(vec![peer("us-2", 10, true), peer("us-3", 10, false)]);
        assert_eq!((d.peers_current, d.peers_offline), (1, 1));
    }

    #[test]
    fn healthz_counts_only_200_as_ok() {
        let h = |code| Healthz {
            server: server("x"),
            status_code: code,
            error: None,
        };
        let d = HealthDepth::from_replies(&[h(200), h(503), h(200)]);
        assert_eq!(d, HealthDepth { answered: 3, ok: 2 });
    }

    #[test]
    fn leafnode_connections_are_summed_over_the_servers_that_answered() {
        let leaf = || Leaf {
            name: "eu-1".into(),
            account: "APP".into(),
            ip: "127.0.0.1".into(),
            port: 7422,
            rtt: "1ms".into(),
        };
        let l = |n| Leafz {
            server: server("us"),
            leafs: vec![leaf(); n],
        };
        let d = LeafDepth::from_replies(&[l(2), l(0), l(1)]);
        assert_eq!(
            d,
            LeafDepth {
                answered: 3,
                connections: 3
            }
        );
    }
}
