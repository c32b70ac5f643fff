//! What this watchdog publishes for its peers' majority vote (`GET /v1/observations`).
use crate::api::model::{Observations, RegionVerdict, ReportAge};
use crate::config::Config;
use std::collections::BTreeMap;

use crate::core::{GuardWord, Instant, Observation, Report, StreamRole, Vantage};
use crate::model::Region;

/// This round's testimony for the other vantage points: each region's health as this watchdog's
/// own probes saw it, and the arbiter record it read.
///
/// `since_round` is how long ago the round started (`obs.at`) on the driver's clock: the
/// report's age is counted from then, on this process's monotonic clock, and served as
/// `age_ms`, so it never understates how old the data is (a vouch must never look fresher).
/// `guards` is the newest word this watchdog holds from each region's watchdog (its own
/// included, see [`State::guarding`](crate::core::State::guarding)), as instants on the driver's
/// clock: relayed so that a peer that cannot reach a watchdog, or just restarted, still hears it.
pub fn observations_from(
    obs: &Observation,
    config: &Config,
    since_round: std::time::Duration,
    guards: &BTreeMap<Region, (Instant, bool)>,
) -> Observations {
    let now = tokio::time::Instant::now();
    let round = now.checked_sub(since_round).unwrap_or(now);
    Observations {
        from: config.watchdog.id.clone(),
        site: config.watchdog.site.to_string(),
        role: config.watchdog.role.as_str().to_owned(),
        at_unix_ms: u64::try_from(obs.wall.0).unwrap_or(0),
        age: ReportAge::Since(round),
        owner: obs.arbiter.clone(),
        epoch: obs.arbiter.as_ref().map(|o| o.epoch),
        active_region: obs.arbiter.as_ref().map(|o| o.region.clone()),
        regions: obs
            .regions
            .iter()
            .map(|(region, view)| {
                let health = view.health();
                RegionVerdict {
                    region: region.clone(),
                    up: health.serves(),
                    servers: view.servers_up,
                    fenced: view.streams.iter().any(|s| s.role == StreamRole::Fenced),
                    health,
                    serving_before_ms: obs
                        .last_serving
                        .get(region)
                        .map(|t| u64::try_from(obs.at.since(*t).as_millis()).unwrap_or(u64::MAX)),
                    guard_before_ms: guards.get(region).map(|(t, _)| {
                        u64::try_from(obs.at.since(*t).as_millis()).unwrap_or(u64::MAX)
                    }),
                    guarding: guards.get(region).is_some_and(|(_, g)| *g),
                }
            })
            .collect(),
    }
}

/// A peer's published observations as the core's [`Report`], `age` old at this round.
pub fn report_from(obs: &Observations, vantage: Vantage, age: std::time::Duration) -> Report {
    Report {
        vantage,
        age,
        health: obs
            .regions
            .iter()
            .map(|v| (v.region.clone(), v.health))
            .collect(),
        owner: obs.owner.clone(),
        seen_serving: obs
            .regions
            .iter()
            .filter_map(|v| {
                let before = v.serving_before_ms?;
                Some((v.region.clone(), std::time::Duration::from_millis(before)))
            })
            .collect(),
        guards: obs
            .regions
            .iter()
            .filter_map(|v| {
                let before = v.guard_before_ms?;
                let word = GuardWord {
                    before: std::time::Duration::from_millis(before),
                    guarding: v.guarding,
                };
                Some((v.region.clone(), word))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_report_is_served_with_its_age_on_the_servers_clock_and_read_back_as_millis() {
        let served = Observations {
            age: ReportAge::Since(tokio::time::Instant::now()),
            ..Observations::default()
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let json = serde_json::to_value(&served).unwrap();
        let ms = json["age_ms"].as_u64().unwrap();
        assert!((50..1000).contains(&ms), "{json}");
        let read: Observations = serde_json::from_value(json).unwrap();
        assert_eq!(read.age, ReportAge::Millis(ms));
        assert_eq!(read.age.now(), Duration::from_millis(ms));
    }

    #[test]
    fn a_peers_sightings_are_read_relative_to_its_round_and_absent_ones_stay_absent() {
        let region = |name: &str, before| RegionVerdict {
            region: crate::model::Region::new(name).unwrap(),
            up: false,
            servers: 0,
            fenced: false,
            health: crate::core::Health::Down,
            serving_before_ms: before,
            guard_before_ms: before.map(|b| b + 100),
            guarding: true,
        };
        let read = Observations {
            age: ReportAge::Millis(300),
            regions: vec![
                region("us-east-1", Some(1500)),
                region("eu-central-1", None),
            ],
            ..Observations::default()
        };
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["regions"][0]["serving_before_ms"], 1500);
        assert!(json["regions"][1].get("serving_before_ms").is_none());
        let r = report_from(&read, Vantage::Witness, Duration::from_millis(400));
        let us = crate::model::Region::new("us-east-1").unwrap();
        assert_eq!(r.seen_serving.get(&us), Some(&Duration::from_millis(1500)));
        assert_eq!(r.seen_serving.len(), 1, "{:?}", r.seen_serving);
        // The guard word travels the same way: relative to the maker's round.
        assert_eq!(json["regions"][0]["guard_before_ms"], 1600);
        assert_eq!(
            r.guards.get(&us),
            Some(&GuardWord {
                before: Duration::from_millis(1600),
                guarding: true
            })
        );
        assert_eq!(r.guards.len(), 1, "{:?}", r.guards);
    }

    #[test]
    fn a_report_without_an_age_reads_as_of_unknown_age() {
        let read: Observations = serde_json::from_str(
            r#"{"from":"wd","site":"us-east-1","role":"watchdog","at_unix_ms":1,"epoch":null,
                "active_region":null,"regions":[]}"#,
        )
        .unwrap();
        assert_eq!(read.age, ReportAge::Unknown);
        assert_eq!(read.owner, None);
        let json = serde_json::to_value(&read).unwrap();
        assert!(
            json.get("age_ms").is_none(),
            "an unknown age is never served as zero"
        );
    }
}
