//! The enhancement pipeline (enhancement queue): download, enhance, upload, clean up.
//!
//! - [`EnhanceImage`]: one object. The [`EnhanceObject`] activity downloads the source into a
//!   temporary directory of its own, enhances it (the local enhancer or an OpenAI image edit),
//!   uploads the result and removes the directory whatever happens. [`VerifyEnhanced`] then
//!   reads the uploaded object back and checks it; when that (or anything after the upload)
//!   fails, the workflow compensates with [`WithdrawEnhanced`], which deletes the upload, so a
//!   failed run leaves nothing behind and the compensation is visible in the history.
//! - [`EnhanceBatch`]: every image under a prefix, one [`EnhanceImage`] child per image, a
//!   bounded number at a time, continuing as new every `images_per_run` images.
//!
//! Enhancement parameters travel in the request (the starter fills them from the
//! configuration), so each history records what was asked for; only the OpenAI key, endpoint
//! and the temporary directory are the worker's own settings.

use crate::ObjectRef;
use crate::object::PrefixRef;
use crate::settings::ActivitySettings;
use crate::submitted::{InputError, check_prefix, check_range};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Which enhancer runs, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Enhancer {
    /// Deterministic classical enhancement on the worker (no network).
    Local(LocalParams),
    /// An OpenAI (or compatible) image edit.
    Openai(OpenAiParams),
}

impl Default for Enhancer {
    fn default() -> Self {
        Enhancer::Local(LocalParams::default())
    }
}

impl Enhancer {
    /// `local` or `openai`, the `ENHANCER` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Enhancer::Local(_) => "local",
            Enhancer::Openai(_) => "openai",
        }
    }

    /// Checks every parameter; the message names the parameter and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Enhancer::Local(p) => p.validate(),
            Enhancer::Openai(p) => p.validate(),
        }
    }
}

impl fmt::Display for Enhancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Enhancer::Local(_) => f.write_str("local"),
            Enhancer::Openai(p) => write!(f, "openai:{}", p.model),
        }
    }
}

/// Parameters of the local enhancer: denoise, per-channel contrast stretch, (resize), unsharp
/// mask, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct LocalParams {
    /// Percentile (0..100) of each channel mapped to 0.
    pub low_percentile: f32,
    /// Percentile (0..100) of each channel mapped to 255.
    pub high_percentile: f32,
    /// Sigma of the Gaussian denoise before stretching (pixels); 0 turns it off.
    pub denoise_sigma: f32,
    /// Sigma of the unsharp mask's blur (pixels); 0 turns sharpening off.
    pub sharpen_sigma: f32,
    /// Strength of the unsharp mask (1.0 adds the full difference back).
    pub sharpen_amount: f32,
    /// Differences up to this (0..255) are left alone, so flat areas' noise is not sharpened.
    pub sharpen_threshold: u8,
}

impl Default for LocalParams {
    fn default() -> Self {
        Self { low_percentile: 0.5, high_percentile: 99.5, denoise_sigma: 0.6, sharpen_sigma: 1.0, sharpen_amount: 0.8, sharpen_threshold: 2 }
    }
}

impl LocalParams {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        let (low, high) = (self.low_percentile, self.high_percentile);
        if !(low.is_finite() && high.is_finite() && (0.0..100.0).contains(&low) && low < high && high <= 100.0) {
            return Err(format!("percentiles {low}..{high}: need 0 <= low < high <= 100"));
        }
        for (name, value, max) in
            [("denoise_sigma", self.denoise_sigma, 10.0), ("sharpen_sigma", self.sharpen_sigma, 10.0), ("sharpen_amount", self.sharpen_amount, 5.0)]
        {
            if !(value.is_finite() && (0.0..=max).contains(&value)) {
                return Err(format!("{name} {value}: need 0..={max}"));
            }
        }
        Ok(())
    }
}

/// Longest prompt accepted (the GPT image models' limit).
pub const MAX_PROMPT_CHARS: usize = 32_000;

/// Parameters of an OpenAI image edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenAiParams {
    /// The image model (`OPENAI_MODEL`).
    pub model: String,
    /// What to do to the image (`ENHANCEMENT_PROMPT`).
    pub prompt: String,
    /// Output size asked of the API, `WIDTHxHEIGHT` or `auto` (`OPENAI_IMAGE_SIZE`).
    pub size: String,
}

/// Default `OPENAI_MODEL`.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-image-2";
/// Default `OPENAI_IMAGE_SIZE`.
pub const DEFAULT_OPENAI_IMAGE_SIZE: &str = "1024x1024";
/// Default `ENHANCEMENT_PROMPT`.
pub const DEFAULT_PROMPT: &str = "Enhance this photo: correct the exposure and white balance, recover contrast, \
reduce noise and sharpen fine detail. Keep the composition, content and colours faithful to the original.";

impl Default for OpenAiParams {
    fn default() -> Self {
        Self { model: DEFAULT_OPENAI_MODEL.to_owned(), prompt: DEFAULT_PROMPT.to_owned(), size: DEFAULT_OPENAI_IMAGE_SIZE.to_owned() }
    }
}

impl OpenAiParams {
    /// Checks the model name, prompt length and size syntax.
    pub fn validate(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("model: empty".to_owned());
        }
        let chars = self.prompt.chars().count();
        if self.prompt.trim().is_empty() {
            return Err("prompt: empty".to_owned());
        }
        if chars > MAX_PROMPT_CHARS {
            return Err(format!("prompt: {chars} characters, more than the {MAX_PROMPT_CHARS} the API accepts"));
        }
        if self.size != "auto" {
            parse_size(&self.size).map_err(|e| format!("size {:?}: {e}", self.size))?;
        }
        Ok(())
    }
}

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dimensions {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl fmt::Display for Dimensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Largest output side the enhancers produce.
pub const MAX_OUTPUT_SIDE: u32 = 16_384;

/// Parses `WIDTHxHEIGHT` (both 1..=[`MAX_OUTPUT_SIDE`]).
pub fn parse_size(text: &str) -> Result<Dimensions, String> {
    let (w, h) = text.trim().split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT, e.g. 1024x1024")?;
    let side = |s: &str| -> Result<u32, String> {
        let v: u32 = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
        if (1..=MAX_OUTPUT_SIDE).contains(&v) { Ok(v) } else { Err(format!("{v} is outside 1..={MAX_OUTPUT_SIDE}")) }
    };
    Ok(Dimensions { width: side(w)?, height: side(h)? })
}

/// Output size: both sides given means exactly that size; one side keeps the aspect ratio;
/// none keeps the source size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TargetSize {
    /// Output width.
    pub width: Option<u32>,
    /// Output height.
    pub height: Option<u32>,
}

impl TargetSize {
    /// Checks both sides are within 1..=[`MAX_OUTPUT_SIDE`].
    pub fn validate(&self) -> Result<(), String> {
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if let Some(v) = side
                && !(1..=MAX_OUTPUT_SIDE).contains(&v)
            {
                return Err(format!("target {name} {v}: need 1..={MAX_OUTPUT_SIDE}"));
            }
        }
        Ok(())
    }
}

/// Checks of the uploaded result before the run counts as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct VerifyPolicy {
    /// Smallest accepted spread (0..255) between the 1st and 99th percentile of the output's
    /// luminance; 0 accepts any. An output that stays this flat is withdrawn.
    pub min_contrast_spread: u8,
}

/// Timeouts and retries of the enhancement activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct EnhancementActivities {
    /// [`EnhanceObject`] (heartbeats while it works; an OpenAI call can take a minute).
    pub enhance: ActivitySettings,
    /// [`VerifyEnhanced`].
    pub verify: ActivitySettings,
    /// [`WithdrawEnhanced`], the compensation.
    pub withdraw: ActivitySettings,
    /// The batch's listing ([`ListBatchPage`](crate::batch::ListBatchPage)).
    pub list: ActivitySettings,
}

impl Default for EnhancementActivities {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            enhance: ActivitySettings::with_timeout(10 * minute).heartbeat(Duration::from_secs(30)),
            verify: ActivitySettings::with_timeout(2 * minute),
            withdraw: ActivitySettings::with_timeout(minute),
            list: ActivitySettings::with_timeout(minute),
        }
    }
}

/// What to do to an image: the same for one image and for every image of a batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct EnhanceOptions {
    /// Enhancer and parameters.
    pub enhancer: Enhancer,
    /// Output size.
    pub size: TargetSize,
    /// Checks of the uploaded result.
    pub verify: VerifyPolicy,
    /// Timeouts and retries.
    pub activities: EnhancementActivities,
}

/// Input of [`EnhanceImage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhanceImageRequest {
    /// The image to enhance.
    pub source: ObjectRef,
    /// Where the result goes; its extension (`.png`, `.jpg`/`.jpeg`, `.tif`/`.tiff`) picks the
    /// output format. Re-running overwrites it.
    pub destination: ObjectRef,
    /// What to do to it.
    #[serde(default)]
    pub options: EnhanceOptions,
}

/// Result of [`EnhanceImage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhanceImageResult {
    /// `Successfully processed image: s3://src/key -> s3://dst/key`, as the original system
    /// reported it.
    pub message: String,
    /// What was done, in detail.
    pub enhanced: EnhancedObject,
    /// What the read-back found.
    pub verification: Verification,
}

/// Error type of an `EnhanceImage` whose compensation failed too: the upload may remain.
pub const COMPENSATION_FAILED: &str = "CompensationFailed";

/// Input of [`EnhanceObject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhanceObjectInput {
    /// The image to enhance.
    pub source: ObjectRef,
    /// Where the result goes.
    pub destination: ObjectRef,
    /// Enhancer and parameters.
    pub enhancer: Enhancer,
    /// Output size.
    pub size: TargetSize,
}

/// Output of [`EnhanceObject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhancedObject {
    /// The source.
    pub source: ObjectRef,
    /// The uploaded result.
    pub destination: ObjectRef,
    /// `local` or `openai:<model>`.
    pub enhancer: String,
    /// Source dimensions.
    pub source_size: Dimensions,
    /// Output dimensions.
    pub output_size: Dimensions,
    /// Bytes uploaded.
    pub output_bytes: u64,
    /// Luminance 1st-99th percentile spread of the source (0..255).
    pub source_contrast_spread: u8,
    /// The same of the output.
    pub output_contrast_spread: u8,
}

/// Input of [`VerifyEnhanced`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyInput {
    /// The uploaded result.
    pub object: ObjectRef,
    /// The dimensions [`EnhanceObject`] reported.
    pub expected_size: Dimensions,
    /// The policy.
    pub policy: VerifyPolicy,
}

/// Output of [`VerifyEnhanced`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verification {
    /// Size of the object read back.
    pub bytes: u64,
    /// Its decoded dimensions.
    pub size: Dimensions,
    /// Its luminance 1st-99th percentile spread.
    pub contrast_spread: u8,
}

/// Input of [`EnhanceBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhanceBatchRequest {
    /// Every image under this prefix.
    pub source: PrefixRef,
    /// Results go under this prefix, with the keys' paths below the source prefix kept.
    pub destination: PrefixRef,
    /// What to do to every image.
    #[serde(default)]
    pub options: EnhanceOptions,
    /// Children running at once.
    #[serde(default = "default_batch_concurrency")]
    pub max_concurrent: u32,
    /// Images per workflow run before continuing as new (keeps the history bounded).
    #[serde(default = "default_images_per_run")]
    pub images_per_run: u32,
    /// State carried across continue-as-new; `None` on the first run.
    #[serde(default)]
    pub carried: Option<BatchCarried>,
}

/// Children of a batch running at once when the request does not say.
pub const DEFAULT_BATCH_CONCURRENCY: u32 = 4;
/// Images per batch run when the request does not say.
pub const DEFAULT_IMAGES_PER_RUN: u32 = 200;
/// Most children of a batch at once.
pub const MAX_BATCH_CONCURRENCY: u32 = 500;
/// Most images per batch run.
pub const MAX_IMAGES_PER_RUN: u32 = 1000;

fn default_batch_concurrency() -> u32 {
    DEFAULT_BATCH_CONCURRENCY
}

fn default_images_per_run() -> u32 {
    DEFAULT_IMAGES_PER_RUN
}

impl EnhanceOptions {
    /// Checks the enhancer, the size and the activity settings; the error names the field
    /// (below `options`).
    pub fn check(&self) -> Result<(), InputError> {
        self.enhancer.validate().map_err(|e| InputError::new("enhancer", e))?;
        self.size.validate().map_err(|e| InputError::new("size", e))?;
        let a = &self.activities;
        for (name, settings) in [("enhance", &a.enhance), ("verify", &a.verify), ("withdraw", &a.withdraw), ("list", &a.list)] {
            settings.check(&format!("activities.{name}"))?;
        }
        Ok(())
    }
}

impl crate::submitted::Resolve for EnhanceImageRequest {
    fn check(&self) -> Result<(), InputError> {
        self.options.check().map_err(|e| e.within("options"))
    }
}

impl crate::submitted::Resolve for EnhanceBatchRequest {
    fn check(&self) -> Result<(), InputError> {
        check_prefix("source", &self.source)?;
        check_prefix("destination", &self.destination)?;
        check_range("max_concurrent", self.max_concurrent, 1..=MAX_BATCH_CONCURRENCY)?;
        check_range("images_per_run", self.images_per_run, 1..=MAX_IMAGES_PER_RUN)?;
        self.options.check().map_err(|e| e.within("options"))
    }
}

/// Failures kept in a batch summary (the count in [`BatchTotals::failed`] is complete).
pub const MAX_REPORTED_FAILURES: usize = 200;

/// What one run of a batch hands to the next.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchCarried {
    /// Listing continues after this key.
    pub list_after: Option<String>,
    /// Totals so far.
    pub totals: BatchTotals,
    /// Failures so far (the first [`MAX_REPORTED_FAILURES`]).
    pub failures: Vec<ImageFailure>,
    /// Runs before this one.
    pub runs: u32,
}

/// Counts over a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchTotals {
    /// Images handled (enhanced or failed).
    pub images: u64,
    /// Enhanced, verified and uploaded.
    pub enhanced: u64,
    /// Ended in an error.
    pub failed: u64,
    /// Keys under the prefix that are not images the enhancers read.
    pub skipped: u64,
}

/// One image that failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageFailure {
    /// The image.
    pub source: ObjectRef,
    /// Application error type of the root cause (`NotFound`, `InvalidInput`, `Rejected`, ...).
    pub error_type: Option<String>,
    /// The root cause's message (names the input).
    pub message: String,
}

/// Result of [`EnhanceBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnhanceBatchSummary {
    /// The source prefix.
    pub source: PrefixRef,
    /// The destination prefix.
    pub destination: PrefixRef,
    /// Totals over every run.
    pub totals: BatchTotals,
    /// Failures over every run (the first [`MAX_REPORTED_FAILURES`]).
    pub failures: Vec<ImageFailure>,
    /// Results of the last run's images.
    pub results: Vec<EnhanceImageResult>,
    /// Workflow runs the batch took.
    pub runs: u32,
}

/// Live progress of a batch, from the `progress` query.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchProgress {
    /// Totals so far (all runs).
    pub totals: BatchTotals,
    /// Children running now.
    pub running: u32,
    /// Current run (1-based).
    pub run: u32,
}

/// Input of [`ListEnhanceable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListRequest {
    /// Where to list.
    pub location: PrefixRef,
    /// Continue after this key.
    pub start_after: Option<String>,
    /// Keys to read (images and others).
    pub max_keys: u32,
}

/// Output of [`ListEnhanceable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListedImages {
    /// The images among the keys read, in key order.
    pub images: Vec<ObjectRef>,
    /// Keys read that are not images.
    pub skipped: u64,
    /// Continue after this key; `None` when the listing is complete.
    pub next_after: Option<String>,
}

crate::workflow_contract!(
    /// Enhances one object: download, enhance, upload, verify; withdraws the upload when a later
    /// step fails.
    EnhanceImage = "EnhanceImage", EnhanceImageRequest => EnhanceImageResult
);
crate::workflow_contract!(
    /// Enhances every image under a prefix, a bounded number at a time.
    EnhanceBatch = "EnhanceBatch", EnhanceBatchRequest => EnhanceBatchSummary
);
crate::resolver_contract!(ResolveEnhanceImageRequest = "ResolveEnhanceImageRequest", EnhanceImageRequest);
crate::resolver_contract!(ResolveEnhanceBatchRequest = "ResolveEnhanceBatchRequest", EnhanceBatchRequest);
crate::query_contract!(
    /// Live progress of a batch.
    EnhanceBatchProgress = "progress" on EnhanceBatch, () => BatchProgress
);
crate::activity_contract!(
    /// Downloads the source into a temporary directory, enhances it, uploads the result, and
    /// removes the directory on every path out.
    EnhanceObject = "EnhanceObject", EnhanceObjectInput => EnhancedObject
);
crate::activity_contract!(
    /// Reads an uploaded result back: non-empty, decodable, the expected size, the policy met.
    VerifyEnhanced = "VerifyEnhanced", VerifyInput => Verification
);
crate::activity_contract!(
    /// The compensation: deletes an uploaded result.
    WithdrawEnhanced = "WithdrawEnhanced", ObjectRef => ()
);
crate::activity_contract!(
    /// One page of the images under a prefix: the listing of `EnhanceBatch` runs started
    /// before the batch engine, kept so they finish (new runs use `ListBatchPage`).
    ListEnhanceable = "ListEnhanceable", ListRequest => ListedImages
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sizes() {
        assert!(TargetSize { width: Some(0), height: None }.validate().is_err());
        assert!(TargetSize { width: Some(MAX_OUTPUT_SIDE + 1), height: None }.validate().is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024x768").unwrap(), Dimensions { width: 1024, height: 768 });
        for bad in ["1024", "0x10", "ax10", "99999x1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_validate() {
        assert!(Enhancer::default().validate().is_ok());
        assert!(Enhancer::Openai(OpenAiParams::default()).validate().is_ok());
        let bad = LocalParams { low_percentile: 60.0, high_percentile: 40.0, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("percentiles"));
        let long = OpenAiParams { prompt: "x".repeat(MAX_PROMPT_CHARS + 1), ..Default::default() };
        assert!(long.validate().unwrap_err().contains("prompt"));
        let size = OpenAiParams { size: "big".into(), ..Default::default() };
        assert!(size.validate().unwrap_err().contains("size"));
    }

    #[test]
    fn enhancer_serializes_with_a_kind_tag() {
        let json = serde_json::to_value(Enhancer::default()).unwrap();
        assert_eq!(json["kind"], "local");
        let back: Enhancer = serde_json::from_value(serde_json::json!({"kind": "local"})).unwrap();
        assert_eq!(back, Enhancer::default());
    }
}
