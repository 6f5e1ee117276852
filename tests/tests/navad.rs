//! The navad path end to end on a real dev server and a real S3 endpoint: ingestion
//! (`IngestImage`) and accuracy analysis (`AnalyzeAccuracy`), with the ingestion, dispatcher and
//! TWO processor workers in process on prefixed queues (`navad-...`, so the dispatcher's routing
//! of tiles to the prefixed processor queue is exercised).
//! - a sharp image: metadata JSON beside it (size, SHA-256, EXIF), accuracy passes, the tiles
//!   were measured by both processors;
//! - its blurred copy: still a valid image, but accuracy fails for blur;
//! - corrupt, huge-header, text and empty files, a TIFF with a garbled tile: ingestion fails
//!   non-retryably naming the object (and the tile);
//! - capture times in the metadata JSON: RFC 3339 with sub-seconds and offset, or the IFD0
//!   fallback, or none, as ExifTool reads the same files;
//! - TIFFs as `gdal_translate` writes them (YCbCr JPEG, LZW, Deflate, 12/16-bit, RGBA, single
//!   band, tiled, striped, BigTIFF, COG): ingested, and tiled into exactly GDAL's own reading of
//!   them; the lossless 8-bit ones give the accuracy figures of the same scene as PNG.

use accuracy_dispatcher::report::AccuracyReport;
use contracts::automation::{
    AccuracyOutcome, AccuracyRequest, AccuracyThresholds, AnalyzeAccuracy, AutomationActivities, ImageLimits, ImageMetadata, IngestImage,
    IngestRequest,
};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use fleet::RunningWorker;
use samples::navad;
use samples::navad_tiff::{self, Expected};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::{TestStack, unique_id};

const QUEUE_PREFIX: &str = "navad-";
const GRID: (u32, u32) = (4, 4);

/// The stack and the navad workers: ingestion, dispatcher and two processors.
async fn navad_stack() -> anyhow::Result<(TestStack, Vec<RunningWorker>)> {
    let stack = TestStack::start_in("default", &[("TASK_QUEUE_PREFIX", QUEUE_PREFIX)]).await?;
    let workers = vec![
        stack.worker(Queue::Ingestion, ingestion::register)?,
        stack.worker(Queue::AccuracyDispatcher, accuracy_dispatcher::register)?,
        stack.worker(Queue::AccuracyProcessor, accuracy_processor::register)?,
        stack.worker(Queue::AccuracyProcessor, accuracy_processor::register)?,
    ];
    Ok((stack, workers))
}

async fn put(stack: &TestStack, key: &str, bytes: &[u8], content_type: &str) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes.to_vec(), content_type).await?;
    Ok(object)
}

/// Runs `IngestImage`; a failed workflow comes back as the client error's full debug text
/// (failure types and retry state included), so tests can check what kind of failure it was.
async fn try_ingest(stack: &TestStack, image: &ObjectRef) -> anyhow::Result<Result<ImageMetadata, String>> {
    let request = IngestRequest { image: image.clone(), limits: ImageLimits::default(), activity: ActivitySettings::default() };
    let handle = stack
        .client
        .start_workflow(IngestImage, request, WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id("ingest")).build())
        .await?;
    Ok(handle.get_result(WorkflowGetResultOptions::default()).await.map_err(|e| format!("{e:?}")))
}

async fn ingest(stack: &TestStack, image: &ObjectRef) -> anyhow::Result<ImageMetadata> {
    try_ingest(stack, image).await?.map_err(|e| anyhow::anyhow!("ingesting {image} failed: {e}"))
}

async fn analyze(stack: &TestStack, image: &ObjectRef, output_prefix: &str) -> anyhow::Result<AccuracyOutcome> {
    let request = AccuracyRequest {
        image: image.clone(),
        output_bucket: buckets::OUTPUTS.to_owned(),
        output_prefix: output_prefix.to_owned(),
        tile_columns: GRID.0,
        tile_rows: GRID.1,
        thresholds: AccuracyThresholds::default(),
        activities: AutomationActivities::default(),
    };
    let handle = stack
        .client
        .start_workflow(AnalyzeAccuracy, request, WorkflowStartOptions::new(stack.queue(Queue::AccuracyDispatcher), unique_id("accuracy")).build())
        .await?;
    Ok(handle.get_result(WorkflowGetResultOptions::default()).await?)
}

async fn read_report(stack: &TestStack, outcome: &AccuracyOutcome) -> anyhow::Result<AccuracyReport> {
    Ok(serde_json::from_slice(&stack.storage.get(&outcome.report).await?)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn sharp_image_is_ingested_and_passes_accuracy_on_two_processors() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    assert_eq!(stack.queue(Queue::AccuracyProcessor), "navad-accuracy-processor");
    let bytes = navad::sharp_jpeg(1024, 768)?;
    let image = put(&stack, "flights/sharp/IMG_0001.jpg", &bytes, "image/jpeg").await?;

    // Ingestion: the result and the JSON beside the image agree with the bytes we uploaded.
    let metadata = ingest(&stack, &image).await?;
    assert_eq!((metadata.format.as_str(), metadata.width, metadata.height), ("jpeg", 1024, 768));
    assert_eq!(metadata.size_bytes, bytes.len() as u64);
    assert_eq!(metadata.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(metadata.metadata_object.key(), "flights/sharp/IMG_0001.jpg.metadata.json");
    assert_eq!(metadata.exif.camera_model.as_deref(), Some(navad::SAMPLE_EXIF.camera_model));
    assert_eq!(metadata.exif.capture_time.as_deref(), Some(navad::SAMPLE_EXIF.capture_time));
    assert!((metadata.exif.gps_longitude.unwrap() - navad::SAMPLE_EXIF.longitude).abs() < 1e-5);
    let written: ImageMetadata = serde_json::from_slice(&stack.storage.get(&metadata.metadata_object).await?)?;
    assert_eq!(written, metadata);

    // Accuracy.
    let outcome = analyze(&stack, &image, "navad/sharp/IMG_0001").await?;
    assert!(outcome.passed, "sharp image must pass: {:?}", outcome.failures);
    assert!(outcome.failures.is_empty());
    assert!(outcome.overall_score >= AccuracyThresholds::default().min_overall_score, "{}", outcome.overall_score);
    assert_eq!(outcome.report.bucket(), buckets::OUTPUTS);
    assert_eq!(outcome.report.key(), "navad/sharp/IMG_0001/accuracy-report.json");

    let report = read_report(&stack, &outcome).await?;
    assert_eq!((report.columns, report.rows), GRID);
    assert_eq!(report.grid.len(), GRID.1 as usize);
    assert!(report.grid.iter().all(|row| row.len() == GRID.0 as usize));
    assert_eq!(report.score.overall, outcome.overall_score);
    assert_eq!(report.processors, outcome.processors);
    let mut covered = 0u64;
    for (row, tiles) in report.grid.iter().enumerate() {
        for (column, tile) in tiles.iter().enumerate() {
            assert_eq!((tile.tile.row as usize, tile.tile.column as usize), (row, column));
            assert_eq!(tile.tile.object.key(), format!("navad/sharp/IMG_0001/tiles/r{row}c{column}.png"));
            assert!(stack.storage.size(&tile.tile.object).await?.is_some_and(|s| s > 0), "tile object {}", tile.tile.object);
            assert!(!tile.blurred && tile.laplacian_variance >= 100.0, "tile r{row}c{column}: {tile:?}");
            assert!((40.0..=220.0).contains(&tile.mean_luminance), "tile r{row}c{column}: {tile:?}");
            assert_eq!(tile.highlight_clipped_fraction + tile.shadow_clipped_fraction, 0.0);
            covered += u64::from(tile.tile.width) * u64::from(tile.tile.height);
        }
    }
    assert_eq!(covered, 1024 * 768, "the tiles cover the image exactly");

    // Both processor workers measured tiles: two distinct identities, each with work.
    let mut per_worker: BTreeMap<&str, usize> = BTreeMap::new();
    for tile in report.grid.iter().flatten() {
        *per_worker.entry(tile.worker.as_str()).or_default() += 1;
    }
    assert_eq!(per_worker.len(), 2, "tiles per processor: {per_worker:?}");
    assert_eq!(outcome.processors.len(), 2, "{:?}", outcome.processors);
    assert_eq!(outcome.processors, per_worker.keys().map(|w| w.to_string()).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn blurred_copy_is_valid_but_fails_accuracy_for_blur() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let bytes = navad::blurred_jpeg(1024, 768)?;
    let image = put(&stack, "flights/blurred/IMG_0002.jpg", &bytes, "image/jpeg").await?;

    let metadata = ingest(&stack, &image).await?;
    assert_eq!((metadata.width, metadata.height), (1024, 768), "a blurred image is still a valid image");

    let outcome = analyze(&stack, &image, "navad/blurred/IMG_0002").await?;
    assert!(!outcome.passed, "blurred image must fail: {outcome:?}");
    assert!(outcome.failures.iter().any(|f| f.starts_with("blur:")), "{:?}", outcome.failures);
    assert!(outcome.overall_score < AccuracyThresholds::default().min_overall_score, "{}", outcome.overall_score);

    let report = read_report(&stack, &outcome).await?;
    assert!(!report.passed);
    assert_eq!(report.aggregate.blurred_tiles, GRID.0 * GRID.1, "{:?}", report.aggregate);
    assert!(report.grid.iter().flatten().all(|t| t.blurred && t.laplacian_variance < 100.0));
    // Exposure did not change with the blur: exposure is not among the failures.
    assert!(!outcome.failures.iter().any(|f| f.starts_with("exposure:")), "{:?}", outcome.failures);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_images_fail_ingestion_without_retry_naming_the_object() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let dir = tempfile::tempdir()?;
    let source = navad_tiff::write_source(dir.path(), &navad::sharp_scene(256, 192))?;
    let tiled = std::fs::read(navad_tiff::write_variant(&source, navad_tiff::variant("ycbcr-jpeg-tiles"), dir.path())?)?;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("flights/bad/truncated.jpg", navad::truncated_jpeg(640, 480)?, "corrupt or truncated jpeg data"),
        // 64x64 tiles on 256x192: tile 5 is the second of the second row.
        (
            "flights/bad/garbled-tile.tif",
            navad_tiff::with_garbled_block(&tiled, 5)?,
            "corrupt or truncated tiff data: cannot decode tile 5 (columns 64..128, rows 64..128), compression YCbCr JPEG",
        ),
        ("flights/bad/bomb.png", navad::huge_header_png(100_000, 100_000)?, "header claims 100000x100000 pixels: width above the limit of 30000"),
        ("flights/bad/notes.jpg", navad::text_file(), "not a JPEG, PNG or TIFF image"),
        ("flights/bad/empty.jpg", Vec::new(), "the file is empty"),
    ];
    for (key, bytes, reason) in cases {
        let image = put(&stack, key, &bytes, "image/jpeg").await?;
        let text = try_ingest(&stack, &image).await?.expect_err(key);
        assert!(text.contains(&format!("s3://{}/{key}: ", buckets::INPUTS)), "{key}: {text}");
        assert!(text.contains(reason), "{key}: {text}");
        assert!(text.contains("InvalidInput"), "{key}: {text}");
        assert!(text.contains("NonRetryableFailure"), "{key} must not be retried: {text}");
        let metadata = image.with_suffix(".metadata.json")?;
        assert_eq!(stack.storage.size(&metadata).await?, None, "{key}: no metadata for an invalid image");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tiffs_written_by_gdal_are_ingested_and_tiled_as_gdal_reads_them() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let dir = tempfile::tempdir()?;
    let (width, height) = (320, 240);
    let scene = navad::sharp_scene(width, height);

    // The same scene as PNG: what a lossless 8-bit TIFF of it must score.
    let png = put(&stack, "flights/tiff/source.png", &navad::encode_png(&scene)?, "image/png").await?;
    let png_report = read_report(&stack, &analyze(&stack, &png, "navad/tiff/source").await?).await?;

    for (variant, path) in navad_tiff::write_variants(dir.path(), &scene)? {
        let name = variant.name;
        let bytes = std::fs::read(&path)?;
        let image = put(&stack, &format!("flights/tiff/{name}.tif"), &bytes, "image/tiff").await?;
        let metadata = ingest(&stack, &image).await?;
        assert_eq!((metadata.format.as_str(), metadata.width, metadata.height), ("tiff", width, height), "{name}");
        assert_eq!(metadata.sha256, hex::encode(Sha256::digest(&bytes)), "{name}");

        let outcome = analyze(&stack, &image, &format!("navad/tiff/{name}")).await?;
        let report = read_report(&stack, &outcome).await?;
        // Every tile the dispatcher wrote is that rectangle of GDAL's reading, in luminance.
        let reference = navad_tiff::gdal_reference(&path, variant)?.into_luma8();
        for tile in report.grid.iter().flatten() {
            let t = &tile.tile;
            let written = image::load_from_memory_with_format(&stack.storage.get(&t.object).await?, image::ImageFormat::Png)?.into_luma8();
            let expected = image::imageops::crop_imm(&reference, t.x, t.y, t.width, t.height).to_image();
            assert!(written == expected, "{name}: tile r{}c{} differs from GDAL's reading", t.row, t.column);
        }
        if variant.expected == Expected::SourceRgb {
            assert_eq!(report.aggregate, png_report.aggregate, "{name}: the accuracy figures of the same pixels as PNG");
            assert_eq!(report.score, png_report.score, "{name}");
            for (tiff_tile, png_tile) in report.grid.iter().flatten().zip(png_report.grid.iter().flatten()) {
                let figures = |t: &contracts::automation::TileMetrics| {
                    (t.laplacian_variance, t.mean_luminance, t.shadow_clipped_fraction, t.highlight_clipped_fraction, t.noise_sigma, t.blurred)
                };
                assert_eq!(figures(tiff_tile), figures(png_tile), "{name}: tile r{}c{}", tiff_tile.tile.row, tiff_tile.tile.column);
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_times_in_the_metadata_json_are_exiftools_reading() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let dir = tempfile::tempdir()?;
    let cases: [(&str, &[&str]); 3] = [
        ("offset.jpg", &["-DateTimeOriginal=2024:06:01 10:15:30", "-SubSecTimeOriginal=123", "-OffsetTimeOriginal=+02:00"]),
        ("fallback.jpg", &["-ModifyDate=2023:01:02 03:04:05", "-SubSecTime=45", "-OffsetTime=-05:30"]),
        ("no-time.jpg", &["-Model=NV-Survey 24"]),
    ];
    for (name, assignments) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, navad::encode_jpeg(&navad::sharp_scene(128, 96), None)?)?;
        samples::exiftool::write_tags(&path, assignments)?;
        let expected = samples::exiftool::capture_time(&path)?;
        assert_eq!(expected.rfc3339.is_none(), name == "no-time.jpg", "{name}: ExifTool's reading {expected:?}");

        let image = put(&stack, &format!("flights/times/{name}"), &std::fs::read(&path)?, "image/jpeg").await?;
        let metadata = ingest(&stack, &image).await?;
        // Read back from the JSON written beside the image, as a consumer would.
        let json: serde_json::Value = serde_json::from_slice(&stack.storage.get(&metadata.metadata_object).await?)?;
        let exif = &json["exif"];
        assert_eq!(exif["capture_time"].as_str(), expected.date_time_original.as_deref(), "{name}");
        assert_eq!(exif["captured_at"].as_str(), expected.rfc3339.as_deref(), "{name}");
        assert_eq!(exif["capture_time_source"].as_str(), expected.source, "{name}");
    }
    Ok(())
}
