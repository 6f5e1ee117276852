//! Splitting a video's extraction into time segments extracted in parallel, and what a segment
//! leaves behind: pieces (frames and scene scores, in order) under `segments/`, and a small
//! heartbeat checkpoint saying how far the pieces go.

use crate::frames::{ResumePoint, expected_frames, interval_seconds};
use crate::scenes::FrameScore;
use contracts::video::{MAX_SEGMENTS, Sampling, VideoMetadata, VideoSegment};
use documents::video::ExtractedFrame;
use serde::{Deserialize, Serialize};

/// The segments of a video's extraction: about `segment_seconds` each, at most
/// [`MAX_SEGMENTS`], each starting on a sampling instant. Every-nth-frame sampling counts
/// frames from the start, so it is one segment.
pub fn plan(sampling: Sampling, metadata: &VideoMetadata, segment_seconds: f64) -> Vec<VideoSegment> {
    let whole = vec![VideoSegment { index: 0, first_target: 0, start_seconds: 0.0, end_seconds: None }];
    let duration = metadata.duration_seconds;
    let Some(interval) = interval_seconds(sampling, duration).filter(|i| *i > 0.0 && duration > 0.0) else { return whole };
    let targets = match sampling {
        Sampling::Evenly(n) => u64::from(n),
        _ => expected_frames(sampling, duration, metadata.frame_count),
    };
    let wanted = (duration / segment_seconds.max(1.0)).ceil().clamp(1.0, f64::from(MAX_SEGMENTS)) as u64;
    let per_segment = targets.div_ceil(wanted.min(targets).max(1)).max(1);
    let count = targets.div_ceil(per_segment).max(1);
    (0..count)
        .map(|i| {
            let first_target = i * per_segment;
            let next_start = ((i + 1) * per_segment) as f64 * interval;
            VideoSegment {
                index: i as u32,
                first_target,
                start_seconds: first_target as f64 * interval,
                end_seconds: (i + 1 < count).then_some(next_start),
            }
        })
        .collect()
}

/// Relative key of piece `piece` of segment `segment`.
pub fn piece_name(segment: u32, piece: u32) -> String {
    format!("segments/segment-{segment:04}/piece-{piece:04}.json")
}

/// One piece: the frames a segment uploaded and the scores it measured since its last piece.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentPiece {
    /// Frames, in order.
    pub frames: Vec<ExtractedFrame>,
    /// Scene scores of every decoded frame, in order.
    pub scores: Vec<FrameScore>,
}

/// The document `scene-scores.json`: every decoded frame's scene score, in order, for the
/// scene detection of `ProcessFrames`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneScores {
    /// The video.
    pub video: contracts::ObjectRef,
    /// The scores.
    pub scores: Vec<FrameScore>,
}

/// What a segment heartbeats: how far its written pieces go. Its size does not grow with the
/// video.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentCheckpoint {
    /// Pieces written.
    pub pieces: u32,
    /// Frames in them.
    pub frames: u32,
    /// Where sampling resumes (`None`: at the segment's start).
    pub resume: Option<ResumePoint>,
    /// Time of the last score in them.
    pub scored_until: Option<f64>,
    /// Size of the frame images, once one exists.
    pub size: Option<(u32, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{Decoded, SamplePlan, Start, Window, sample_frames};
    use contracts::video::FrameCountSource;
    use samples::video::{ClipSpec, write_clip};
    use std::ops::ControlFlow;

    fn metadata(duration_seconds: f64, fps: f64) -> VideoMetadata {
        VideoMetadata {
            video: "s3://fleet-inputs/clip.mp4".parse().unwrap(),
            size_bytes: 0,
            container: "mp4".into(),
            codec: "h264".into(),
            pixel_format: "yuv420p".into(),
            width: 640,
            height: 360,
            fps,
            duration_seconds,
            frame_count: (duration_seconds * fps) as u64,
            frame_count_source: FrameCountSource::Container,
            rotation_degrees: 0,
            rotation_source: None,
            display_width: 640,
            display_height: 360,
            audio_streams: 0,
            bit_rate: None,
        }
    }

    /// Segments tile the targets and the time line without gap or overlap.
    fn assert_tiles(segments: &[VideoSegment], interval: f64) {
        assert_eq!(segments[0].first_target, 0);
        assert_eq!(segments[0].start_seconds, 0.0);
        assert_eq!(segments.last().unwrap().end_seconds, None);
        for pair in segments.windows(2) {
            assert_eq!(pair[0].end_seconds, Some(pair[1].start_seconds));
            assert!((pair[1].start_seconds - pair[1].first_target as f64 * interval).abs() < 1e-9);
            assert_eq!(pair[0].index + 1, pair[1].index);
        }
    }

    #[test]
    fn long_videos_split_into_at_most_the_cap() {
        let two_hours = plan(Sampling::EverySeconds(1.0), &metadata(7200.0, 25.0), 300.0);
        assert_eq!(two_hours.len(), 24);
        assert_eq!(two_hours[1].first_target, 300);
        assert_tiles(&two_hours, 1.0);

        let ten_hours = plan(Sampling::EverySeconds(1.0), &metadata(36_000.0, 25.0), 300.0);
        assert_eq!(ten_hours.len(), MAX_SEGMENTS as usize);
        assert_tiles(&ten_hours, 1.0);

        let evenly = plan(Sampling::Evenly(10), &metadata(1200.0, 25.0), 300.0);
        assert_eq!(evenly.len(), 4);
        assert_tiles(&evenly, 120.0);
        // No more segments than instants.
        assert_eq!(plan(Sampling::Evenly(2), &metadata(1200.0, 25.0), 300.0).len(), 2);
    }

    /// Runs one window (from `start`) and returns its frames (index, time) and scores.
    fn run(path: &std::path::Path, plan: &SamplePlan, start: Start) -> (Vec<(u32, f64)>, Vec<FrameScore>) {
        let (mut frames, mut scores) = (Vec::new(), Vec::new());
        sample_frames(path, plan, start, |decoded| {
            match decoded {
                Decoded::Frame(f) => frames.push((f.index, f.timestamp_seconds)),
                Decoded::Score(s) => scores.push(s),
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        (frames, scores)
    }

    #[test]
    fn segments_together_give_what_one_run_gives_and_resume_exactly() {
        crate::probe::init();
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        let spec = ClipSpec::three_scenes();
        write_clip(&clip, &spec).unwrap();
        let probed = crate::probe::probe(&clip).unwrap();
        let mut meta = metadata(probed.duration_seconds, probed.fps);
        meta.frame_count = probed.frame_count;
        let sampling = Sampling::EverySeconds(0.5);
        let plan_for = |window: Window| SamplePlan {
            sampling,
            duration_seconds: meta.duration_seconds,
            fps: meta.fps,
            max_width: 64,
            rotation_degrees: 0,
            max_frames: u32::MAX,
            window,
            score: true,
        };
        let whole = run(&clip, &plan_for(Window::WHOLE), Start::default());
        assert_eq!(whole.0.len(), 12);
        assert_eq!(whole.1.len() as u64, spec.frame_count(), "every decoded frame scored");
        assert_eq!(whole.1.iter().filter(|s| s.content.is_none()).count(), 1, "only the first frame lacks a predecessor");
        assert_eq!(crate::frames::score_video(&clip).unwrap(), whole.1);

        // 2 s segments on a 0.5 s sampling: boundaries at 2 s and 4 s, on the cuts and on
        // keyframes (GOPs of 1 s), the hardest place for a segment to score its first frame.
        let segments = plan(sampling, &meta, 2.0);
        assert_eq!(segments.len(), 3, "{segments:?}");
        let (mut frames, mut scores) = (Vec::new(), Vec::new());
        for segment in &segments {
            let window = Window { start_seconds: segment.start_seconds, end_seconds: segment.end_seconds };
            let start =
                Start { resume: ResumePoint { next_target: segment.first_target, next_index: segment.first_target as u32 }, scored_until: None };
            let (f, s) = run(&clip, &plan_for(window), start);
            frames.extend(f);
            scores.extend(s);
        }
        assert_eq!(frames, whole.0);
        assert_eq!(scores, whole.1, "each segment scores its first frame against the one before it");

        // A retry from a checkpoint in the middle of the second segment hands on exactly the rest.
        let second = &segments[1];
        let window = Window { start_seconds: second.start_seconds, end_seconds: second.end_seconds };
        let (f, s) = run(
            &clip,
            &plan_for(window),
            Start { resume: ResumePoint { next_target: second.first_target, next_index: second.first_target as u32 }, scored_until: None },
        );
        let resume = Start {
            resume: ResumePoint { next_target: second.first_target + 2, next_index: second.first_target as u32 + 2 },
            scored_until: Some(s[30].t),
        };
        let (rest_frames, rest_scores) = run(&clip, &plan_for(window), resume);
        assert_eq!(rest_frames, f[2..]);
        assert_eq!(rest_scores, s[31..]);
    }

    #[test]
    fn short_videos_and_frame_counting_are_one_segment() {
        assert_eq!(plan(Sampling::EverySeconds(1.0), &metadata(6.0, 25.0), 300.0).len(), 1);
        assert_eq!(plan(Sampling::EveryNthFrame(10), &metadata(7200.0, 25.0), 300.0).len(), 1);
    }
}
