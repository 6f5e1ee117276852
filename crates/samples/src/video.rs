//! Short video clips with known properties, encoded with FFmpeg's libraries (`ffmpeg-next`, the
//! MPEG-4 part 2 encoder every FFmpeg build has), so the demo needs no `ffmpeg` executable:
//! - [`ClipSpec::three_scenes`]: 6 s, 320x240, 25 fps, red / green / blue segments (scene cuts at
//!   2 s and 4 s), a small white square moving across so frames within a scene differ a little;
//! - the same clip with a display rotation in its track header ([`ClipSpec::rotated`]), as
//!   phones write portrait video;
//! - clips for scene detection, each knowing its transitions ([`ClipSpec::transitions`]): a cut
//!   between two colours of equal luma ([`ClipSpec::equal_luma_cut`]), fades through black
//!   ([`ClipSpec::fades`]), a white flash ([`ClipSpec::flash`]) and a still picture
//!   ([`ClipSpec::still`]);
//! - an audio-only file ([`write_audio_only`]) and a truncated copy ([`write_truncated_copy`]).

use anyhow::{Context as _, bail};
use contracts::video::TransitionKind;
use ffmpeg::{Dictionary, Packet, Rational, codec, encoder, format, frame, software::scaling};
use ffmpeg_next as ffmpeg;
use std::path::Path;

/// One solid-colour scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Background colour, RGB.
    pub color: [u8; 3],
    /// Length in frames.
    pub frames: u32,
}

/// What to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipSpec {
    /// Coded width in pixels (even).
    pub width: u32,
    /// Coded height in pixels (even).
    pub height: u32,
    /// Frames per second (constant).
    pub fps: u32,
    /// The scenes, in order.
    pub segments: Vec<Segment>,
    /// Clockwise display rotation written into the track header (0, 90, 180, 270).
    pub rotation: u32,
    /// Index at the front of the file (`movflags=faststart`), as web-ready MP4s have it. A
    /// truncated copy of such a file still opens and lacks the tail of its frames, which is the
    /// harder case to detect.
    pub faststart: bool,
    /// The white square moves across every segment; without it each segment is one still
    /// picture.
    pub motion: bool,
    /// Fades and flashes laid over the segments.
    pub effects: Vec<Effect>,
}

/// A change of the whole picture (square included) laid over the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Segment `segment` rises linearly from black over its first `frames` frames: its first
    /// frame is black, its frame `frames` the first at full level.
    FadeIn {
        /// Index into [`ClipSpec::segments`].
        segment: usize,
        /// Length of the ramp.
        frames: u32,
    },
    /// Segment `segment` sinks linearly to black over its last `frames` frames: its last frame
    /// is black.
    FadeOut {
        /// Index into [`ClipSpec::segments`].
        segment: usize,
        /// Length of the ramp.
        frames: u32,
    },
    /// `frames` white frames from frame `at` of the clip on, within one segment.
    Flash {
        /// First white frame (clip frame index).
        at: u64,
        /// How many.
        frames: u32,
    },
}

/// A transition a clip was made with, for checking what a detector finds: the times follow
/// `contracts::video::SceneTransition`'s conventions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpectedTransition {
    /// What it is.
    pub kind: TransitionKind,
    /// Cut: the last frame before it; fade out: the last full frame; fade in: the black frame
    /// it rises from; flash: the first white frame.
    pub start_seconds: f64,
    /// Cut: the first frame after it; fade out: the black frame; fade in: the first full
    /// frame; flash: the last white frame.
    pub end_seconds: f64,
}

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 40];
const BLUE: [u8; 3] = [30, 40, 210];
const YELLOW: [u8; 3] = [200, 190, 60];

/// BT.601 luma (0..255) of an RGB colour.
pub fn luma([r, g, b]: [u8; 3]) -> f64 {
    0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b)
}

/// The colour with the given red and blue whose green makes its BT.601 luma closest to
/// `reference`'s.
pub fn with_luma_of(reference: [u8; 3], red: u8, blue: u8) -> [u8; 3] {
    let green = (luma(reference) - 0.299 * f64::from(red) - 0.114 * f64::from(blue)) / 0.587;
    [red, green.round().clamp(0.0, 255.0) as u8, blue]
}

impl ClipSpec {
    /// 320x240, 25 fps, the moving square, no effects.
    fn solid_scenes(colors: &[[u8; 3]], scene_frames: u32) -> Self {
        Self {
            width: 320,
            height: 240,
            fps: 25,
            segments: colors.iter().map(|&color| Segment { color, frames: scene_frames }).collect(),
            rotation: 0,
            faststart: true,
            motion: true,
            effects: Vec::new(),
        }
    }

    /// 6 s, 320x240, 25 fps: red (0-2 s), green (2-4 s), blue (4-6 s).
    pub fn three_scenes() -> Self {
        Self::cuts(50)
    }

    /// Red, green and blue scenes of `scene_frames` each (320x240, 25 fps): two cuts.
    pub fn cuts(scene_frames: u32) -> Self {
        Self::solid_scenes(&[RED, GREEN, BLUE], scene_frames)
    }

    /// A red scene and an azure one of `scene_frames` each, of equal BT.601 luma (within 0.5):
    /// a cut only hue and saturation show, which a luma histogram cannot see.
    pub fn equal_luma_cut(scene_frames: u32) -> Self {
        Self::solid_scenes(&[RED, with_luma_of(RED, 20, 200)], scene_frames)
    }

    /// A red scene rising from black over `fade_frames` and sinking back to black, then a green
    /// scene rising from black (`scene_frames` each): three fades, no cut.
    pub fn fades(scene_frames: u32, fade_frames: u32) -> Self {
        let mut spec = Self::solid_scenes(&[RED, GREEN], scene_frames);
        spec.effects = vec![
            Effect::FadeIn { segment: 0, frames: fade_frames },
            Effect::FadeOut { segment: 0, frames: fade_frames },
            Effect::FadeIn { segment: 1, frames: fade_frames },
        ];
        spec
    }

    /// A blue scene with `flash_frames` white frames in its middle, then a cut to a yellow
    /// scene (`scene_frames` each).
    pub fn flash(scene_frames: u32, flash_frames: u32) -> Self {
        let mut spec = Self::solid_scenes(&[BLUE, YELLOW], scene_frames);
        spec.effects = vec![Effect::Flash { at: u64::from(scene_frames / 2), frames: flash_frames }];
        spec
    }

    /// `frames` frames of one still grey-green picture: no transition at all.
    pub fn still(frames: u32) -> Self {
        let mut spec = Self::solid_scenes(&[[90, 120, 100]], frames);
        spec.motion = false;
        spec
    }

    /// The same clip tagged to be displayed rotated clockwise by `degrees`.
    pub fn rotated(mut self, degrees: u32) -> Self {
        self.rotation = degrees;
        self
    }

    /// Frames in the clip.
    pub fn frame_count(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.frames)).sum()
    }

    /// Length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.frame_count() as f64 / f64::from(self.fps)
    }

    /// Times in seconds where one scene gives way to the next.
    pub fn cut_times(&self) -> Vec<f64> {
        let mut at = 0u64;
        let mut cuts = Vec::new();
        for segment in &self.segments[..self.segments.len().saturating_sub(1)] {
            at += u64::from(segment.frames);
            cuts.push(at as f64 / f64::from(self.fps));
        }
        cuts
    }

    /// The transitions the clip was made with, in time order: a cut wherever the background
    /// changes from one segment to the next (not between two black frames of fades), and every
    /// fade and flash of [`Self::effects`].
    pub fn transitions(&self) -> Vec<ExpectedTransition> {
        let seconds = |frame: u64| frame as f64 / f64::from(self.fps);
        let transition = |kind, start: u64, end: u64| ExpectedTransition { kind, start_seconds: seconds(start), end_seconds: seconds(end) };
        let mut found = Vec::new();
        let mut first = 0u64;
        for (index, segment) in self.segments.iter().enumerate() {
            let frames = u64::from(segment.frames);
            if index > 0 && self.background(first - 1) != self.background(first) {
                found.push(transition(TransitionKind::Cut, first - 1, first));
            }
            for effect in &self.effects {
                match *effect {
                    Effect::FadeIn { segment, frames: ramp } if segment == index => {
                        found.push(transition(TransitionKind::FadeIn, first, first + u64::from(ramp)));
                    }
                    Effect::FadeOut { segment, frames: ramp } if segment == index => {
                        let last = first + frames - 1;
                        found.push(transition(TransitionKind::FadeOut, last - u64::from(ramp), last));
                    }
                    Effect::Flash { at, frames: white } if (first..first + frames).contains(&at) => {
                        found.push(transition(TransitionKind::Flash, at, at + u64::from(white) - 1));
                    }
                    _ => {}
                }
            }
            first += frames;
        }
        found.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
        found
    }

    /// The segment of frame `index` (the last one for frames past the end) and the frame's
    /// index within it.
    fn locate(&self, index: u64) -> Option<(usize, u64)> {
        let mut first = 0u64;
        for (at, segment) in self.segments.iter().enumerate() {
            let frames = u64::from(segment.frames);
            if index < first + frames || at + 1 == self.segments.len() {
                return Some((at, index - first));
            }
            first += frames;
        }
        None
    }

    /// Frame `index`'s brightness after the fades: 0 black .. 1 full.
    fn fade_level(&self, index: u64) -> f64 {
        let Some((at, offset)) = self.locate(index) else { return 1.0 };
        let length = u64::from(self.segments[at].frames);
        self.effects.iter().fold(1.0f64, |level, effect| match *effect {
            Effect::FadeIn { segment, frames } if segment == at && offset < u64::from(frames) => level.min(offset as f64 / f64::from(frames)),
            Effect::FadeOut { segment, frames } if segment == at && offset + u64::from(frames) >= length => {
                level.min(length.saturating_sub(offset + 1) as f64 / f64::from(frames))
            }
            _ => level,
        })
    }

    fn flashed(&self, index: u64) -> bool {
        self.effects.iter().any(|e| matches!(*e, Effect::Flash { at, frames } if (at..at + u64::from(frames)).contains(&index)))
    }

    /// Frame `index`'s background colour, fades and flashes applied.
    fn background(&self, index: u64) -> [u8; 3] {
        if self.flashed(index) {
            return [255; 3];
        }
        let color = self.locate(index).map_or([0, 0, 0], |(at, _)| self.segments[at].color);
        let level = self.fade_level(index);
        color.map(|c| (f64::from(c) * level).round() as u8)
    }

    /// The RGB24 picture of frame `index` (tightly packed rows).
    pub fn render(&self, index: u64) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let background = self.background(index);
        let mut rgb = vec![0u8; w * h * 3];
        for pixel in rgb.chunks_exact_mut(3) {
            pixel.copy_from_slice(&background);
        }
        if self.motion {
            // A 16x16 white square sliding 4 px per frame: motion without a scene change. Fades
            // and flashes change it with the rest of the picture.
            let white = if self.flashed(index) { 255 } else { (255.0 * self.fade_level(index)).round() as u8 };
            let side = 16.min(w).min(h);
            let x0 = (index as usize * 4) % (w - side + 1);
            let y0 = (h - side) / 2;
            for y in y0..y0 + side {
                rgb[(y * w + x0) * 3..(y * w + x0 + side) * 3].fill(white);
            }
        }
        rgb
    }
}

fn init() -> anyhow::Result<()> {
    ffmpeg::init().context("initialising FFmpeg")?;
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    Ok(())
}

/// Encodes `spec` as MPEG-4 part 2 into `path` (container from the extension: `.mp4`, `.mov`,
/// `.mkv`, `.avi`).
pub fn write_clip(path: &Path, spec: &ClipSpec) -> anyhow::Result<()> {
    init()?;
    if !spec.width.is_multiple_of(2) || !spec.height.is_multiple_of(2) || spec.segments.is_empty() || spec.fps == 0 {
        bail!("clip spec {spec:?}: width and height must be even, with at least one segment and fps > 0");
    }
    let mut output = format::output(path).with_context(|| format!("creating {}", path.display()))?;
    let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let codec = encoder::find(codec::Id::MPEG4).context("this FFmpeg build has no MPEG-4 encoder")?;
    let time_base = Rational::new(1, spec.fps as i32);

    let mut video = codec::context::Context::new_with_codec(codec).encoder().video()?;
    video.set_width(spec.width);
    video.set_height(spec.height);
    video.set_format(format::Pixel::YUV420P);
    video.set_time_base(time_base);
    video.set_frame_rate(Some(Rational::new(spec.fps as i32, 1)));
    video.set_bit_rate(600_000);
    video.set_gop(spec.fps);
    if global_header {
        video.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut video = video.open_as(codec).context("opening the MPEG-4 encoder")?;

    let stream_index = {
        let mut stream = output.add_stream(codec)?;
        stream.set_parameters(&video);
        stream.set_time_base(time_base);
        stream.set_avg_frame_rate(Rational::new(spec.fps as i32, 1));
        stream.index()
    };
    let mut options = Dictionary::new();
    if spec.faststart {
        options.set("movflags", "faststart");
    }
    output.write_header_with(options).with_context(|| format!("writing the header of {}", path.display()))?;
    let stream_time_base = output.stream(stream_index).context("output stream")?.time_base();

    let mut to_yuv = scaling::Context::get(
        format::Pixel::RGB24,
        spec.width,
        spec.height,
        format::Pixel::YUV420P,
        spec.width,
        spec.height,
        scaling::Flags::BILINEAR,
    )?;
    let mut rgb = frame::Video::new(format::Pixel::RGB24, spec.width, spec.height);
    let mut yuv = frame::Video::empty();
    let row = spec.width as usize * 3;
    let write_packets = |video: &mut encoder::Video, output: &mut format::context::Output| -> anyhow::Result<()> {
        let mut packet = Packet::empty();
        while video.receive_packet(&mut packet).is_ok() {
            packet.set_stream(stream_index);
            packet.rescale_ts(time_base, stream_time_base);
            packet.write_interleaved(output)?;
        }
        Ok(())
    };
    for index in 0..spec.frame_count() {
        let pixels = spec.render(index);
        let stride = rgb.stride(0);
        let plane = rgb.data_mut(0);
        for (y, line) in pixels.chunks_exact(row).enumerate() {
            plane[y * stride..y * stride + row].copy_from_slice(line);
        }
        to_yuv.run(&rgb, &mut yuv)?;
        yuv.set_pts(Some(index as i64));
        video.send_frame(&yuv)?;
        write_packets(&mut video, &mut output)?;
    }
    video.send_eof()?;
    write_packets(&mut video, &mut output)?;
    output.write_trailer()?;
    drop(output);
    if spec.rotation != 0 {
        set_display_rotation(path, spec.rotation)?;
    }
    Ok(())
}

/// Writes a clockwise display rotation into the video track header (`tkhd` transformation
/// matrix) of an MP4/MOV file, where phones record it. FFmpeg 5.1's muxer no longer turns a
/// `rotate` tag into the matrix and `ffmpeg-next` has no call to attach the display-matrix side
/// data, so the 36 matrix bytes are written directly. Only quarter turns are accepted.
pub fn set_display_rotation(path: &Path, clockwise_degrees: u32) -> anyhow::Result<()> {
    const ONE: i32 = 1 << 16; // 16.16 fixed point
    let (a, b) = match clockwise_degrees % 360 {
        0 => (ONE, 0),
        90 => (0, ONE),
        180 => (-ONE, 0),
        270 => (0, -ONE),
        other => bail!("rotation {other} is not a quarter turn"),
    };
    // [a b u; c d v; x y w] with c = -b, d = a: a pure rotation, w = 1.0 in 2.30 fixed point.
    let matrix = [a, b, 0, -b, a, 0, 0, 0, 1 << 30];
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let moov = find_box(&bytes, 0..bytes.len(), b"moov").context("no moov box")?;
    let mut patched = false;
    let mut at = moov.start;
    while let Some(trak) = find_box(&bytes, at..moov.end, b"trak") {
        at = trak.end;
        let is_video = find_box(&bytes, trak.clone(), b"mdia")
            .and_then(|mdia| find_box(&bytes, mdia, b"hdlr"))
            .is_some_and(|hdlr| bytes.get(hdlr.start + 8..hdlr.start + 12) == Some(b"vide"));
        let Some(tkhd) = find_box(&bytes, trak, b"tkhd") else { continue };
        if !is_video {
            continue;
        }
        // version/flags, then times, track id and duration (32- or 64-bit), 8 reserved bytes,
        // layer, alternate group, volume, 2 reserved bytes: the matrix follows.
        let version = bytes[tkhd.start];
        let offset = tkhd.start + 4 + if version == 1 { 32 } else { 20 } + 16;
        let target = bytes.get_mut(offset..offset + 36).context("tkhd box too short")?;
        for (slot, value) in target.chunks_exact_mut(4).zip(matrix) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        patched = true;
    }
    if !patched {
        bail!("{}: no video track header found", path.display());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The payload range of the first box of type `kind` directly inside `within`.
fn find_box(bytes: &[u8], within: std::ops::Range<usize>, kind: &[u8; 4]) -> Option<std::ops::Range<usize>> {
    let mut at = within.start;
    while at + 8 <= within.end {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let (header, size) = match size {
            1 => (16, u64::from_be_bytes(bytes.get(at + 8..at + 16)?.try_into().ok()?) as usize),
            0 => (8, within.end - at),
            n => (8, n),
        };
        if size < header || at + size > within.end {
            return None;
        }
        if &bytes[at + 4..at + 8] == kind {
            return Some(at + header..at + size);
        }
        at += size;
    }
    None
}

/// Writes `seconds` of a 440 Hz tone as AAC in an MPEG-4 audio file (`.m4a`): a container
/// FFmpeg opens happily, with no video stream in it.
pub fn write_audio_only(path: &Path, seconds: f64) -> anyhow::Result<()> {
    init()?;
    let rate = 44_100i32;
    let mut output = format::output(path).with_context(|| format!("creating {}", path.display()))?;
    let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let codec = encoder::find(codec::Id::AAC).context("this FFmpeg build has no AAC encoder")?;
    let time_base = Rational::new(1, rate);
    let mut audio = codec::context::Context::new_with_codec(codec).encoder().audio()?;
    audio.set_rate(rate);
    audio.set_channel_layout(ffmpeg::ChannelLayout::MONO);
    audio.set_format(format::Sample::F32(format::sample::Type::Planar));
    audio.set_bit_rate(96_000);
    audio.set_time_base(time_base);
    if global_header {
        audio.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut audio = audio.open_as(codec).context("opening the AAC encoder")?;
    let stream_index = {
        let mut stream = output.add_stream(codec)?;
        stream.set_parameters(&audio);
        stream.set_time_base(time_base);
        stream.index()
    };
    output.write_header()?;
    let stream_time_base = output.stream(stream_index).context("output stream")?.time_base();
    let write_packets = |audio: &mut encoder::Audio, output: &mut format::context::Output| -> anyhow::Result<()> {
        let mut packet = Packet::empty();
        while audio.receive_packet(&mut packet).is_ok() {
            packet.set_stream(stream_index);
            packet.rescale_ts(time_base, stream_time_base);
            packet.write_interleaved(output)?;
        }
        Ok(())
    };
    let frame_size = audio.frame_size().max(1024) as usize;
    let total = (seconds * f64::from(rate)) as usize;
    let mut written = 0usize;
    while written < total {
        let samples = frame_size.min(total - written);
        let mut chunk = frame::Audio::new(audio.format(), samples, ffmpeg::ChannelLayout::MONO);
        chunk.set_rate(rate as u32);
        for (i, sample) in chunk.plane_mut::<f32>(0).iter_mut().enumerate() {
            let t = (written + i) as f32 / rate as f32;
            *sample = 0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
        }
        chunk.set_pts(Some(written as i64));
        audio.send_frame(&chunk)?;
        write_packets(&mut audio, &mut output)?;
        written += samples;
    }
    audio.send_eof()?;
    write_packets(&mut audio, &mut output)?;
    output.write_trailer()?;
    Ok(())
}

/// Copies the first `keep` fraction (0..1) of `source` to `target`, as an interrupted upload or
/// download leaves a file; returns the bytes kept.
pub fn write_truncated_copy(source: &Path, target: &Path, keep: f64) -> anyhow::Result<u64> {
    let bytes = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    let kept = ((bytes.len() as f64) * keep.clamp(0.0, 1.0)) as usize;
    std::fs::write(target, &bytes[..kept]).with_context(|| format!("writing {}", target.display()))?;
    Ok(kept as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_arithmetic() {
        let spec = ClipSpec::three_scenes();
        assert_eq!(spec.frame_count(), 150);
        assert_eq!(spec.duration_seconds(), 6.0);
        assert_eq!(spec.cut_times(), vec![2.0, 4.0]);
        let first = spec.render(0);
        assert_eq!(first.len(), 320 * 240 * 3);
        assert_eq!(&first[..3], &[220, 30, 30]);
        assert_eq!(&spec.render(75)[..3], &[30, 200, 40]);
        assert_eq!(&spec.render(149)[..3], &[30, 40, 210]);
        let cut = |start, end| ExpectedTransition { kind: TransitionKind::Cut, start_seconds: start, end_seconds: end };
        assert_eq!(spec.transitions(), vec![cut(1.96, 2.0), cut(3.96, 4.0)]);
    }

    #[test]
    fn equal_luma_colours_differ_in_hue_only() {
        let spec = ClipSpec::equal_luma_cut(50);
        let [a, b] = [spec.segments[0].color, spec.segments[1].color];
        assert!((luma(a) - luma(b)).abs() <= 0.5, "{a:?} {b:?}");
        assert!(a[0].abs_diff(b[0]) > 150 && a[2].abs_diff(b[2]) > 150, "{a:?} and {b:?} should be far apart in colour");
        assert_eq!(spec.transitions().len(), 1);
    }

    #[test]
    fn fades_ramp_linearly_through_black_and_are_not_cuts() {
        let spec = ClipSpec::fades(50, 10);
        let background = |index: u64| spec.render(index)[..3].to_vec();
        assert_eq!(background(0), [0, 0, 0], "the clip rises from black");
        assert_eq!(background(5), [110, 15, 15], "half way up");
        assert_eq!(background(10), [220, 30, 30]);
        assert_eq!(background(39), [220, 30, 30], "the last full frame before the fade out");
        assert_eq!(background(49), [0, 0, 0], "the first scene ends black");
        assert_eq!(background(50), [0, 0, 0], "the second starts black");
        assert_eq!(background(60), [30, 200, 40]);
        let square_row = |index: u64| spec.render(index)[(120 * 320 + index as usize * 4) * 3];
        assert_eq!((square_row(0), square_row(5), square_row(20)), (0, 128, 255), "the square fades with the picture");
        let kinds: Vec<(TransitionKind, f64, f64)> = spec.transitions().iter().map(|t| (t.kind, t.start_seconds, t.end_seconds)).collect();
        assert_eq!(kinds, vec![(TransitionKind::FadeIn, 0.0, 0.4), (TransitionKind::FadeOut, 1.56, 1.96), (TransitionKind::FadeIn, 2.0, 2.4)]);
    }

    #[test]
    fn flashes_are_white_frames_and_stills_do_not_move() {
        let spec = ClipSpec::flash(50, 2);
        assert!(spec.render(25).iter().chain(&spec.render(26)).all(|&v| v == 255));
        assert_eq!(&spec.render(27)[..3], &[30, 40, 210]);
        let kinds: Vec<TransitionKind> = spec.transitions().iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [TransitionKind::Flash, TransitionKind::Cut]);
        assert_eq!((spec.transitions()[0].start_seconds, spec.transitions()[0].end_seconds), (1.0, 1.04));

        let still = ClipSpec::still(30);
        assert_eq!(still.render(0), still.render(29));
        assert!(still.transitions().is_empty());
    }

    #[test]
    fn writes_a_clip_ffmpeg_can_read_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("clip.mp4");
        write_clip(&path, &ClipSpec::three_scenes().rotated(90))?;
        let input = format::input(&path)?;
        let stream = input.streams().best(ffmpeg::media::Type::Video).context("video stream")?;
        assert_eq!(stream.frames(), 150);
        let params = codec::context::Context::from_parameters(stream.parameters())?.decoder().video()?;
        assert_eq!((params.width(), params.height()), (320, 240));
        assert_eq!(params.id(), codec::Id::MPEG4);
        let matrix = stream.side_data().find(|d| d.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix).context("display matrix")?;
        let words: Vec<i32> = matrix.data().chunks_exact(4).map(|w| i32::from_ne_bytes(w.try_into().unwrap())).collect();
        assert_eq!(&words[..5], &[0, 1 << 16, 0, -(1 << 16), 0], "a quarter turn clockwise");

        let audio = dir.path().join("tone.m4a");
        write_audio_only(&audio, 1.0)?;
        let input = format::input(&audio)?;
        assert!(input.streams().best(ffmpeg::media::Type::Video).is_none());
        assert!(input.streams().best(ffmpeg::media::Type::Audio).is_some());
        Ok(())
    }
}
