//! The video pipeline (video queue): analyze, extract frames, process frames.
//!
//! [`VideoPipeline`] runs, on the video queue:
//! 1. [`AnalyzeVideo`]: container, codec, size, frame rate, duration, frame count, rotation;
//!    a file that is not a playable video fails here, non-retryably, naming the object;
//! 2. [`ExtractFrames`]: decodes packet by packet, keeps the sampled frames, scales them, and
//!    uploads each as `<prefix>/frames/frame-000012.jpg` as it goes; its heartbeats carry the
//!    progress so a retried attempt resumes instead of starting over;
//! 3. [`ProcessFrames`]: thumbnails, luminance histograms, scene-change scores, scene cuts, a
//!    contact sheet and `<prefix>/summary.json`.
//!
//! The `progress` query reports the stage and frame counts; the `cancel` signal stops the run,
//! cancels the running activity and removes everything written under the output prefix
//! ([`RemoveVideoOutputs`]). Only object keys travel between the steps, never pixels.

use crate::ObjectRef;
use crate::object::PrefixRef;
use crate::settings::ActivitySettings;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Which frames to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// One frame every this many seconds: for each instant 0, s, 2s, ... before the end, the
    /// first frame shown at or after it.
    EverySeconds(f64),
    /// Every nth decoded frame, starting with the first (frames 0, n, 2n, ...).
    EveryNthFrame(u32),
    /// This many frames spread evenly over the duration: the first frame at or after each of
    /// the instants `k * duration / n`.
    Evenly(u32),
}

impl Sampling {
    /// Refuses intervals and counts that select nothing or never end.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Sampling::EverySeconds(s) if !(s.is_finite() && s >= 0.001) => {
                Err(format!("sampling interval {s} s must be a number of seconds >= 0.001"))
            }
            Sampling::EveryNthFrame(0) => Err("every-nth-frame sampling needs n >= 1".to_owned()),
            Sampling::Evenly(0) => Err("evenly spaced sampling needs at least 1 frame".to_owned()),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampling::EverySeconds(s) => write!(f, "one frame every {s} s"),
            Sampling::EveryNthFrame(n) => write!(f, "every frame number divisible by {n}"),
            Sampling::Evenly(n) => write!(f, "{n} frames evenly spaced"),
        }
    }
}

/// Image format of extracted frames, thumbnails and the contact sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameFormat {
    /// JPEG (small, lossy).
    Jpeg,
    /// PNG (lossless, larger).
    Png,
}

impl FrameFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FrameFormat::Jpeg => "jpg",
            FrameFormat::Png => "png",
        }
    }

    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            FrameFormat::Jpeg => "image/jpeg",
            FrameFormat::Png => "image/png",
        }
    }
}

impl std::str::FromStr for FrameFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Ok(FrameFormat::Jpeg),
            "png" => Ok(FrameFormat::Png),
            other => Err(format!("{other:?} is not a frame format (jpeg or png)")),
        }
    }
}

/// How extracted frames are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameSettings {
    /// Frames wider than this are scaled down (aspect kept); narrower ones keep their size.
    pub max_width: u32,
    /// Image format.
    pub format: FrameFormat,
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
    /// At most this many frames are extracted (bounds outputs, heartbeat details and the
    /// summary on long inputs).
    pub max_frames: u32,
    /// Turn frames upright according to the video's rotation metadata.
    pub apply_rotation: bool,
}

impl Default for FrameSettings {
    fn default() -> Self {
        Self { max_width: 640, format: FrameFormat::Jpeg, jpeg_quality: 85, max_frames: 1_000, apply_rotation: true }
    }
}

/// How extracted frames are analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSettings {
    /// Thumbnail width in pixels (height follows the frames' aspect ratio).
    pub thumb_width: u32,
    /// Columns of the contact sheet.
    pub sheet_columns: u32,
    /// At most this many thumbnails on the contact sheet (evenly chosen when there are more
    /// frames), so the sheet stays a reasonable image.
    pub sheet_max_thumbs: u32,
    /// A scene-change score at or above this marks a cut (0..1).
    pub scene_threshold: f64,
    /// Bins of the luminance histogram (1..=256).
    pub histogram_bins: u32,
}

impl Default for ProcessSettings {
    fn default() -> Self {
        Self { thumb_width: 160, sheet_columns: 5, sheet_max_thumbs: 60, scene_threshold: 0.5, histogram_bins: 32 }
    }
}

/// Timeouts and retries of the video activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoActivities {
    /// [`AnalyzeVideo`].
    pub analyze: ActivitySettings,
    /// [`ExtractFrames`] (heartbeats: the heartbeat timeout also bounds how late a cancel is
    /// noticed).
    pub extract: ActivitySettings,
    /// [`ProcessFrames`] (heartbeats).
    pub process: ActivitySettings,
    /// [`RemoveVideoOutputs`].
    pub cleanup: ActivitySettings,
}

impl Default for VideoActivities {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            analyze: ActivitySettings::with_timeout(5 * minute),
            extract: ActivitySettings::with_timeout(60 * minute).heartbeat(Duration::from_secs(10)),
            process: ActivitySettings::with_timeout(30 * minute).heartbeat(Duration::from_secs(10)),
            cleanup: ActivitySettings::with_timeout(5 * minute),
        }
    }
}

/// Input of [`VideoPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRequest {
    /// The video object.
    pub video: ObjectRef,
    /// Where frames, thumbnails, the contact sheet and the summary go. Everything under it
    /// belongs to this run: a cancel removes it all. Must not be empty.
    pub output: PrefixRef,
    /// Which frames to keep.
    pub sampling: Sampling,
    /// How frames are written.
    pub frames: FrameSettings,
    /// How frames are analysed.
    pub process: ProcessSettings,
    /// Activity timeouts and retries.
    pub activities: VideoActivities,
}

impl VideoRequest {
    /// A request with default settings.
    pub fn new(video: ObjectRef, output: PrefixRef, sampling: Sampling) -> Self {
        Self {
            video,
            output,
            sampling,
            frames: FrameSettings::default(),
            process: ProcessSettings::default(),
            activities: VideoActivities::default(),
        }
    }

    /// Checks everything that can be checked before touching the video.
    pub fn validate(&self) -> Result<(), String> {
        self.sampling.validate()?;
        validate_output(&self.output)?;
        let f = &self.frames;
        if !(16..=8192).contains(&f.max_width) {
            return Err(format!("frame max width {} must be within 16..=8192", f.max_width));
        }
        if !(1..=100).contains(&f.jpeg_quality) {
            return Err(format!("JPEG quality {} must be within 1..=100", f.jpeg_quality));
        }
        if f.max_frames == 0 {
            return Err("max frames must be at least 1".to_owned());
        }
        let p = &self.process;
        if !(8..=1024).contains(&p.thumb_width) {
            return Err(format!("thumbnail width {} must be within 8..=1024", p.thumb_width));
        }
        if !(1..=64).contains(&p.sheet_columns) || p.sheet_max_thumbs == 0 {
            return Err("the contact sheet needs 1..=64 columns and at least 1 thumbnail".to_owned());
        }
        if !(0.0..=1.0).contains(&p.scene_threshold) {
            return Err(format!("scene threshold {} must be within 0..=1", p.scene_threshold));
        }
        if !(1..=256).contains(&p.histogram_bins) {
            return Err(format!("histogram bins {} must be within 1..=256", p.histogram_bins));
        }
        Ok(())
    }
}

/// An output prefix must name a folder of its own: an empty prefix would let a cancel's cleanup
/// delete the whole bucket.
pub fn validate_output(output: &PrefixRef) -> Result<(), String> {
    crate::object::validate_bucket(&output.bucket).map_err(|e| e.to_string())?;
    let trimmed = output.prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(format!("output prefix {output} is empty: give the run a folder of its own"));
    }
    crate::object::validate_key(trimmed).map_err(|e| e.to_string())
}

/// Where the frame count of [`VideoMetadata`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameCountSource {
    /// The container's index declares it (MP4/MOV `stts`, ...), and every declared frame's
    /// packet was found in the file.
    Container,
    /// The container declares none (Matroska, AVI without index, raw streams): the video packets
    /// were counted while the file was checked end to end.
    CountedPackets,
}

/// Where the rotation of [`VideoMetadata`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationSource {
    /// The stream's display matrix (MP4/MOV track header).
    DisplayMatrix,
    /// A `rotate` metadata tag.
    RotateTag,
}

/// What [`AnalyzeVideo`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMetadata {
    /// The video.
    pub video: ObjectRef,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Container (FFmpeg demuxer name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// Video codec (FFmpeg codec name, e.g. `h264`, `mpeg4`).
    pub codec: String,
    /// Pixel format of the decoded frames (e.g. `yuv420p`).
    pub pixel_format: String,
    /// Coded width in pixels (before rotation).
    pub width: u32,
    /// Coded height in pixels (before rotation).
    pub height: u32,
    /// Frames per second (average frame rate; the nominal rate when the average is unknown).
    pub fps: f64,
    /// Duration of the video stream in seconds (the container's when the stream has none).
    pub duration_seconds: f64,
    /// Frames in the video stream.
    pub frame_count: u64,
    /// Where `frame_count` comes from.
    pub frame_count_source: FrameCountSource,
    /// Clockwise rotation to display the frames upright: 0, 90, 180 or 270.
    pub rotation_degrees: u32,
    /// Where `rotation_degrees` comes from; `None` when the file says nothing (0).
    pub rotation_source: Option<RotationSource>,
    /// Width as displayed (after rotation).
    pub display_width: u32,
    /// Height as displayed (after rotation).
    pub display_height: u32,
    /// Audio streams beside the video.
    pub audio_streams: u32,
    /// Overall bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
}

/// Input of [`ExtractFrames`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractRequest {
    /// The video, as analysed.
    pub metadata: VideoMetadata,
    /// Which frames to keep.
    pub sampling: Sampling,
    /// How to write them.
    pub frames: FrameSettings,
    /// Output prefix (`frames/...` and `frames.json` go under it).
    pub output: PrefixRef,
}

/// Result of [`ExtractFrames`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractResult {
    /// The manifest (`frames.json`) listing every frame.
    pub manifest: ObjectRef,
    /// Frames extracted in all.
    pub frames: u32,
    /// Width of the frame images.
    pub width: u32,
    /// Height of the frame images.
    pub height: u32,
    /// Frames already uploaded by earlier attempts, taken from their heartbeat details (0 on a
    /// first attempt).
    pub resumed_from: u32,
    /// Frames this attempt decoded, encoded and uploaded itself.
    pub extracted_this_attempt: u32,
    /// The attempt that completed (1-based).
    pub attempt: u32,
}

/// Input of [`ProcessFrames`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRequest {
    /// The video's metadata (copied into the summary).
    pub metadata: VideoMetadata,
    /// The frame manifest from [`ExtractFrames`].
    pub manifest: ObjectRef,
    /// Analysis settings.
    pub settings: ProcessSettings,
    /// Output prefix (`thumbs/...`, the contact sheet and `summary.json` go under it).
    pub output: PrefixRef,
}

/// A scene cut: between two consecutive sampled frames whose score reached the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneCut {
    /// Index of the first sampled frame of the new scene.
    pub frame_index: u32,
    /// Its timestamp: the cut happened after `previous_seconds` and at or before this.
    pub at_seconds: f64,
    /// Timestamp of the last sampled frame of the previous scene.
    pub previous_seconds: f64,
    /// The scene-change score.
    pub score: f64,
}

/// The contact sheet: thumbnails in a grid, row by row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSheet {
    /// The image.
    pub object: ObjectRef,
    /// Grid columns.
    pub columns: u32,
    /// Grid rows.
    pub rows: u32,
    /// Width of one cell.
    pub thumb_width: u32,
    /// Height of one cell.
    pub thumb_height: u32,
    /// Image width: `columns * thumb_width`.
    pub width: u32,
    /// Image height: `rows * thumb_height`.
    pub height: u32,
    /// Sampled frame indices shown, in grid order.
    pub frame_indices: Vec<u32>,
}

/// Result of [`ProcessFrames`] (the frames' details are in the summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessResult {
    /// The summary JSON.
    pub summary: ObjectRef,
    /// The contact sheet.
    pub contact_sheet: ContactSheet,
    /// Detected scene cuts.
    pub scene_cuts: Vec<SceneCut>,
    /// Frames analysed.
    pub frames: u32,
}

/// Result of [`VideoPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoOutcome {
    /// Video metadata.
    pub metadata: VideoMetadata,
    /// The extraction, with its resume accounting.
    pub extraction: ExtractResult,
    /// The summary JSON.
    pub summary: ObjectRef,
    /// The contact sheet.
    pub contact_sheet: ContactSheet,
    /// Detected scene cuts.
    pub scene_cuts: Vec<SceneCut>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoStage {
    /// Not started yet.
    #[default]
    Starting,
    /// [`AnalyzeVideo`].
    Analyzing,
    /// [`ExtractFrames`].
    Extracting,
    /// [`ProcessFrames`].
    Processing,
    /// Finished.
    Completed,
    /// A cancel arrived: stopping the running step and removing partial outputs.
    Cancelling,
    /// Stopped on request, partial outputs removed.
    Cancelled,
    /// Ended in an error.
    Failed,
}

impl VideoStage {
    /// True once the run has ended.
    pub fn is_final(self) -> bool {
        matches!(self, VideoStage::Completed | VideoStage::Cancelled | VideoStage::Failed)
    }
}

impl fmt::Display for VideoStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            VideoStage::Starting => "starting",
            VideoStage::Analyzing => "analyzing",
            VideoStage::Extracting => "extracting frames",
            VideoStage::Processing => "processing frames",
            VideoStage::Completed => "completed",
            VideoStage::Cancelling => "cancelling",
            VideoStage::Cancelled => "cancelled",
            VideoStage::Failed => "failed",
        };
        f.write_str(name)
    }
}

/// Live progress, from the `progress` query.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoProgress {
    /// Current stage.
    pub stage: VideoStage,
    /// Frames the sampling is expected to keep, once the video is analysed (the true count
    /// once extraction completes).
    pub frames_expected: Option<u32>,
    /// Frames extracted and uploaded so far.
    pub frames_extracted: u32,
    /// Frames analysed so far.
    pub frames_processed: u32,
    /// Overall progress, 0..100 (analysis 5%, extraction 80%, processing 15%).
    pub percent: f64,
}

/// Frames done in a stage, sent by the running activity to its workflow (throttled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageProgress {
    /// [`VideoStage::Extracting`] or [`VideoStage::Processing`].
    pub stage: VideoStage,
    /// Frames done in that stage.
    pub frames_done: u32,
}

/// Details of a run that ended cancelled (the workflow's cancellation details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoCancelled {
    /// The video.
    pub video: ObjectRef,
    /// The stage that was running.
    pub stage: VideoStage,
    /// Why (the signal's text, or the cancellation request's).
    pub reason: String,
    /// Objects removed from under the output prefix.
    pub removed_objects: u32,
}

crate::workflow_contract!(
    /// Analyze, extract frames, process frames (video queue).
    VideoPipeline = "VideoPipeline", VideoRequest => VideoOutcome
);
crate::query_contract!(
    /// Stage and frame counts of a run.
    VideoProgressQuery = "progress" on VideoPipeline, () => VideoProgress
);
crate::signal_contract!(
    /// Stops the run: the running activity is cancelled, partial outputs are removed, and the
    /// run ends cancelled. The text says why.
    CancelVideo = "cancel" on VideoPipeline, String
);
crate::signal_contract!(
    /// Sent by the extraction and processing activities to their own run as frames get done,
    /// so the `progress` query is live.
    ReportStageProgress = "report_progress" on VideoPipeline, StageProgress
);

crate::activity_contract!(
    /// Probes the video: metadata, and an end-to-end check that it is a complete video.
    AnalyzeVideo = "AnalyzeVideo", ObjectRef => VideoMetadata
);
crate::activity_contract!(
    /// Decodes, samples, scales, encodes and uploads frames; resumable from its heartbeats.
    ExtractFrames = "ExtractFrames", ExtractRequest => ExtractResult
);
crate::activity_contract!(
    /// Thumbnails, histograms, scene cuts, contact sheet, summary JSON.
    ProcessFrames = "ProcessFrames", ProcessRequest => ProcessResult
);
crate::activity_contract!(
    /// Deletes every object under the output prefix; returns how many.
    RemoveVideoOutputs = "RemoveVideoOutputs", PrefixRef => u32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let output: PrefixRef = "s3://fleet-outputs/video/clip".parse().unwrap();
        let video: ObjectRef = "s3://fleet-inputs/video/clip.mp4".parse().unwrap();
        let ok = VideoRequest::new(video.clone(), output, Sampling::EverySeconds(1.0));
        assert_eq!(ok.validate(), Ok(()));
        let mut bad = ok.clone();
        bad.sampling = Sampling::EverySeconds(0.0);
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.output = "s3://fleet-outputs/".parse().unwrap();
        assert!(bad.validate().unwrap_err().contains("empty"));
        let mut bad = ok;
        bad.process.scene_threshold = 1.5;
        assert!(bad.validate().is_err());
    }
}
