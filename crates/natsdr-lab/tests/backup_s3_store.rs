//! The S3-compatible server the backup tests run against (s3s-fs) behaves like S3 where backups
//! depend on it: multipart uploads assemble parts in order under S3's composite ETag and refuse
//! a non-final part under 5 MiB, `If-None-Match: *` refuses to overwrite, and a request signed
//! with a wrong secret or an unknown key is refused. Also natsdr's target over it: a streamed
//! upload spanning several parts reads back identical, an exclusive write happens once, wrong
//! credentials are "access denied" and a closed port is "unreachable". Needs s3s-fs (make deps):
//! without it these fail, never skip.
mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use natsdr::backup::{Target, TargetError};
use natsdr_lab::testkit::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

const MIB: usize = 1024 * 1024;
const BUCKET: &str = "natsdr-test";

async fn store() -> (S3Server, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = S3Server::start(dir.path()).expect("s3s-fs is installed (make deps)");
    let client = s.client();
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    (s, client, dir)
}

/// Uploads `parts` as one multipart upload; the error of the first refused call, if any.
async fn multipart(client: &Client, key: &str, parts: &[Vec<u8>]) -> Result<(), String> {
    let up = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{:?}", e.code()))?;
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let r = client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .map_err(|e| format!("{:?}", e.code()))?;
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

async fn etag(client: &Client, key: &str) -> String {
    client
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned()
}

async fn read(client: &Client, key: &str) -> Vec<u8> {
    common::s3::object(client, BUCKET, key).await
}

fn s3_target(client: &Client) -> Target {
    Target::S3 {
        client: client.clone(),
        bucket: BUCKET.into(),
        prefix: "p".into(),
    }
}

#[tokio::test]
async fn the_store_assembles_multipart_parts_in_order_under_a_composite_etag() {
    let (_s, client, _dir) = store().await;
    let (a, b) = (vec![b'a'; 5 * MIB], vec![b'b'; 1000]);
    multipart(&client, "ok", &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert!(etag(&client, "ok").await.ends_with("-2\""));
    assert_eq!(read(&client, "ok").await, [a, b].concat());
}

#[tokio::test]
async fn the_store_refuses_a_multipart_upload_whose_non_final_part_is_under_5_mib() {
    let (_s, client, _dir) = store().await;
    let small = vec![b'a'; 5 * MIB - 1];
    let refused = multipart(&client, "small", &[small, vec![b'b'; 10]])
        .await
        .unwrap_err();
    assert_eq!(refused, "EntityTooSmall");
    let missing = client
        .head_object()
        .bucket(BUCKET)
        .key("small")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.raw_response().map(|r| r.status().as_u16()),
        Some(404)
    );
}

#[tokio::test]
async fn the_store_refuses_to_overwrite_with_if_none_match() {
    let (_s, client, _dir) = store().await;
    let put = |body: &'static str| {
        client
            .put_object()
            .bucket(BUCKET)
            .key("lease")
            .if_none_match("*")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
    };
    put("first").await.unwrap();
    let second = put("second").await.unwrap_err();
    assert_eq!(second.code(), Some("PreconditionFailed"));
    assert_eq!(read(&client, "lease").await, b"first");
}

#[tokio::test]
async fn the_store_refuses_a_wrong_secret_and_an_unknown_key_and_natsdr_calls_both_access_denied() {
    let (s, client, _dir) = store().await;
    client
        .put_object()
        .bucket(BUCKET)
        .key("p/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // NB: S3 calls an unknown key InvalidAccessKeyId, s3s-fs NotSignedUp; both are 403s, which
    // natsdr maps to "access denied" whatever the code.
    for (key, secret, code) in [
        (ACCESS_KEY, "wrong-secret", "SignatureDoesNotMatch"),
        ("nobody", SECRET_KEY, "NotSignedUp"),
    ] {
        let bad = s.client_as(key, secret);
        let refused = bad
            .get_object()
            .bucket(BUCKET)
            .key("p/x")
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some(code));
        assert_eq!(
            refused.raw_response().map(|r| r.status().as_u16()),
            Some(403)
        );

        let target = s3_target(&bad);
        let write = target
            .put_stream("sets/y/s.tar.s2", &mut &b"data"[..])
            .await
            .unwrap_err();
        assert!(
            matches!(&write, TargetError::Denied { code: c, .. } if c == code),
            "{write}"
        );
        assert!(
            write
                .to_string()
                .starts_with("s3://natsdr-test/p: access denied"),
            "{write}"
        );
        let read = target.digest("x").await.unwrap_err();
        assert!(matches!(read, TargetError::Denied { .. }), "{read}");
    }
    // Nothing reached the bucket through either.
    assert_eq!(
        common::s3::keys(&client, BUCKET).await,
        vec!["p/x".to_owned()]
    );
}

#[tokio::test]
async fn a_streamed_upload_over_several_parts_reads_back_identical_and_an_exclusive_write_happens_once()
 {
    let (_s, client, _dir) = store().await;
    let target = s3_target(&client);
    // 19 MiB and a bit: three parts, the last one short; the store refuses parts under 5 MiB
    // but the last, so the part size is checked here too.
    let body: Vec<u8> = (0..19 * MIB + 123).map(|i| (i % 251) as u8).collect();
    let written = target
        .put_stream("sets/x/s.tar.s2", &mut body.as_slice())
        .await
        .unwrap();
    assert_eq!(written.bytes, body.len() as u64);
    let read = target.digest("sets/x/s.tar.s2").await.unwrap();
    assert_eq!(read, written);
    // 8 MiB parts: 8 + 8 + 3 MiB.
    assert!(etag(&client, "p/sets/x/s.tar.s2").await.ends_with("-3\""));

    target
        .put_bytes("sets/x/manifest.json", b"{}".to_vec(), true)
        .await
        .unwrap();
    let again = target
        .put_bytes("sets/x/manifest.json", b"{}".to_vec(), true)
        .await
        .unwrap_err();
    assert!(matches!(again, TargetError::Exists { .. }), "{again}");
    assert_eq!(
        target.list_dirs("sets").await.unwrap(),
        vec!["x".to_owned()]
    );
    let missing = target.digest("sets/x/nope").await.unwrap_err();
    assert!(matches!(missing, TargetError::Missing { .. }), "{missing}");
}

#[tokio::test]
async fn a_target_on_a_closed_port_is_unreachable_naming_the_target() {
    let (s, _client, _dir) = store().await;
    let closed = s.client_as(ACCESS_KEY, SECRET_KEY);
    drop(s);
    let target = s3_target(&closed);
    let err = target
        .put_stream("sets/z/s.tar.s2", &mut &b"data"[..])
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err}");
    assert_eq!(err.to_string(), "s3://natsdr-test/p: unreachable");
}
