//! S3 storage over HTTP with `aws-sdk-s3`, the same path in production (AWS, MinIO) and in the
//! embedded endpoint. Errors are classified so activities fail non-retryably on a missing object
//! and retry on network faults and 5xx.

use crate::config::S3Settings;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation, retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use contracts::ObjectRef;
use std::path::Path;
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;
use tokio::io::AsyncWriteExt;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist.
    #[error("{object}: object not found")]
    NotFound {
        /// The missing object, as `s3://bucket/key`.
        object: String,
    },
    /// The bucket does not exist.
    #[error("{object}: bucket {bucket:?} does not exist")]
    NoSuchBucket {
        /// The object or prefix the call was about.
        object: String,
        /// The missing bucket.
        bucket: String,
    },
    /// Credentials were refused.
    #[error("{object}: access denied ({message}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")]
    AccessDenied {
        /// The object the call was about.
        object: String,
        /// The service's message.
        message: String,
    },
    /// A fault worth retrying: network, timeout, throttling, 5xx.
    #[error("{object}: transient storage failure: {message}")]
    Transient {
        /// The object the call was about.
        object: String,
        /// What happened.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    LocalFile {
        /// The local path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other refusal by the service.
    #[error("{object}: storage request failed: {message}")]
    Other {
        /// The object the call was about.
        object: String,
        /// What happened.
        message: String,
    },
}

impl StorageError {
    /// True for faults a retry may cure.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Transient { .. } | StorageError::Other { .. })
    }
}

impl StorageError {
    /// The activity failure for this error: missing objects and buckets and refused credentials
    /// are non-retryable and name the object; everything else is retried. (A `From` impl is
    /// ruled out by the SDK's blanket conversion, which would make every error retryable.)
    pub fn into_activity_error(self) -> ActivityError {
        use crate::failure;
        let e = self;
        match &e {
            StorageError::NotFound { object } => failure::not_found(object, "object not found"),
            StorageError::NoSuchBucket { object, bucket } => failure::not_found(object, format!("bucket {bucket:?} does not exist")),
            StorageError::AccessDenied { object, message } => failure::rejected(object, format!("access denied: {message}")),
            StorageError::LocalFile { .. } | StorageError::Transient { .. } | StorageError::Other { .. } => {
                failure::transient("storage", e.to_string())
            }
        }
    }
}

fn classify<E>(object: String, bucket: &str, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default().to_owned();
            let message = se.err().message().map(str::to_owned).unwrap_or_else(|| code.clone());
            let status = se.raw().status().as_u16();
            match (code.as_str(), status) {
                ("NoSuchBucket", _) => StorageError::NoSuchBucket { object, bucket: bucket.to_owned() },
                ("NoSuchKey" | "NotFound", _) | (_, 404) => StorageError::NotFound { object },
                ("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch", _) | (_, 401 | 403) => {
                    StorageError::AccessDenied { object, message }
                }
                ("SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout", _) | (_, 429 | 500..=599) => {
                    StorageError::Transient { object, message: format!("{code} (HTTP {status}): {message}") }
                }
                _ => StorageError::Other { object, message: format!("{code} (HTTP {status}): {message}") },
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StorageError::Transient { object, message: error_chain(&err) }
        }
        _ => StorageError::Other { object, message: error_chain(&err) },
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A client of one S3 endpoint.
#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
}

/// Which version of an object is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// Size in bytes.
    pub size: u64,
    /// The entity tag, when the store gives one.
    pub etag: Option<String>,
}

impl Storage {
    /// A client for the configured endpoint. Retries inside the SDK are kept short (3 attempts):
    /// Temporal's activity retries are the ones that ride out a long outage.
    pub fn new(settings: &S3Settings) -> Self {
        let http_client = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let credentials = Credentials::new(settings.access_key_id.expose(), settings.secret_access_key.expose(), None, None, "fleet-config");
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .http_client(http_client)
            .force_path_style(settings.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder().connect_timeout(Duration::from_secs(5)).operation_attempt_timeout(Duration::from_secs(120)).build(),
            )
            // Checksums only where S3 requires them: MinIO and older gateways reject some of
            // the newer default trailers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if !settings.endpoint.is_empty() {
            builder = builder.endpoint_url(settings.endpoint.clone());
        }
        Self { client: Client::from_conf(builder.build()) }
    }

    /// The underlying SDK client, for calls this wrapper does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts reading an object: its metadata and a body to stream.
    async fn open(&self, object: &ObjectRef) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StorageError> {
        self.client.get_object().bucket(object.bucket()).key(object.key()).send().await.map_err(|e| classify(object.to_string(), object.bucket(), e))
    }

    /// Reads a whole object into memory.
    pub async fn get(&self, object: &ObjectRef) -> Result<Bytes, StorageError> {
        let out = self.open(object).await?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Transient { object: object.to_string(), message: format!("body read failed: {e}") })?;
        Ok(body.into_bytes())
    }

    /// Streams an object into a local file (created or truncated); returns its size.
    pub async fn download_to_file(&self, object: &ObjectRef, path: &Path) -> Result<u64, StorageError> {
        let out = self.open(object).await?;
        let local = |source| StorageError::LocalFile { path: path.display().to_string(), source };
        let mut file = tokio::fs::File::create(path).await.map_err(local)?;
        let mut body = out.body;
        let mut written = 0u64;
        while let Some(chunk) =
            body.try_next().await.map_err(|e| StorageError::Transient { object: object.to_string(), message: format!("body read failed: {e}") })?
        {
            file.write_all(&chunk).await.map_err(local)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(local)?;
        Ok(written)
    }

    /// Size of an object, or `None` when it does not exist.
    pub async fn size(&self, object: &ObjectRef) -> Result<Option<u64>, StorageError> {
        Ok(self.version(object).await?.map(|v| v.size))
    }

    /// Size and entity tag of an object (what tells one version from another), or `None` when
    /// it does not exist.
    pub async fn version(&self, object: &ObjectRef) -> Result<Option<ObjectVersion>, StorageError> {
        match self.client.head_object().bucket(object.bucket()).key(object.key()).send().await {
            Ok(out) => Ok(Some(ObjectVersion { size: out.content_length.unwrap_or(0).max(0) as u64, etag: out.e_tag })),
            Err(e) => match classify(object.to_string(), object.bucket(), e) {
                StorageError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// When an object was last written (its `Last-Modified`), or `None` when it does not exist
    /// (`Some(None)` when the store gives no time).
    pub async fn last_modified(&self, object: &ObjectRef) -> Result<Option<Option<std::time::SystemTime>>, StorageError> {
        match self.client.head_object().bucket(object.bucket()).key(object.key()).send().await {
            Ok(out) => Ok(Some(out.last_modified.and_then(|t| std::time::SystemTime::try_from(t).ok()))),
            Err(e) => match classify(object.to_string(), object.bucket(), e) {
                StorageError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Writes an object (overwriting: every key the fleet writes is derived deterministically
    /// from its input, so a retried write replaces, never duplicates).
    pub async fn put(&self, object: &ObjectRef, body: impl Into<Bytes>, content_type: &str) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(object.bucket())
            .key(object.key())
            .content_type(content_type)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .map_err(|e| classify(object.to_string(), object.bucket(), e))?;
        Ok(())
    }

    /// Uploads a local file, streaming it from disk.
    pub async fn put_file(&self, object: &ObjectRef, path: &Path, content_type: &str) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::LocalFile { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) })?;
        self.client
            .put_object()
            .bucket(object.bucket())
            .key(object.key())
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(object.to_string(), object.bucket(), e))?;
        Ok(())
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), StorageError> {
        match self.client.delete_object().bucket(object.bucket()).key(object.key()).send().await {
            Ok(_) => Ok(()),
            Err(e) => match classify(object.to_string(), object.bucket(), e) {
                StorageError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Every object under `prefix` in `bucket`, in key order (all pages).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectRef>, StorageError> {
        let place = format!("s3://{bucket}/{prefix}");
        let mut objects = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(place.clone(), bucket, e))?;
            for item in page.contents() {
                let Some(key) = item.key() else { continue };
                // Directory markers and keys the fleet would refuse are skipped, not failed on.
                if key.ends_with('/') {
                    continue;
                }
                if let Ok(object) = ObjectRef::new(bucket, key) {
                    objects.push(object);
                }
            }
        }
        objects.sort_by(|a, b| a.key().cmp(b.key()));
        Ok(objects)
    }

    /// One page of the keys under `prefix` in `bucket`, in key order, starting after
    /// `start_after`: the objects (directory markers and keys the fleet would refuse skipped)
    /// and, when the listing goes on, the key to continue after.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: i32,
    ) -> Result<(Vec<ObjectRef>, Option<String>), StorageError> {
        let place = format!("s3://{bucket}/{prefix}");
        let page = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(max_keys)
            .send()
            .await
            .map_err(|e| classify(place, bucket, e))?;
        let mut last_key = None;
        let mut objects = Vec::new();
        for item in page.contents() {
            let Some(key) = item.key() else { continue };
            last_key = Some(key.to_owned());
            if key.ends_with('/') {
                continue;
            }
            if let Ok(object) = ObjectRef::new(bucket, key) {
                objects.push(object);
            }
        }
        objects.sort_by(|a, b| a.key().cmp(b.key()));
        let next_after = if page.is_truncated().unwrap_or(false) { last_key } else { None };
        Ok((objects, next_after))
    }

    /// Creates a bucket unless it exists already.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if self.client.head_bucket().bucket(bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(classify(format!("s3://{bucket}"), bucket, e))
                }
            }
        }
    }
}
