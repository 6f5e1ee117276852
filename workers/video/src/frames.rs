//! Sampling frames out of a video: demux and decode packet by packet, keep the frames the
//! [`Sampling`] picks, scale them with swscale to RGB at the configured width, turn them upright,
//! and hand each one to a callback as soon as it exists. At most one decoded picture and one
//! RGB image are alive at a time, whatever the video's length.
//!
//! A run can start from a [`ResumePoint`] (from the previous attempt's heartbeat): the
//! time-based modes seek to the keyframe before the next sampling instant, every-nth-frame
//! decodes from the start (its frame numbers are counted) but skips the scaling of frames it
//! does not keep.

use crate::probe::{ProbeError, open_video};
use crate::scenes::{FrameScore, SCORE_WIDTH, ScoreProbe};
use contracts::video::Sampling;
use ffmpeg::software::scaling;
use ffmpeg::{Packet, codec, format};
use ffmpeg_next as ffmpeg;
use image::RgbImage;
use std::ops::ControlFlow;
use std::path::Path;

/// Sampling instants within this many seconds of a frame's timestamp count as reached (frame
/// timestamps are exact rationals, instants are products of floats).
const TIME_EPSILON: f64 = 1e-6;

/// What to sample and how to shape the pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplePlan {
    /// Which frames to keep.
    pub sampling: Sampling,
    /// Duration of the video in seconds (from the analysis).
    pub duration_seconds: f64,
    /// Frames per second (from the analysis), for frame numbers of the time-based modes.
    pub fps: f64,
    /// Scale frames wider than this down to it.
    pub max_width: u32,
    /// Clockwise quarter turns to apply after scaling (0, 90, 180, 270).
    pub rotation_degrees: u32,
    /// Stop after this many frames in all (earlier attempts included).
    pub max_frames: u32,
    /// The part of the video this run covers.
    pub window: Window,
    /// Score every decoded frame of the window for scene detection ([`Decoded::Score`]).
    pub score: bool,
}

/// A stretch of the video by presentation time: frames at `start_seconds` or later and before
/// `end_seconds` (to the end when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    /// First instant covered.
    pub start_seconds: f64,
    /// First instant no longer covered.
    pub end_seconds: Option<f64>,
}

impl Window {
    /// The whole video.
    pub const WHOLE: Window = Window { start_seconds: 0.0, end_seconds: None };

    fn before_end(&self, t: f64) -> bool {
        self.end_seconds.is_none_or(|end| t + TIME_EPSILON < end)
    }

    fn contains(&self, t: f64) -> bool {
        t + TIME_EPSILON >= self.start_seconds && self.before_end(t)
    }
}

/// Where a run starts: the next sampling target and the next frame index to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResumePoint {
    /// Next sampling target: instant number k (time modes) or kept-frame number k, i.e. frame
    /// number k * n (every nth frame).
    pub next_target: u64,
    /// Index the next kept frame gets (frames already extracted).
    pub next_index: u32,
}

/// Where a run picks up: the sampling's resume point and, when scoring, the time of the last
/// score already handed on (scores at or before it are not handed on again).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Start {
    /// Next frame to keep.
    pub resume: ResumePoint,
    /// Time of the last score an earlier run handed on.
    pub scored_until: Option<f64>,
}

impl From<ResumePoint> for Start {
    fn from(resume: ResumePoint) -> Self {
        Self { resume, scored_until: None }
    }
}

/// A kept frame.
#[derive(Debug, Clone)]
pub struct SampledFrame {
    /// Position among kept frames.
    pub index: u32,
    /// Presentation time in seconds from the stream start.
    pub timestamp_seconds: f64,
    /// Frame number (counted, or from the timestamp; see `documents::video::ExtractedFrame`).
    pub frame_number: u64,
    /// Where the next run would resume after this frame.
    pub resume: ResumePoint,
    /// The picture, scaled and upright.
    pub image: RgbImage,
}

/// What a run hands on, in presentation order: a frame's score comes before the frame itself.
#[derive(Debug, Clone)]
pub enum Decoded {
    /// A kept frame.
    Frame(SampledFrame),
    /// The scene score of a decoded frame of the window.
    Score(FrameScore),
}

/// Why sampling stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The file is not a usable video.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// FFmpeg failed on data that analysed fine (damaged in the middle, or a library fault).
    #[error("decoding failed after {kept} kept frames: {message}")]
    Decode {
        /// Frames kept before the failure.
        kept: u32,
        /// FFmpeg's message.
        message: String,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEnd {
    /// The video (or the sampling) is exhausted.
    Finished {
        /// Frames decoded by this run (a measure of the work done, seeks included).
        decoded: u64,
    },
    /// The callback asked to stop.
    Stopped,
}

/// Seconds between sampling instants, for the time-based modes (`None` for every nth frame).
pub fn interval_seconds(sampling: Sampling, duration_seconds: f64) -> Option<f64> {
    match sampling {
        Sampling::EverySeconds(s) => Some(s),
        Sampling::Evenly(n) => Some(duration_seconds / f64::from(n.max(1))),
        Sampling::EveryNthFrame(_) => None,
    }
}

/// How many frames `sampling` keeps from a video of this length, before any cap. The
/// extraction reports the true number; this one sizes progress bars.
pub fn expected_frames(sampling: Sampling, duration_seconds: f64, frame_count: u64) -> u64 {
    match sampling {
        Sampling::EverySeconds(s) if s > 0.0 && duration_seconds > 0.0 => {
            // Instants 0, s, 2s, ... strictly before the end; the epsilon absorbs float noise
            // so 6.0 / 1.0 counts 6 instants, not 7.
            ((duration_seconds / s) - 1e-9).ceil().max(1.0) as u64
        }
        Sampling::EverySeconds(_) => 1,
        Sampling::EveryNthFrame(n) => frame_count.div_ceil(u64::from(n.max(1))),
        Sampling::Evenly(n) => u64::from(n).min(frame_count.max(1)),
    }
}

/// Output size for a `width` x `height` picture with sample aspect ratio `sar`: square pixels,
/// at most `max_width` wide (before rotation), both sides at least 2.
pub fn scaled_size(width: u32, height: u32, sar: f64, max_width: u32) -> (u32, u32) {
    let display_width = if sar.is_finite() && sar > 0.0 { f64::from(width) * sar } else { f64::from(width) };
    let out_width = display_width.min(f64::from(max_width)).round().max(2.0);
    let out_height = (f64::from(height) * out_width / display_width).round().max(2.0);
    (out_width as u32, out_height as u32)
}

/// Decides, frame by frame, which frames to keep.
struct Selector {
    sampling: Sampling,
    interval: Option<f64>,
    limit_targets: Option<u64>,
    duration: f64,
    window: Window,
    next: ResumePoint,
    max_frames: u32,
}

impl Selector {
    fn new(plan: &SamplePlan, start: ResumePoint) -> Self {
        let limit_targets = match plan.sampling {
            Sampling::Evenly(n) => Some(u64::from(n)),
            _ => None,
        };
        Self {
            sampling: plan.sampling,
            interval: interval_seconds(plan.sampling, plan.duration_seconds),
            limit_targets,
            duration: plan.duration_seconds,
            window: plan.window,
            next: start,
            max_frames: plan.max_frames,
        }
    }

    /// Nothing left to keep.
    fn exhausted(&self) -> bool {
        if self.next.next_index >= self.max_frames {
            return true;
        }
        if self.limit_targets.is_some_and(|limit| self.next.next_target >= limit) {
            return true;
        }
        match (self.sampling, self.interval) {
            (Sampling::EverySeconds(_), Some(interval)) => {
                let target = self.next.next_target as f64 * interval;
                (self.duration > 0.0 && target >= self.duration - TIME_EPSILON) || !self.window.before_end(target)
            }
            (Sampling::Evenly(_), Some(interval)) => !self.window.before_end(self.next.next_target as f64 * interval),
            _ => false,
        }
    }

    /// The instant a time-based run seeks to: its next sampling instant.
    fn resume_time(&self) -> Option<f64> {
        self.interval.filter(|_| self.next.next_target > 0).map(|i| self.next.next_target as f64 * i)
    }

    /// Whether the frame with this decode count and timestamp is kept; advances past it if so.
    fn keep(&mut self, decoded_number: u64, timestamp: f64) -> bool {
        if self.exhausted() || !self.window.contains(timestamp) {
            return false;
        }
        match (self.sampling, self.interval) {
            (Sampling::EveryNthFrame(n), _) => {
                let n = u64::from(n.max(1));
                if decoded_number.is_multiple_of(n) && decoded_number / n >= self.next.next_target {
                    self.next.next_target = decoded_number / n + 1;
                    self.next.next_index += 1;
                    true
                } else {
                    false
                }
            }
            (_, Some(interval)) if interval > 0.0 => {
                let target_time = self.next.next_target as f64 * interval;
                if timestamp + TIME_EPSILON < target_time {
                    return false;
                }
                // One frame serves every instant it reaches: instants denser than the frames
                // do not duplicate pictures.
                let reached = ((timestamp + TIME_EPSILON) / interval).floor() as u64;
                self.next.next_target = reached.max(self.next.next_target) + 1;
                self.next.next_index += 1;
                true
            }
            _ => false,
        }
    }
}

/// Frames before a score that the probe compares it with: the previous one, and those a flash
/// may hide (`FrameScore::content_across`).
const SCORE_HISTORY_FRAMES: f64 = contracts::video::SceneDetection::MAX_FLASH_FRAMES as f64 + 2.0;

/// Scene scores of the decoded frames of a window: every frame from a few before the first one
/// handed on is scored (so the first handed on has its predecessors), frames at or before
/// `scored_until` or outside the window are not handed on.
struct Scoring {
    probe: ScoreProbe,
    scaler: Option<(scaling::Context, (format::Pixel, u32, u32))>,
    picture: ffmpeg::frame::Video,
    /// Frames at or after this are scored (enough frames before the first handed on for the
    /// probe's comparisons).
    from: f64,
    window: Window,
    scored_until: Option<f64>,
}

impl Scoring {
    fn new(window: Window, scored_until: Option<f64>, fps: f64) -> Self {
        let first = scored_until.unwrap_or(window.start_seconds).max(window.start_seconds);
        Self {
            probe: ScoreProbe::new(),
            scaler: None,
            picture: ffmpeg::frame::Video::empty(),
            from: first - (SCORE_HISTORY_FRAMES + 0.5) / fps.max(1e-3),
            window,
            scored_until,
        }
    }

    /// Where decoding must start for the first score handed on to have its predecessor.
    fn seek_time(&self) -> f64 {
        self.from
    }

    fn score(&mut self, picture: &ffmpeg::frame::Video, t: f64) -> Result<Option<FrameScore>, String> {
        if t + TIME_EPSILON < self.from || !self.window.before_end(t) {
            return Ok(None);
        }
        let source = (picture.format(), picture.width(), picture.height());
        if self.scaler.as_ref().is_none_or(|(_, s)| *s != source) {
            let (w, h) = scaled_size(source.1, source.2, f64::from(picture.aspect_ratio()), SCORE_WIDTH);
            let context = scaling::Context::get(source.0, source.1, source.2, format::Pixel::RGB24, w, h, scaling::Flags::FAST_BILINEAR)
                .map_err(|e| format!("cannot scale {}x{} {:?} for scoring: {e}", source.1, source.2, source.0))?;
            self.scaler = Some((context, source));
            self.picture = ffmpeg::frame::Video::empty();
        }
        let (context, _) = self.scaler.as_mut().expect("scaler set above");
        context.run(picture, &mut self.picture).map_err(|e| format!("scaling for scoring: {e}"))?;
        let score = self.probe.score(&to_image(&self.picture), t);
        let handed_on = self.window.contains(t) && self.scored_until.is_none_or(|until| t > until + TIME_EPSILON);
        Ok(handed_on.then_some(score))
    }
}

/// Decodes every frame of the video at `path` and scores it for scene detection.
pub fn score_video(path: &Path) -> Result<Vec<FrameScore>, SampleError> {
    let (input, index) = open_video(path)?;
    let fps = input.stream(index).map(|s| f64::from(s.avg_frame_rate())).filter(|f| f.is_finite() && *f > 0.0).unwrap_or(25.0);
    drop(input);
    // Keeping no frame (`max_frames: 0`) leaves only the scoring.
    let plan = SamplePlan {
        sampling: Sampling::EveryNthFrame(1),
        duration_seconds: 0.0,
        fps,
        max_width: SCORE_WIDTH,
        rotation_degrees: 0,
        max_frames: 0,
        window: Window::WHOLE,
        score: true,
    };
    let mut scores = Vec::new();
    sample_frames(path, &plan, Start::default(), |decoded| {
        if let Decoded::Score(score) = decoded {
            scores.push(score);
        }
        ControlFlow::Continue(())
    })?;
    Ok(scores)
}

/// Decodes `path` and calls `on_decoded` with every kept frame (and, when the plan scores,
/// every score), starting at `start`.
pub fn sample_frames(
    path: &Path,
    plan: &SamplePlan,
    start: Start,
    mut on_decoded: impl FnMut(Decoded) -> ControlFlow<()>,
) -> Result<SampleEnd, SampleError> {
    let (mut input, index) = open_video(path)?;
    let stream = input.stream(index).ok_or_else(|| ProbeError::BadHeader("video stream vanished".into()))?;
    let time_base = f64::from(stream.time_base());
    let stream_start = if stream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE { 0 } else { stream.start_time() };
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| ProbeError::UnsupportedCodec(e.to_string()))?;

    let mut selector = Selector::new(plan, start.resume);
    let mut scoring = plan.score.then(|| Scoring::new(plan.window, start.scored_until, plan.fps));
    // Done once nothing is left to keep and, when scoring, the window is decoded through.
    let finished = |selector: &Selector, t: Option<f64>| selector.exhausted() && scoring_done(plan, t);
    if finished(&selector, None) {
        return Ok(SampleEnd::Finished { decoded: 0 });
    }
    let counts_frames = matches!(plan.sampling, Sampling::EveryNthFrame(_));
    // Every nth frame counts frames from the start: it never seeks. The time-based modes seek
    // to the earliest instant this run needs.
    let seek_to = if counts_frames {
        None
    } else {
        [selector.resume_time(), Some(plan.window.start_seconds), scoring.as_ref().map(Scoring::seek_time)]
            .into_iter()
            .flatten()
            .reduce(f64::min)
            .filter(|&t| t > 0.0)
    };
    if let Some(seek_to) = seek_to {
        // Seek (container-wide, in microseconds) to the last keyframe at or before the instant;
        // frames before the instant are then decoded and dropped. A failed seek just means
        // decoding from the start: the selector skips what was done either way.
        let micros = f64::from(ffmpeg::ffi::AV_TIME_BASE);
        let target = ((stream_start as f64 * time_base + seek_to) * micros) as i64;
        if input.seek(target, ..target).is_err() {
            tracing::debug!(seek_to, "seek failed; decoding from the start");
        }
    }

    let mut scaler: Option<(scaling::Context, (format::Pixel, u32, u32))> = None;
    let mut decoded: u64 = 0;
    let mut decode_errors = 0u32;
    let mut picture = ffmpeg::frame::Video::empty();
    let mut rgb = ffmpeg::frame::Video::empty();
    let fail = |kept: u32, message: String| SampleError::Decode { kept, message };

    // Returns Break when the run must stop (callback asked, or nothing left to do).
    let mut handle_picture = |picture: &ffmpeg::frame::Video, decoded: u64, selector: &mut Selector| -> Result<Flow, SampleError> {
        let timestamp = picture
            .timestamp()
            .or(picture.pts())
            .map(|pts| (pts - stream_start) as f64 * time_base)
            .unwrap_or_else(|| decoded as f64 / plan.fps.max(1e-9));
        let index = selector.next.next_index;
        let score = match scoring.as_mut() {
            Some(scoring) => scoring.score(picture, timestamp).map_err(|e| fail(index, e))?,
            None => None,
        };
        if let Some(score) = score
            && on_decoded(Decoded::Score(score)).is_break()
        {
            return Ok(Flow::Stopped);
        }
        if !selector.keep(decoded, timestamp) {
            return Ok(if finished(selector, Some(timestamp)) { Flow::Done } else { Flow::Next });
        }
        let frame_number = if counts_frames { decoded } else { (timestamp * plan.fps).round().max(0.0) as u64 };
        let source = (picture.format(), picture.width(), picture.height());
        if scaler.as_ref().is_none_or(|(_, s)| *s != source) {
            let sar = f64::from(picture.aspect_ratio());
            let (w, h) = scaled_size(source.1, source.2, sar, plan.max_width);
            let context = scaling::Context::get(source.0, source.1, source.2, format::Pixel::RGB24, w, h, scaling::Flags::AREA)
                .map_err(|e| fail(index, format!("cannot scale {}x{} {:?}: {e}", source.1, source.2, source.0)))?;
            scaler = Some((context, source));
            rgb = ffmpeg::frame::Video::empty();
        }
        let (context, _) = scaler.as_mut().expect("scaler set above");
        context.run(picture, &mut rgb).map_err(|e| fail(index, format!("scaling: {e}")))?;
        let image = upright(to_image(&rgb), plan.rotation_degrees);
        let frame = SampledFrame { index, timestamp_seconds: timestamp, frame_number, resume: selector.next, image };
        Ok(match on_decoded(Decoded::Frame(frame)) {
            ControlFlow::Break(()) => Flow::Stopped,
            ControlFlow::Continue(()) if finished(selector, Some(timestamp)) => Flow::Done,
            ControlFlow::Continue(()) => Flow::Next,
        })
    };

    loop {
        // A fresh packet each time: `av_read_frame` overwrites the packet it is given without
        // releasing what it held, so a reused one leaks every packet's data.
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                decode_errors += 1;
                if decode_errors > 100 {
                    return Err(fail(selector.next.next_index, "too many unreadable packets".into()));
                }
                continue;
            }
            Err(e) => return Err(fail(selector.next.next_index, format!("reading packets: {e}"))),
        }
        if packet.stream() != index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            // One bad packet costs a picture or two, not the run; many mean a broken stream.
            decode_errors += 1;
            if decode_errors > 100 {
                return Err(fail(selector.next.next_index, format!("decoding: {e}")));
            }
            continue;
        }
        while decoder.receive_frame(&mut picture).is_ok() {
            let flow = handle_picture(&picture, decoded, &mut selector)?;
            decoded += 1;
            match flow {
                Flow::Next => {}
                Flow::Done => return Ok(SampleEnd::Finished { decoded }),
                Flow::Stopped => return Ok(SampleEnd::Stopped),
            }
        }
    }
    // Pictures still inside the decoder (reordering delay) come out on flush.
    let _ = decoder.send_eof();
    while decoder.receive_frame(&mut picture).is_ok() {
        let flow = handle_picture(&picture, decoded, &mut selector)?;
        decoded += 1;
        match flow {
            Flow::Next => {}
            Flow::Done => break,
            Flow::Stopped => return Ok(SampleEnd::Stopped),
        }
    }
    Ok(SampleEnd::Finished { decoded })
}

/// What the decoding loop does after a picture.
enum Flow {
    Next,
    Done,
    Stopped,
}

/// Whether scoring (if the plan scores) has covered its window once a frame at `t` is decoded.
fn scoring_done(plan: &SamplePlan, t: Option<f64>) -> bool {
    !plan.score || t.is_some_and(|t| !plan.window.before_end(t))
}

/// Copies an RGB24 frame (rows padded to its stride) into a tightly packed image.
fn to_image(frame: &ffmpeg::frame::Video) -> RgbImage {
    let (width, height) = (frame.width(), frame.height());
    let stride = frame.stride(0);
    let row = width as usize * 3;
    let data = frame.data(0);
    let mut pixels = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        pixels.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    RgbImage::from_raw(width, height, pixels).expect("buffer sized from the frame")
}

/// Applies a clockwise quarter-turn rotation.
fn upright(image: RgbImage, rotation_degrees: u32) -> RgbImage {
    match rotation_degrees % 360 {
        90 => image::imageops::rotate90(&image),
        180 => image::imageops::rotate180(&image),
        270 => image::imageops::rotate270(&image),
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samples::video::{ClipSpec, write_clip};

    #[test]
    fn expected_frames_per_sampling() {
        assert_eq!(expected_frames(Sampling::EverySeconds(1.0), 6.0, 150), 6);
        assert_eq!(expected_frames(Sampling::EverySeconds(0.5), 6.0, 150), 12);
        assert_eq!(expected_frames(Sampling::EverySeconds(4.0), 6.0, 150), 2);
        assert_eq!(expected_frames(Sampling::EverySeconds(10.0), 6.0, 150), 1);
        assert_eq!(expected_frames(Sampling::EveryNthFrame(25), 6.0, 150), 6);
        assert_eq!(expected_frames(Sampling::EveryNthFrame(7), 6.0, 150), 22);
        assert_eq!(expected_frames(Sampling::Evenly(4), 6.0, 150), 4);
        assert_eq!(expected_frames(Sampling::Evenly(400), 6.0, 150), 150);
        assert_eq!(interval_seconds(Sampling::Evenly(4), 6.0), Some(1.5));
    }

    fn plan(sampling: Sampling) -> SamplePlan {
        SamplePlan {
            sampling,
            duration_seconds: 6.0,
            fps: 25.0,
            max_width: 160,
            rotation_degrees: 0,
            max_frames: 1000,
            window: Window::WHOLE,
            score: false,
        }
    }

    fn collect(path: &Path, plan: &SamplePlan, start: ResumePoint) -> Vec<SampledFrame> {
        let mut frames = Vec::new();
        sample_frames(path, plan, start.into(), |decoded| {
            if let Decoded::Frame(f) = decoded {
                frames.push(f);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        frames
    }

    #[test]
    fn sizes() {
        assert_eq!(scaled_size(320, 240, 1.0, 160), (160, 120));
        assert_eq!(scaled_size(320, 240, 1.0, 640), (320, 240));
        assert_eq!(scaled_size(720, 576, 16.0 / 15.0, 2000), (768, 576));
        assert_eq!(scaled_size(320, 240, 0.0, 100), (100, 75));
    }

    #[test]
    fn samples_by_time_count_and_evenly_and_resumes() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spec = ClipSpec::three_scenes();
        let clip = dir.path().join("clip.mp4");
        write_clip(&clip, &spec)?;

        let every_second = collect(&clip, &plan(Sampling::EverySeconds(1.0)), ResumePoint::default());
        let times: Vec<f64> = every_second.iter().map(|f| f.timestamp_seconds).collect();
        assert_eq!(times, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(every_second.iter().map(|f| f.frame_number).collect::<Vec<_>>(), vec![0, 25, 50, 75, 100, 125]);
        assert_eq!(every_second[0].image.dimensions(), (160, 120));
        // Scene colours survive decoding and scaling: red, then green at 2 s, blue at 4 s.
        let corner = |f: &SampledFrame| f.image.get_pixel(2, 2).0;
        assert!(corner(&every_second[1])[0] > 150 && corner(&every_second[2])[1] > 150 && corner(&every_second[4])[2] > 150);

        assert_eq!(collect(&clip, &plan(Sampling::EveryNthFrame(40)), ResumePoint::default()).len(), 4);
        let evenly = collect(&clip, &plan(Sampling::Evenly(4)), ResumePoint::default());
        // Instants 0, 1.5, 3, 4.5 s: the first frame at or after each (25 fps: 40 ms steps).
        let expected = [0.0, 1.52, 3.0, 4.52];
        assert_eq!(evenly.len(), expected.len());
        for (frame, want) in evenly.iter().zip(expected) {
            assert!((frame.timestamp_seconds - want).abs() < 1e-9, "{} vs {want}", frame.timestamp_seconds);
        }

        // Resuming after frame 2 (instant 3 s) seeks, and yields exactly the remaining frames.
        let resumed = collect(&clip, &plan(Sampling::EverySeconds(1.0)), every_second[2].resume);
        assert_eq!(resumed.iter().map(|f| (f.index, f.timestamp_seconds)).collect::<Vec<_>>(), vec![(3, 3.0), (4, 4.0), (5, 5.0)]);
        let resumed_nth = collect(&clip, &plan(Sampling::EveryNthFrame(40)), ResumePoint { next_target: 2, next_index: 2 });
        assert_eq!(resumed_nth.iter().map(|f| f.frame_number).collect::<Vec<_>>(), vec![80, 120]);

        let mut capped = plan(Sampling::EverySeconds(0.5));
        capped.max_frames = 5;
        assert_eq!(collect(&clip, &capped, ResumePoint::default()).len(), 5);

        let rotated_path = dir.path().join("rotated.mp4");
        write_clip(&rotated_path, &spec.rotated(90))?;
        let mut rotated = plan(Sampling::Evenly(1));
        rotated.rotation_degrees = 90;
        assert_eq!(collect(&rotated_path, &rotated, ResumePoint::default())[0].image.dimensions(), (120, 160));
        Ok(())
    }
}
