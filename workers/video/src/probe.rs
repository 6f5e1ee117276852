//! Probing a local video file with FFmpeg: what it is (container, codec, size, frame rate,
//! duration, frame count, rotation) and whether it is whole. The file is demuxed end to end (no
//! decoding beyond the first frame, so it stays cheap on long inputs): a truncated or damaged
//! file is refused here, before any frame is extracted.

use contracts::video::{FrameCountSource, RotationSource};
use ffmpeg::format::context::Input;
use ffmpeg::{Packet, codec, format, media};
use ffmpeg_next as ffmpeg;
use std::path::Path;

/// Why a file is not a usable video. Every variant is a property of the file itself: retrying
/// cannot help, so activities fail non-retryably with the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Zero bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// FFmpeg cannot open it as a media container at all.
    #[error("not a readable video file: FFmpeg cannot open it ({0}); it is truncated, damaged or not a video")]
    Unreadable(String),
    /// A still image or a text file that FFmpeg happens to read.
    #[error("not a video: FFmpeg reads it as {0:?}, a still image or text format")]
    NotVideoFormat(String),
    /// A container with no video stream (audio only, subtitles only, ...).
    #[error("no video stream: the {container} file holds {streams}")]
    NoVideoStream {
        /// The container.
        container: String,
        /// What it holds instead, e.g. `1 audio stream (aac)`.
        streams: String,
    },
    /// The video codec has no decoder in this FFmpeg build.
    #[error("video codec {0} cannot be decoded by this FFmpeg build")]
    UnsupportedCodec(String),
    /// Nonsense dimensions or frame rate in the stream header.
    #[error("invalid video stream header: {0}")]
    BadHeader(String),
    /// Data missing at the end, or damaged packets.
    #[error("truncated or damaged video: {0}")]
    Truncated(String),
    /// Packets present but no picture decodes from them.
    #[error("the video stream does not decode: {0}")]
    Undecodable(String),
}

/// What [`probe`] learns about a video.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// FFmpeg demuxer name.
    pub container: String,
    /// FFmpeg codec name.
    pub codec: String,
    /// Decoded pixel format name.
    pub pixel_format: String,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// Frame count.
    pub frame_count: u64,
    /// Where the frame count comes from.
    pub frame_count_source: FrameCountSource,
    /// Clockwise rotation to display upright (0, 90, 180, 270).
    pub rotation_degrees: u32,
    /// Where the rotation comes from.
    pub rotation_source: Option<RotationSource>,
    /// Audio streams.
    pub audio_streams: u32,
    /// Overall bit rate, bits per second.
    pub bit_rate: Option<u64>,
}

/// Initialises FFmpeg once per process and keeps its own logging to errors only (the activity
/// reports what matters, naming the object).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // `init` only registers devices/formats on old FFmpeg versions; it cannot fail on 5.x.
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// Demuxers that read still images or text rather than video.
fn is_still_or_text_format(name: &str) -> bool {
    name == "image2" || name.ends_with("_pipe") || matches!(name, "tty" | "bin" | "idf" | "xbin" | "adf")
}

/// Opens `path` and picks its main video stream (cover art attached to audio files is not video).
pub fn open_video(path: &Path) -> Result<(Input, usize), ProbeError> {
    init();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(ProbeError::Empty);
    }
    let input = format::input(path).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let container = input.format().name().to_owned();
    if is_still_or_text_format(&container) {
        return Err(ProbeError::NotVideoFormat(container));
    }
    let is_video = |s: &format::stream::Stream| {
        s.parameters().medium() == media::Type::Video && !s.disposition().contains(format::stream::Disposition::ATTACHED_PIC)
    };
    let best = input.streams().best(media::Type::Video).filter(|s| is_video(s)).map(|s| s.index());
    let index = best.or_else(|| input.streams().find(|s| is_video(s)).map(|s| s.index()));
    match index {
        Some(index) => Ok((input, index)),
        None => Err(ProbeError::NoVideoStream { container, streams: describe_streams(&input) }),
    }
}

/// `1 audio stream (aac)`, `2 audio streams (aac, mp3), 1 subtitle stream (mov_text)`.
fn describe_streams(input: &Input) -> String {
    let mut kinds: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for stream in input.streams() {
        let params = stream.parameters();
        let kind = match params.medium() {
            media::Type::Audio => "audio",
            media::Type::Video => "cover picture",
            media::Type::Subtitle => "subtitle",
            media::Type::Data => "data",
            media::Type::Attachment => "attachment",
            _ => "unknown",
        };
        let codec = params.id().name();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, codecs)) => codecs.push(codec),
            None => kinds.push((kind, vec![codec])),
        }
    }
    if kinds.is_empty() {
        return "no streams at all".to_owned();
    }
    kinds
        .iter()
        .map(|(kind, codecs)| {
            let plural = if codecs.len() == 1 { "" } else { "s" };
            format!("{} {kind} stream{plural} ({})", codecs.len(), codecs.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Clockwise rotation from a display matrix (nine native-endian `i32`, 16.16 fixed point), the
/// way FFmpeg's own auto-rotation reads it (`-av_display_rotation_get`), snapped to a quarter
/// turn.
pub fn rotation_from_display_matrix(data: &[u8]) -> Option<u32> {
    let words: Vec<f64> = data.chunks_exact(4).take(9).map(|w| f64::from(i32::from_ne_bytes([w[0], w[1], w[2], w[3]])) / 65536.0).collect();
    if words.len() < 9 {
        return None;
    }
    let scale_x = words[0].hypot(words[3]);
    let scale_y = words[1].hypot(words[4]);
    if scale_x == 0.0 || scale_y == 0.0 {
        return None;
    }
    let clockwise = (words[1] / scale_y).atan2(words[0] / scale_x).to_degrees();
    Some(quarter_turn(clockwise))
}

/// Any angle in degrees to 0, 90, 180 or 270.
fn quarter_turn(degrees: f64) -> u32 {
    ((degrees / 90.0).round() as i64).rem_euclid(4) as u32 * 90
}

fn rotation(stream: &format::stream::Stream) -> (u32, Option<RotationSource>) {
    let matrix =
        stream.side_data().find(|d| d.kind() == codec::packet::side_data::Type::DisplayMatrix).and_then(|d| rotation_from_display_matrix(d.data()));
    if let Some(degrees) = matrix {
        return (degrees, Some(RotationSource::DisplayMatrix));
    }
    match stream.metadata().get("rotate").and_then(|v| v.trim().parse::<f64>().ok()) {
        Some(degrees) => (quarter_turn(degrees), Some(RotationSource::RotateTag)),
        None => (0, None),
    }
}

fn positive(rational: ffmpeg::Rational) -> Option<f64> {
    (rational.numerator() > 0 && rational.denominator() > 0).then(|| f64::from(rational))
}

/// Probes the video at `path`.
pub fn probe(path: &Path) -> Result<Probe, ProbeError> {
    let (mut input, index) = open_video(path)?;
    let container = input.format().name().to_owned();
    let audio_streams = input.streams().filter(|s| s.parameters().medium() == media::Type::Audio).count() as u32;
    let bit_rate = u64::try_from(input.bit_rate()).ok().filter(|b| *b > 0);
    let container_duration = (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));

    let stream = input.stream(index).ok_or_else(|| ProbeError::BadHeader("video stream vanished".into()))?;
    let codec_name = stream.parameters().id().name().to_owned();
    let time_base = f64::from(stream.time_base());
    let start = if stream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE { 0 } else { stream.start_time() };
    let declared_frames = u64::try_from(stream.frames()).unwrap_or(0);
    let stream_duration = (stream.duration() > 0).then(|| stream.duration() as f64 * time_base);
    let fps = positive(stream.avg_frame_rate()).or_else(|| positive(stream.rate()));
    let (rotation_degrees, rotation_source) = rotation(&stream);
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| ProbeError::UnsupportedCodec(format!("{codec_name} ({e})")))?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 || width > 16_384 || height > 16_384 {
        return Err(ProbeError::BadHeader(format!("{width}x{height} pixels")));
    }

    // Demux every packet: count the video ones, note the last timestamp, and decode just until
    // the first picture comes out (proves the codec data is sound without decoding it all).
    let mut counted = 0u64;
    let mut damaged = 0u64;
    let mut end_ts: Option<i64> = None;
    let mut first_picture: Option<ffmpeg::frame::Video> = None;
    let mut decode_error: Option<String> = None;
    loop {
        // A fresh packet each time: `av_read_frame` overwrites the packet it is given without
        // releasing what it held, so a reused one leaks every packet's data.
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            // The demuxer could not read a packet it knows about (e.g. its bytes lie past the
            // end of the file) and moves on to the next one.
            Err(ffmpeg::Error::InvalidData) => {
                damaged += 1;
                if damaged > 1_000_000 {
                    break;
                }
                continue;
            }
            Err(e) => return Err(ProbeError::Truncated(format!("reading stopped after {counted} video frames: {e}"))),
        }
        if packet.stream() != index {
            continue;
        }
        counted += 1;
        if packet.is_corrupt() {
            damaged += 1;
        }
        if let Some(pts) = packet.pts().or(packet.dts()) {
            end_ts = Some(end_ts.map_or(pts + packet.duration(), |e| e.max(pts + packet.duration())));
        }
        if first_picture.is_none() && decode_error.is_none() {
            match decoder.send_packet(&packet) {
                Ok(()) => {
                    let mut frame = ffmpeg::frame::Video::empty();
                    if decoder.receive_frame(&mut frame).is_ok() {
                        first_picture = Some(frame);
                    }
                }
                Err(e) => decode_error = Some(e.to_string()),
            }
        }
    }
    if first_picture.is_none() && decode_error.is_none() {
        // Decoders with delay (B-frames, frame threading) give their first picture on flush.
        let _ = decoder.send_eof();
        let mut frame = ffmpeg::frame::Video::empty();
        if decoder.receive_frame(&mut frame).is_ok() {
            first_picture = Some(frame);
        }
    }

    if declared_frames > 0 && counted < declared_frames {
        return Err(ProbeError::Truncated(format!(
            "the container declares {declared_frames} video frames but only {counted} are in the file ({} missing)",
            declared_frames - counted
        )));
    }
    if damaged > 0 {
        return Err(ProbeError::Truncated(format!("{damaged} damaged or unreadable packets")));
    }
    if counted == 0 {
        return Err(ProbeError::Undecodable("the video stream has no frames".into()));
    }
    let Some(picture) = first_picture else {
        return Err(ProbeError::Undecodable(decode_error.unwrap_or_else(|| "no picture decodes from its packets".into())));
    };
    let pixel_format = picture.format().descriptor().map(|d| d.name().to_owned()).unwrap_or_else(|| "unknown".into());

    let scanned_duration = end_ts.map(|e| (e - start) as f64 * time_base).filter(|d| *d > 0.0);
    let duration_seconds = stream_duration.or(scanned_duration).or(container_duration).unwrap_or(0.0);
    let fps = match fps {
        Some(fps) => fps,
        None if duration_seconds > 0.0 => counted as f64 / duration_seconds,
        None => return Err(ProbeError::BadHeader("no frame rate and no duration".into())),
    };
    let (frame_count, frame_count_source) =
        if declared_frames > 0 { (declared_frames, FrameCountSource::Container) } else { (counted, FrameCountSource::CountedPackets) };
    Ok(Probe {
        container,
        codec: codec_name,
        pixel_format,
        width,
        height,
        fps,
        duration_seconds,
        frame_count,
        frame_count_source,
        rotation_degrees,
        rotation_source,
        audio_streams,
        bit_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use samples::video::{ClipSpec, write_audio_only, write_clip, write_truncated_copy};

    #[test]
    fn display_matrix_rotation() {
        let matrix = |words: [i32; 9]| words.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>();
        let one = 1 << 16;
        assert_eq!(rotation_from_display_matrix(&matrix([one, 0, 0, 0, one, 0, 0, 0, 1 << 30])), Some(0));
        // The portrait-phone matrix: FFmpeg reports "rotation of -90 degrees" and turns the
        // picture 90 degrees clockwise to show it.
        assert_eq!(rotation_from_display_matrix(&matrix([0, one, 0, -one, 0, 0, 0, 0, 1 << 30])), Some(90));
        assert_eq!(rotation_from_display_matrix(&matrix([-one, 0, 0, 0, -one, 0, 0, 0, 1 << 30])), Some(180));
        assert_eq!(rotation_from_display_matrix(&matrix([0, -one, 0, one, 0, 0, 0, 0, 1 << 30])), Some(270));
        assert_eq!(rotation_from_display_matrix(&[0; 8]), None);
        assert_eq!(quarter_turn(-90.0), 270);
    }

    #[test]
    fn probes_generated_clips() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spec = ClipSpec::three_scenes();
        let clip = dir.path().join("clip.mp4");
        write_clip(&clip, &spec)?;
        let probe = probe(&clip)?;
        assert_eq!((probe.width, probe.height), (320, 240));
        assert_eq!(probe.codec, "mpeg4");
        assert!(probe.container.contains("mp4"), "{}", probe.container);
        assert_eq!(probe.frame_count, 150);
        assert_eq!(probe.frame_count_source, FrameCountSource::Container);
        assert!((probe.fps - 25.0).abs() < 1e-9);
        assert!((probe.duration_seconds - 6.0).abs() < 0.05, "{}", probe.duration_seconds);
        assert_eq!((probe.rotation_degrees, probe.rotation_source), (0, None));

        let rotated = dir.path().join("rotated.mp4");
        write_clip(&rotated, &spec.clone().rotated(90))?;
        let probe_rotated = super::probe(&rotated)?;
        assert_eq!(probe_rotated.rotation_degrees, 90);
        assert_eq!(probe_rotated.rotation_source, Some(RotationSource::DisplayMatrix));

        let mkv = dir.path().join("clip.mkv");
        write_clip(&mkv, &spec)?;
        let probe_mkv = super::probe(&mkv)?;
        assert_eq!(probe_mkv.frame_count_source, FrameCountSource::CountedPackets);
        assert_eq!(probe_mkv.frame_count, 150);
        Ok(())
    }

    #[test]
    fn refuses_broken_inputs() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut spec = ClipSpec::three_scenes();
        let clip = dir.path().join("clip.mp4");
        write_clip(&clip, &spec)?;
        let truncated = dir.path().join("truncated.mp4");
        write_truncated_copy(&clip, &truncated, 0.5)?;
        let err = probe(&truncated).unwrap_err();
        assert!(matches!(err, ProbeError::Truncated(_)), "{err}");

        spec.faststart = false;
        let index_last = dir.path().join("index-last.mp4");
        write_clip(&index_last, &spec)?;
        let cut = dir.path().join("index-last-truncated.mp4");
        write_truncated_copy(&index_last, &cut, 0.5)?;
        assert!(matches!(probe(&cut).unwrap_err(), ProbeError::Unreadable(_)));

        let audio = dir.path().join("tone.m4a");
        write_audio_only(&audio, 1.0)?;
        let err = probe(&audio).unwrap_err();
        assert!(err.to_string().contains("1 audio stream (aac)"), "{err}");

        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"")?;
        assert!(matches!(probe(&empty).unwrap_err(), ProbeError::Empty));

        let text = dir.path().join("notes.mp4");
        std::fs::write(&text, "these are not moving pictures\n".repeat(50))?;
        assert!(matches!(probe(&text).unwrap_err(), ProbeError::Unreadable(_)));
        Ok(())
    }
}
