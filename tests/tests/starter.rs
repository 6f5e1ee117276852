//! The starter as scripts use it: `--json` prints the outcome document alone on standard output
//! (progress and links go to standard error), against a real stack and the real video worker.

use contracts::Queue;
use contracts::video::VideoOutcome;
use samples::video::{ClipSpec, write_clip};
use std::time::Duration;
use testkit::TestStack;

#[tokio::test(flavor = "multi_thread")]
async fn video_json_prints_the_outcome_alone_on_stdout() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let worker = stack.worker_process(Queue::Video, "video", &[])?;
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("clip.mp4");
    write_clip(&clip, &ClipSpec::three_scenes())?;

    let output = tokio::process::Command::new(devstack::workers::binary_dir().join("starter"))
        .args(["video", clip.to_str().unwrap_or_default(), "--every", "2s", "--json"])
        .envs(stack.vars.iter())
        .current_dir(stack.dir.path())
        .kill_on_drop(true)
        .output()
        .await?;
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "starter video --json failed:\n{stderr}");
    let outcome: VideoOutcome = serde_json::from_str(&stdout).map_err(|e| anyhow::anyhow!("stdout is not one VideoOutcome ({e}):\n{stdout}"))?;
    assert_eq!(outcome.extraction.frames, 3, "every 2 s of a 6 s clip");
    assert!(stderr.contains("started video-") && stderr.contains("Web UI:"), "the notes go to stderr:\n{stderr}");
    worker.stop(Duration::from_secs(10)).await;
    Ok(())
}
