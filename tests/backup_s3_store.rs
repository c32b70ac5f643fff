//! The S3-compatible store the backup tests run against (ministack's S3) behaves like S3 where
//! backups depend on it: multipart uploads assemble parts in order under S3's composite ETag,
//! and `If-None-Match: *` refuses to overwrite. (It does not enforce S3's 5 MiB minimum part
//! size: natsdr's 8 MiB parts are checked by their count instead.) Also natsdr's target over it:
//! a streamed upload spanning several parts reads back identical, an exclusive write happens
//! once. Needs ministack (make deps): without it these fail, never skip.
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use natsdr::backup::{Target, TargetError};
use natsdr::testkit::ministack::{Ministack, sdk_config};

const MIB: usize = 1024 * 1024;

async fn store() -> (Ministack, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let m = Ministack::start_services(dir.path(), "s3").expect("ministack is installed");
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(&m.url()))
            .force_path_style(true)
            .build(),
    );
    client
        .create_bucket()
        .bucket("natsdr-test")
        .send()
        .await
        .unwrap();
    (m, client, dir)
}

async fn multipart(client: &Client, key: &str, parts: &[Vec<u8>]) {
    let up = client
        .create_multipart_upload()
        .bucket("natsdr-test")
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let r = client
            .upload_part()
            .bucket("natsdr-test")
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket("natsdr-test")
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn etag(client: &Client, key: &str) -> String {
    client
        .head_object()
        .bucket("natsdr-test")
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_store_assembles_multipart_parts_in_order_under_a_composite_etag() {
    let (_m, client, _dir) = store().await;
    let (a, b) = (vec![b'a'; 5 * MIB], vec![b'b'; 1000]);
    multipart(&client, "ok", &[a.clone(), b.clone()]).await;
    assert!(etag(&client, "ok").await.ends_with("-2\""));
    let got = client
        .get_object()
        .bucket("natsdr-test")
        .key("ok")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(got, [a, b].concat());
}

#[tokio::test]
async fn the_store_refuses_to_overwrite_with_if_none_match() {
    let (_m, client, _dir) = store().await;
    let put = |body: &'static str| {
        client
            .put_object()
            .bucket("natsdr-test")
            .key("lease")
            .if_none_match("*")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
    };
    put("first").await.unwrap();
    let second = put("second").await.unwrap_err();
    assert_eq!(second.code(), Some("PreconditionFailed"));
}

#[tokio::test]
async fn a_streamed_upload_over_several_parts_reads_back_identical_and_an_exclusive_write_happens_once()
 {
    let (_m, client, _dir) = store().await;
    let target = Target::S3 {
        client: client.clone(),
        bucket: "natsdr-test".into(),
        prefix: "p".into(),
    };
    // 19 MiB and a bit: three parts, the last one short.
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
