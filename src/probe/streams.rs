//! Which of a region's streams natsdr reports, and what each one is (pure: from STREAM.LIST).
use std::collections::BTreeSet;

use crate::config::Config;
use crate::core::{StreamRole, StreamView};
use crate::model::{Epoch, Region, StreamName};
use crate::nats::StreamInfo;
use crate::topology::{FENCE_PREFIX, META_EPOCH};

pub use crate::topology::META_ORIGIN;

/// Prefix of every metadata key natsdr stamps: a stream that carries one is natsdr's, whatever
/// the config says now.
const META_PREFIX: &str = "natsdr.";

/// The names of the streams the config puts in `region`: its streams (GDPR-only ones
/// included: the core filters those), the mirrors it holds and the KV buckets' streams.
pub fn configured(config: &Config, region: &Region) -> BTreeSet<String> {
    let streams = config
        .streams
        .iter()
        .filter(|s| &s.region == region)
        .map(|s| s.name.to_string());
    let mirrors = config
        .mirrors
        .iter()
        .filter(|m| &m.region == region)
        .map(|m| m.name.to_string());
    let kv = config
        .kv
        .iter()
        .filter(|kv| &kv.region == region || kv.mirror_region.as_ref() == Some(region))
        .map(|kv| kv.stream_name().to_string());
    streams.chain(mirrors).chain(kv).collect()
}

/// Whether natsdr reports this stream: configured in this region, or stamped by natsdr.
pub fn is_managed(info: &StreamInfo, configured: &BTreeSet<String>) -> bool {
    configured.contains(info.config.name())
        || info
            .config
            .get("metadata")
            .and_then(|m| m.as_object())
            .is_some_and(|m| m.keys().any(|k| k.starts_with(META_PREFIX)))
}

/// What the stream does now, read from what the server enforces rather than from stamps:
/// subjects all parked under `fenced.` = fenced; a `mirror` block = mirror; else writable.
pub fn role(info: &StreamInfo) -> StreamRole {
    let subjects = info.config.subjects();
    if !subjects.is_empty() && subjects.iter().all(|s| s.starts_with(FENCE_PREFIX)) {
        StreamRole::Fenced
    } else if info.config.mirror().is_some() {
        StreamRole::Mirror
    } else {
        StreamRole::Writable
    }
}

/// The stream as the core sees it, without the mirror's lag (that needs the other region).
/// `None` if the server reports a name natsdr cannot hold (it never should).
pub fn view(info: &StreamInfo) -> Option<StreamView> {
    let name = StreamName::new(info.config.name()).ok()?;
    let role = role(info);
    let origin = match info.config.mirror() {
        Some(m) => m.get("name").and_then(|n| n.as_str()),
        None => info.config.metadata(META_ORIGIN),
    }
    .and_then(|n| StreamName::new(n).ok());
    Some(StreamView {
        name,
        role,
        epoch: info
            .config
            .metadata(META_EPOCH)
            .and_then(|e| e.parse().ok())
            .map(Epoch),
        origin,
        last_seq: info.state.last_seq,
        mirror: None,
    })
}

/// The region a mirror copies from: the region whose JetStream API prefix the mirror's
/// `external.api` names, or its own region when it has no `external` block.
pub fn source_region<'a>(
    config: &'a Config,
    mirror_region: &'a Region,
    info: &StreamInfo,
) -> Option<&'a Region> {
    let api = info
        .mirror
        .as_ref()
        .and_then(|m| m.external_api.clone())
        .or_else(|| {
            info.config
                .mirror()?
                .get("external")?
                .get("api")?
                .as_str()
                .map(str::to_owned)
        });
    match api {
        None => Some(mirror_region),
        Some(api) => config
            .regions
            .iter()
            .find(|r| r.js_api_prefix() == api)
            .map(|r| &r.name),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn info(v: serde_json::Value) -> StreamInfo {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_stream_whose_subjects_are_all_parked_is_fenced_whatever_its_stamps_say() {
        let fenced = info(
            json!({"config": {"name": "S", "subjects": ["fenced.a.*", "fenced.b"],
            "metadata": {"natsdr.role": "promoted"}}}),
        );
        assert_eq!(role(&fenced), StreamRole::Fenced);
        let restored = info(json!({"config": {"name": "S", "subjects": ["a.*"],
            "metadata": {"natsdr.role": "fenced"}}}));
        assert_eq!(role(&restored), StreamRole::Writable);
    }

    #[test]
    fn a_mirror_names_its_source_and_a_promoted_stream_its_origin_stamp() {
        let mirror = info(json!({"config": {"name": "M", "mirror": {"name": "S"}},
            "state": {"last_seq": 7}}));
        let v = view(&mirror).unwrap();
        assert_eq!((v.role, v.last_seq), (StreamRole::Mirror, 7));
        assert_eq!(v.origin.unwrap().as_str(), "S");
        let promoted = info(json!({"config": {"name": "M", "subjects": ["a"],
            "metadata": {"natsdr.origin": "S", "natsdr.epoch": "3", "natsdr.role": "promoted"}}}));
        let v = view(&promoted).unwrap();
        assert_eq!(v.role, StreamRole::Writable);
        assert_eq!(v.origin.unwrap().as_str(), "S");
        assert_eq!(v.epoch, Some(Epoch(3)));
    }

    #[test]
    fn a_stream_stamped_by_natsdr_is_managed_even_when_the_config_forgot_it() {
        let none = BTreeSet::new();
        let stamped = info(json!({"config": {"name": "X", "metadata": {"natsdr.epoch": "2"}}}));
        let foreign = info(json!({"config": {"name": "Y", "metadata": {"_nats.req.level": "0"}}}));
        assert!(is_managed(&stamped, &none));
        assert!(!is_managed(&foreign, &none));
        assert!(is_managed(&foreign, &BTreeSet::from(["Y".to_owned()])));
    }
}
