//! The fleet's pipelines started from other languages, as `examples/` shows it: each of the five
//! user-started workflows (`AutomationPipeline`, `EnhanceImage`, `EnhanceBatch`,
//! `VideoPipeline`, `ChecksumObject`) started with a minimal JSON input through the `temporal`
//! CLI scripts (`examples/cli`) and through the Python `temporalio` client
//! (`examples/python/start_pipeline.py`), against a real stack with the seven real worker
//! binaries on prefixed queues (so the clients' `TASK_QUEUE_PREFIX` handling is exercised). Each
//! run completes; its result validates against `schemas/<Workflow>.result.json` (and the input
//! sent against `<Workflow>.input.json`) with Python `jsonschema` (`examples/python/validate.py`);
//! and a few facts of each result are checked against answers from independent tools
//! (`sha256sum`, `ffprobe`, the object store). Bad inputs sent with the CLI (a missing field, a
//! mistyped one, an unknown kind, an unsafe key) fail their run at once: FAILED within 20 s, a
//! non-retryable `InvalidInput` naming the field, one workflow task and no failed one.
//!
//! Needs `python3` with examples/python/requirements.txt installed (scripts/test.sh does).

use contracts::{ObjectRef, Queue, buckets};
use devstack::WorkerProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::{TestStack, unique_id};

/// Queues of this test's fleet: `clients-orchestrator`, ...; the clients read the prefix from
/// `TASK_QUEUE_PREFIX` as the workers do.
const QUEUE_PREFIX: &str = "clients-";

/// How long one client run may take (the video pipeline is the slowest, a few seconds here).
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// A bad input must have failed its run within this time of its start.
const FAILS_WITHIN: Duration = Duration::from_secs(20);

/// The repository root (the clients' scripts and the schemas are there).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_owned()
}

/// What a client process printed, and whether it succeeded.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
    what: String,
}

impl Output {
    /// Standard output as one JSON document (the result), or an error showing both streams.
    fn json(&self) -> anyhow::Result<Value> {
        anyhow::ensure!(self.success, "{} failed:\nstdout:\n{}\nstderr:\n{}", self.what, self.stdout, self.stderr);
        serde_json::from_str(&self.stdout)
            .map_err(|e| anyhow::anyhow!("{}: stdout is not one JSON document ({e}):\n{}\nstderr:\n{}", self.what, self.stdout, self.stderr))
    }
}

/// Runs client programs (the CLI, its scripts, the Python examples) against the test's stack.
struct Clients {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Clients {
    fn new(stack: &TestStack) -> anyhow::Result<Self> {
        // The `temporal` the harness found (`TEMPORAL_CLI` or PATH) comes first on the scripts' PATH.
        let cli = devstack::find_temporal_executable()?;
        let cli_dir = cli.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(cli_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())))?;
        let mut env = vec![("PATH".to_owned(), path.to_string_lossy().into_owned()), ("POLL_SECONDS".to_owned(), "1".to_owned())];
        for name in ["TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_CONFIG_FILE", "TASK_QUEUE_PREFIX"] {
            let value = stack.vars.get(name).ok_or_else(|| anyhow::anyhow!("the stack has no {name}"))?;
            env.push((name.to_owned(), value.clone()));
        }
        Ok(Self { env, dir: tempfile::tempdir()? })
    }

    /// Runs `program args` in the repository root with the stack's settings.
    async fn run(&self, program: String, args: Vec<String>) -> anyhow::Result<Output> {
        let what = format!("{program} {}", args.join(" "));
        let child = tokio::process::Command::new(&program)
            .args(&args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(root())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(RUN_TIMEOUT, child).await.map_err(|_| anyhow::anyhow!("{what}: no answer within {RUN_TIMEOUT:?}"))??;
        Ok(Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            what,
        })
    }

    /// One of the CLI scripts, `examples/cli/<script>`.
    fn script(&self, script: &str, args: &[&str]) -> impl Future<Output = anyhow::Result<Output>> + '_ {
        self.run(root().join("examples/cli").join(script).display().to_string(), owned(args))
    }

    /// The Python client, `examples/python/start_pipeline.py <workflow> <input> ...`.
    fn python(&self, workflow: &str, input: &Value, extra: &[&str]) -> impl Future<Output = anyhow::Result<Output>> + '_ {
        let mut args = owned(&["examples/python/start_pipeline.py", workflow, &input.to_string(), "--interval", "0.5"]);
        args.extend(owned(extra));
        self.run("python3".to_owned(), args)
    }

    /// The `temporal` CLI itself, with `-o json`: its answer.
    async fn temporal(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut args = owned(args);
        args.extend(["-o".to_owned(), "json".to_owned()]);
        self.run("temporal".to_owned(), args).await?.json()
    }

    /// Checks `document` against `schemas/<workflow>.<part>.json` with Python jsonschema.
    async fn validate(&self, workflow: &str, part: &str, document: &Value) -> anyhow::Result<()> {
        let file = self.dir.path().join(format!("{}.json", unique_id(part)));
        std::fs::write(&file, serde_json::to_vec_pretty(document)?)?;
        let schema = format!("schemas/{workflow}.{part}.json");
        let out = self.run("python3".to_owned(), owned(&["examples/python/validate.py", &schema, &file.display().to_string()])).await?;
        anyhow::ensure!(out.success, "{workflow} {part} does not validate against {schema}:\n{}{}\ndocument: {document:#}", out.stdout, out.stderr);
        Ok(())
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Runs `program` (an independent tool) and returns its standard output.
fn tool(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(program).args(args).output().map_err(|e| anyhow::anyhow!("{program}: {e}"))?;
    anyhow::ensure!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// SHA-256 of a file as `sha256sum` prints it.
fn sha256sum(path: &Path) -> anyhow::Result<String> {
    let text = tool("sha256sum", &[&path.display().to_string()])?;
    Ok(text.split_whitespace().next().unwrap_or_default().to_owned())
}

/// Width and height of an image or video's first video stream, from `ffprobe`.
fn ffprobe_size(path: &Path) -> anyhow::Result<(u64, u64)> {
    let text = tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "json", &path.display().to_string()],
    )?;
    let json: Value = serde_json::from_str(&text)?;
    let stream = &json["streams"][0];
    Ok((stream["width"].as_u64().unwrap_or_default(), stream["height"].as_u64().unwrap_or_default()))
}

/// Frames decoded and duration in seconds of a video's first video stream, from `ffprobe`.
fn ffprobe_frames_and_duration(path: &Path) -> anyhow::Result<(u64, f64)> {
    let path = path.display().to_string();
    let entries = "stream=nb_read_frames,duration";
    let text = tool("ffprobe", &["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", entries, "-of", "json", &path])?;
    let json: Value = serde_json::from_str(&text)?;
    let stream = &json["streams"][0];
    let number =
        |name: &str| stream[name].as_str().and_then(|s| s.parse::<f64>().ok()).ok_or_else(|| anyhow::anyhow!("ffprobe gave no {name}: {text}"));
    Ok((number("nb_read_frames")? as u64, number("duration")?))
}

/// Writes `bytes` to `dir/name` (for the independent tools) and uploads them to `key`.
async fn upload(stack: &TestStack, dir: &Path, name: &str, key: &str, bytes: Vec<u8>) -> anyhow::Result<(ObjectRef, PathBuf)> {
    let path = dir.join(name);
    std::fs::write(&path, &bytes)?;
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes, "application/octet-stream").await?;
    Ok((object, path))
}

/// Downloads `object` (as the result names it) to `dir/name`.
async fn download(stack: &TestStack, object: &Value, dir: &Path, name: &str) -> anyhow::Result<(Vec<u8>, PathBuf)> {
    let object: ObjectRef = serde_json::from_value(object.clone()).map_err(|e| anyhow::anyhow!("not an object reference ({e}): {object}"))?;
    let bytes = stack.storage.get(&object).await.map_err(|e| anyhow::anyhow!("{object}: {e}"))?.to_vec();
    let path = dir.join(name);
    std::fs::write(&path, &bytes)?;
    Ok((bytes, path))
}

fn object_json(object: &ObjectRef) -> Value {
    json!({ "bucket": object.bucket(), "key": object.key() })
}

fn uri(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The worker processes of the whole fleet, checked for crashes at the end.
struct Fleet(Vec<(String, WorkerProcess)>);

impl Fleet {
    fn start(stack: &TestStack) -> anyhow::Result<Self> {
        let processes = Queue::ALL.iter().map(|queue| Ok((queue.base_name().to_owned(), stack.worker_process(*queue, queue.base_name(), &[])?)));
        Ok(Self(processes.collect::<anyhow::Result<_>>()?))
    }

    async fn stop(self, stack: &TestStack) {
        for (name, mut process) in self.0 {
            let log = stack.worker_log(&name);
            assert!(process.try_exit_status().is_none(), "worker process {name} exited:\n{log}");
            assert!(!log.contains("panicked"), "worker process {name} panicked:\n{log}");
            process.stop(Duration::from_secs(10)).await;
        }
    }
}

/// A completed run of one client: its result, checked against the published result schema.
/// With `followed`, the client must also have printed the `progress` query at least once (for
/// runs long enough to be seen running: the video pipeline).
async fn completed(clients: &Clients, workflow: &str, output: anyhow::Result<Output>, followed: bool) -> anyhow::Result<Value> {
    let output = output?;
    let progress = output.stderr.lines().filter(|l| l.starts_with("progress: ")).count();
    eprintln!("{workflow} through {}: completed, {progress} progress lines", output.what.split_whitespace().next().unwrap_or_default());
    let result = output.json()?;
    clients.validate(workflow, "result", &result).await?;
    anyhow::ensure!(!followed || progress > 0, "{}: no progress printed while the run went on:\n{}", output.what, output.stderr);
    Ok(result)
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_and_python_start_every_pipeline_with_a_minimal_input() -> anyhow::Result<()> {
    let stack = TestStack::start_in("default", &[("TASK_QUEUE_PREFIX", QUEUE_PREFIX)]).await?;
    let fleet = Fleet::start(&stack)?;
    let clients = Clients::new(&stack)?;
    let files = tempfile::tempdir()?;
    let area = unique_id("clients");
    let started = Instant::now();

    // ChecksumObject: the digest equals sha256sum's of the uploaded bytes, and so does the sidecar.
    {
        let (cli_object, cli_file) =
            upload(&stack, files.path(), "cli.bin", &format!("{area}/checksum/cli.jpg"), samples::navad::sharp_jpeg(320, 240)?).await?;
        let (py_object, py_file) =
            upload(&stack, files.path(), "py.bin", &format!("{area}/checksum/py.jpg"), samples::navad::blurred_jpeg(320, 240)?).await?;
        let py_input = json!({ "object": object_json(&py_object) });
        clients.validate("ChecksumObject", "input", &py_input).await?;
        let explicit_queue = stack.queue(Queue::Ingestion);
        let (cli, py) = tokio::join!(
            clients.script("checksum.sh", &[&cli_object.to_string()]),
            clients.python("ChecksumObject", &py_input, &["--task-queue", &explicit_queue]),
        );
        for (result, object, file) in [
            (completed(&clients, "ChecksumObject", cli, false).await?, &cli_object, &cli_file),
            (completed(&clients, "ChecksumObject", py, false).await?, &py_object, &py_file),
        ] {
            let expected = sha256sum(file)?;
            assert_eq!(result["sha256"], expected.as_str(), "{result:#}");
            assert_eq!(result["size"], std::fs::metadata(file)?.len(), "{result:#}");
            assert_eq!(result["object"], object_json(object), "{result:#}");
            let (sidecar, _) = download(&stack, &result["sidecar"], files.path(), "sidecar").await?;
            let sidecar = String::from_utf8(sidecar)?;
            assert_eq!(sidecar.split_whitespace().next(), Some(expected.as_str()), "the sidecar holds sha256sum's digest: {sidecar:?}");
        }
    }

    // AutomationPipeline: one sharp navad JPEG, given as an object (CLI, kind navad) and found
    // under a prefix (Python, kind detected); each batch has one image, passed.
    {
        let jpeg = samples::navad::sharp_jpeg(512, 384)?;
        let (cli_object, _) = upload(&stack, files.path(), "navad-cli.jpg", &format!("{area}/automation/cli/a.jpg"), jpeg.clone()).await?;
        let (py_object, _) = upload(&stack, files.path(), "navad-py.jpg", &format!("{area}/automation/py/a.jpg"), jpeg).await?;
        let (cli_batch, py_batch) = (unique_id("cli"), unique_id("py"));
        let py_input = json!({ "batch_id": py_batch, "source": { "prefix": { "location": { "bucket": buckets::INPUTS, "prefix": format!("{area}/automation/py/") } } } });
        clients.validate("AutomationPipeline", "input", &py_input).await?;
        clients
            .validate(
                "AutomationPipeline",
                "input",
                &json!({ "batch_id": cli_batch, "source": { "objects": [{ "object": object_json(&cli_object), "kind": "navad" }] } }),
            )
            .await?;
        let (cli, py) = tokio::join!(
            clients.script("automation.sh", &[&cli_batch, &cli_object.to_string(), "--kind", "navad"]),
            clients.python("AutomationPipeline", &py_input, &[]),
        );
        for (result, batch_id, object) in [
            (completed(&clients, "AutomationPipeline", cli, false).await?, &cli_batch, &cli_object),
            (completed(&clients, "AutomationPipeline", py, false).await?, &py_batch, &py_object),
        ] {
            assert_eq!(result["batch_id"], batch_id.as_str(), "{result:#}");
            let images = result["images"].as_array().map(Vec::as_slice).unwrap_or_default();
            let [image] = images else { anyhow::bail!("expected one image: {result:#}") };
            assert_eq!(image["object"], object_json(object), "{result:#}");
            assert_eq!((image["status"].as_str(), image["kind"].as_str()), (Some("passed"), Some("navad")), "{result:#}");
            assert_eq!((result["totals"]["images"].as_u64(), result["totals"]["passed"].as_u64()), (Some(1), Some(1)), "{result:#}");
            assert_eq!(result["summary"]["bucket"], buckets::OUTPUTS, "outputs go to fleet-outputs by default: {result:#}");
            let (summary, _) = download(&stack, &result["summary"], files.path(), "summary.json").await?;
            let summary: Value = serde_json::from_slice(&summary)?;
            assert!(summary.to_string().contains(object.key()), "the batch summary names the image: {summary:#}");
            // The progress query, read with the CLI once the run is over (the worker answers it
            // by replaying the closed run).
            let progress = clients.temporal(&["workflow", "query", "--workflow-id", &format!("automation-{batch_id}"), "--name", "progress"]).await?;
            assert_eq!(progress["queryResult"][0]["done"], 1, "{progress:#}");
        }
    }

    // EnhanceImage: the output is where the input said, of the source's size (ffprobe), and as
    // many bytes as reported.
    {
        let (source, source_file) =
            upload(&stack, files.path(), "dark.jpg", &format!("{area}/enhance/dark.jpg"), samples::enhancement::low_contrast_jpeg(96, 64)?).await?;
        let (width, height) = ffprobe_size(&source_file)?;
        let cli_destination = ObjectRef::new(buckets::OUTPUTS, format!("{area}/enhanced/cli.png"))?;
        let py_destination = ObjectRef::new(buckets::OUTPUTS, format!("{area}/enhanced/py.png"))?;
        let py_input = json!({ "source": object_json(&source), "destination": object_json(&py_destination) });
        clients.validate("EnhanceImage", "input", &py_input).await?;
        let (cli, py) = tokio::join!(
            clients.script("enhance-image.sh", &[&source.to_string(), &cli_destination.to_string()]),
            clients.python("EnhanceImage", &py_input, &[]),
        );
        for (result, destination) in [
            (completed(&clients, "EnhanceImage", cli, false).await?, &cli_destination),
            (completed(&clients, "EnhanceImage", py, false).await?, &py_destination),
        ] {
            let enhanced = &result["enhanced"];
            assert_eq!(enhanced["destination"], object_json(destination), "{result:#}");
            assert_eq!(
                (enhanced["source_size"]["width"].as_u64(), enhanced["source_size"]["height"].as_u64()),
                (Some(width), Some(height)),
                "{result:#}"
            );
            let (bytes, file) = download(&stack, &enhanced["destination"], files.path(), "enhanced.png").await?;
            assert_eq!(enhanced["output_bytes"], bytes.len(), "{result:#}");
            assert_eq!(ffprobe_size(&file)?, (width, height), "the output keeps the source's size by default");
            assert!(
                result["message"].as_str().is_some_and(|m| m.contains(&source.to_string()) && m.contains(&destination.to_string())),
                "{result:#}"
            );
        }
    }

    // EnhanceBatch: every image under the prefix enhanced to the same name under the destination.
    {
        let names = ["a.png", "b.jpg"];
        upload(&stack, files.path(), "a.png", &format!("{area}/batch/in/a.png"), samples::enhancement::low_contrast_png(96, 64)?).await?;
        upload(&stack, files.path(), "b.jpg", &format!("{area}/batch/in/b.jpg"), samples::enhancement::low_contrast_jpeg(80, 60)?).await?;
        let source = format!("{area}/batch/in/");
        let py_input = json!({ "source": { "bucket": buckets::INPUTS, "prefix": source }, "destination": { "bucket": buckets::OUTPUTS, "prefix": format!("{area}/batch/py/") } });
        clients.validate("EnhanceBatch", "input", &py_input).await?;
        let cli_batch_id = unique_id("enhance-batch-cli");
        let (cli, py) = tokio::join!(
            clients
                .script("enhance-batch.sh", &[&uri(buckets::INPUTS, &source), &uri(buckets::OUTPUTS, &format!("{area}/batch/cli/")), &cli_batch_id]),
            clients.python("EnhanceBatch", &py_input, &[]),
        );
        for (result, out) in
            [(completed(&clients, "EnhanceBatch", cli, false).await?, "cli"), (completed(&clients, "EnhanceBatch", py, false).await?, "py")]
        {
            let totals = &result["totals"];
            assert_eq!(
                (totals["images"].as_u64(), totals["enhanced"].as_u64(), totals["failed"].as_u64()),
                (Some(2), Some(2), Some(0)),
                "{result:#}"
            );
            for name in names {
                let output = ObjectRef::new(buckets::OUTPUTS, format!("{area}/batch/{out}/{name}"))?;
                assert!(stack.storage.size(&output).await?.is_some_and(|n| n > 0), "{output} missing: {result:#}");
            }
        }
        let progress = clients.temporal(&["workflow", "query", "--workflow-id", &cli_batch_id, "--name", "progress"]).await?;
        assert_eq!(progress["queryResult"][0]["totals"]["enhanced"], 2, "{progress:#}");
    }

    // VideoPipeline: one frame per second by default (CLI), every 2 s when asked (Python); the
    // metadata agrees with ffprobe's count of decoded frames and duration.
    {
        let clip = files.path().join("clip.mp4");
        samples::video::write_clip(&clip, &samples::video::ClipSpec::three_scenes())?;
        let (frames, duration) = ffprobe_frames_and_duration(&clip)?;
        let instants = |every: f64| (0u32..).take_while(|k| f64::from(*k) * every < duration - 1e-6).count() as u64;
        let (video, _) = upload(&stack, files.path(), "upload.mp4", &format!("{area}/video/clip.mp4"), std::fs::read(&clip)?).await?;
        let py_input = json!({ "video": object_json(&video), "output": { "bucket": buckets::OUTPUTS, "prefix": format!("{area}/video/py/") }, "sampling": { "every_seconds": 2.0 } });
        clients.validate("VideoPipeline", "input", &py_input).await?;
        let cli_video_id = unique_id("video-cli");
        let (cli, py) = tokio::join!(
            clients.script("video.sh", &[&video.to_string(), &uri(buckets::OUTPUTS, &format!("{area}/video/cli/")), "", &cli_video_id]),
            clients.python("VideoPipeline", &py_input, &[]),
        );
        for (result, every) in
            [(completed(&clients, "VideoPipeline", cli, true).await?, 1.0), (completed(&clients, "VideoPipeline", py, true).await?, 2.0)]
        {
            let metadata = &result["metadata"];
            assert_eq!(metadata["frame_count"], frames, "{metadata:#}");
            assert!(metadata["duration_seconds"].as_f64().is_some_and(|d| (d - duration).abs() < 0.05), "ffprobe says {duration} s: {metadata:#}");
            assert_eq!(result["extraction"]["frames"], instants(every), "one frame every {every} s of {duration} s: {:#}", result["extraction"]);
            for object in [&result["extraction"]["manifest"], &result["summary"]] {
                let object: ObjectRef = serde_json::from_value(object.clone())?;
                assert!(stack.storage.size(&object).await?.is_some(), "{object} missing");
            }
        }
        let progress = clients.temporal(&["workflow", "query", "--workflow-id", &cli_video_id, "--name", "progress"]).await?;
        assert_eq!(progress["queryResult"][0]["stage"], "completed", "{progress:#}");
    }

    eprintln!("every pipeline completed through the CLI and Python in {:.0?}", started.elapsed());
    fleet.stop(&stack).await;
    Ok(())
}

/// A failed run as the CLI reports it: `describe`'s status and failure, `show`'s events.
struct FailedRun {
    failure: Value,
    workflow_tasks_completed: usize,
    workflow_tasks_failed: usize,
}

/// Waits for `workflow_id` to close, at most until `deadline`, and reads how it ended.
async fn closed_run(clients: &Clients, workflow_id: &str, deadline: Instant) -> anyhow::Result<FailedRun> {
    let description = loop {
        let description = clients.temporal(&["workflow", "describe", "--workflow-id", workflow_id]).await?;
        let status = description["workflowExecutionInfo"]["status"].as_str().unwrap_or_default().to_owned();
        if status != "WORKFLOW_EXECUTION_STATUS_RUNNING" {
            assert_eq!(status, "WORKFLOW_EXECUTION_STATUS_FAILED", "{workflow_id}: {description:#}");
            break description;
        }
        if Instant::now() >= deadline {
            let history = clients.temporal(&["workflow", "show", "--workflow-id", workflow_id]).await?;
            anyhow::bail!("{workflow_id} still runs {FAILS_WITHIN:?} after its start; its history:\n{history:#}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let failure = description["closeEvent"]["workflowExecutionFailedEventAttributes"]["failure"].clone();
    let history = clients.temporal(&["workflow", "show", "--workflow-id", workflow_id]).await?;
    let events = history["events"].as_array().cloned().unwrap_or_default();
    let count = |kind: &str| events.iter().filter(|e| e["eventType"] == kind).count();
    Ok(FailedRun {
        failure,
        workflow_tasks_completed: count("EVENT_TYPE_WORKFLOW_TASK_COMPLETED"),
        workflow_tasks_failed: count("EVENT_TYPE_WORKFLOW_TASK_FAILED"),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_from_the_cli_fail_the_run_at_once_naming_the_field() -> anyhow::Result<()> {
    let stack = TestStack::start_in("default", &[("TASK_QUEUE_PREFIX", QUEUE_PREFIX)]).await?;
    let orchestrator = stack.worker_process(Queue::Orchestrator, "orchestrator", &[])?;
    let clients = Clients::new(&stack)?;
    let queue = stack.queue(Queue::Orchestrator);
    let image = |key: &str| json!({ "object": { "bucket": buckets::INPUTS, "key": key }, "kind": "navad" });
    let source = json!({ "objects": [image("uploads/up1/a.jpg")] });
    // Each input, the words its failure message must hold (the field, and what was sent).
    let cases: [(&str, Value, &[&str]); 5] = [
        ("missing", json!({ "source": source }), &["batch_id", "missing"]),
        // A typo of a required field: the message must name what was typed.
        ("mistyped", json!({ "batchid": "cli-bad", "source": source }), &["batchid"]),
        // A typo of an optional field beside the required ones.
        (
            "mistyped-optional",
            json!({ "batch_id": "cli-bad", "source": source, "output_bucekt": buckets::OUTPUTS }),
            &["output_bucekt", "unknown field"],
        ),
        (
            "unknown-kind",
            json!({ "batch_id": "cli-bad", "source": { "objects": [{ "object": { "bucket": buckets::INPUTS, "key": "uploads/up1/a.jpg" }, "kind": "navads" }] } }),
            &["source.objects[0].kind", "navads"],
        ),
        ("unsafe-key", json!({ "batch_id": "cli-bad", "source": { "objects": [image("../x.jpg")] } }), &["source.objects[0].object", "../x.jpg"]),
    ];
    // Every case runs; what is wrong with any of them is reported together at the end.
    let mut problems = Vec::new();
    for (name, input, words) in &cases {
        let workflow_id = unique_id(&format!("bad-{name}"));
        let input = input.to_string();
        let start = Instant::now();
        clients
            .temporal(&[
                "workflow",
                "start",
                "--type",
                "AutomationPipeline",
                "--task-queue",
                &queue,
                "--workflow-id",
                &workflow_id,
                "--input",
                &input,
            ])
            .await?;
        let run = closed_run(&clients, &workflow_id, start + FAILS_WITHIN).await?;
        let failure = &run.failure;
        let message = failure["message"].as_str().unwrap_or_default();
        eprintln!("{name}: failed in {:.1?}: {message}", start.elapsed());
        if failure["applicationFailureInfo"]["type"] != "InvalidInput" || failure["applicationFailureInfo"]["nonRetryable"] != true {
            problems.push(format!("{name}: not a non-retryable InvalidInput: {failure:#}"));
        }
        for word in words.iter().filter(|w| !message.contains(*w)) {
            problems.push(format!("{name} ({input}): the message must name {word:?}: {message}"));
        }
        if (run.workflow_tasks_completed, run.workflow_tasks_failed) != (1, 0) {
            problems.push(format!(
                "{name}: {} workflow tasks completed, {} failed (expected 1 and 0)",
                run.workflow_tasks_completed, run.workflow_tasks_failed
            ));
        }
    }
    // The same through the clients' own error paths: the script and the Python client exit 1
    // and print the failure type and message.
    let bad_kind = json!({ "batch_id": "py-bad", "source": { "objects": [{ "object": { "bucket": buckets::INPUTS, "key": "uploads/up1/a.jpg" }, "kind": "navads" }] } });
    let py = clients.python("AutomationPipeline", &bad_kind, &["--workflow-id", &unique_id("bad-py")]).await?;
    if py.success || !["InvalidInput: ", "navads", "(non-retryable)"].iter().all(|w| py.stderr.contains(w)) {
        problems.push(format!("start_pipeline.py must exit 1 naming the failure:\n{}", py.stderr));
    }
    let cli = clients.script("start.sh", &["AutomationPipeline", &bad_kind.to_string(), &unique_id("bad-sh")]).await?;
    if cli.success || !["InvalidInput: ", "navads", "(non-retryable)"].iter().all(|w| cli.stderr.contains(w)) {
        problems.push(format!("start.sh must exit 1 naming the failure:\n{}", cli.stderr));
    }

    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let mut orchestrator = orchestrator;
    assert!(orchestrator.try_exit_status().is_none(), "the orchestrator exited:\n{}", stack.worker_log("orchestrator"));
    orchestrator.stop(Duration::from_secs(10)).await;
    Ok(())
}
