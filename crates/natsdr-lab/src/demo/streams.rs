//! Which stream the demo's load lands in: the first of the config's home streams that the
//! standby mirrors, its mirror, and a subject of it.
use natsdr::config::Config;

/// The demo's stream, its mirror and the subject published to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoStreams {
    /// The primary's stream the subject lands in while the primary is home.
    pub primary: String,
    /// Its mirror in the standby, which takes the subject's writes once promoted.
    pub mirror: String,
    /// The subject the load generator publishes to and the reader reads.
    pub subject: String,
}

impl DemoStreams {
    /// The reference topology's: `events-us`, mirrored as `events-eu-mirror`, `events.demo`.
    pub fn reference() -> Self {
        use super::run::{EU_STREAM, SUBJECT, US_STREAM};
        Self {
            primary: US_STREAM.into(),
            mirror: EU_STREAM.into(),
            subject: SUBJECT.into(),
        }
    }

    /// The first stream of `cfg`'s primary mirrored in its standby, and a subject of its first
    /// subject filter (`events.>` and `events.*` give `events.demo`); `None` without one.
    pub fn of(cfg: &Config) -> Option<Self> {
        let (primary, standby) = (&cfg.primary().name, &cfg.standby().name);
        cfg.streams
            .iter()
            .filter(|s| &s.region == primary)
            .find_map(|s| {
                let m = cfg
                    .mirrors
                    .iter()
                    .find(|m| &m.region == standby && m.source == s.name)?;
                let filter = s.subjects.first()?;
                let subject = match filter.rsplit_once('.') {
                    Some((head, ">" | "*")) => format!("{head}.demo"),
                    _ if filter == ">" || filter == "*" => "demo".to_owned(),
                    _ => filter.clone(),
                };
                Some(Self {
                    primary: s.name.to_string(),
                    mirror: m.name.to_string(),
                    subject: subject.replace(".*.", ".demo."),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Config {
        let path = format!("{}/../../config/{file}", env!("CARGO_MANIFEST_DIR"));
        Config::load(path.as_ref()).expect("the example loads")
    }

    #[test]
    fn the_blue_green_demo_publishes_metrics_to_metrics_v1_mirrored_as_metrics_v1_mirror() {
        let s = DemoStreams::of(&load("blue-green.example.toml")).expect("a mirrored stream");
        assert_eq!(s.primary, "metrics_v1");
        assert_eq!(s.mirror, "metrics_v1_mirror");
        assert_eq!(s.subject, "metrics.demo");
    }
}
