//! References to objects in S3 and the validation every key goes through before it is used.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A bucket and a key. Built only through [`ObjectRef::new`] or parsing, which validate both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawObjectRef", into = "RawObjectRef")]
pub struct ObjectRef {
    bucket: String,
    key: String,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct RawObjectRef {
    bucket: String,
    key: String,
}

impl TryFrom<RawObjectRef> for ObjectRef {
    type Error = ObjectRefError;
    fn try_from(raw: RawObjectRef) -> Result<Self, Self::Error> {
        ObjectRef::new(raw.bucket, raw.key)
    }
}

impl From<ObjectRef> for RawObjectRef {
    fn from(o: ObjectRef) -> Self {
        RawObjectRef { bucket: o.bucket, key: o.key }
    }
}

/// Why a bucket, key or `s3://` URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectRefError {
    /// The text does not start with `s3://` or has no bucket.
    #[error("malformed S3 URI {0:?}: expected s3://bucket/key")]
    MalformedUri(String),
    /// The bucket name breaks S3's naming rules.
    #[error("invalid bucket name {0:?}: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit")]
    InvalidBucket(String),
    /// The key is empty, too long, absolute, or has `..`/`.` segments, empty segments,
    /// backslashes or control characters.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The refused key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ObjectRef {
    /// Validates and builds a reference.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Result<Self, ObjectRefError> {
        let bucket = bucket.into();
        let key = key.into();
        validate_bucket(&bucket)?;
        validate_key(&key)?;
        Ok(Self { bucket, key })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The last segment of the key.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// A reference in the same bucket whose key is this key plus `suffix`
    /// (e.g. `.metadata.json`).
    pub fn with_suffix(&self, suffix: &str) -> Result<Self, ObjectRefError> {
        ObjectRef::new(self.bucket.clone(), format!("{}{suffix}", self.key))
    }

    /// A reference to `name` under the key prefix `prefix/` in `bucket`.
    pub fn under(bucket: &str, prefix: &str, name: &str) -> Result<Self, ObjectRefError> {
        let prefix = prefix.trim_end_matches('/');
        let key = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        ObjectRef::new(bucket, key)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for ObjectRef {
    type Err = ObjectRefError;
    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let (bucket, key) = split_s3_uri(uri)?;
        if key.is_empty() {
            return Err(ObjectRefError::InvalidKey { key: String::new(), reason: "empty key" });
        }
        ObjectRef::new(bucket, key)
    }
}

/// A bucket and a key prefix (possibly empty), parsed from `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PrefixRef {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without a leading slash; empty for the whole bucket.
    pub prefix: String,
}

impl FromStr for PrefixRef {
    type Err = ObjectRefError;
    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let (bucket, prefix) = split_s3_uri(uri)?;
        validate_bucket(bucket)?;
        if !prefix.is_empty() {
            validate_key(prefix.trim_end_matches('/'))?;
        }
        Ok(PrefixRef { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl fmt::Display for PrefixRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

fn split_s3_uri(uri: &str) -> Result<(&str, &str), ObjectRefError> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| ObjectRefError::MalformedUri(uri.to_owned()))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ObjectRefError::MalformedUri(uri.to_owned()));
    }
    Ok((bucket, key))
}

/// Checks S3's bucket naming rules (the subset every S3 implementation accepts).
pub fn validate_bucket(bucket: &str) -> Result<(), ObjectRefError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..");
    if ok { Ok(()) } else { Err(ObjectRefError::InvalidBucket(bucket.to_owned())) }
}

/// Checks a key is safe both as an S3 key and as a relative path under a local directory
/// (the embedded endpoint stores objects as files, and workers mirror keys into temp dirs).
pub fn validate_key(key: &str) -> Result<(), ObjectRefError> {
    let refuse = |reason| Err(ObjectRefError::InvalidKey { key: key.to_owned(), reason });
    if key.is_empty() {
        return refuse("empty key");
    }
    if key.len() > 1024 {
        return refuse("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return refuse("absolute path");
    }
    if key.contains('\\') {
        return refuse("backslash");
    }
    if key.chars().any(char::is_control) {
        return refuse("control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return refuse("empty path segment"),
            "." | ".." => return refuse("'.' or '..' path segment"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_uris() {
        let o: ObjectRef = "s3://raw-images/flights/a.jpg".parse().unwrap();
        assert_eq!(o.bucket(), "raw-images");
        assert_eq!(o.key(), "flights/a.jpg");
        assert_eq!(o.file_name(), "a.jpg");
        assert_eq!(o.to_string(), "s3://raw-images/flights/a.jpg");
        assert_eq!(o.with_suffix(".json").unwrap().key(), "flights/a.jpg.json");
    }

    #[test]
    fn refuses_bad_uris_and_keys() {
        for bad in ["raw/a.jpg", "s3://", "s3:///a.jpg", "http://b/a"] {
            assert!(matches!(bad.parse::<ObjectRef>(), Err(ObjectRefError::MalformedUri(_))), "{bad}");
        }
        for bad in ["s3://bkt/../etc/passwd", "s3://bkt//abs", "s3://bkt/a/./b", "s3://bkt/a\\b", "s3://bkt/"] {
            assert!(matches!(bad.parse::<ObjectRef>(), Err(ObjectRefError::InvalidKey { .. })), "{bad}");
        }
        assert!(matches!("s3://Bad_Bucket/a".parse::<ObjectRef>(), Err(ObjectRefError::InvalidBucket(_))));
        let err = "s3://bkt/a/../b".parse::<ObjectRef>().unwrap_err().to_string();
        assert!(err.contains("a/../b"), "{err}");
    }

    #[test]
    fn deserializing_validates() {
        let bad = serde_json::json!({"bucket": "bkt", "key": "../x"});
        assert!(serde_json::from_value::<ObjectRef>(bad).is_err());
        let good = serde_json::json!({"bucket": "bkt", "key": "x/y"});
        assert_eq!(serde_json::from_value::<ObjectRef>(good).unwrap().key(), "x/y");
    }

    #[test]
    fn prefixes() {
        let p: PrefixRef = "s3://bkt/flights/".parse().unwrap();
        assert_eq!(p.prefix, "flights/");
        let whole: PrefixRef = "s3://bkt".parse().unwrap();
        assert_eq!(whole.prefix, "");
        assert!("s3://bkt/../x".parse::<PrefixRef>().is_err());
    }
}
