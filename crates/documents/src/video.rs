//! What the video worker writes under a run's output prefix: the frame images and thumbnails
//! (named here), the frame manifest `frames.json` and the summary `summary.json`.

use contracts::object::PrefixRef;
use contracts::video::{ContactSheet, FrameFormat, Sampling, SceneCut, SceneTransition, VideoMetadata};
use contracts::{ObjectRef, ObjectRefError};
use serde::{Deserialize, Serialize};

/// The object `name` (a relative key such as `summary.json`) under an output prefix.
pub fn output_object(output: &PrefixRef, name: &str) -> Result<ObjectRef, ObjectRefError> {
    ObjectRef::under(&output.bucket, &output.prefix, name)
}

/// Relative key of sampled frame `index`: `frames/frame-000012.jpg`.
pub fn frame_name(index: u32, format: FrameFormat) -> String {
    format!("frames/frame-{index:06}.{}", format.extension())
}

/// Relative key of the thumbnail of sampled frame `index`: `thumbs/thumb-000012.jpg`.
pub fn thumbnail_name(index: u32, format: FrameFormat) -> String {
    format!("thumbs/thumb-{index:06}.{}", format.extension())
}

/// Relative key of the frame manifest written by `ExtractFrames`.
pub const MANIFEST_NAME: &str = "frames.json";
/// Relative key of the scene scores of every decoded frame, written with the manifest.
pub const SCENE_SCORES_NAME: &str = "scene-scores.json";
/// Relative key of the summary written by `ProcessFrames`.
pub const SUMMARY_NAME: &str = "summary.json";
/// Relative key (without extension) of the contact sheet.
pub const CONTACT_SHEET_STEM: &str = "contact-sheet";

/// One extracted frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedFrame {
    /// Position among the sampled frames (0-based; names the object).
    pub index: u32,
    /// The image.
    pub object: ObjectRef,
    /// Presentation time in seconds from the start of the video stream.
    pub timestamp_seconds: f64,
    /// Position in the video's frame sequence: counted while decoding for every-nth-frame
    /// sampling, `round(timestamp * fps)` for the time-based modes (they seek on resume).
    pub frame_number: u64,
}

/// The manifest `ExtractFrames` writes as `frames.json`: the frames, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameManifest {
    /// The video.
    pub video: ObjectRef,
    /// The sampling used.
    pub sampling: Sampling,
    /// Width of every frame image (after scaling and rotation).
    pub width: u32,
    /// Height of every frame image.
    pub height: u32,
    /// Image format.
    pub format: FrameFormat,
    /// The frames.
    pub frames: Vec<ExtractedFrame>,
}

/// Analysis of one sampled frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameAnalysis {
    /// The frame as extracted.
    pub frame: ExtractedFrame,
    /// Its thumbnail.
    pub thumbnail: ObjectRef,
    /// Mean luminance (BT.601 luma), 0..255.
    pub mean_luminance: f64,
    /// Luminance histogram: the share of pixels per equal-width bin over 0..255 (sums to 1).
    pub histogram: Vec<f64>,
    /// Scene-change score against the previous sampled frame, 0..1 (total-variation distance
    /// of the two luminance histograms); `None` for the first frame.
    pub scene_score: Option<f64>,
}

/// The summary JSON `ProcessFrames` writes as `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoSummary {
    /// Video metadata.
    pub metadata: VideoMetadata,
    /// Sampling used.
    pub sampling: Sampling,
    /// Threshold the cuts were detected with.
    pub scene_threshold: f64,
    /// Every sampled frame with its analysis.
    pub frames: Vec<FrameAnalysis>,
    /// Frames the sampling asked for.
    #[serde(default)]
    pub frames_expected: u32,
    /// Frames extracted.
    #[serde(default)]
    pub frames_extracted: u32,
    /// Detected scene cuts, in time order.
    pub scene_cuts: Vec<SceneCut>,
    /// Cuts, fades and flashes over every decoded frame, in time order.
    #[serde(default)]
    pub transitions: Vec<SceneTransition>,
    /// The contact sheet.
    pub contact_sheet: ContactSheet,
}
