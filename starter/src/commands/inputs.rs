//! Turning command-line inputs (local files or `s3://` URIs) into objects in the store.

use anyhow::Context;
use contracts::{ObjectRef, buckets};
use fleet::Storage;
use std::path::Path;

/// An `s3://` URI as is, or a local file uploaded to `s3://fleet-inputs/<area>/<file name>`.
pub async fn resolve_object(storage: &Storage, input: &str, area: &str) -> anyhow::Result<ObjectRef> {
    if input.starts_with("s3://") {
        return input.parse().with_context(|| format!("input {input:?}"));
    }
    let path = Path::new(input);
    let name = path.file_name().and_then(|n| n.to_str()).with_context(|| format!("input {input:?} is neither an s3:// URI nor a file path"))?;
    if !path.is_file() {
        anyhow::bail!("input {input:?}: no such file (give a local file or an s3://bucket/key URI)");
    }
    let object = ObjectRef::under(buckets::INPUTS, area, name).with_context(|| format!("input {input:?}"))?;
    storage.ensure_bucket(object.bucket()).await?;
    storage.put_file(&object, path, content_type(name)).await?;
    eprintln!("uploaded {input} -> {object}");
    Ok(object)
}

/// A MIME type from a file name's extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("tif" | "tiff") => "image/tiff",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A workflow-id-safe fragment of a key.
pub fn id_fragment(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect()
}
