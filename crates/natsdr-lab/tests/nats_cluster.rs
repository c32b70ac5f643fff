//! The system API against a real 3-node cluster: server counts, the meta group, health.
mod common;

use std::time::Duration;

use common::{Cluster, wait_until};

/// Waits until the status codes of `expect` HEALTHZ answers pass `check`.
async fn healthz_until(
    sys: &natsdr::nats::SysApi,
    expect: usize,
    within: Duration,
    what: &str,
    check: impl Fn(&[u16]) -> bool,
) {
    wait_until(within, what, || async {
        let h = sys
            .healthz(Duration::from_millis(500), Some(expect))
            .await
            .unwrap();
        check(&h.iter().map(|h| h.status_code).collect::<Vec<_>>())
    })
    .await;
}

#[tokio::test]
async fn ping_counts_every_node_and_stops_counting_a_killed_one() {
    let mut cluster = Cluster::start("us", 3);
    let _js = cluster.js().await;
    let sys = cluster.sys().await;
    wait_until(
        Duration::from_secs(10),
        "all three nodes answer the ping",
        || async {
            sys.ping(Duration::from_millis(500), None)
                .await
                .unwrap()
                .len()
                == 3
        },
    )
    .await;
    let early = sys.ping(Duration::from_secs(5), Some(3)).await.unwrap();
    assert_eq!(
        early.len(),
        3,
        "with `expected` the call returns as soon as all answered"
    );

    let victim = cluster
        .nodes
        .iter()
        .map(|n| n.port)
        .find(|p| !sys_uses(&sys, *p))
        .unwrap();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.port == victim)
        .unwrap()
        .kill();
    let pongs = sys.ping(Duration::from_millis(500), None).await.unwrap();
    assert_eq!(pongs.len(), 2, "{pongs:?}");
}

/// Whether the system connection is attached to the node on `port` (never kill that one here).
fn sys_uses(sys: &natsdr::nats::SysApi, port: u16) -> bool {
    sys.client().server_info().port == port
}

#[tokio::test]
async fn the_meta_leader_reports_group_size_and_replica_contact_ages() {
    let mut cluster = Cluster::start("us", 3);
    let _js = cluster.js().await;
    let sys = cluster.sys().await;
    let meta = sys
        .meta_cluster(Duration::from_secs(2))
        .await
        .unwrap()
        .expect("a meta leader answers");
    assert_eq!(meta.cluster_size, 3);
    assert_eq!(meta.replicas.len(), 2, "{meta:?}");
    let leader = meta.leader.clone().unwrap();
    assert_eq!(leader, meta.server.name);

    // Kill a follower the system connection is not on: its `active` age must grow, whatever
    // `current` says.
    let victim = cluster
        .nodes
        .iter()
        .find(|n| n.name() != leader && !sys_uses(&sys, n.port))
        .map(common::Server::name)
        .expect("of three nodes, one is neither the leader nor under the system connection");
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.name() == victim)
        .unwrap()
        .kill();
    wait_until(
        Duration::from_secs(10),
        "the dead follower's active age never grew",
        || async {
            let meta = sys.meta_cluster(Duration::from_secs(1)).await.unwrap();
            meta.and_then(|m| m.replicas.into_iter().find(|r| r.name == victim))
                .is_some_and(|r| r.active > Duration::from_secs(3))
        },
    )
    .await;
}

#[tokio::test]
async fn every_node_reports_healthy_jetstream_meta() {
    let cluster = Cluster::start("us", 3);
    let _js = cluster.js().await;
    let sys = cluster.sys().await;
    let all_healthy = |h: &[u16]| h == [200, 200, 200];
    healthz_until(
        &sys,
        3,
        Duration::from_secs(10),
        "all three report healthy",
        all_healthy,
    )
    .await;
}

#[tokio::test]
async fn a_node_left_alone_reports_unhealthy_meta_and_retryable_api_errors() {
    let mut cluster = Cluster::start("us", 3);
    let survivor = 0;
    let js = cluster.js().await.with_timeout(Duration::from_secs(1));
    let mut spec = cluster.nodes[survivor].sys_spec();
    spec.urls = vec![cluster.nodes[survivor].url()];
    let sys = natsdr::nats::SysApi::new(natsdr::nats::connect(&spec).await.unwrap());
    cluster.nodes[1].kill();
    cluster.nodes[2].kill();

    let lost = |h: &[u16]| h == [503];
    healthz_until(
        &sys,
        1,
        Duration::from_secs(20),
        "the lost meta quorum reported",
        lost,
    )
    .await;
    let health = sys
        .healthz(Duration::from_millis(500), Some(1))
        .await
        .unwrap();
    assert!(health[0].error.is_some(), "{health:?}");
    assert_eq!(
        sys.ping(Duration::from_millis(500), None)
            .await
            .unwrap()
            .len(),
        1
    );
    let err = js.account_info().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
