//! What this watchdog publishes for its peers' majority vote (`GET /v1/observations`).
use crate::api::model::{Observations, RegionVerdict, ReportAge};
use crate::config::{Config, Role};
use crate::core::{Observation, Report, StreamRole, Vantage};

/// This round's testimony for the other vantage points: each region's health as this watchdog's
/// own probes saw it, and the arbiter record it read.
///
/// Call it right after the round: the report's age is counted from this call, on this process's
/// monotonic clock, and served as `age_ms`. NB: so it understates the data's age by at most
/// the round's duration (bounded by `probe_timeout`).
pub fn observations_from(obs: &Observation, config: &Config) -> Observations {
    Observations {
        from: config.watchdog.id.clone(),
        site: config.watchdog.site.to_string(),
        role: match config.watchdog.role {
            Role::Watchdog => "watchdog",
            Role::Witness => "witness",
        }
        .to_owned(),
        at_unix_ms: u64::try_from(obs.wall.0).unwrap_or(0),
        age: ReportAge::Since(tokio::time::Instant::now()),
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
