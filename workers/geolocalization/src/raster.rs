//! Opening an image in S3 with GDAL through `/vsis3/`, reading only what its header needs.
//!
//! GDAL reads the object with HTTP range requests (a GeoTIFF's or COG's first IFD, a JPEG 2000's
//! header boxes, a PNG's or JPEG's size), so a 10 GB scene costs a few kilobytes. Its sidecars
//! (`.aux.xml`, world files `.tfw`/`.wld`/...) are read by GDAL through the same path; the worker
//! lists them beforehand (one S3 LIST of the image's stem) and hands the names to `GDALOpenEx`
//! as its sibling files, so GDAL neither lists the folder (which may hold thousands of images)
//! nor probes sidecars that are not there.
//!
//! The S3 settings are GDAL configuration options set **per thread** (`CPLSetThreadLocalConfigOption`)
//! for the duration of one read and cleared afterwards, so concurrent activities (or another
//! endpoint in the same process) never see each other's settings, and the credentials never
//! appear in a log. `CPL_VSIL_CURL_NON_CACHED` keeps GDAL's process-wide `/vsicurl/` cache from
//! answering a later read with bytes of an object that has since been replaced.
//!
//! GDAL reports failures as messages with an error number; the process-wide handler
//! (`rasters::cpl`, shared by every GDAL user of the fleet) records each thread's messages so a failed read is classified (missing object, refused credentials,
//! network or server fault to retry, unreadable file) from what GDAL said on that thread.

use fleet::config::S3Settings;
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use rasters::cpl::{self, GdalMessage};

/// GDAL error numbers (`cpl_error.h`) that tell S3 failures apart.
mod cple {
    pub const OPEN_FAILED: i32 = 4;
    pub const HTTP_RESPONSE: i32 = 11;
    pub const AWS_BUCKET_NOT_FOUND: i32 = 12;
    pub const AWS_OBJECT_NOT_FOUND: i32 = 13;
    pub const AWS_ACCESS_DENIED: i32 = 14;
    pub const AWS_INVALID_CREDENTIALS: i32 = 15;
    pub const AWS_SIGNATURE_DOES_NOT_MATCH: i32 = 16;
    pub const AWS_ERROR: i32 = 17;
}

/// HTTP timeouts of GDAL's reads, seconds: a stalled endpoint fails the read (and the activity
/// retries) well inside the activity's own timeout.
const CONNECT_TIMEOUT_SECS: &str = "10";
const REQUEST_TIMEOUT_SECS: &str = "30";

/// How an object store is reached from GDAL.
#[derive(Clone)]
pub struct S3Access {
    /// `host[:port]` of the endpoint (GDAL's `AWS_S3_ENDPOINT`).
    endpoint: String,
    https: bool,
    virtual_hosting: bool,
    region: String,
    access_key_id: fleet::config::Secret,
    secret_access_key: fleet::config::Secret,
}

// Written by hand: the credentials stay out of debug output.
impl std::fmt::Debug for S3Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Access")
            .field("endpoint", &self.endpoint)
            .field("https", &self.https)
            .field("virtual_hosting", &self.virtual_hosting)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl S3Access {
    /// The GDAL view of the fleet's S3 settings: the endpoint URL split into host and scheme
    /// (AWS's own endpoint when none is configured), path-style addressing as configured.
    pub fn new(settings: &S3Settings) -> Self {
        let (endpoint, https) = match settings.endpoint.trim() {
            "" => (format!("s3.{}.amazonaws.com", settings.region), true),
            url => {
                let https = !url.starts_with("http://");
                let host = url.trim_start_matches("https://").trim_start_matches("http://");
                (host.split('/').next().unwrap_or(host).to_owned(), https)
            }
        };
        Self {
            endpoint,
            https,
            virtual_hosting: !settings.force_path_style,
            region: settings.region.clone(),
            access_key_id: settings.access_key_id.clone(),
            secret_access_key: settings.secret_access_key.clone(),
        }
    }

    /// The configuration options of one read, credentials included.
    fn options(&self) -> Vec<(&'static str, String)> {
        let yes_no = |b: bool| if b { "YES" } else { "NO" }.to_owned();
        vec![
            ("AWS_S3_ENDPOINT", self.endpoint.clone()),
            ("AWS_HTTPS", yes_no(self.https)),
            ("AWS_VIRTUAL_HOSTING", if self.virtual_hosting { "TRUE" } else { "FALSE" }.to_owned()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.expose().to_owned()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.expose().to_owned()),
            // Static keys only: a session token or profile from the process environment must
            // not be mixed with them.
            ("AWS_SESSION_TOKEN", String::new()),
            ("AWS_NO_SIGN_REQUEST", "NO".to_owned()),
            // The sibling list is given to GDALOpenEx; never list the folder.
            ("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR".to_owned()),
            // Forget what was read once the dataset is closed: the object may be replaced.
            ("CPL_VSIL_CURL_NON_CACHED", "/vsis3/".to_owned()),
            ("GDAL_HTTP_CONNECTTIMEOUT", CONNECT_TIMEOUT_SECS.to_owned()),
            ("GDAL_HTTP_TIMEOUT", REQUEST_TIMEOUT_SECS.to_owned()),
            // A short retry inside GDAL for a dropped request; longer outages fail the read and
            // the activity's retry policy takes over.
            ("GDAL_HTTP_MAX_RETRY", "2".to_owned()),
            ("GDAL_HTTP_RETRY_DELAY", "0.5".to_owned()),
        ]
    }

    /// Applies this access to the calling thread until the returned guard is dropped.
    pub fn apply(&self) -> Result<ThreadConfig, RasterError> {
        ThreadConfig::set(self.options())
    }
}

/// GDAL configuration options set on this thread only; cleared when dropped.
pub struct ThreadConfig {
    keys: Vec<&'static str>,
}

impl ThreadConfig {
    fn set(options: Vec<(&'static str, String)>) -> Result<Self, RasterError> {
        let mut guard = Self { keys: Vec::with_capacity(options.len()) };
        for (key, value) in options {
            gdal::config::set_thread_local_config_option(key, &value)
                .map_err(|e| RasterError::Unreadable(format!("cannot set the GDAL option {key}: {e}")))?;
            guard.keys.push(key);
        }
        Ok(guard)
    }
}

impl Drop for ThreadConfig {
    fn drop(&mut self) {
        for key in &self.keys {
            // Nothing useful to do if clearing fails: the next read sets every key again.
            let _ = gdal::config::clear_thread_local_config_option(key);
        }
    }
}

/// `/vsis3/{bucket}/{key}`: the GDAL path of an object.
pub fn vsis3_path(bucket: &str, key: &str) -> String {
    format!("/vsis3/{bucket}/{key}")
}

/// Why a raster could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RasterError {
    /// The object (or its bucket) does not exist.
    #[error("object not found ({0})")]
    NotFound(String),
    /// The store refused the credentials.
    #[error("access denied ({0}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")]
    AccessDenied(String),
    /// A network or server fault: worth retrying.
    #[error("transient S3 failure while reading the header: {0}")]
    Transient(String),
    /// GDAL has no driver for the bytes it read.
    #[error("not a raster format GDAL reads: {0}")]
    UnsupportedFormat(String),
    /// A driver recognised the file but could not read its header.
    #[error("unreadable raster header: {0}")]
    Unreadable(String),
}

impl RasterError {
    /// True for the failures a retry may cure.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RasterError::Transient(_))
    }
}

/// Classifies a failed read from what GDAL said on this thread, falling back on `detail` (the
/// message the failing call returned).
pub fn classify(messages: &[GdalMessage], detail: &str) -> RasterError {
    let text = || {
        let mut all: Vec<&str> = messages.iter().filter(|m| m.failure).map(|m| m.text.as_str()).collect();
        if !detail.is_empty() && !all.contains(&detail) {
            all.push(detail);
        }
        all.join("; ")
    };
    let numbers: Vec<i32> = messages.iter().filter(|m| m.failure).map(|m| m.number).collect();
    let has = |n: i32| numbers.contains(&n);
    if has(cple::AWS_OBJECT_NOT_FOUND) || has(cple::AWS_BUCKET_NOT_FOUND) {
        return RasterError::NotFound(text());
    }
    if has(cple::AWS_ACCESS_DENIED) || has(cple::AWS_INVALID_CREDENTIALS) || has(cple::AWS_SIGNATURE_DOES_NOT_MATCH) {
        return RasterError::AccessDenied(text());
    }
    let all = text();
    let lower = all.to_ascii_lowercase();
    if let Some(status) = http_status(&lower) {
        return match status {
            404 => RasterError::NotFound(all),
            401 | 403 => RasterError::AccessDenied(all),
            408 | 429 | 500..=599 => RasterError::Transient(all),
            _ => RasterError::Unreadable(all),
        };
    }
    // libcurl's words for a request that never got an answer.
    const NETWORK: [&str; 11] = [
        "couldn't connect",
        "could not connect",
        "failed to connect",
        "connection refused",
        "connection reset",
        "timed out",
        "timeout was reached",
        "recv failure",
        "send failure",
        "empty reply",
        "could not resolve",
    ];
    if NETWORK.iter().any(|words| lower.contains(words)) || has(cple::HTTP_RESPONSE) || has(cple::AWS_ERROR) {
        return RasterError::Transient(all);
    }
    if has(cple::OPEN_FAILED) || lower.contains("not recognized as") || lower.contains("not recognised as") {
        return RasterError::UnsupportedFormat(all);
    }
    RasterError::Unreadable(all)
}

/// The HTTP status a GDAL message names (`HTTP response code: 503`, `HTTP error code: 500`,
/// `response_code=404`, ...), if any.
fn http_status(lower: &str) -> Option<u16> {
    for marker in ["http response code", "http error code", "response_code", "http status"] {
        for (at, _) in lower.match_indices(marker) {
            let rest = &lower[at + marker.len()..];
            let digits: String = rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
            // Only a status right after the marker (a few separators), not a number far away.
            let gap = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(usize::MAX);
            if gap <= 4
                && let Ok(status) = digits.parse::<u16>()
                && (100..=599).contains(&status)
            {
                return Some(status);
            }
        }
    }
    None
}

/// Opens the raster at `path` (a `/vsis3/` path, or a local one in tests) read-only, with
/// `siblings` (file names in the same folder) as the only sidecars GDAL may look for.
/// The access options must already apply to this thread (see [`S3Access::apply`]).
pub fn open(path: &str, siblings: &[String]) -> Result<Dataset, RasterError> {
    cpl::clear();
    let names: Vec<&str> = siblings.iter().map(String::as_str).collect();
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        allowed_drivers: None,
        open_options: None,
        sibling_files: Some(&names),
    };
    Dataset::open_ex(path, options).map_err(|e| {
        let detail = match &e {
            gdal::errors::GdalError::NullPointer { msg, .. } => msg.clone(),
            other => other.to_string(),
        };
        classify(&cpl::take(), &detail)
    })
}

/// What GDAL reported on this thread since the last [`open`]: the failure among them, if any
/// (a read error while the header's tags are fetched is reported, not returned, by some
/// drivers), and the warnings (an unknown EPSG code, say), to explain a refusal.
pub fn reports_since_open() -> (Option<RasterError>, Vec<String>) {
    let messages = cpl::take();
    let failure = messages.iter().any(|m| m.failure).then(|| classify(&messages, ""));
    let mut warnings: Vec<String> = messages.into_iter().filter(|m| !m.failure).map(|m| m.text).collect();
    warnings.dedup();
    (failure, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(number: i32, text: &str) -> GdalMessage {
        GdalMessage { failure: true, number, text: text.to_owned() }
    }

    #[test]
    fn gdal_failures_are_classified_by_number_then_words() {
        let missing = classify(&[message(cple::AWS_OBJECT_NOT_FOUND, "The specified key does not exist.")], "");
        assert!(matches!(missing, RasterError::NotFound(_)), "{missing}");
        let denied = classify(&[message(cple::AWS_SIGNATURE_DOES_NOT_MATCH, "signature")], "");
        assert!(matches!(denied, RasterError::AccessDenied(_)));
        for text in ["HTTP response code: 503", "HTTP error code: 500 - Internal", "Couldn't connect to server", "Operation timed out after 30000 ms"]
        {
            let error = classify(&[message(1, text)], "");
            assert!(error.is_retryable(), "{text}: {error}");
        }
        assert!(matches!(classify(&[message(1, "HTTP response code: 404")], ""), RasterError::NotFound(_)));
        let unsupported = classify(&[], "`/vsis3/b/k' not recognized as a supported file format.");
        assert!(matches!(unsupported, RasterError::UnsupportedFormat(_)), "{unsupported}");
        assert!(!unsupported.is_retryable());
        let corrupt = classify(&[message(1, "TIFFReadDirectory: Failed to read directory at offset 8")], "");
        assert!(matches!(corrupt, RasterError::Unreadable(_)), "{corrupt}");
        // A number far from the marker is not a status.
        assert_eq!(http_status("http response code was not received after 500 attempts"), None);
    }

    #[test]
    fn endpoints_become_gdal_options_without_leaking_keys() {
        let settings = S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "eu-west-3".into(),
            access_key_id: fleet::config::Secret::new("AKIA-marker"),
            secret_access_key: fleet::config::Secret::new("secret-marker"),
            force_path_style: true,
        };
        let access = S3Access::new(&settings);
        let options: std::collections::HashMap<_, _> = access.options().into_iter().collect();
        assert_eq!(options["AWS_S3_ENDPOINT"], "127.0.0.1:9000");
        assert_eq!(options["AWS_HTTPS"], "NO");
        assert_eq!(options["AWS_VIRTUAL_HOSTING"], "FALSE");
        assert_eq!(options["AWS_SECRET_ACCESS_KEY"], "secret-marker");
        let shown = format!("{access:?}");
        assert!(!shown.contains("secret-marker") && !shown.contains("AKIA-marker"), "{shown}");

        let aws = S3Access::new(&S3Settings { endpoint: String::new(), force_path_style: false, ..settings });
        let options: std::collections::HashMap<_, _> = aws.options().into_iter().collect();
        assert_eq!((options["AWS_S3_ENDPOINT"].as_str(), options["AWS_HTTPS"].as_str()), ("s3.eu-west-3.amazonaws.com", "YES"));
        assert_eq!(options["AWS_VIRTUAL_HOSTING"], "TRUE");
    }

    #[test]
    fn thread_options_are_cleared_when_the_read_ends() {
        {
            let _config = ThreadConfig::set(vec![("GEOLOCALIZATION_TEST_OPTION", "set".to_owned())]).unwrap();
            assert_eq!(gdal::config::get_thread_local_config_option("GEOLOCALIZATION_TEST_OPTION", "").unwrap(), "set");
            // Another thread does not see it.
            let elsewhere =
                std::thread::spawn(|| gdal::config::get_thread_local_config_option("GEOLOCALIZATION_TEST_OPTION", "unset").unwrap()).join().unwrap();
            assert_eq!(elsewhere, "unset");
        }
        assert_eq!(gdal::config::get_thread_local_config_option("GEOLOCALIZATION_TEST_OPTION", "unset").unwrap(), "unset");
    }
}
