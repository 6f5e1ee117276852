//! Scene detection over every decoded frame. Each frame, scaled down to [`SCORE_WIDTH`], is
//! compared with the frame before it as PySceneDetect's `ContentDetector` compares them
//! (OpenCV's 8-bit HSV, mean absolute difference of hue, saturation and value, averaged:
//! 0..255); its mean luma, and how far it is from each of the few frames before that, are kept
//! too. [`detect`] turns the series into hard cuts, fades and flashes.

use contracts::video::{SceneDetection, SceneTransition, TransitionKind};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Frames are scored at this width (height follows the aspect ratio), as PySceneDetect
/// downscales before comparing: motion noise averages out, cost stays small.
pub const SCORE_WIDTH: u32 = 256;

/// Frames a flash may last; [`FrameScore::content_across`] has one entry per length.
const FLASH_FRAMES: usize = SceneDetection::MAX_FLASH_FRAMES as usize;

/// [`FrameScore::content_across`] compares every this-many-th pixel of every this-many-th row:
/// telling whether a picture came back needs no detail, and its comparisons stay cheap.
const COARSE_STEP: u32 = 4;

/// Mean luma steps smaller than this (0..255) are noise (codec, small motion), not part of a
/// fade's ramp.
const RAMP_STEP: f32 = 0.25;

/// Frames on either side whose content changes an adaptive cut must stand out from
/// (PySceneDetect's `AdaptiveDetector` `window_width`).
const ADAPTIVE_WINDOW: usize = 2;

/// A fade spans at least this much mean luma: a dark scene dimming a little is not a fade.
const MIN_FADE_DEPTH: f64 = 16.0;

/// What one decoded frame measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameScore {
    /// Presentation time in seconds from the stream start.
    pub t: f64,
    /// HSV content change from the previous decoded frame (0..255); `None` for the first frame
    /// a run scored.
    pub content: Option<f32>,
    /// Mean luma (BT.601, 0..255).
    pub luma: f32,
    /// `content_across[k]`: HSV content change (0..255, on one pixel in 4x4) from the
    /// frame `k + 2` frames before this one, across the `k + 1` frames between; `None` where
    /// there is no such frame. Low when the picture is back to what it was before `k + 1`
    /// interrupting frames, such as a flash.
    #[serde(default)]
    pub content_across: [Option<f32>; FLASH_FRAMES],
}

/// Scores consecutive frames; keeps the previous frame's HSV pixels, and a sparse grid of them
/// for the few frames before.
#[derive(Debug, Default)]
pub struct ScoreProbe {
    previous: Option<Vec<[u8; 3]>>,
    /// Reused for the next frame's pixels.
    spare: Vec<[u8; 3]>,
    /// HSV of one pixel in [`COARSE_STEP`] squared of the last `FLASH_FRAMES + 2` frames, oldest
    /// first (this one last).
    coarse: VecDeque<Vec<[u8; 3]>>,
}

impl ScoreProbe {
    /// A probe with no previous frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scores `picture` (already at [`SCORE_WIDTH`]) taken at `t` against the frames before it.
    pub fn score(&mut self, picture: &RgbImage, t: f64) -> FrameScore {
        let (pixels, _) = picture.as_raw().as_chunks::<3>();
        let mut hsv = std::mem::take(&mut self.spare);
        hsv.clear();
        hsv.extend(pixels.iter().map(|&pixel| opencv_hsv(pixel)));
        let luma_sum: u64 = pixels.iter().map(|&[r, g, b]| u64::from(299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b))).sum();
        let luma = (luma_sum as f64 / 1000.0 / pixels.len().max(1) as f64) as f32;
        let content = self.previous.as_deref().and_then(|previous| content_change(previous, &hsv));
        let mut coarse = if self.coarse.len() == FLASH_FRAMES + 2 { self.coarse.pop_front().unwrap_or_default() } else { Vec::new() };
        coarse.clear();
        let width = picture.width() as usize;
        let grid = COARSE_STEP as usize;
        coarse.extend(hsv.chunks(width).step_by(grid).flat_map(|row| row.iter().step_by(grid)));
        let mut content_across = [None; FLASH_FRAMES];
        for (k, across) in content_across.iter_mut().enumerate() {
            // k + 2 frames back; the frame just before is `content`'s.
            *across = self.coarse.len().checked_sub(k + 2).and_then(|at| content_change(&self.coarse[at], &coarse));
        }
        self.coarse.push_back(coarse);
        if let Some(old) = self.previous.replace(hsv) {
            self.spare = old;
        }
        FrameScore { t, content, luma, content_across }
    }
}

/// Mean absolute difference of hue, saturation and value, averaged: PySceneDetect's
/// `content_val` with its default weights. `None` when the pictures differ in size (a
/// resolution change: no comparison).
fn content_change(a: &[[u8; 3]], b: &[[u8; 3]]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    // Summed in u32 per chunk (4096 * 255 fits), which the compiler vectorises.
    let sum: u64 = a
        .as_flattened()
        .chunks(4096)
        .zip(b.as_flattened().chunks(4096))
        .map(|(x, y)| u64::from(x.iter().zip(y).map(|(p, q)| u32::from(p.abs_diff(*q))).sum::<u32>()))
        .sum();
    Some((sum as f64 / (3 * a.len()) as f64) as f32)
}

/// Fractional bits of OpenCV's fixed-point HSV arithmetic.
const HSV_SHIFT: u32 = 12;

/// OpenCV's division tables: `(255 << 12) / v` and `(180 << 12) / (6 d)`, rounded to the
/// nearest integer (0 at 0).
const SATURATION_DIV: [i32; 256] = division_table(255 << HSV_SHIFT, 1);
const HUE_DIV: [i32; 256] = division_table(180 << HSV_SHIFT, 6);

const fn division_table(numerator: i32, factor: i32) -> [i32; 256] {
    let mut table = [0; 256];
    let mut i = 1;
    while i < 256 {
        let denominator = factor * i as i32;
        table[i] = (2 * numerator + denominator) / (2 * denominator);
        i += 1;
    }
    table
}

/// OpenCV's `cvtColor(..., COLOR_RGB2HSV)` of an 8-bit pixel, integer for integer (its
/// fixed-point division tables): hue 0..179 (degrees / 2), saturation and value 0..255. Equal
/// to OpenCV's on all 2^24 colours (checked against opencv-python 5.0).
fn opencv_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    const HALF: i32 = 1 << (HSV_SHIFT - 1);
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    let s = (diff * SATURATION_DIV[v as usize] + HALF) >> HSV_SHIFT;
    let h = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (h * HUE_DIV[diff as usize] + HALF) >> HSV_SHIFT;
    if h < 0 {
        h += 180;
    }
    [h as u8, s as u8, v as u8]
}

/// Which way mean luma moves from one frame to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slope {
    Rising,
    Falling,
    Flat,
}

/// How mean luma moves from frame `i - 1` to frame `i`.
fn slope(scores: &[FrameScore], i: usize) -> Slope {
    let step = scores[i].luma - scores[i - 1].luma;
    if step > RAMP_STEP {
        Slope::Rising
    } else if step < -RAMP_STEP {
        Slope::Falling
    } else {
        Slope::Flat
    }
}

/// A transition between frames `start` and `end` (indices into the scores).
#[derive(Debug, Clone, Copy)]
struct Span {
    kind: TransitionKind,
    start: usize,
    end: usize,
    score: f64,
}

impl Span {
    fn transition(self, scores: &[FrameScore]) -> SceneTransition {
        SceneTransition { kind: self.kind, start_seconds: scores[self.start].t, end_seconds: scores[self.end].t, score: self.score }
    }
}

/// The fade whose luma ramp starts at frame `start`, if one does: the longest run of frames
/// whose mean luma moves the same way, beginning there (not inside a run), ending in black or
/// white (or beginning there), over at least `fade_min_frames` steps, none steeper than half
/// the whole ramp (a cut to black after a slow dimming is a cut). Frames inside the ramp and
/// its last one are the fade's: their content changes (hue and saturation are noise near
/// black) are no cuts.
fn fade_from(scores: &[FrameScore], start: usize, settings: &SceneDetection) -> Option<Span> {
    let direction = if start + 1 < scores.len() { slope(scores, start + 1) } else { Slope::Flat };
    if direction == Slope::Flat || (start > 0 && slope(scores, start) == direction) {
        return None;
    }
    let mut end = start + 1;
    let mut steepest = (scores[end].luma - scores[start].luma).abs();
    while end + 1 < scores.len() && slope(scores, end + 1) == direction {
        end += 1;
        steepest = steepest.max((scores[end].luma - scores[end - 1].luma).abs());
    }
    let (from, to) = (f64::from(scores[start].luma), f64::from(scores[end].luma));
    let kind = match direction {
        Slope::Falling if to <= settings.black_luma => TransitionKind::FadeOut,
        Slope::Falling if from >= settings.white_luma => TransitionKind::FadeIn,
        Slope::Rising if from <= settings.black_luma => TransitionKind::FadeIn,
        Slope::Rising if to >= settings.white_luma => TransitionKind::FadeOut,
        _ => return None,
    };
    let depth = (to - from).abs();
    let gradual = end - start >= settings.fade_min_frames as usize && f64::from(steepest) <= depth / 2.0;
    (gradual && depth >= MIN_FADE_DEPTH).then_some(Span { kind, start, end, score: depth })
}

/// A flash, and the frame after it.
struct Flash {
    span: Span,
    /// The first frame no longer bright.
    back: usize,
    /// Content change from the frame before the flash to `back`; `None` when that frame was
    /// not scored with it (a flash at the start of a scored run), taken as the same scene.
    change: Option<f32>,
}

/// The flash starting at frame `first`, if one does: it and at most `flash_max_frames - 1`
/// frames after it are brighter than the frame before by `flash_min_luma_rise`, then a frame
/// is not.
fn flash_at(scores: &[FrameScore], first: usize, settings: &SceneDetection) -> Option<Flash> {
    let bright = f64::from(scores[first - 1].luma) + settings.flash_min_luma_rise;
    let is_bright = |i: usize| f64::from(scores[i].luma) >= bright;
    if settings.flash_max_frames == 0 || !is_bright(first) {
        return None;
    }
    let last_possible = (first + settings.flash_max_frames as usize).min(scores.len() - 1);
    let back = (first + 1..=last_possible).find(|&i| !is_bright(i))?;
    let peak = scores[first..back].iter().map(|s| s.luma).fold(f32::MIN, f32::max);
    let span = Span { kind: TransitionKind::Flash, start: first, end: back - 1, score: f64::from(peak - scores[first - 1].luma) };
    Some(Flash { span, back, change: scores[back].content_across[back - first - 1] })
}

/// The content change at frame `i`, if it makes a cut: it reaches `content_threshold` or
/// stands out from the frames around it, and is not the noise of hue and saturation between
/// two black (or two white) frames.
fn content_cut(scores: &[FrameScore], i: usize, settings: &SceneDetection) -> Option<f64> {
    let content = f64::from(scores[i].content?);
    let (a, b) = (f64::from(scores[i - 1].luma), f64::from(scores[i].luma));
    let black = |luma: f64| luma <= settings.black_luma;
    let white = |luma: f64| luma >= settings.white_luma;
    let noise = (black(a) && black(b)) || (white(a) && white(b));
    let cut = content >= settings.content_threshold || stands_out(scores, i, content, settings);
    (cut && !noise).then_some(content)
}

/// PySceneDetect's `AdaptiveDetector` test: `content` (frame `i`'s) reaches
/// `adaptive_min_content` and `adaptive_ratio` times the mean change of the
/// [`ADAPTIVE_WINDOW`] frames on either side (those there are).
fn stands_out(scores: &[FrameScore], i: usize, content: f64, settings: &SceneDetection) -> bool {
    if settings.adaptive_ratio == 0.0 || content < settings.adaptive_min_content {
        return false;
    }
    let window = i.saturating_sub(ADAPTIVE_WINDOW)..(i + ADAPTIVE_WINDOW + 1).min(scores.len());
    let around = window.filter(|&j| j != i).filter_map(|j| scores[j].content);
    let (sum, count) = around.fold((0.0, 0u32), |(sum, count), c| (sum + f64::from(c), count + 1));
    count > 0 && content >= settings.adaptive_ratio * sum / f64::from(count)
}

/// The scene transitions in the scores of every decoded frame of a video (in presentation
/// order, `content: None` at most for the first), in time order:
/// - a cut where the content change reaches `content_threshold` (PySceneDetect's
///   `ContentDetector`) or stands out from the frames around it by `adaptive_ratio` (its
///   `AdaptiveDetector`), at least `min_scene_frames` after the previous cut and the first
///   frame (a cut too close to the previous one is dropped, as PySceneDetect's `SUPPRESS`
///   filter mode does);
/// - a fade in or out where mean luma ramps steadily from or to black (or white), instead of
///   the cuts its steps and the noise of near-black frames would be;
/// - a flash where a few frames are much brighter than the one before, instead of two cuts;
///   when the picture after it differs from the one before, a cut spanning it too.
///
/// One pass; every frame is looked at a bounded number of times; nothing is allocated but the
/// result.
pub fn detect(scores: &[FrameScore], settings: &SceneDetection) -> Vec<SceneTransition> {
    let mut found = Found { scores, min_scene_frames: settings.min_scene_frames as usize, scene_start: 0, transitions: Vec::new() };
    let mut i = 1;
    while i < scores.len() {
        if let Some(fade) = fade_from(scores, i - 1, settings) {
            found.push(fade);
            i = fade.end + 1;
        } else if let Some(flash) = flash_at(scores, i, settings) {
            if let Some(change) = flash.change.map(f64::from).filter(|c| *c >= settings.content_threshold) {
                found.push(Span { kind: TransitionKind::Cut, start: i - 1, end: flash.back, score: change });
            }
            found.push(flash.span);
            i = flash.back + 1;
        } else {
            if let Some(content) = content_cut(scores, i, settings) {
                found.push(Span { kind: TransitionKind::Cut, start: i - 1, end: i, score: content });
            }
            i += 1;
        }
    }
    found.transitions
}

/// The transitions found so far, and where the current scene started.
struct Found<'a> {
    scores: &'a [FrameScore],
    min_scene_frames: usize,
    scene_start: usize,
    transitions: Vec<SceneTransition>,
}

impl Found<'_> {
    /// Keeps `span`, unless it is a cut too soon after the previous one.
    fn push(&mut self, span: Span) {
        if span.kind == TransitionKind::Cut {
            if span.end - self.scene_start < self.min_scene_frames {
                return;
            }
            self.scene_start = span.end;
        }
        self.transitions.push(span.transition(self.scores));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::score_video;
    use crate::imaging::{luminance_histogram, scene_score};
    use contracts::video::ProcessSettings;
    use image::Rgb;
    use samples::video::{ClipSpec, ExpectedTransition, write_clip};

    /// A synthetic frame: which picture it shows, and how bright.
    #[derive(Debug, Clone, Copy)]
    struct Shot {
        picture: u32,
        luma: f32,
    }

    /// `frames` frames of `picture` at `luma`.
    fn hold(picture: u32, luma: f32, frames: usize) -> Vec<Shot> {
        vec![Shot { picture, luma }; frames]
    }

    /// `frames` frames of `picture` going linearly from `from` (first) to `to` (last).
    fn ramp(picture: u32, from: f32, to: f32, frames: usize) -> Vec<Shot> {
        (0..frames).map(|i| Shot { picture, luma: from + (to - from) * i as f32 / (frames - 1) as f32 }).collect()
    }

    /// What the probe would measure between two synthetic frames: a different picture changes a
    /// lot (whatever the luma: colour cuts), near-black frames are noisy in hue and saturation
    /// as decoded video is, otherwise the value channel follows the luma.
    fn change(a: Shot, b: Shot) -> f32 {
        if a.picture != b.picture {
            60.0
        } else if a.luma.min(b.luma) < 15.0 {
            45.0
        } else {
            0.5 + (a.luma - b.luma).abs() / 3.0
        }
    }

    /// The scores of `shots` at 25 fps.
    fn scores(shots: &[Shot]) -> Vec<FrameScore> {
        (0..shots.len())
            .map(|i| FrameScore {
                t: i as f64 / 25.0,
                content: i.checked_sub(1).map(|p| change(shots[p], shots[i])),
                luma: shots[i].luma,
                content_across: std::array::from_fn(|k| i.checked_sub(k + 2).map(|p| change(shots[p], shots[i]))),
            })
            .collect()
    }

    fn concat(parts: &[Vec<Shot>]) -> Vec<Shot> {
        parts.concat()
    }

    /// Kind, first and last frame index (at 25 fps) of each transition.
    fn frames_of(found: &[SceneTransition]) -> Vec<(TransitionKind, usize, usize)> {
        found.iter().map(|t| (t.kind, (t.start_seconds * 25.0).round() as usize, (t.end_seconds * 25.0).round() as usize)).collect()
    }

    fn detect_default(shots: &[Shot]) -> Vec<(TransitionKind, usize, usize)> {
        frames_of(&detect(&scores(shots), &SceneDetection::default()))
    }

    use TransitionKind::{Cut, FadeIn, FadeOut, Flash};

    #[test]
    fn cuts_where_content_reaches_the_threshold_at_least_min_scene_frames_apart() {
        // Same luma everywhere: only the picture changes. The 10-frame scene is too short.
        let shots = concat(&[hold(1, 80.0, 40), hold(2, 80.0, 40), hold(3, 80.0, 10), hold(4, 80.0, 40)]);
        assert_eq!(detect_default(&shots), [(Cut, 39, 40), (Cut, 79, 80)]);
        let found = detect(&scores(&shots), &SceneDetection::default());
        assert_eq!((found[0].start_seconds, found[0].end_seconds, found[0].score), (1.56, 1.6, 60.0));

        // As PySceneDetect: the first scene too must last min_scene_frames.
        assert_eq!(detect_default(&concat(&[hold(1, 80.0, 10), hold(2, 80.0, 40)])), []);
        // Below the threshold: a cut only where the change stands out from the frames around.
        let high = SceneDetection { content_threshold: 61.0, ..SceneDetection::default() };
        assert_eq!(frames_of(&detect(&scores(&shots), &high)), [(Cut, 39, 40), (Cut, 79, 80)]);
        let not_adaptive = SceneDetection { adaptive_ratio: 0.0, ..high };
        assert_eq!(detect(&scores(&shots), &not_adaptive), []);
    }

    #[test]
    fn a_change_under_the_threshold_is_a_cut_when_it_stands_out_from_its_neighbours() {
        // Saturated green to blue: about 23 in HSV content, under 27, in a calm scene.
        let calm = |content: f32| {
            let mut scores = scores(&hold(1, 100.0, 60));
            for s in &mut scores[1..] {
                s.content = Some(content);
            }
            scores[30].content = Some(23.0);
            frames_of(&detect(&scores, &SceneDetection::default()))
        };
        assert_eq!(calm(0.5), [(Cut, 29, 30)]);
        assert_eq!(calm(10.0), [], "in a busy scene it does not stand out (ratio 2.3 < 3)");
    }

    #[test]
    fn fades_through_black_are_fades_not_cuts() {
        // Up from black over 11 frames, held, down to black over 11, black, the next picture's
        // black frames and its rise (the change of picture between black frames is no cut).
        let shots = concat(&[
            ramp(1, 0.0, 100.0, 11),
            hold(1, 100.0, 30),
            ramp(1, 100.0, 0.0, 11)[1..].to_vec(),
            hold(1, 0.0, 3),
            hold(2, 0.0, 2),
            ramp(2, 0.0, 120.0, 11)[1..].to_vec(),
            hold(2, 120.0, 30),
        ]);
        assert_eq!(detect_default(&shots), [(FadeIn, 0, 10), (FadeOut, 40, 50), (FadeIn, 55, 65)]);
        let found = detect(&scores(&shots), &SceneDetection::default());
        assert_eq!(found[0].score, 100.0, "a fade's score is the luma it spans");

        // A quick fade (3 steps) is still one; fewer steps is a cut.
        let quick = concat(&[hold(1, 100.0, 30), ramp(1, 100.0, 0.0, 4)[1..].to_vec(), hold(1, 0.0, 30)]);
        assert_eq!(detect_default(&quick), [(FadeOut, 29, 32)]);
        let two_steps = SceneDetection { fade_min_frames: 4, ..SceneDetection::default() };
        assert_eq!(frames_of(&detect(&scores(&quick), &two_steps)), [(Cut, 31, 32)], "the step into black is the cut");
    }

    #[test]
    fn a_cut_to_black_is_a_cut_even_after_a_slow_dimming() {
        let shots = concat(&[hold(1, 100.0, 30), hold(2, 0.0, 30), hold(3, 90.0, 30)]);
        assert_eq!(detect_default(&shots), [(Cut, 29, 30), (Cut, 59, 60)]);
        // Dimming by 1 a frame, then black in one step: a cut, not a fade out.
        let dimming = concat(&[hold(1, 100.0, 20), ramp(1, 100.0, 90.0, 11)[1..].to_vec(), hold(2, 0.0, 30)]);
        assert_eq!(detect_default(&dimming), [(Cut, 29, 30)]);
    }

    #[test]
    fn fades_to_and_from_white() {
        let shots = concat(&[
            hold(1, 100.0, 30),
            ramp(1, 100.0, 250.0, 11)[1..].to_vec(),
            hold(1, 250.0, 5),
            ramp(2, 250.0, 90.0, 11)[1..].to_vec(),
            hold(2, 90.0, 30),
        ]);
        assert_eq!(detect_default(&shots), [(FadeOut, 29, 39), (FadeIn, 44, 54)]);
    }

    #[test]
    fn a_flash_within_a_scene_is_one_flash_and_no_cut() {
        let shots = concat(&[hold(1, 60.0, 30), hold(9, 250.0, 2), hold(1, 60.0, 30)]);
        let found = detect(&scores(&shots), &SceneDetection::default());
        assert_eq!(frames_of(&found), [(Flash, 30, 31)]);
        assert_eq!(found[0].score, 190.0, "how much brighter it is");
        // Flash handling off: PySceneDetect's answer, a cut into the flash (the cut back out is
        // too close to it).
        let off = SceneDetection { flash_max_frames: 0, ..SceneDetection::default() };
        assert_eq!(frames_of(&detect(&scores(&shots), &off)), [(Cut, 29, 30)]);
    }

    #[test]
    fn a_flash_between_two_scenes_is_a_flash_inside_a_cut() {
        // The scenes have the same luma: only the look across the flash tells them apart.
        let shots = concat(&[hold(1, 60.0, 30), hold(9, 250.0, 3), hold(2, 60.0, 30)]);
        assert_eq!(detect_default(&shots), [(Cut, 29, 33), (Flash, 30, 32)]);
    }

    #[test]
    fn a_bright_stretch_longer_than_a_flash_is_a_scene() {
        let shots = concat(&[hold(1, 60.0, 30), hold(9, 250.0, 20), hold(1, 60.0, 30)]);
        assert_eq!(detect_default(&shots), [(Cut, 29, 30), (Cut, 49, 50)]);
    }

    #[test]
    fn a_static_series_with_noise_has_no_transitions() {
        let shots: Vec<Shot> = (0..300).map(|i| Shot { picture: 1, luma: 70.0 + if i % 2 == 0 { 0.2 } else { -0.2 } }).collect();
        assert_eq!(detect_default(&shots), []);
        assert_eq!(detect(&[], &SceneDetection::default()), []);
        assert_eq!(detect(&scores(&shots[..1]), &SceneDetection::default()), []);
    }

    #[test]
    fn hsv_is_opencvs_and_content_is_pyscenedetects() {
        // cv2.cvtColor(BGR2HSV) of these colours (given here as RGB), from opencv-python 5.0.
        let opencv = [
            ([255, 0, 0], [0, 255, 255]),
            ([0, 255, 0], [60, 255, 255]),
            ([0, 0, 255], [120, 255, 255]),
            ([255, 255, 255], [0, 0, 255]),
            ([0, 0, 0], [0, 0, 0]),
            ([1, 0, 2], [135, 255, 2]),
            ([200, 80, 40], [8, 204, 200]),
            ([30, 40, 210], [118, 219, 210]),
            ([123, 45, 67], [172, 162, 123]),
            ([255, 0, 1], [0, 255, 255]),
            ([10, 200, 199], [90, 242, 200]),
        ];
        for (rgb, hsv) in opencv {
            assert_eq!(opencv_hsv(rgb), hsv, "{rgb:?}");
        }

        let solid = |rgb: [u8; 3]| RgbImage::from_pixel(SCORE_WIDTH, 144, Rgb(rgb));
        let mut probe = ScoreProbe::new();
        let red = probe.score(&solid([255, 0, 0]), 0.0);
        assert_eq!((red.content, red.content_across), (None, [None; FLASH_FRAMES]));
        assert!((red.luma - 76.245).abs() < 1e-3);
        // Hue 0 -> 60, saturation and value equal: (60 + 0 + 0) / 3.
        let green = probe.score(&solid([0, 255, 0]), 0.04);
        assert_eq!(green.content, Some(20.0));
        let red_again = probe.score(&solid([255, 0, 0]), 0.08);
        assert_eq!(red_again.content, Some(20.0));
        assert_eq!(red_again.content_across[..2], [Some(0.0), None], "the same picture as two frames before");
    }

    /// The clip of `spec` written and decoded: every frame's score, and what `detect` finds.
    fn detect_in_clip(spec: &ClipSpec) -> anyhow::Result<(Vec<FrameScore>, Vec<SceneTransition>)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("clip.mp4");
        write_clip(&path, spec)?;
        let scores = score_video(&path)?;
        assert_eq!(scores.len() as u64, spec.frame_count(), "every frame scored");
        let found = detect(&scores, &SceneDetection::default());
        Ok((scores, found))
    }

    /// `found` is `expected`: the same kinds in the same order, each time within one frame.
    fn assert_found(found: &[SceneTransition], expected: &[ExpectedTransition], fps: u32) {
        let frame = 1.0 / f64::from(fps) + 1e-6;
        let same = found.len() == expected.len()
            && found.iter().zip(expected).all(|(f, e)| {
                f.kind == e.kind && (f.start_seconds - e.start_seconds).abs() <= frame && (f.end_seconds - e.end_seconds).abs() <= frame
            });
        assert!(same, "found {found:#?}\nexpected {expected:#?}");
    }

    #[test]
    fn finds_the_cuts_of_a_three_scene_clip() -> anyhow::Result<()> {
        let spec = ClipSpec::three_scenes();
        let (_, found) = detect_in_clip(&spec)?;
        assert_found(&found, &spec.transitions(), spec.fps);
        Ok(())
    }

    #[test]
    fn finds_a_cut_between_colours_of_equal_luma_which_the_luma_histogram_misses() -> anyhow::Result<()> {
        let spec = ClipSpec::equal_luma_cut(50);
        let (scores, found) = detect_in_clip(&spec)?;
        assert_found(&found, &spec.transitions(), spec.fps);
        let (before, after) = (scores[40].luma, scores[60].luma);
        assert!((before - after).abs() <= 1.0, "decoded mean luma {before} and {after} should be equal within 1");
        // The sampled-frame score the pipeline used before: the two pictures' luma histograms
        // are the same, so it sees no change at all.
        let histogram = |index: u64| {
            let picture = RgbImage::from_raw(spec.width, spec.height, spec.render(index)).expect("a whole picture");
            luminance_histogram(&picture, ProcessSettings::default().histogram_bins).1
        };
        let old_score = scene_score(&histogram(49), &histogram(50));
        assert!(old_score < ProcessSettings::default().scene_threshold / 10.0, "histogram score {old_score}");
        Ok(())
    }

    #[test]
    fn fades_in_a_clip_are_fades_not_cuts() -> anyhow::Result<()> {
        let spec = ClipSpec::fades(50, 12);
        let (_, found) = detect_in_clip(&spec)?;
        assert_found(&found, &spec.transitions(), spec.fps);
        Ok(())
    }

    #[test]
    fn a_white_flash_in_a_clip_is_a_flash_and_the_cut_after_it_a_cut() -> anyhow::Result<()> {
        let spec = ClipSpec::flash(50, 2);
        let (_, found) = detect_in_clip(&spec)?;
        assert_found(&found, &spec.transitions(), spec.fps);
        Ok(())
    }

    #[test]
    fn a_still_clip_has_no_transitions() -> anyhow::Result<()> {
        let (scores, found) = detect_in_clip(&ClipSpec::still(75))?;
        assert_eq!(found, []);
        assert!(scores.iter().filter_map(|s| s.content).all(|c| c < 1.0), "a still picture barely changes");
        Ok(())
    }
}
