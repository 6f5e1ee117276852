//! Frame extraction as a two-stage pipeline: decoding and sampling on the calling thread,
//! encoding on a second one, so the two overlap (encoding a 640 px JPEG costs about as much as
//! decoding the second of video before it; done in turn, they left a core idle).

use crate::frames::{Decoded, ResumePoint, SampleEnd, SampleError, SamplePlan, Start, sample_frames};
use crate::imaging;
use crate::scenes::FrameScore;
use contracts::video::FrameFormat;
use std::ops::ControlFlow;
use std::path::Path;

/// Decoded frames waiting for the encoder: enough to ride out an uneven frame, few enough that
/// a stopped consumer wastes little decoding.
const ENCODE_QUEUE: usize = 2;

/// A sampled frame, encoded.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Position among kept frames.
    pub index: u32,
    /// Presentation time in seconds from the stream start.
    pub timestamp_seconds: f64,
    /// Frame number (see [`SampledFrame::frame_number`]).
    pub frame_number: u64,
    /// Where the next run would resume after this frame.
    pub resume: ResumePoint,
    /// Width and height of the picture.
    pub size: (u32, u32),
    /// The encoded file.
    pub bytes: Vec<u8>,
}

/// What the encoding thread hands on, in presentation order.
#[derive(Debug)]
pub enum Encoded {
    /// A kept frame, encoded.
    Frame(EncodedFrame),
    /// A decoded frame's scene score (when the plan scores).
    Score(FrameScore),
}

/// Samples the video at `path` as [`sample_frames`] does and hands each frame, encoded as
/// `format`, to `on_encoded` in order, on the encoding thread, scores included. An encoding
/// failure is handed on as `Err` with the frame it concerns. `on_encoded` returning `Break`
/// stops the run, which then ends in [`SampleEnd::Stopped`].
pub fn sample_and_encode(
    path: &Path,
    plan: &SamplePlan,
    start: Start,
    format: FrameFormat,
    jpeg_quality: u8,
    mut on_encoded: impl FnMut(Result<Encoded, String>) -> ControlFlow<()> + Send,
) -> Result<SampleEnd, SampleError> {
    let (to_encoder, decoded) = std::sync::mpsc::sync_channel::<Decoded>(ENCODE_QUEUE);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for item in decoded {
                let frame = match item {
                    Decoded::Score(score) => {
                        if on_encoded(Ok(Encoded::Score(score))).is_break() {
                            return;
                        }
                        continue;
                    }
                    Decoded::Frame(frame) => frame,
                };
                let size = frame.image.dimensions();
                let encoded = imaging::encode(&frame.image, format, jpeg_quality)
                    .map(|bytes| {
                        Encoded::Frame(EncodedFrame {
                            index: frame.index,
                            timestamp_seconds: frame.timestamp_seconds,
                            frame_number: frame.frame_number,
                            resume: frame.resume,
                            size,
                            bytes,
                        })
                    })
                    .map_err(|e| format!("encoding frame {}: {e}", frame.index));
                if on_encoded(encoded).is_break() {
                    // Dropping the receiver makes the decoder's next send fail: it stops too.
                    return;
                }
            }
        });
        // The sender moves into the callback and is dropped when sampling ends, which ends the
        // encoder's loop; the scope then waits for the frames still queued to be handed on.
        sample_frames(path, plan, start, move |item| match to_encoder.send(item) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::video::Sampling;
    use samples::video::{ClipSpec, write_clip};

    fn plan(spec: &ClipSpec) -> SamplePlan {
        let frames: u32 = spec.segments.iter().map(|s| s.frames).sum();
        SamplePlan {
            sampling: Sampling::EveryNthFrame(10),
            duration_seconds: f64::from(frames) / f64::from(spec.fps),
            fps: f64::from(spec.fps),
            max_width: 160,
            rotation_degrees: 0,
            max_frames: 1000,
            window: crate::frames::Window::WHOLE,
            score: false,
        }
    }

    #[test]
    fn frames_arrive_encoded_in_order_and_a_stop_stops_decoding() {
        crate::probe::init();
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        let spec = ClipSpec::three_scenes();
        write_clip(&clip, &spec).unwrap();
        let total: u32 = spec.segments.iter().map(|s| s.frames).sum();
        let plan = plan(&spec);

        let mut indexes = Vec::new();
        let end = sample_and_encode(&clip, &plan, ResumePoint::default().into(), FrameFormat::Jpeg, 80, |frame| {
            let Encoded::Frame(frame) = frame.expect("encoded") else { panic!("a score from a plan that does not score") };
            assert_eq!(image::guess_format(&frame.bytes).unwrap(), image::ImageFormat::Jpeg);
            assert_eq!(frame.size.0, 160);
            indexes.push(frame.index);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(matches!(end, SampleEnd::Finished { .. }), "{end:?}");
        assert_eq!(indexes, (0..total.div_ceil(10)).collect::<Vec<_>>());

        let mut seen = 0;
        let end = sample_and_encode(&clip, &plan, ResumePoint::default().into(), FrameFormat::Png, 80, |_| {
            seen += 1;
            if seen == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
        assert!(matches!(end, SampleEnd::Stopped), "{end:?}");
        assert_eq!(seen, 2);
    }
}
