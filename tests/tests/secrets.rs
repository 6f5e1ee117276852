//! Secrets never leave the two places that need them (the S3 request signer and the OpenAI
//! `Authorization` header). The fleet runs every pipeline at `LOG_LEVEL=debug` with marker
//! values for `AWS_SECRET_ACCESS_KEY` (the S3 endpoint is given the same marker, so the
//! pipelines really work with it) and `OPENAI_API_KEY` (an OpenAI stand-in accepts it), plus
//! two failures that put a secret in harm's way: an OpenAI 401 whose body quotes the key back,
//! and an S3 signature refused for a wrong secret. Then no log line of any process (every
//! worker binary, the starter, the dev server), no byte of any workflow history and no error
//! message contains a marker.

use contracts::automation::{AutomationRequest, AutomationSettings, BatchSource, ImageInput, ImageKind, ImageLimits, IngestImage, IngestRequest};
use contracts::enhancement::{EnhanceImage, EnhanceImageRequest, EnhanceOptions, Enhancer, OpenAiParams};
use contracts::object::PrefixRef;
use contracts::settings::ActivitySettings;
use contracts::video::{Sampling, VideoPipeline, VideoRequest};
use contracts::{ObjectRef, Queue, buckets};
use prost::Message;
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::history::v1::History;
use testkit::history;
use testkit::images_api::ImagesApi;
use testkit::{TestStack, unique_id};

/// The S3 secret of the whole fleet and of its S3 endpoint.
const AWS_SECRET: &str = "aws-secret-MARKER-7f3a9c21e5";
/// A wrong S3 secret, given to one worker so its requests are refused.
const WRONG_AWS_SECRET: &str = "aws-wrong-MARKER-0c4d77e2b9";
/// The OpenAI key of the enhancement workers.
const OPENAI_KEY: &str = "sk-openai-MARKER-51d2e8b04a";
/// What no output may contain.
const MARKERS: [&str; 3] = [AWS_SECRET, WRONG_AWS_SECRET, OPENAI_KEY];

/// The enhancement queue of the worker whose OpenAI endpoint refuses its key.
const REFUSING_QUEUE: &str = "enhancement-refusing-endpoint";
/// The queue prefix of the worker holding the wrong S3 secret.
const WRONG_SECRET_PREFIX: &str = "wrong-secret-";

fn assert_no_marker(what: &str, text: &str) {
    for marker in MARKERS {
        assert!(!text.contains(marker), "{what} contains the secret {marker}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_log_history_or_error_carries_a_secret() -> anyhow::Result<()> {
    let accepting = ImagesApi::accepting_only(OPENAI_KEY).await?;
    let refusing = ImagesApi::accepting_only("sk-some-other-key").await?;
    let scratch = tempfile::tempdir()?;
    let scratch_dir = scratch.path().display().to_string();
    let stack = TestStack::start_in(
        "default",
        &[
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            ("LOG_LEVEL", "debug"),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &accepting.base_url),
            ("ENHANCEMENT_SCRATCH_DIR", &scratch_dir),
        ],
    )
    .await?;
    assert_eq!(stack.config.s3.secret_access_key.expose(), AWS_SECRET, "the fleet runs with the marker secret");
    // (queue, name, settings of its own)
    type WorkerSpec<'a> = (Queue, &'a str, Vec<(&'a str, &'a str)>);
    let workers: Vec<WorkerSpec<'_>> = vec![
        (Queue::Orchestrator, "orchestrator", vec![]),
        (Queue::Ingestion, "ingestion", vec![]),
        (Queue::AccuracyDispatcher, "accuracy-dispatcher", vec![]),
        (Queue::AccuracyProcessor, "accuracy-processor", vec![]),
        (Queue::Geolocalization, "geolocalization", vec![]),
        (Queue::Enhancement, "enhancement", vec![]),
        (Queue::Video, "video", vec![]),
        (Queue::Enhancement, "enhancement-refusing", vec![("OPENAI_BASE_URL", refusing.base_url.as_str()), ("TEMPORAL_TASK_QUEUE", REFUSING_QUEUE)]),
        (Queue::Ingestion, "ingestion-wrong-secret", vec![("AWS_SECRET_ACCESS_KEY", WRONG_AWS_SECRET), ("TASK_QUEUE_PREFIX", WRONG_SECRET_PREFIX)]),
    ];
    let mut processes = Vec::new();
    for (queue, name, extra) in &workers {
        processes.push((name.to_string(), stack.worker_process(*queue, name, extra)?));
    }
    let mut errors: Vec<String> = Vec::new();

    // Image automation: navad, satellite, and a corrupt file (an error message of its own).
    let area = unique_id("secrets");
    let put = |key: String, bytes: Vec<u8>| {
        let storage = stack.storage.clone();
        async move {
            let object = ObjectRef::new(buckets::INPUTS, key)?;
            storage.put(&object, bytes, "application/octet-stream").await?;
            anyhow::Ok(object)
        }
    };
    let navad = put(format!("{area}/flight.jpg"), samples::navad::sharp_jpeg(256, 192)?).await?;
    let scene = put(format!("{area}/scene.tif"), samples::geotiff::geotiff_wgs84(64, 64, 2.0, 48.0, 0.001)).await?;
    let corrupt = put(format!("{area}/corrupt.jpg"), samples::navad::truncated_jpeg(256, 192)?).await?;
    let batch_id = unique_id("secrets");
    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Objects(vec![
            ImageInput { object: navad, kind: Some(ImageKind::Navad) },
            ImageInput { object: scene, kind: None },
            ImageInput { object: corrupt, kind: Some(ImageKind::Navad) },
        ]),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings { tile_columns: 2, tile_rows: 2, ..AutomationSettings::default() },
        carried: None,
    };
    let summary = stack.run_automation(request).await?;
    assert_eq!((summary.totals.passed, summary.totals.errors), (2, 1), "the pipeline works with the marker secret: {summary:#?}");
    errors.extend(summary.images.iter().filter_map(|i| i.error.clone()));

    // Enhancement, locally and through the OpenAI stand-in.
    let photo = put(format!("{area}/photo.png"), samples::enhancement::low_contrast_png(96, 64)?).await?;
    let enhance = |destination: &str, enhancer: Enhancer| -> anyhow::Result<EnhanceImageRequest> {
        Ok(EnhanceImageRequest {
            source: photo.clone(),
            destination: ObjectRef::new(buckets::OUTPUTS, format!("{area}/{destination}"))?,
            options: EnhanceOptions { enhancer, ..EnhanceOptions::default() },
        })
    };
    let openai = Enhancer::Openai(OpenAiParams { size: "256x256".into(), ..OpenAiParams::default() });
    for (destination, enhancer) in [("local.png", Enhancer::default()), ("openai.png", openai.clone())] {
        let request = enhance(destination, enhancer)?;
        let result = stack
            .client
            .start_workflow(EnhanceImage, request, WorkflowStartOptions::new(stack.queue(Queue::Enhancement), unique_id("secrets-enhance")).build())
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        assert!(result.message.starts_with("Successfully processed image:"), "{result:?}");
    }
    let sent = accepting.seen();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].authorization, format!("Bearer {OPENAI_KEY}"), "the key goes where it belongs");

    // An endpoint that refuses the key and quotes it back in its 401 body.
    let refused = stack
        .client
        .start_workflow(
            EnhanceImage,
            enhance("refused.png", openai)?,
            WorkflowStartOptions::new(REFUSING_QUEUE, unique_id("secrets-refused")).build(),
        )
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect_err("the refusing endpoint answers 401");
    let refused = format!("{refused:?}");
    assert!(refused.contains("OpenAI refused the credentials (HTTP 401)") && refused.contains("Incorrect API key provided"), "{refused}");
    assert_eq!(refusing.seen().len(), 1, "the key reached the refusing endpoint, whose answer quoted it");
    errors.push(refused);

    // A worker with a wrong S3 secret: its signature is refused.
    let denied = stack
        .client
        .start_workflow(
            IngestImage,
            IngestRequest { image: photo.clone(), limits: ImageLimits::default(), activity: ActivitySettings::default() },
            WorkflowStartOptions::new(Queue::Ingestion.with_prefix(WRONG_SECRET_PREFIX), unique_id("secrets-denied")).build(),
        )
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect_err("a wrong secret is refused");
    let denied = format!("{denied:?}");
    assert!(denied.contains("access denied") && denied.contains("Rejected"), "{denied}");
    errors.push(denied);

    // Video.
    let dir = tempfile::tempdir()?;
    let clip_path = dir.path().join("clip.mp4");
    samples::video::write_clip(&clip_path, &samples::video::ClipSpec::three_scenes())?;
    let clip = ObjectRef::new(buckets::INPUTS, format!("{area}/clip.mp4"))?;
    stack.storage.put_file(&clip, &clip_path, "video/mp4").await?;
    let output: PrefixRef = format!("s3://{}/{area}/clip", buckets::OUTPUTS).parse()?;
    let video = stack
        .client
        .start_workflow(
            VideoPipeline,
            VideoRequest::new(clip, output, Sampling::EverySeconds(2.0)),
            WorkflowStartOptions::new(stack.queue(Queue::Video), unique_id("secrets-video")).build(),
        )
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert_eq!(video.extraction.frames, 3);

    // The starter, at debug too, with the same settings.
    let starter = tokio::process::Command::new(devstack::workers::binary_dir().join("starter"))
        .args(["checksum", &format!("s3://{}/{area}/photo.png", buckets::INPUTS)])
        .envs(stack.vars.iter())
        .current_dir(stack.dir.path())
        .kill_on_drop(true)
        .output();
    let starter = tokio::time::timeout(Duration::from_secs(120), starter).await??;
    let starter_output = format!("{}{}", String::from_utf8_lossy(&starter.stdout), String::from_utf8_lossy(&starter.stderr));
    assert!(starter.status.success(), "{starter_output}");
    assert!(starter_output.contains("DEBUG"), "the starter logged at debug: {starter_output}");
    assert_no_marker("the starter's output", &starter_output);

    // Every log: non-empty, at debug, and clean.
    for (name, process) in processes {
        process.stop(Duration::from_secs(10)).await;
        let log = stack.worker_log(&name);
        assert!(log.lines().filter(|l| l.contains("DEBUG")).count() > 10, "{name} logged at debug level:\n{log}");
        assert_no_marker(&format!("the log of {name}"), &log);
    }
    let server_log = std::fs::read_to_string(stack.dir.path().join("temporal.log"))?;
    assert_no_marker("the dev server's log", &server_log);

    // Every history, as the server stores it (protobuf) and as JSON.
    let executions = history::executions(&stack.client, "").await?;
    // The batch, its three `ImagePipeline`s and the four single runs.
    assert!(executions.len() >= 8, "every workflow of the run is listed: {executions:?}");
    for (workflow_id, run_id, _) in &executions {
        let history = History { events: history::events(&stack.client, workflow_id, Some(run_id)).await? };
        let bytes = history.encode_to_vec();
        for marker in MARKERS {
            assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "the history of {workflow_id} contains {marker}");
        }
        assert_no_marker(&format!("the history of {workflow_id}"), &serde_json::to_string(&history)?);
    }

    // Every error message the runs produced.
    assert!(errors.len() >= 3, "{errors:?}");
    for error in &errors {
        assert_no_marker("an error message", error);
    }
    println!(
        "RESILIENCE secrets: 3 marker secrets, {} process logs at debug, {} histories, {} error messages: 0 leaks",
        workers.len() + 2,
        executions.len(),
        errors.len()
    );
    Ok(())
}
