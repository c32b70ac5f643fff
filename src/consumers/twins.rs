//! `Twin`: a managed stream and its mirror in the other region, the unit consumers move with.
use std::collections::HashSet;

use crate::config::Config;
use crate::model::Region;

/// One side of a twin: a stream in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The region.
    pub region: Region,
    /// The stream's name there.
    pub stream: String,
}

/// A configured source and its mirror (streams, and KV buckets' `KV_<bucket>` streams).
/// GDPR-only streams have no mirror and so never appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twin {
    /// Where the stream takes writes at home.
    pub home: Side,
    /// Where its mirror lives.
    pub away: Side,
}

impl Twin {
    /// When `writer` takes writes and `site` is the other region: the side whose consumers
    /// are read, then the side they are filed under (the one a promotion would make writable).
    pub fn direction(&self, writer: &Region, site: &Region) -> Option<(&Side, &Side)> {
        if &self.home.region == writer && &self.away.region == site {
            Some((&self.home, &self.away))
        } else if &self.away.region == writer && &self.home.region == site {
            Some((&self.away, &self.home))
        } else {
            None
        }
    }

    /// The other side of the stream named `stream` in `region`, if this twin holds it.
    pub fn counterpart(&self, region: &Region, stream: &str) -> Option<&Side> {
        if self.home.region == *region && self.home.stream == stream {
            Some(&self.away)
        } else if self.away.region == *region && self.away.stream == stream {
            Some(&self.home)
        } else {
            None
        }
    }
}

/// Every twin the config describes.
pub fn twins(cfg: &Config) -> Vec<Twin> {
    // NB: a set, not a scan of the config per twin: the tracker calls this every second, and
    // the scan made it O(N²) in the streams.
    let gdpr_only: HashSet<(&Region, &str)> = cfg
        .streams
        .iter()
        .filter(|s| s.gdpr)
        .map(|s| (&s.region, s.name.as_str()))
        .collect();
    let gdpr = |region: &Region, stream: &str| gdpr_only.contains(&(region, stream));
    let mirrors = cfg.mirrors.iter().map(|m| Twin {
        home: Side {
            region: m.source_region.clone(),
            stream: m.source.to_string(),
        },
        away: Side {
            region: m.region.clone(),
            stream: m.name.to_string(),
        },
    });
    let kv = cfg.kv.iter().filter_map(|k| {
        let stream = format!("KV_{}", k.bucket);
        k.mirror_region.as_ref().map(|away| Twin {
            home: Side {
                region: k.region.clone(),
                stream: stream.clone(),
            },
            away: Side {
                region: away.clone(),
                stream,
            },
        })
    });
    mirrors
        .chain(kv)
        .filter(|t| !gdpr(&t.home.region, &t.home.stream) && !gdpr(&t.away.region, &t.away.stream))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(r: &str, s: &str) -> Side {
        Side {
            region: Region::new(r).unwrap(),
            stream: s.into(),
        }
    }

    #[test]
    fn consumers_are_read_where_writes_go_and_filed_on_the_other_side() {
        let t = Twin {
            home: side("us-east-1", "events"),
            away: side("eu-central-1", "events-m"),
        };
        let (us, eu) = (
            Region::new("us-east-1").unwrap(),
            Region::new("eu-central-1").unwrap(),
        );
        assert_eq!(t.direction(&us, &eu), Some((&t.home, &t.away)));
        assert_eq!(t.direction(&eu, &us), Some((&t.away, &t.home)));
        assert_eq!(t.direction(&us, &us), None);
        assert_eq!(t.counterpart(&eu, "events-m"), Some(&t.home));
        assert_eq!(t.counterpart(&eu, "events"), None);
    }
}
