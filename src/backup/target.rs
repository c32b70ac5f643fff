//! Where backup sets live: an S3 bucket (or an S3-compatible store) or a directory. Objects are
//! streamed in and out (S3 multipart, bounded buffers), never held whole in memory.
use std::path::PathBuf;
use std::pin::Pin;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::config::BackupTarget;
use crate::nats::snapshot::hex;

/// S3 part size: above S3's 5 MiB minimum; the most a backup holds in memory per object.
const PART: usize = 8 * 1024 * 1024;

/// A failed operation on the backup target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The store did not answer (DNS, connection refused, timeout).
    #[error("{target}: unreachable")]
    Unreachable {
        /// The target.
        target: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store refused the credentials or the permission.
    #[error("{target}: access denied ({code}): check the credentials and the bucket policy")]
    Denied {
        /// The target.
        target: String,
        /// The store's error code.
        code: String,
    },
    /// The object does not exist.
    #[error("{target}: object {key} is missing")]
    Missing {
        /// The target.
        target: String,
        /// The object's key.
        key: String,
    },
    /// A write that must not overwrite found the object already there.
    #[error("{target}: object {key} already exists")]
    Exists {
        /// The target.
        target: String,
        /// The object's key.
        key: String,
    },
    /// Any other refusal by the store.
    #[error("{target}: {operation} {key} failed: {message}")]
    Store {
        /// The target.
        target: String,
        /// What was attempted.
        operation: &'static str,
        /// The object's key (or prefix).
        key: String,
        /// The store's code and message.
        message: String,
    },
    /// Local I/O (a directory target, or the stream being uploaded).
    #[error("{target}: I/O on {key}")]
    Io {
        /// The target.
        target: String,
        /// The object's key.
        key: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a finished upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256 of those bytes, lowercase hex.
    pub sha256: String,
}

/// A readable object.
pub type ObjectReader = Pin<Box<dyn AsyncRead + Send>>;

/// A backup target, opened.
#[derive(Debug, Clone)]
pub enum Target {
    /// An S3 bucket and prefix.
    S3 {
        /// The client.
        client: Client,
        /// Bucket.
        bucket: String,
        /// Key prefix ("" or without trailing slash).
        prefix: String,
    },
    /// A directory.
    Dir(PathBuf),
}

impl Target {
    /// Opens a configured target: for S3, the standard AWS credential chain (environment, web
    /// identity, profile, instance metadata), no retries hidden behind long timeouts.
    pub async fn open(cfg: &BackupTarget) -> Self {
        match cfg {
            BackupTarget::Dir(p) => Self::Dir(p.clone()),
            BackupTarget::S3 {
                bucket,
                prefix,
                endpoint_url,
                path_style,
                aws_region,
            } => {
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(aws_region.clone()))
                    .load()
                    .await;
                let mut b = aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(*path_style)
                    // NB: S3-compatible stores differ in their support of the newer default
                    // checksums (aws-chunked trailers); every object's SHA-256 is in the
                    // manifest and checked on every read instead.
                    .request_checksum_calculation(
                        aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                    )
                    .response_checksum_validation(
                        aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                    )
                    .timeout_config(
                        aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                            .connect_timeout(std::time::Duration::from_secs(5))
                            .operation_attempt_timeout(std::time::Duration::from_secs(120))
                            .build(),
                    );
                if let Some(u) = endpoint_url {
                    b = b.endpoint_url(u);
                }
                Self::S3 {
                    client: Client::from_conf(b.build()),
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                }
            }
        }
    }

    /// The target as an operator wrote it, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Self::Dir(p) => format!("dir://{}", p.display()),
        }
    }

    fn s3_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    }

    fn io(&self, key: &str, source: std::io::Error) -> TargetError {
        if source.kind() == std::io::ErrorKind::NotFound {
            return TargetError::Missing {
                target: self.describe(),
                key: key.to_owned(),
            };
        }
        TargetError::Io {
            target: self.describe(),
            key: key.to_owned(),
            source,
        }
    }

    fn sdk<E>(
        &self,
        operation: &'static str,
        key: &str,
        e: SdkError<E, HttpResponse>,
    ) -> TargetError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let target = self.describe();
        let key = key.to_owned();
        let status = e.raw_response().map(|r| r.status().as_u16());
        if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
            return TargetError::Unreachable {
                target,
                source: Box::new(e),
            };
        }
        let code = e.code().unwrap_or_default().to_owned();
        match (code.as_str(), status) {
            ("NoSuchKey" | "NotFound", _) | (_, Some(404)) if code != "NoSuchBucket" => {
                TargetError::Missing { target, key }
            }
            ("PreconditionFailed", _) | (_, Some(412)) => TargetError::Exists { target, key },
            (
                "AccessDenied"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken",
                _,
            )
            | (_, Some(401 | 403)) => TargetError::Denied {
                target,
                code: if code.is_empty() {
                    format!("HTTP {}", status.unwrap_or_default())
                } else {
                    code
                },
            },
            _ => TargetError::Store {
                target,
                operation,
                key,
                message: format!(
                    "{} {}",
                    if code.is_empty() { "error" } else { &code },
                    e.message()
                        .map_or_else(|| crate::error_chain(&e), str::to_owned)
                ),
            },
        }
    }

    /// Writes `input` to `key` as it is read (S3: multipart, one part in memory at a time;
    /// directory: a temporary file renamed into place at the end). Returns what was written.
    /// NB: an error leaves no object behind (the multipart upload is aborted).
    pub async fn put_stream<R: AsyncRead + Unpin>(
        &self,
        key: &str,
        input: &mut R,
    ) -> Result<Written, TargetError> {
        match self {
            Self::Dir(root) => {
                let path = root.join(key);
                let tmp = path.with_extension("partial");
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| self.io(key, e))?;
                }
                let mut file = tokio::fs::File::create(&tmp)
                    .await
                    .map_err(|e| self.io(key, e))?;
                let written = hash_copy(input, Some(&mut file))
                    .await
                    .map_err(|e| self.io(key, e))?;
                file.sync_all().await.map_err(|e| self.io(key, e))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| self.io(key, e))?;
                Ok(written)
            }
            Self::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Self::s3_key(prefix, key);
                let upload = client
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(&full)
                    .send()
                    .await
                    .map_err(|e| self.sdk("create multipart upload", key, e))?;
                let id = upload.upload_id().unwrap_or_default().to_owned();
                let result = self
                    .upload_parts(client, bucket, &full, &id, key, input)
                    .await;
                if result.is_err() {
                    // NB: best effort: an abandoned upload is also cleaned by a lifecycle rule.
                    let _ = client
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(&full)
                        .upload_id(&id)
                        .send()
                        .await;
                }
                result
            }
        }
    }

    async fn upload_parts<R: AsyncRead + Unpin>(
        &self,
        client: &Client,
        bucket: &str,
        full: &str,
        id: &str,
        key: &str,
        input: &mut R,
    ) -> Result<Written, TargetError> {
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut parts = Vec::new();
        loop {
            let mut buf = Vec::with_capacity(PART);
            let n = (&mut *input)
                .take(PART as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| self.io(key, e))?;
            // An empty object still needs one (empty) part; after that, EOF ends the upload.
            if n == 0 && !parts.is_empty() {
                break;
            }
            hash.update(&buf);
            bytes += n as u64;
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            let part = client
                .upload_part()
                .bucket(bucket)
                .key(full)
                .upload_id(id)
                .part_number(number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| self.sdk("upload part", key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            );
            if n < PART {
                break;
            }
        }
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(full)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.sdk("complete multipart upload", key, e))?;
        Ok(Written {
            bytes,
            sha256: hex(&hash.finalize()),
        })
    }

    /// Writes a small object whole. With `exclusive`, only if no object is at `key` yet (S3:
    /// `If-None-Match: *`; a directory: create-new), so two writers cannot both succeed.
    pub async fn put_bytes(
        &self,
        key: &str,
        body: Vec<u8>,
        exclusive: bool,
    ) -> Result<(), TargetError> {
        match self {
            Self::Dir(root) => {
                let path = root.join(key);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| self.io(key, e))?;
                }
                let mut opts = tokio::fs::OpenOptions::new();
                opts.write(true);
                if exclusive {
                    opts.create_new(true);
                } else {
                    opts.create(true).truncate(true);
                }
                let mut file = match opts.open(&path).await {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(TargetError::Exists {
                            target: self.describe(),
                            key: key.to_owned(),
                        });
                    }
                    r => r.map_err(|e| self.io(key, e))?,
                };
                file.write_all(&body).await.map_err(|e| self.io(key, e))?;
                file.sync_all().await.map_err(|e| self.io(key, e))
            }
            Self::S3 {
                client,
                bucket,
                prefix,
            } => {
                let mut req = client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .body(ByteStream::from(body));
                if exclusive {
                    req = req.if_none_match("*");
                }
                req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.sdk("put", key, e))
            }
        }
    }

    /// Opens `key` for reading as a stream.
    pub async fn get(&self, key: &str) -> Result<ObjectReader, TargetError> {
        match self {
            Self::Dir(root) => {
                let file = tokio::fs::File::open(root.join(key))
                    .await
                    .map_err(|e| self.io(key, e))?;
                Ok(Box::pin(file))
            }
            Self::S3 {
                client,
                bucket,
                prefix,
            } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await
                    .map_err(|e| self.sdk("get", key, e))?;
                Ok(Box::pin(out.body.into_async_read()))
            }
        }
    }

    /// Reads a small object whole.
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, TargetError> {
        let mut r = self.get(key).await?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.map_err(|e| self.io(key, e))?;
        Ok(out)
    }

    /// Reads `key` to its end and returns its size and SHA-256.
    pub async fn digest(&self, key: &str) -> Result<Written, TargetError> {
        let mut r = self.get(key).await?;
        hash_copy(&mut r, None::<&mut tokio::fs::File>)
            .await
            .map_err(|e| self.io(key, e))
    }

    /// The keys directly below `dir` (one level, names only, sorted): the sets under `sets`.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, TargetError> {
        let mut out = Vec::new();
        match self {
            Self::Dir(root) => {
                let mut rd = match tokio::fs::read_dir(root.join(dir)).await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    r => r.map_err(|e| self.io(dir, e))?,
                };
                while let Some(entry) = rd.next_entry().await.map_err(|e| self.io(dir, e))? {
                    if entry.path().is_dir() {
                        out.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Self::S3 {
                client,
                bucket,
                prefix,
            } => {
                let pages = self.s3_list(client, bucket, prefix, dir, Some("/")).await?;
                // Each common prefix is the key of `dir`, a name and a slash.
                out.extend(
                    pages
                        .iter()
                        .flat_map(|page| page.common_prefixes())
                        .filter_map(|p| p.prefix()?.trim_end_matches('/').rsplit('/').next())
                        .map(str::to_owned),
                );
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every page of the listing of `bucket` under `dir` (below `prefix`); with a `delimiter`,
    /// its common prefixes are the "folders" one level down.
    async fn s3_list(
        &self,
        client: &Client,
        bucket: &str,
        prefix: &str,
        dir: &str,
        delimiter: Option<&str>,
    ) -> Result<Vec<ListObjectsV2Output>, TargetError> {
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{}/", Self::s3_key(prefix, dir)))
            .set_delimiter(delimiter.map(str::to_owned))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            out.push(page.map_err(|e| self.sdk("list", dir, e))?);
        }
        Ok(out)
    }

    /// Deletes every object under `dir` (a whole set).
    pub async fn delete_dir(&self, dir: &str) -> Result<(), TargetError> {
        match self {
            Self::Dir(root) => match tokio::fs::remove_dir_all(root.join(dir)).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                r => r.map_err(|e| self.io(dir, e)),
            },
            Self::S3 {
                client,
                bucket,
                prefix,
            } => {
                for page in self.s3_list(client, bucket, prefix, dir, None).await? {
                    for o in page.contents() {
                        if let Some(k) = o.key() {
                            client
                                .delete_object()
                                .bucket(bucket)
                                .key(k)
                                .send()
                                .await
                                .map_err(|e| self.sdk("delete", k, e))?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Reads `input` to its end in 256 KiB chunks, hashing it (and writing it to `out`, if any):
/// its size and SHA-256.
async fn hash_copy<R, W>(input: &mut R, mut out: Option<&mut W>) -> std::io::Result<Written>
where
    R: AsyncRead + Unpin + ?Sized,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
        if let Some(out) = out.as_mut() {
            out.write_all(&buf[..n]).await?;
        }
    }
    Ok(Written {
        bytes,
        sha256: hex(&hash.finalize()),
    })
}
