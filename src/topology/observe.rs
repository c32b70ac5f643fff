//! Reading what each region holds, for `plan`.
use std::collections::BTreeMap;

use super::plan::Actual;
use crate::{
    model::Region,
    nats::{JsApi, JsError, StreamConfig},
};

/// Every stream config of one region, by name (paged STREAM.LIST: one request per 256 streams).
pub async fn observe_region(js: &JsApi) -> Result<BTreeMap<String, StreamConfig>, JsError> {
    Ok(js
        .stream_list()
        .await?
        .into_iter()
        .map(|info| (info.config.name().to_owned(), info.config))
        .collect())
}

/// Every region's stream configs. A region that cannot be read is left out of the result (plan
/// then reports it as unobserved) and its error is returned alongside.
pub async fn observe(apis: &BTreeMap<Region, JsApi>) -> (Actual, Vec<(Region, JsError)>) {
    let reads = futures::future::join_all(
        apis.iter()
            .map(|(region, js)| async move { (region.clone(), observe_region(js).await) }),
    )
    .await;
    let mut actual = Actual::new();
    let mut errors = Vec::new();
    for (region, read) in reads {
        match read {
            Ok(streams) => {
                actual.insert(region, streams);
            }
            Err(e) => errors.push((region, e)),
        }
    }
    (actual, errors)
}
