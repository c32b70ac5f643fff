//! Reading what an S3-compatible store holds, for the backup tests.
use aws_sdk_s3::Client;

/// Every key in `bucket`, sorted.
pub async fn keys(client: &Client, bucket: &str) -> Vec<String> {
    let mut out: Vec<String> = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// The body of `key` in `bucket`.
pub async fn object(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec()
}
