//! Section 6, scene detection: the video worker's (`video::frames::score_video`, every frame
//! decoded, scaled to 256 px wide and scored, then `video::scenes::detect`) against
//! PySceneDetect (`scenedetect.detect(path, ContentDetector())` as its users call it,
//! bench/peer/scenes.py) and FFmpeg's scene score (`select='gt(scene,0.3)'`, the usual
//! command line), on generated clips whose transitions are known (`samples::video`): three
//! scenes, a cut between two colours of equal luma, fades through black, a white flash, a still
//! picture. Per clip: the expected transitions, what each tool reports, how many expected cuts
//! it found within one frame and how many it reported that are none, and its best time.

use anyhow::Context as _;
use contracts::video::{SceneDetection, SceneTransition, TransitionKind};
use samples::video::{ClipSpec, ExpectedTransition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct ScenesSettings {
    /// Length of each clip, seconds.
    pub seconds: u32,
    /// Clip width.
    pub width: u32,
    /// Clip height.
    pub height: u32,
    /// FFmpeg's `scene` score above which a frame starts a new scene.
    pub ffmpeg_threshold: f64,
    /// Runs per tool and clip; the best time is kept.
    pub repeats: usize,
}

/// A transition, as the clip was made or as the worker found it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transition {
    /// What it is.
    pub kind: TransitionKind,
    /// Where it starts, seconds.
    pub start_seconds: f64,
    /// Where it ends, seconds (for a cut: the first frame of the new scene).
    pub end_seconds: f64,
}

impl From<&ExpectedTransition> for Transition {
    fn from(t: &ExpectedTransition) -> Self {
        Self { kind: t.kind, start_seconds: t.start_seconds, end_seconds: t.end_seconds }
    }
}

impl From<&SceneTransition> for Transition {
    fn from(t: &SceneTransition) -> Self {
        Self { kind: t.kind, start_seconds: t.start_seconds, end_seconds: t.end_seconds }
    }
}

/// How a tool's answer compares with the clip's known transitions.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Agreement {
    /// Expected transitions (only cuts, for tools that report only cuts).
    pub expected: usize,
    /// Of those, found within one frame (and of the same kind).
    pub found: usize,
    /// Reported transitions matching none expected.
    pub extra: usize,
}

/// One tool on one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ToolResult {
    /// Best run, seconds.
    pub best_seconds: f64,
    /// Frames decoded per second in the best run.
    pub frames_per_second: f64,
    /// Against the known transitions.
    pub agreement: Agreement,
}

/// One clip's result.
#[derive(Debug, Clone, Serialize)]
pub struct ClipResult {
    /// Which clip.
    pub name: String,
    /// Frames in it.
    pub frames: u64,
    /// Frames per second.
    pub fps: u32,
    /// What it was made with.
    pub expected: Vec<Transition>,
    /// The video worker's transitions.
    pub ours: Vec<Transition>,
    /// Its numbers.
    pub ours_result: ToolResult,
    /// PySceneDetect's cut times (when each new scene starts), seconds.
    pub pyscenedetect_cuts: Vec<f64>,
    /// Its numbers.
    pub pyscenedetect_result: ToolResult,
    /// FFmpeg's: the times of the frames whose scene score passed the threshold.
    pub ffmpeg_cuts: Vec<f64>,
    /// Its numbers.
    pub ffmpeg_result: ToolResult,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenesResult {
    /// Sizes used.
    pub settings: ScenesSettings,
    /// PySceneDetect's version.
    pub pyscenedetect: String,
    /// OpenCV's, under it.
    pub opencv: String,
    /// `ffmpeg -version`'s first line.
    pub ffmpeg_version: String,
    /// Per clip.
    pub clips: Vec<ClipResult>,
}

/// The clips: `(name, spec)`, each `settings.seconds` long at the section's size.
fn clips(settings: &ScenesSettings) -> Vec<(&'static str, ClipSpec)> {
    let fps = ClipSpec::three_scenes().fps;
    let frames = settings.seconds * fps;
    let sized = |spec: ClipSpec| ClipSpec { width: settings.width, height: settings.height, ..spec };
    vec![
        ("three scenes", sized(ClipSpec::cuts(frames / 3))),
        ("equal-luma colour cut", sized(ClipSpec::equal_luma_cut(frames / 2))),
        ("fades through black (1 s)", sized(ClipSpec::fades(frames / 2, fps))),
        ("white flash (2 frames), then a cut", sized(ClipSpec::flash(frames / 2, 2))),
        ("still picture", sized(ClipSpec::still(frames))),
    ]
}

/// How `reported` compares with `expected`: matched by kind, start and end within `frame`
/// seconds.
fn agreement(expected: &[Transition], reported: &[Transition], frame: f64) -> Agreement {
    let close = |a: &Transition, b: &Transition| {
        a.kind == b.kind && (a.start_seconds - b.start_seconds).abs() <= frame && (a.end_seconds - b.end_seconds).abs() <= frame
    };
    Agreement {
        expected: expected.len(),
        found: expected.iter().filter(|e| reported.iter().any(|r| close(e, r))).count(),
        extra: reported.iter().filter(|r| !expected.iter().any(|e| close(e, r))).count(),
    }
}

/// How cut times compare with the expected cuts (their new scenes' first frames).
fn cut_agreement(expected: &[Transition], cuts: &[f64], frame: f64) -> Agreement {
    let starts: Vec<f64> = expected.iter().filter(|t| t.kind == TransitionKind::Cut).map(|t| t.end_seconds).collect();
    let close = |a: f64, b: f64| (a - b).abs() <= frame;
    Agreement {
        expected: starts.len(),
        found: starts.iter().filter(|&&s| cuts.iter().any(|&c| close(s, c))).count(),
        extra: cuts.iter().filter(|&&c| !starts.iter().any(|&s| close(s, c))).count(),
    }
}

/// The worker's detection on `clip`: its transitions and best time.
fn detect_ours(clip: &Path, repeats: usize) -> anyhow::Result<(Vec<SceneTransition>, f64)> {
    let settings = SceneDetection::default();
    let mut best = f64::INFINITY;
    let mut found = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let scores = video::frames::score_video(clip).map_err(|e| anyhow::anyhow!("scoring {}: {e}", clip.display()))?;
        found = video::scenes::detect(&scores, &settings);
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok((found, best))
}

/// FFmpeg's scene cuts in `clip` (`select='gt(scene,T)'`, the selected frames' times printed
/// by `metadata=print`) and its best time.
fn detect_ffmpeg(clip: &Path, threshold: f64, repeats: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let filter = format!("select='gt(scene,{threshold})',metadata=print:file=-");
    let mut best = f64::INFINITY;
    let mut cuts = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let output = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
            .arg(clip)
            .args(["-vf", &filter, "-an", "-f", "null", "-"])
            .output()
            .context("running ffmpeg (install the ffmpeg CLI: apt-get install ffmpeg)")?;
        best = best.min(started.elapsed().as_secs_f64());
        anyhow::ensure!(output.status.success(), "ffmpeg failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
        cuts = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once("pts_time:")?.1.split_whitespace().next()?.parse().ok())
            .collect();
    }
    Ok((cuts, best))
}

/// What bench/peer/scenes.py prints.
#[derive(Debug, Deserialize)]
struct PeerReport {
    scenedetect: String,
    opencv: String,
    clips: Vec<PeerClip>,
}

#[derive(Debug, Deserialize)]
struct PeerClip {
    path: String,
    cuts: Vec<f64>,
    seconds: f64,
}

/// Runs the section with the clips under `dir`.
pub async fn run(settings: &ScenesSettings, python: &Path, peer_dir: &Path, dir: &Path) -> anyhow::Result<ScenesResult> {
    std::fs::create_dir_all(dir)?;
    let made: Vec<(&'static str, ClipSpec, PathBuf)> = tokio::task::spawn_blocking({
        let (settings, dir) = (settings.clone(), dir.to_owned());
        move || {
            clips(&settings)
                .into_iter()
                .enumerate()
                .map(|(i, (name, spec))| {
                    let path = dir.join(format!("clip-{i}.mp4"));
                    samples::video::write_clip(&path, &spec)?;
                    Ok((name, spec, path))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        }
    })
    .await??;

    // One tool at a time, the harness doing nothing else meanwhile.
    let mut ours = Vec::new();
    let mut ffmpeg = Vec::new();
    for (name, _, path) in &made {
        let (path, repeats, threshold) = (path.clone(), settings.repeats, settings.ffmpeg_threshold);
        let (found, seconds) = tokio::task::spawn_blocking({
            let path = path.clone();
            move || detect_ours(&path, repeats)
        })
        .await??;
        let (cuts, ffmpeg_seconds) = tokio::task::spawn_blocking(move || detect_ffmpeg(&path, threshold, repeats)).await??;
        println!("  {name}: worker {seconds:.2} s, ffmpeg {ffmpeg_seconds:.2} s");
        ours.push((found, seconds));
        ffmpeg.push((cuts, ffmpeg_seconds));
    }
    let manifest = dir.join("clips.json");
    let paths: Vec<String> = made.iter().map(|(_, _, p)| p.display().to_string()).collect();
    std::fs::write(&manifest, serde_json::to_vec(&paths)?)?;
    let output = crate::peer::run_script(python, &peer_dir.join("scenes.py"), &[manifest.display().to_string(), settings.repeats.to_string()])
        .await
        .context("PySceneDetect (bench/peer/scenes.py; bench/run.sh installs it into bench/.venv)")?;
    let peer: PeerReport = serde_json::from_slice(&output).context("reading scenes.py's report")?;

    let mut results = Vec::new();
    for (((name, spec, path), (found, seconds)), (ffmpeg_cuts, ffmpeg_seconds)) in made.iter().zip(ours).zip(ffmpeg) {
        let theirs =
            peer.clips.iter().find(|c| Path::new(&c.path) == path).with_context(|| format!("scenes.py did not report {}", path.display()))?;
        let frame = 1.0 / f64::from(spec.fps) + 1e-6;
        let frames = spec.frame_count();
        let expected: Vec<Transition> = spec.transitions().iter().map(Transition::from).collect();
        let ours: Vec<Transition> = found.iter().map(Transition::from).collect();
        let tool = |seconds: f64, agreement: Agreement| ToolResult { best_seconds: seconds, frames_per_second: frames as f64 / seconds, agreement };
        results.push(ClipResult {
            name: (*name).to_owned(),
            frames,
            fps: spec.fps,
            ours_result: tool(seconds, agreement(&expected, &ours, frame)),
            pyscenedetect_result: tool(theirs.seconds, cut_agreement(&expected, &theirs.cuts, frame)),
            ffmpeg_result: tool(ffmpeg_seconds, cut_agreement(&expected, &ffmpeg_cuts, frame)),
            pyscenedetect_cuts: theirs.cuts.clone(),
            ffmpeg_cuts,
            expected,
            ours,
        });
    }
    let version = std::process::Command::new("ffmpeg").arg("-version").output()?;
    Ok(ScenesResult {
        settings: settings.clone(),
        pyscenedetect: peer.scenedetect,
        opencv: peer.opencv,
        ffmpeg_version: String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default().to_owned(),
        clips: results,
    })
}

/// `cut 2.00, fade in 0.00-1.00, ...`, or `none`.
pub fn describe(transitions: &[Transition]) -> String {
    let one = |t: &Transition| match t.kind {
        TransitionKind::Cut => format!("cut {:.2}", t.end_seconds),
        TransitionKind::FadeIn => format!("fade in {:.2}-{:.2}", t.start_seconds, t.end_seconds),
        TransitionKind::FadeOut => format!("fade out {:.2}-{:.2}", t.start_seconds, t.end_seconds),
        TransitionKind::Flash => format!("flash {:.2}-{:.2}", t.start_seconds, t.end_seconds),
    };
    if transitions.is_empty() { "none".into() } else { transitions.iter().map(one).collect::<Vec<_>>().join(", ") }
}

/// `cuts 2.00, 4.00`, or `no cut`.
pub fn describe_cuts(cuts: &[f64]) -> String {
    if cuts.is_empty() { "no cut".into() } else { format!("cuts {}", cuts.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_last_the_requested_time_and_carry_their_transitions() {
        let settings = ScenesSettings { seconds: 12, width: 640, height: 360, ffmpeg_threshold: 0.3, repeats: 1 };
        let clips = clips(&settings);
        assert_eq!(clips.len(), 5);
        for (name, spec) in &clips {
            assert_eq!((spec.width, spec.height), (640, 360), "{name}");
            assert!(spec.frame_count().abs_diff(300) <= 2, "{name}: {} frames", spec.frame_count());
        }
        let kinds = |i: usize| clips[i].1.transitions().iter().map(|t| t.kind).collect::<Vec<_>>();
        assert_eq!(kinds(2), [TransitionKind::FadeIn, TransitionKind::FadeOut, TransitionKind::FadeIn]);
        assert_eq!(kinds(4), []);
    }

    #[test]
    fn agreement_counts_matches_within_a_frame_and_the_rest() {
        let cut = |at: f64| Transition { kind: TransitionKind::Cut, start_seconds: at - 0.04, end_seconds: at };
        let fade = Transition { kind: TransitionKind::FadeIn, start_seconds: 0.0, end_seconds: 1.0 };
        let expected = [cut(2.0), fade, cut(4.0)];
        let a = agreement(&expected, &[cut(2.04), Transition { kind: TransitionKind::Cut, ..fade }, cut(7.0)], 0.041);
        assert_eq!((a.expected, a.found, a.extra), (3, 1, 2), "the fade reported as a cut is no match");
        let c = cut_agreement(&expected, &[1.96, 4.2, 6.0], 0.041);
        assert_eq!((c.expected, c.found, c.extra), (2, 1, 2));
    }
}
