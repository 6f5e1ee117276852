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
use crate::submitted::InputError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Which frames to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct FrameSettings {
    /// Frames wider than this are scaled down (aspect kept); narrower ones keep their size.
    pub max_width: u32,
    /// Image format.
    pub format: FrameFormat,
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
    /// A run whose sampling needs more frames than this is refused before extracting any
    /// (bounds the outputs and the summary of one run).
    pub max_frames: u32,
    /// Turn frames upright according to the video's rotation metadata.
    pub apply_rotation: bool,
    /// Extraction splits the video into time segments of about this many seconds, extracted
    /// by parallel activities (at most [`MAX_SEGMENTS`]: longer videos get longer segments).
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: f64,
}

/// Most segments a video's extraction is split into: bounds the run's history whatever the
/// video's length.
pub const MAX_SEGMENTS: u32 = 32;

fn default_segment_seconds() -> f64 {
    300.0
}

impl Default for FrameSettings {
    fn default() -> Self {
        Self {
            max_width: 640,
            format: FrameFormat::Jpeg,
            jpeg_quality: 85,
            max_frames: 20_000,
            apply_rotation: true,
            segment_seconds: default_segment_seconds(),
        }
    }
}

/// How extracted frames are analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
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
    /// Scene detection over every decoded frame (segmented runs; `scene_threshold` applies to
    /// runs recorded before, which compared the sampled frames' histograms).
    #[serde(default)]
    pub scenes: SceneDetection,
}

impl Default for ProcessSettings {
    fn default() -> Self {
        Self { thumb_width: 160, sheet_columns: 5, sheet_max_thumbs: 60, scene_threshold: 0.5, histogram_bins: 32, scenes: SceneDetection::default() }
    }
}

/// Timeouts and retries of the video activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct VideoActivities {
    /// [`AnalyzeVideo`].
    pub analyze: ActivitySettings,
    /// [`ExtractFrames`] and each [`ExtractSegment`] (heartbeats: the heartbeat timeout also
    /// bounds how late a cancel is noticed).
    pub extract: ActivitySettings,
    /// [`ProcessFrames`] (heartbeats).
    pub process: ActivitySettings,
    /// [`AssembleFrames`].
    #[serde(default = "default_assemble")]
    pub assemble: ActivitySettings,
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
            assemble: default_assemble(),
        }
    }
}

fn default_assemble() -> ActivitySettings {
    ActivitySettings::with_timeout(Duration::from_secs(5 * 60))
}

/// Input of [`VideoPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VideoRequest {
    /// The video object.
    pub video: ObjectRef,
    /// Where frames, thumbnails, the contact sheet and the summary go. Everything under it
    /// belongs to this run: a cancel removes it all. Must not be empty.
    pub output: PrefixRef,
    /// Which frames to keep (one frame per second when absent).
    #[serde(default = "default_sampling")]
    pub sampling: Sampling,
    /// How frames are written.
    #[serde(default)]
    pub frames: FrameSettings,
    /// How frames are analysed.
    #[serde(default)]
    pub process: ProcessSettings,
    /// Activity timeouts and retries.
    #[serde(default)]
    pub activities: VideoActivities,
}

fn default_sampling() -> Sampling {
    Sampling::EverySeconds(1.0)
}

impl crate::submitted::Resolve for VideoRequest {
    fn check(&self) -> Result<(), InputError> {
        self.check_fields()
    }
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
        self.check_fields().map_err(|e| e.to_string())
    }

    /// [`Self::validate`], naming the field.
    fn check_fields(&self) -> Result<(), InputError> {
        let field = |name: &'static str| move |e: String| InputError::new(name, e);
        self.sampling.validate().map_err(field("sampling"))?;
        validate_output(&self.output).map_err(field("output"))?;
        let f = &self.frames;
        if !(16..=8192).contains(&f.max_width) {
            return Err(InputError::new("frames.max_width", format!("frame max width {} must be within 16..=8192", f.max_width)));
        }
        if !(1..=100).contains(&f.jpeg_quality) {
            return Err(InputError::new("frames.jpeg_quality", format!("JPEG quality {} must be within 1..=100", f.jpeg_quality)));
        }
        if f.max_frames == 0 {
            return Err(InputError::new("frames.max_frames", "max frames must be at least 1"));
        }
        if !(f.segment_seconds >= 10.0 && f.segment_seconds <= 86_400.0) {
            return Err(InputError::new("frames.segment_seconds", format!("segment seconds {} must be within 10..=86400", f.segment_seconds)));
        }
        let p = &self.process;
        if !(8..=1024).contains(&p.thumb_width) {
            return Err(InputError::new("process.thumb_width", format!("thumbnail width {} must be within 8..=1024", p.thumb_width)));
        }
        if !(1..=64).contains(&p.sheet_columns) || p.sheet_max_thumbs == 0 {
            return Err(InputError::new("process.sheet_columns", "the contact sheet needs 1..=64 columns and at least 1 thumbnail"));
        }
        if !(0.0..=1.0).contains(&p.scene_threshold) {
            return Err(InputError::new("process.scene_threshold", format!("scene threshold {} must be within 0..=1", p.scene_threshold)));
        }
        if !(1..=256).contains(&p.histogram_bins) {
            return Err(InputError::new("process.histogram_bins", format!("histogram bins {} must be within 1..=256", p.histogram_bins)));
        }
        p.scenes.validate().map_err(field("process.scenes"))?;
        let a = &self.activities;
        for (name, settings) in
            [("analyze", &a.analyze), ("extract", &a.extract), ("process", &a.process), ("assemble", &a.assemble), ("cleanup", &a.cleanup)]
        {
            settings.check(&format!("activities.{name}"))?;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RotationSource {
    /// The stream's display matrix (MP4/MOV track header).
    DisplayMatrix,
    /// A `rotate` metadata tag.
    RotateTag,
}

/// What [`AnalyzeVideo`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The attempt that completed (1-based; the highest over the segments).
    pub attempt: u32,
    /// Segments the extraction was split into (1 for runs before segmenting).
    #[serde(default = "one")]
    pub segments: u32,
    /// Frames the sampling asked for (instants denser than the frame rate share a frame, so
    /// fewer may exist); 0 in results of runs before segmenting.
    #[serde(default)]
    pub frames_expected: u32,
    /// Scene scores of every decoded frame (`scene-scores.json`), from segmented runs.
    #[serde(default)]
    pub scene_scores: Option<ObjectRef>,
}

fn one() -> u32 {
    1
}

/// One time segment of a video's extraction: the sampling targets it keeps and the stretch
/// of the video it covers (and scores for scene detection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VideoSegment {
    /// Position among the segments (0-based).
    pub index: u32,
    /// First sampling target (instant number, or kept-frame number for every nth frame); the
    /// frames it keeps are named from it.
    pub first_target: u64,
    /// Start of the stretch, seconds from the stream start.
    pub start_seconds: f64,
    /// End of the stretch (excluded); `None` for the last segment, which runs to the end.
    pub end_seconds: Option<f64>,
}

/// Input of [`ExtractSegment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentRequest {
    /// The extraction the segment belongs to.
    pub extract: ExtractRequest,
    /// The segment.
    pub segment: VideoSegment,
}

/// Result of [`ExtractSegment`]: how many pieces (`segments/segment-NNNN/piece-NNNN.json`,
/// each listing frames and scene scores in order) it wrote, and its accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentResult {
    /// The segment.
    pub index: u32,
    /// Pieces written, numbered from 0.
    pub pieces: u32,
    /// Frames extracted.
    pub frames: u32,
    /// Width and height of the frame images, when it extracted any.
    pub size: Option<(u32, u32)>,
    /// Frames already uploaded by earlier attempts (from their heartbeat checkpoints).
    pub resumed_from: u32,
    /// Frames this attempt extracted itself.
    pub extracted_this_attempt: u32,
    /// The attempt that completed (1-based).
    pub attempt: u32,
}

/// Input of [`AssembleFrames`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssembleRequest {
    /// The extraction.
    pub extract: ExtractRequest,
    /// Every segment's result, in order.
    pub segments: Vec<SegmentResult>,
}

/// Input of [`ProcessFrames`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessRequest {
    /// The video's metadata (copied into the summary).
    pub metadata: VideoMetadata,
    /// The frame manifest from [`ExtractFrames`] or [`AssembleFrames`].
    pub manifest: ObjectRef,
    /// The scene scores from [`AssembleFrames`], when the extraction was segmented.
    #[serde(default)]
    pub scene_scores: Option<ObjectRef>,
    /// Frames the sampling asked for (copied into the summary).
    #[serde(default)]
    pub frames_expected: u32,
    /// Analysis settings.
    pub settings: ProcessSettings,
    /// Output prefix (`thumbs/...`, the contact sheet and `summary.json` go under it).
    pub output: PrefixRef,
}

/// A scene cut: between two sampled frames. Segmented runs find it among every decoded frame
/// (a [`TransitionKind::Cut`]); runs before compared consecutive sampled frames' histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// How the video worker finds scene transitions in every decoded frame: hard cuts as
/// PySceneDetect's `ContentDetector` finds them (HSV content change against a threshold, a
/// minimum scene length) and as its `AdaptiveDetector` does (a change standing out from the
/// frames around it), and, unlike them, fades to or from black or white and short bright
/// flashes, which it reports as such instead of as cuts. Lengths are in frames, as PySceneDetect
/// counts them (every decoded frame is scored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SceneDetection {
    /// A frame whose content change from the previous frame (mean absolute difference of hue,
    /// saturation and value, averaged: 0..255, PySceneDetect's `content_val`) is at or above
    /// this starts a new scene (PySceneDetect's `threshold`, 27).
    pub content_threshold: f64,
    /// A content change at least this many times the mean of the two frames' changes on either
    /// side of it is a cut too, if it reaches `adaptive_min_content` (PySceneDetect's
    /// `AdaptiveDetector`: 3; 0 turns it off). Finds cuts between colours whose HSV difference
    /// stays under `content_threshold`, e.g. saturated green to blue.
    pub adaptive_ratio: f64,
    /// The least content change an adaptive cut needs (PySceneDetect's `min_content_val`, 15).
    pub adaptive_min_content: f64,
    /// A cut less than this many frames after the previous cut (or after the first frame) is
    /// dropped (PySceneDetect's `min_scene_len`, 15 frames: 0.6 s at 25 fps).
    pub min_scene_frames: u32,
    /// A frame whose mean luma (BT.601, 0..255) is at or below this is black: where a fade out
    /// ends and a fade in starts (PySceneDetect's `ThresholdDetector` uses 12).
    pub black_luma: f64,
    /// A frame whose mean luma is at or above this is white, for fades to and from white.
    pub white_luma: f64,
    /// A luma ramp to or from black (or white) over at least this many frames is a fade; a
    /// quicker change is a cut.
    pub fade_min_frames: u32,
    /// At most this many frames, each brighter than the frame before them by at least
    /// `flash_min_luma_rise`, after which the picture returns, are a flash rather than two
    /// cuts. 0 turns flash detection off; at most [`Self::MAX_FLASH_FRAMES`].
    pub flash_max_frames: u32,
    /// How much brighter (mean luma, 0..255) than the frame before, a flash frame is.
    pub flash_min_luma_rise: f64,
}

impl SceneDetection {
    /// Longest flash, in frames: the frame scorer compares each frame with this many frames
    /// before the previous one, to tell whether the picture after a flash is the one before it.
    pub const MAX_FLASH_FRAMES: u32 = 5;

    /// Refuses values that make no sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let luma = |name: &str, value: f64| {
            if (0.0..=255.0).contains(&value) { Ok(()) } else { Err(format!("scene detection {name} {value} must be within 0..=255")) }
        };
        luma("content_threshold", self.content_threshold)?;
        luma("adaptive_min_content", self.adaptive_min_content)?;
        if !(self.adaptive_ratio == 0.0 || (1.0..=255.0).contains(&self.adaptive_ratio)) {
            return Err(format!("scene detection adaptive_ratio {} must be 0 (off) or within 1..=255", self.adaptive_ratio));
        }
        luma("black_luma", self.black_luma)?;
        luma("white_luma", self.white_luma)?;
        luma("flash_min_luma_rise", self.flash_min_luma_rise)?;
        if self.black_luma >= self.white_luma {
            return Err(format!("scene detection black_luma {} must be below white_luma {}", self.black_luma, self.white_luma));
        }
        if self.fade_min_frames < 2 {
            return Err(format!("scene detection fade_min_frames {} must be at least 2 (one step is a cut)", self.fade_min_frames));
        }
        if self.flash_max_frames > Self::MAX_FLASH_FRAMES {
            return Err(format!("scene detection flash_max_frames {} must be at most {}", self.flash_max_frames, Self::MAX_FLASH_FRAMES));
        }
        Ok(())
    }
}

impl Default for SceneDetection {
    fn default() -> Self {
        Self {
            content_threshold: 27.0,
            adaptive_ratio: 3.0,
            adaptive_min_content: 15.0,
            min_scene_frames: 15,
            black_luma: 12.0,
            white_luma: 243.0,
            fade_min_frames: 3,
            flash_max_frames: 3,
            flash_min_luma_rise: 40.0,
        }
    }
}

/// What kind of scene transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// A hard cut: one frame to the next, a different picture.
    Cut,
    /// The picture rises from black (or white) over several frames.
    FadeIn,
    /// The picture sinks to black (or white) over several frames.
    FadeOut,
    /// A few bright frames (a camera flash, lightning), not a change of scene by themselves.
    Flash,
}

/// A scene transition found in the decoded frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SceneTransition {
    /// What it is.
    pub kind: TransitionKind,
    /// A cut: time of the last frame before it. A fade: the last frame before the ramp (fade
    /// out) or the last black/white frame (fade in). A flash: its first bright frame.
    pub start_seconds: f64,
    /// A cut: time of the first frame of the new scene. A fade: the first black/white frame
    /// (fade out) or the first frame at full level (fade in). A flash: its last bright frame.
    pub end_seconds: f64,
    /// How strong: a cut's content change (0..255, compared with `content_threshold`), the
    /// luma a fade spans, or how much brighter a flash is than the frame before it (0..255).
    pub score: f64,
}

/// The contact sheet: thumbnails in a grid, row by row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessResult {
    /// The summary JSON.
    pub summary: ObjectRef,
    /// The contact sheet.
    pub contact_sheet: ContactSheet,
    /// Detected scene cuts.
    pub scene_cuts: Vec<SceneCut>,
    /// Frames analysed.
    pub frames: u32,
    /// Cuts, fades and flashes over every decoded frame (segmented runs).
    #[serde(default)]
    pub transitions: Vec<SceneTransition>,
}

/// Result of [`VideoPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Cuts, fades and flashes over every decoded frame (segmented runs).
    #[serde(default)]
    pub transitions: Vec<SceneTransition>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageProgress {
    /// [`VideoStage::Extracting`] or [`VideoStage::Processing`].
    pub stage: VideoStage,
    /// Frames done in that stage.
    pub frames_done: u32,
}

/// Details of a run that ended cancelled (the workflow's cancellation details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
crate::resolver_contract!(ResolveVideoRequest = "ResolveVideoRequest", VideoRequest);
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
    /// Extracts one time segment's frames and scene scores; resumable from its heartbeats.
    ExtractSegment = "ExtractSegment", SegmentRequest => SegmentResult
);
crate::activity_contract!(
    /// Assembles the frame manifest and the scene scores from the segments' pieces.
    AssembleFrames = "AssembleFrames", AssembleRequest => ExtractResult
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

    #[test]
    fn scene_detection_defaults_are_pyscenedetects_and_bad_values_name_their_field() {
        let defaults = SceneDetection::default();
        assert_eq!((defaults.content_threshold, defaults.min_scene_frames), (27.0, 15));
        assert_eq!(defaults.validate(), Ok(()));
        type Break = fn(&mut SceneDetection);
        let broken: [(Break, &str); 7] = [
            (|s| s.content_threshold = 300.0, "content_threshold"),
            (|s| s.adaptive_ratio = 0.5, "adaptive_ratio"),
            (|s| s.adaptive_min_content = f64::NAN, "adaptive_min_content"),
            (|s| s.black_luma = -1.0, "black_luma"),
            (|s| s.white_luma = s.black_luma, "white_luma"),
            (|s| s.fade_min_frames = 1, "fade_min_frames"),
            (|s| s.flash_max_frames = SceneDetection::MAX_FLASH_FRAMES + 1, "flash_max_frames"),
        ];
        for (breaks, field) in broken {
            let mut settings = SceneDetection::default();
            breaks(&mut settings);
            let message = settings.validate().unwrap_err();
            assert!(message.contains(field), "{message:?} should name {field}");
        }
    }

    #[test]
    fn transitions_serialize_with_snake_case_kinds() {
        let fade = SceneTransition { kind: TransitionKind::FadeIn, start_seconds: 0.0, end_seconds: 1.0, score: 90.0 };
        let json = serde_json::to_value(&fade).unwrap();
        assert_eq!(json["kind"], "fade_in");
        assert_eq!(serde_json::from_value::<SceneTransition>(json).unwrap(), fade);
    }
}
