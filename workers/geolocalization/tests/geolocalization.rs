//! The satellite path end to end: a real Temporal dev server, a real S3 endpoint, an in-process
//! geolocalization worker and generated GeoTIFFs. Footprints are checked against coordinates
//! computed independently here (Krüger's inverse UTM series, or exact arithmetic for EPSG:4326).

#[path = "support/utm_reference.rs"]
mod utm_reference;

use contracts::automation::{DetectImageKind, Footprint, Geolocalize, GeolocalizeRequest, ImageKind};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use geojson::{Feature, GeometryValue};
use samples::geotiff;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::{HasWorkflowDefinition, WorkflowDefinition};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkerOptions, WorkflowContext, WorkflowResult};
use testkit::{TestStack, replay, unique_id};
use utm_reference::{assert_close, utm_to_lonlat, utm_zone};

contracts::workflow_contract!(
    /// Test-only: calls the `DetectImageKind` activity, which the orchestrator normally calls.
    DetectKindProbe = "GeolocalizationTestDetectKindProbe", ObjectRef => ImageKind
);

#[workflow]
#[derive(Default)]
pub struct DetectKindProbeWorkflow;

#[workflow_methods]
impl DetectKindProbeWorkflow {
    #[run(name = DetectKindProbe::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, image: ObjectRef) -> WorkflowResult<ImageKind> {
        let options = fleet::failure::activity_options(&ActivitySettings::default(), ctx.task_queue().to_owned());
        Ok(ctx.execute_activity(DetectImageKind, image, options).await?)
    }
}

/// The real worker registration plus the probe workflow.
fn register_with_probe(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    geolocalization::register(options, services)?;
    options.register_workflow::<DetectKindProbeWorkflow>()?;
    Ok(())
}

async fn put(stack: &TestStack, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes, content_type).await?;
    Ok(object)
}

fn request(image: &ObjectRef, name: &str) -> anyhow::Result<GeolocalizeRequest> {
    Ok(GeolocalizeRequest {
        image: image.clone(),
        geojson: ObjectRef::new(buckets::OUTPUTS, format!("geolocalization-test/{name}.geojson"))?,
        activity: ActivitySettings::default(),
    })
}

/// Runs `workflow` on the geolocalization queue: `Ok(Err(text))` when the workflow itself failed
/// (`text` is the whole failure chain), `Err` for anything else (server unreachable, ...), so a
/// broken stack never passes for an expected failure. With a `fixture` name, the run is
/// recorded as that replay fixture when `RECORD_HISTORIES` asks (see `testkit::replay`).
async fn run<W>(stack: &TestStack, workflow: W, input: W::Input, id_prefix: &str, fixture: Option<&str>) -> anyhow::Result<Result<W::Output, String>>
where
    W: HasWorkflowDefinition + WorkflowDefinition,
    W::Input: Send,
{
    let handle = stack
        .client
        .start_workflow(workflow, input, WorkflowStartOptions::new(stack.queue(Queue::Geolocalization), unique_id(id_prefix)).build())
        .await?;
    let result = handle.get_result(WorkflowGetResultOptions::default()).await;
    if let Some(fixture) = fixture {
        replay::record(&stack.client, &handle.info().workflow_id, handle.run_id(), &replay::histories_dir("geolocalization").join(fixture)).await?;
    }
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(failed @ WorkflowGetResultError::Failed(_)) => Ok(Err(format!("{failed:?}"))),
        Err(other) => Err(other.into()),
    }
}

async fn geolocalize(stack: &TestStack, request: GeolocalizeRequest) -> anyhow::Result<Result<Footprint, String>> {
    run(stack, Geolocalize, request, "geolocalize", None).await
}

/// [`geolocalize`], the run being the replay fixture `fixture` of `tests/replay.rs`.
async fn geolocalize_fixture(stack: &TestStack, request: GeolocalizeRequest, fixture: &str) -> anyhow::Result<Result<Footprint, String>> {
    run(stack, Geolocalize, request, "geolocalize", Some(fixture)).await
}

async fn detect(stack: &TestStack, image: &ObjectRef) -> anyhow::Result<Result<ImageKind, String>> {
    run(stack, DetectKindProbe, image.clone(), "detect-kind", None).await
}

/// The exterior ring of the GeoJSON Feature written at `object`.
async fn polygon_ring(stack: &TestStack, object: &ObjectRef) -> anyhow::Result<(Feature, Vec<[f64; 2]>)> {
    let text = String::from_utf8(stack.storage.get(object).await?.to_vec())?;
    let feature: Feature = text.parse()?;
    let geometry = feature.geometry.clone().ok_or_else(|| anyhow::anyhow!("feature without geometry: {text}"))?;
    let GeometryValue::Polygon { coordinates } = geometry.value else {
        anyhow::bail!("not a polygon: {text}");
    };
    let ring = coordinates[0].iter().map(|p| [p.as_slice()[0], p.as_slice()[1]]).collect();
    Ok((feature, ring))
}

#[tokio::test(flavor = "multi_thread")]
async fn utm_and_wgs84_footprints_match_independent_coordinates() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, geolocalization::register)?;

    // UTM zone 33N, 10 m pixels, 1200 x 900: a 12 km x 9 km scene over central Europe.
    let (width, height, epsg, e0, n0, pixel) = (1200u32, 900u32, geotiff::UTM_33N, 420_000.0, 5_320_000.0, 10.0);
    let image = put(&stack, "satellite/utm-scene.tif", geotiff::geotiff_utm(width, height, epsg, e0, n0, pixel), "image/tiff").await?;
    let footprint = geolocalize_fixture(&stack, request(&image, "utm-scene")?, "geolocalize-utm.json").await?.map_err(anyhow::Error::msg)?;

    let (zone, north) = utm_zone(u32::from(epsg));
    let (e1, n1) = (e0 + f64::from(width) * pixel, n0 - f64::from(height) * pixel);
    let expected = [(e0, n0), (e1, n0), (e1, n1), (e0, n1)].map(|(e, n)| utm_to_lonlat(zone, north, e, n));
    for (i, name) in ["upper-left", "upper-right", "lower-right", "lower-left"].iter().enumerate() {
        assert_close(footprint.corners[i], expected[i], 1e-7, name);
    }
    assert_close(footprint.center, utm_to_lonlat(zone, north, (e0 + e1) / 2.0, (n0 + n1) / 2.0), 1e-7, "centre");
    assert_eq!(footprint.source_epsg, 32633);
    assert_eq!(footprint.gsd_m, [10.0, 10.0]);

    // The GeoJSON in S3: a closed ring through the same four corners, counter-clockwise
    // (RFC 7946): UL, LL, LR, UR, UL for a north-up image.
    let (feature, ring) = polygon_ring(&stack, &footprint.geojson).await?;
    assert_eq!(footprint.geojson.key(), "geolocalization-test/utm-scene.geojson");
    assert_eq!(ring.len(), 5);
    assert_eq!(ring[0], ring[4], "ring must be closed");
    for (point, corner) in ring.iter().zip([0, 3, 2, 1, 0]) {
        assert_close(*point, expected[corner], 1e-7, "GeoJSON ring");
    }
    assert_eq!(feature.property("source_epsg").and_then(|v| v.as_u64()), Some(32633));
    assert_eq!(feature.property("image").and_then(|v| v.as_str()), Some("s3://fleet-inputs/satellite/utm-scene.tif"));
    assert_eq!(feature.property("width").and_then(|v| v.as_u64()), Some(u64::from(width)));
    assert_eq!(feature.property("height").and_then(|v| v.as_u64()), Some(u64::from(height)));

    // EPSG:4326: corners are exact sums of the origin and whole pixels.
    let image = put(&stack, "satellite/wgs84-scene.tif", geotiff::geotiff_wgs84(400, 200, 12.5, 41.75, 0.0025), "image/tiff").await?;
    let footprint = geolocalize(&stack, request(&image, "wgs84-scene")?).await?.map_err(anyhow::Error::msg)?;
    assert_eq!(footprint.corners, [[12.5, 41.75], [13.5, 41.75], [13.5, 41.25], [12.5, 41.25]]);
    assert_eq!(footprint.center, [13.0, 41.5]);
    assert_eq!(footprint.source_epsg, 4326);
    // 0.0025° at 41.5°N: about 209 m east-west, 278 m north-south.
    assert!((footprint.gsd_m[0] - 208.8).abs() < 0.5 && (footprint.gsd_m[1] - 277.6).abs() < 0.5, "{:?}", footprint.gsd_m);

    // A JPEG placed by a world-file sidecar (no .prj: EPSG:4326).
    let jpeg = samples::navad::sharp_jpeg(320, 240)?;
    let image = put(&stack, "satellite/ortho.jpg", jpeg, "image/jpeg").await?;
    put(&stack, "satellite/ortho.jgw", geotiff::world_file(-3.5, 40.5, 0.001).into_bytes(), "text/plain").await?;
    let footprint = geolocalize(&stack, request(&image, "ortho")?).await?.map_err(anyhow::Error::msg)?;
    assert_close(footprint.corners[0], [-3.5, 40.5], 1e-12, "world-file upper-left");
    assert_close(footprint.corners[2], [-3.18, 40.26], 1e-12, "world-file lower-right");
    assert_eq!(footprint.source_epsg, 4326);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_unknown_georeferencing_fails_without_retrying_and_names_the_object() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, geolocalization::register)?;

    let plain = put(&stack, "satellite/no-georef.tif", geotiff::plain_tiff(64, 64), "image/tiff").await?;
    let text = geolocalize_fixture(&stack, request(&plain, "no-georef")?, "geolocalize-no-georeference.json")
        .await?
        .expect_err("a plain TIFF has no footprint");
    assert!(text.contains("s3://fleet-inputs/satellite/no-georef.tif"), "{text}");
    assert!(text.contains("no georeferencing"), "{text}");
    assert!(text.contains("satellite/no-georef.tfw"), "the sidecars looked for are named: {text}");
    assert!(text.contains("InvalidInput") && text.contains("NonRetryableFailure"), "{text}");

    let unknown = put(&stack, "satellite/unknown-crs.tif", geotiff::geotiff_unknown_epsg(64, 64), "image/tiff").await?;
    let text = geolocalize(&stack, request(&unknown, "unknown-crs")?).await?.expect_err("an unknown CRS has no footprint");
    assert!(text.contains("s3://fleet-inputs/satellite/unknown-crs.tif"), "{text}");
    assert!(text.contains(&format!("EPSG:{} is not a known coordinate reference system", geotiff::UNKNOWN_EPSG)), "{text}");
    assert!(text.contains("InvalidInput") && text.contains("NonRetryableFailure"), "{text}");

    // Nothing was written for either.
    for name in ["no-georef", "unknown-crs"] {
        let geojson = ObjectRef::new(buckets::OUTPUTS, format!("geolocalization-test/{name}.geojson"))?;
        assert_eq!(stack.storage.size(&geojson).await?, None, "{geojson} must not exist");
    }

    let missing = ObjectRef::new(buckets::INPUTS, "satellite/does-not-exist.tif")?;
    let text = geolocalize(&stack, request(&missing, "missing")?).await?.expect_err("a missing object has no footprint");
    assert!(text.contains("satellite/does-not-exist.tif") && text.contains("NotFound"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn detect_image_kind_tells_satellite_from_navad() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, register_with_probe)?;

    let geotiff = put(&stack, "detect/scene.tif", geotiff::geotiff_utm(32, 32, geotiff::UTM_33N, 500_000.0, 5_000_000.0, 30.0), "image/tiff").await?;
    assert_eq!(detect(&stack, &geotiff).await?.map_err(anyhow::Error::msg)?, ImageKind::Satellite);

    let jpeg = put(&stack, "detect/flight.jpg", samples::navad::sharp_jpeg(64, 48)?, "image/jpeg").await?;
    assert_eq!(detect(&stack, &jpeg).await?.map_err(anyhow::Error::msg)?, ImageKind::Navad);

    let plain = put(&stack, "detect/plain.tif", geotiff::plain_tiff(16, 16), "image/tiff").await?;
    assert_eq!(detect(&stack, &plain).await?.map_err(anyhow::Error::msg)?, ImageKind::Navad);

    // The same kind of JPEG with a world file beside it is a satellite image.
    let placed = put(&stack, "detect/placed.jpg", samples::navad::sharp_jpeg(64, 48)?, "image/jpeg").await?;
    put(&stack, "detect/placed.jgw", geotiff::world_file(10.0, 50.0, 0.001).into_bytes(), "text/plain").await?;
    assert_eq!(detect(&stack, &placed).await?.map_err(anyhow::Error::msg)?, ImageKind::Satellite);

    let missing = ObjectRef::new(buckets::INPUTS, "detect/missing.tif")?;
    let text = detect(&stack, &missing).await?.expect_err("a missing object has no kind");
    assert!(text.contains("s3://fleet-inputs/detect/missing.tif") && text.contains("NotFound"), "{text}");
    assert!(text.contains("NonRetryableFailure"), "{text}");
    Ok(())
}
