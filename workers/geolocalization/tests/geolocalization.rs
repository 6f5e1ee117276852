//! The satellite path end to end: a real Temporal dev server, a real S3 endpoint, an in-process
//! geolocalization worker, and rasters made at test time by GDAL's command-line tools in many
//! CRSs, formats and layouts. Every footprint is compared with what `gdalinfo -json` answers
//! for the same file (`tests/support/gdal_reference.rs`); the GeoJSON and the STAC Items are
//! checked by third-party validators (`tests/support/validate.py`: geojson-validator, the STAC
//! JSON Schemas vendored in `tests/stac-schemas/`) and by explicit RFC 7946 assertions.

#[path = "support/gdal_reference.rs"]
mod gdal_reference;

use anyhow::Context as _;
use contracts::automation::{DetectImageKind, Footprint, Geolocalize, GeolocalizeRequest, ImageKind};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use gdal_reference::{Reference, difference, gdal, reference};
use samples::geotiff;
use serde_json::Value;
use std::path::Path;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::{HasWorkflowDefinition, WorkflowDefinition};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkerOptions, WorkflowContext, WorkflowResult};
use testkit::proxy::CountingProxy;
use testkit::{TestStack, replay, unique_id};

/// The agreement with gdalinfo the issue asks for, degrees (gdalinfo prints 7 decimals).
const TOLERANCE_DEG: f64 = 1e-7;

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

async fn json_object(stack: &TestStack, object: &ObjectRef) -> anyhow::Result<Value> {
    Ok(serde_json::from_slice(&stack.storage.get(object).await?)?)
}

/// One raster of the comparison: the file GDAL made, and the sidecars uploaded with it.
struct Case {
    name: &'static str,
    file: String,
    sidecars: Vec<String>,
    /// Files that only the reference may see (the `.aux.xml` GDAL writes beside a PNG or JPEG
    /// carries the CRS; the worker must find it in the `.prj` instead).
    reference_only: Vec<String>,
}

impl Case {
    fn new(name: &'static str, file: &str) -> Self {
        Self { name, file: file.to_owned(), sidecars: Vec::new(), reference_only: Vec::new() }
    }
}

/// `gdal_create` of a `width` x `height` raster in `epsg` with corners `ullr`.
fn create(dir: &Path, file: &str, epsg: u32, (width, height): (u32, u32), bands: u32, ullr: [f64; 4], options: &[&str]) -> anyhow::Result<()> {
    let (srs, w, h, b) = (format!("EPSG:{epsg}"), width.to_string(), height.to_string(), bands.to_string());
    let ullr: Vec<String> = ullr.iter().map(|v| format!("{v}")).collect();
    let mut args = vec!["-q", "-of", "GTiff", "-outsize", &w, &h, "-bands", &b, "-burn", "90", "-a_srs", &srs, "-a_ullr"];
    args.extend(ullr.iter().map(String::as_str));
    args.extend_from_slice(options);
    args.push(file);
    gdal(dir, "gdal_create", &args)?;
    Ok(())
}

fn translate(dir: &Path, from: &str, to: &str, options: &[&str]) -> anyhow::Result<()> {
    let mut args = vec!["-q"];
    args.extend_from_slice(options);
    args.extend([from, to]);
    gdal(dir, "gdal_translate", &args)?;
    Ok(())
}

/// A `.prj` in the ESRI form ArcGIS writes, from `gdalsrsinfo`.
fn esri_prj(dir: &Path, file: &str, epsg: u32) -> anyhow::Result<()> {
    let wkt = gdal(dir, "gdalsrsinfo", &["-o", "wkt_esri", &format!("EPSG:{epsg}")])?;
    std::fs::write(dir.join(file), wkt.trim())?;
    Ok(())
}

/// Makes every raster of the comparison in `dir`.
fn make_cases(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    // WGS 84 / UTM north and south, GeoTIFF: plain, YCbCr JPEG (what GDAL writes for RGB JPEG
    // GeoTIFFs), and a JPEG COG.
    create(dir, "utm33n.tif", 32633, (1200, 900), 1, [420_000.0, 5_320_000.0, 432_000.0, 5_311_000.0], &[])?;
    cases.push(Case::new("WGS 84 / UTM 33N GeoTIFF", "utm33n.tif"));
    let ycbcr = ["-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "TILED=YES"];
    create(dir, "utm18s-ycbcr.tif", 32718, (1000, 1000), 3, [300_000.0, 8_700_000.0, 310_000.0, 8_690_000.0], &ycbcr)?;
    cases.push(Case::new("WGS 84 / UTM 18S, YCbCr JPEG GeoTIFF", "utm18s-ycbcr.tif"));
    create(dir, "cog-source.tif", 32632, (1024, 768), 3, [600_000.0, 5_200_000.0, 610_240.0, 5_192_320.0], &[])?;
    translate(dir, "cog-source.tif", "utm32n-cog.tif", &["-of", "COG", "-co", "COMPRESS=JPEG"])?;
    cases.push(Case::new("WGS 84 / UTM 32N, JPEG COG", "utm32n-cog.tif"));
    // Geographic: WGS 84 (LZW) and NAD83.
    create(dir, "wgs84.tif", 4326, (400, 200), 1, [12.5, 41.75, 13.5, 41.25], &["-co", "COMPRESS=LZW"])?;
    cases.push(Case::new("WGS 84 geographic, LZW", "wgs84.tif"));
    create(dir, "nad83-geographic.tif", 4269, (200, 100), 1, [-100.0, 40.0, -99.8, 39.9], &[])?;
    cases.push(Case::new("NAD83 geographic", "nad83-geographic.tif"));
    // Datum shifts: NAD27, NAD83, ETRS89, OSGB36.
    create(dir, "nad27-utm11.tif", 26711, (1000, 1000), 1, [500_000.0, 4_200_000.0, 510_000.0, 4_190_000.0], &[])?;
    cases.push(Case::new("NAD27 / UTM 11N", "nad27-utm11.tif"));
    create(dir, "nad27-utm17.tif", 26717, (1000, 1000), 1, [600_000.0, 4_500_000.0, 610_000.0, 4_490_000.0], &[])?;
    cases.push(Case::new("NAD27 / UTM 17N", "nad27-utm17.tif"));
    create(dir, "nad83-utm17.tif", 26917, (1000, 1000), 1, [600_000.0, 4_500_000.0, 610_000.0, 4_490_000.0], &[])?;
    cases.push(Case::new("NAD83 / UTM 17N", "nad83-utm17.tif"));
    create(dir, "etrs89-laea.tif", 3035, (1000, 800), 1, [4_321_000.0, 3_210_000.0, 4_331_000.0, 3_202_000.0], &[])?;
    cases.push(Case::new("ETRS89 / LAEA Europe", "etrs89-laea.tif"));
    create(dir, "osgb36.tif", 27700, (1000, 1000), 1, [530_000.0, 180_000.0, 540_000.0, 170_000.0], &[])?;
    cases.push(Case::new("OSGB36 / British National Grid", "osgb36.tif"));
    create(dir, "web-mercator.tif", 3857, (512, 512), 1, [1_335_833.0, 6_106_854.0, 1_345_833.0, 6_096_854.0], &[])?;
    cases.push(Case::new("WGS 84 / Pseudo-Mercator", "web-mercator.tif"));
    // Layouts: south-up, PixelIsPoint, rotated (ModelTransformation).
    create(dir, "south-up.tif", 32633, (600, 400), 1, [420_000.0, 5_311_000.0, 432_000.0, 5_319_000.0], &[])?;
    cases.push(Case::new("south-up GeoTIFF", "south-up.tif"));
    translate(dir, "utm33n.tif", "pixel-is-point.tif", &["-mo", "AREA_OR_POINT=Point"])?;
    cases.push(Case::new("PixelIsPoint GeoTIFF", "pixel-is-point.tif"));
    translate(dir, "utm33n.tif", "rotated.vrt", &["-of", "VRT"])?;
    let vrt = std::fs::read_to_string(dir.join("rotated.vrt"))?;
    let (start, end) = (vrt.find("<GeoTransform>").context("GeoTransform")?, vrt.find("</GeoTransform>").context("GeoTransform")?);
    let (sin, cos) = 20f64.to_radians().sin_cos();
    let rotated = format!("<GeoTransform>420000, {}, {}, 5320000, {}, {}", 10.0 * cos, 10.0 * sin, 10.0 * sin, -10.0 * cos);
    std::fs::write(dir.join("rotated.vrt"), format!("{}{}{}", &vrt[..start], rotated, &vrt[end..]))?;
    translate(dir, "rotated.vrt", "rotated.tif", &[])?;
    cases.push(Case::new("rotated GeoTIFF (ModelTransformation)", "rotated.tif"));
    // JPEG 2000 as Sentinel-2 delivers it: a 109.8 km tile in UTM 33N (GMLJP2 and GeoJP2 boxes).
    create(dir, "s2-source.tif", 32633, (1098, 1098), 1, [300_000.0, 5_000_040.0, 409_800.0, 4_890_240.0], &[])?;
    translate(dir, "s2-source.tif", "T33TWN_B02.jp2", &["-of", "JP2OpenJPEG", "-co", "QUALITY=50"])?;
    cases.push(Case::new("Sentinel-2-like JPEG 2000, UTM 33N", "T33TWN_B02.jp2"));
    // World files with an ESRI .prj: a PNG in UTM 33N, a JPEG in OSGB36.
    create(dir, "png-source.tif", 32633, (640, 480), 1, [500_000.0, 6_000_000.0, 506_400.0, 5_995_200.0], &[])?;
    translate(dir, "png-source.tif", "ortho.png", &["-of", "PNG", "-co", "WORLDFILE=YES"])?;
    esri_prj(dir, "ortho.prj", 32633)?;
    cases.push(Case {
        sidecars: vec!["ortho.wld".into(), "ortho.prj".into()],
        reference_only: vec!["ortho.png.aux.xml".into()],
        ..Case::new("PNG + world file + .prj (UTM 33N)", "ortho.png")
    });
    create(dir, "jpeg-source.tif", 27700, (640, 480), 3, [400_000.0, 300_000.0, 403_200.0, 297_600.0], &[])?;
    translate(dir, "jpeg-source.tif", "aerial.jpg", &["-of", "JPEG", "-co", "WORLDFILE=YES"])?;
    esri_prj(dir, "aerial.prj", 27700)?;
    cases.push(Case {
        sidecars: vec!["aerial.wld".into(), "aerial.prj".into()],
        reference_only: vec!["aerial.jpg.aux.xml".into()],
        ..Case::new("JPEG + world file + .prj (OSGB36)", "aerial.jpg")
    });
    // A baseline TIFF placed by a .tfw alone: WGS 84 assumed, the answer is the geotransform.
    create(dir, "tfw-source.tif", 4326, (300, 200), 1, [-3.5, 40.5, -3.2, 40.3], &[])?;
    translate(dir, "tfw-source.tif", "scan.tif", &["-co", "PROFILE=BASELINE", "-co", "TFW=YES"])?;
    let _ = std::fs::remove_file(dir.join("scan.tif.aux.xml"));
    cases.push(Case { sidecars: vec!["scan.tfw".into()], ..Case::new("baseline TIFF + .tfw, no CRS", "scan.tif") });
    // Across the antimeridian: UTM 60N, 200 km wide from 179.9°E to 177°W.
    create(dir, "antimeridian.tif", 32660, (2000, 2000), 1, [700_000.0, 5_800_000.0, 900_000.0, 5_600_000.0], &[])?;
    cases.push(Case::new("UTM 60N across the antimeridian", "antimeridian.tif"));
    Ok(cases)
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or_default() {
        "tif" => "image/tiff",
        "jp2" => "image/jp2",
        "png" => "image/png",
        "jpg" => "image/jpeg",
        _ => "text/plain",
    }
}

/// Every longitude/latitude pair of a GeoJSON geometry, ring by ring.
fn rings(geometry: &Value) -> anyhow::Result<Vec<Vec<[f64; 2]>>> {
    let polygons: Vec<&Value> = match geometry["type"].as_str() {
        Some("Polygon") => vec![&geometry["coordinates"]],
        Some("MultiPolygon") => geometry["coordinates"].as_array().context("coordinates")?.iter().collect(),
        other => anyhow::bail!("unexpected geometry type {other:?}"),
    };
    let mut out = Vec::new();
    for polygon in polygons {
        for ring in polygon.as_array().context("polygon")? {
            let points = ring.as_array().context("ring")?.iter().map(|p| Ok([p[0].as_f64().context("lon")?, p[1].as_f64().context("lat")?]));
            out.push(points.collect::<anyhow::Result<Vec<_>>>()?);
        }
    }
    Ok(out)
}

/// RFC 7946's rules for a footprint, asserted directly: longitudes in [-180, 180], closed
/// counter-clockwise rings with no edge jumping across the globe, a `bbox` whose west exceeds
/// its east exactly when the geometry is cut at the antimeridian.
fn assert_rfc7946(name: &str, geometry: &Value, bbox: &Value) -> anyhow::Result<bool> {
    let rings = rings(geometry)?;
    for ring in &rings {
        assert!(ring.len() >= 4 && ring.first() == ring.last(), "{name}: ring not closed: {ring:?}");
        for p in ring {
            assert!((-180.0..=180.0).contains(&p[0]) && (-90.0..=90.0).contains(&p[1]), "{name}: {p:?} outside lon/lat ranges");
        }
        let twice_area: f64 = ring.windows(2).map(|e| e[0][0] * e[1][1] - e[1][0] * e[0][1]).sum();
        assert!(twice_area > 0.0, "{name}: exterior ring not counter-clockwise: {ring:?}");
        for edge in ring.windows(2) {
            assert!((edge[1][0] - edge[0][0]).abs() <= 180.0, "{name}: edge {edge:?} jumps across the globe");
        }
    }
    let bbox: Vec<f64> = bbox.as_array().context("bbox")?.iter().filter_map(Value::as_f64).collect();
    assert_eq!(bbox.len(), 4, "{name}: bbox {bbox:?}");
    let cut = geometry["type"] == "MultiPolygon";
    assert_eq!(bbox[0] > bbox[2], cut, "{name}: bbox {bbox:?} for a {} geometry", geometry["type"]);
    let all: Vec<[f64; 2]> = rings.iter().flatten().copied().collect();
    let south = all.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
    let north = all.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!((bbox[1], bbox[3]), (south, north), "{name}: bbox latitudes");
    Ok(cut)
}

/// Runs `tests/support/validate.py` with `args`, failing with its report.
fn validate(args: &[&str]) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/validate.py");
    let output = std::process::Command::new("python3").arg(&script).args(args).output().context("running python3")?;
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    anyhow::ensure!(
        output.status.success(),
        "{} {}: {report}\n(the validators are pinned in tests/requirements.txt; scripts/test.sh installs them)",
        script.display(),
        args.first().unwrap_or(&"")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn footprints_equal_gdalinfo_across_crss_formats_and_layouts() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, geolocalization::register)?;
    let (_keep, dir) = gdal_reference::scratch()?;
    let cases = make_cases(&dir)?;
    let outputs = dir.join("outputs");
    std::fs::create_dir_all(&outputs)?;

    let (mut worst, mut worst_at) = (0.0f64, String::new());
    let (mut geojson_files, mut item_files) = (Vec::new(), Vec::new());
    let mut cut_at_antimeridian = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let Reference { corners, center, size, geo_transform: gt, epsg } = reference(&dir, &case.file)?;
        for file in &case.reference_only {
            std::fs::remove_file(dir.join(file)).with_context(|| format!("{}: {file}", case.name))?;
        }
        let mut image = None;
        for file in std::iter::once(&case.file).chain(&case.sidecars) {
            let object = put(&stack, &format!("gdal/{file}"), std::fs::read(dir.join(file))?, content_type(file)).await?;
            image.get_or_insert(object);
        }
        let image = image.context("no image")?;
        let name = format!("case-{index}");
        let footprint = if case.file == "utm33n.tif" {
            geolocalize_fixture(&stack, request(&image, &name)?, "geolocalize-utm.json").await?
        } else {
            geolocalize(&stack, request(&image, &name)?).await?
        }
        .map_err(|e| anyhow::anyhow!("{}: {e}", case.name))?;

        // No CRS anywhere (the .tfw case): gdalinfo gives no WGS 84 extent, and the answer is
        // its geotransform applied to the corners, longitude/latitude as they are.
        let model = |col: f64, row: f64| [gt[0] + gt[1] * col + gt[2] * row, gt[3] + gt[4] * col + gt[5] * row];
        let (w, h) = (size[0] as f64, size[1] as f64);
        let expected_corners = corners.unwrap_or_else(|| [model(0.0, 0.0), model(w, 0.0), model(w, h), model(0.0, h)]);
        let expected_center = center.unwrap_or_else(|| model(w / 2.0, h / 2.0));
        eprintln!("{}: EPSG {} ({:?} in gdalinfo)", case.name, footprint.source_epsg, epsg);
        let points = footprint.corners.iter().zip(expected_corners).zip(["upper-left", "upper-right", "lower-right", "lower-left"]);
        for ((actual, expected), point) in points.chain(std::iter::once(((&footprint.center, expected_center), "centre"))) {
            let d = difference(*actual, expected);
            assert!(d <= TOLERANCE_DEG, "{}: {point} {actual:?}, gdalinfo {expected:?} ({d:e} degrees apart)", case.name);
            if d > worst {
                (worst, worst_at) = (d, format!("{} {point}", case.name));
            }
        }
        if let Some(code) = epsg
            && footprint.source_epsg != 0
        {
            assert_eq!(u64::from(footprint.source_epsg), code, "{}: EPSG code", case.name);
        }

        // The GeoJSON and the STAC Item beside it.
        let feature = json_object(&stack, &footprint.geojson).await?;
        if assert_rfc7946(case.name, &feature["geometry"], &feature["bbox"])? {
            cut_at_antimeridian.push(case.name);
        }
        let item_object = ObjectRef::new(footprint.geojson.bucket(), documents::stac::item_key(footprint.geojson.key()))?;
        let item = json_object(&stack, &item_object).await?;
        assert_eq!(item["geometry"], feature["geometry"], "{}", case.name);
        assert_eq!(item["bbox"], feature["bbox"], "{}", case.name);
        let p = &item["properties"];
        assert_eq!(p["proj:shape"], serde_json::json!([size[1], size[0]]), "{}: proj:shape is [rows, columns]", case.name);
        // STAC's order (rasterio's Affine): a b c d e f = GDAL's gt1 gt2 gt0 gt4 gt5 gt3.
        let transform: Vec<f64> = p["proj:transform"].as_array().context("proj:transform")?.iter().filter_map(Value::as_f64).collect();
        // gdalinfo prints 16 significant digits.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0);
        let stac_order = [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]];
        assert!(
            transform.len() == 6 && transform.iter().zip(stac_order).all(|(a, b)| close(*a, b)),
            "{}: proj:transform {transform:?}, gdalinfo {stac_order:?}",
            case.name
        );
        match footprint.source_epsg {
            0 => assert!(p["proj:code"].is_null() && p["proj:wkt2"].as_str().is_some_and(|w| !w.is_empty()), "{}: {p}", case.name),
            code => assert_eq!(p["proj:code"], format!("EPSG:{code}"), "{}", case.name),
        }
        assert!(p["datetime"].as_str().is_some(), "{}: datetime {p}", case.name);
        assert_eq!(item["assets"]["image"]["href"], image.to_string(), "{}", case.name);
        assert_eq!(item["assets"]["footprint"]["href"], footprint.geojson.to_string(), "{}", case.name);
        for (folder, document, list) in [("geojson", &feature, &mut geojson_files), ("stac", &item, &mut item_files)] {
            let path = outputs.join(format!("{name}.{folder}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(document)?)?;
            list.push(path.display().to_string());
        }
    }
    assert_eq!(cut_at_antimeridian, ["UTM 60N across the antimeridian"], "only the antimeridian raster is cut");

    let mut args = vec!["geojson"];
    args.extend(geojson_files.iter().map(String::as_str));
    validate(&args)?;
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stac-schemas").display().to_string();
    let mut args = vec!["stac", schemas.as_str()];
    args.extend(item_files.iter().map(String::as_str));
    validate(&args)?;
    eprintln!("{} rasters: worst difference from gdalinfo {worst:.1e} degrees ({worst_at})", cases.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_time_goes_into_the_stac_item() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, geolocalization::register)?;
    let (_keep, dir) = gdal_reference::scratch()?;
    create(&dir, "dated.tif", 32633, (64, 64), 1, [420_000.0, 5_320_000.0, 420_640.0, 5_319_360.0], &[])?;
    translate(&dir, "dated.tif", "dated-tagged.tif", &["-mo", "TIFFTAG_DATETIME=2024:06:01 10:20:30"])?;
    let reported = gdal_reference::gdalinfo(&dir, "dated-tagged.tif")?["metadata"][""]["TIFFTAG_DATETIME"].clone();
    let image = put(&stack, "gdal/dated.tif", std::fs::read(dir.join("dated-tagged.tif"))?, "image/tiff").await?;
    let footprint = geolocalize(&stack, request(&image, "dated")?).await?.map_err(anyhow::Error::msg)?;
    let item = json_object(&stack, &ObjectRef::new(buckets::OUTPUTS, documents::stac::item_key(footprint.geojson.key()))?).await?;
    // gdalinfo's reading of the tag, as RFC 3339.
    let tag = reported.as_str().context("gdalinfo reports TIFFTAG_DATETIME")?;
    let expected = format!("{}-{}-{}T{}Z", &tag[0..4], &tag[5..7], &tag[8..10], &tag[11..19]);
    assert_eq!(item["properties"]["datetime"], expected);
    assert_eq!(item["properties"]["fleet:datetime_source"], "TIFFTAG_DATETIME");

    // Without one: the object's Last-Modified, said so.
    let plain = put(&stack, "gdal/undated.tif", std::fs::read(dir.join("dated.tif"))?, "image/tiff").await?;
    let footprint = geolocalize(&stack, request(&plain, "undated")?).await?.map_err(anyhow::Error::msg)?;
    let item = json_object(&stack, &ObjectRef::new(buckets::OUTPUTS, documents::stac::item_key(footprint.geojson.key()))?).await?;
    assert_eq!(item["properties"]["fleet:datetime_source"], "object_last_modified");
    assert!(item["properties"]["datetime"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", item["properties"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_footprint_reads_only_the_header_and_retries_a_failing_store() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    // The worker reaches S3 through a proxy that counts every byte and can fail requests.
    let proxy = CountingProxy::start(([127, 0, 0, 1], stack.s3.port()).into()).await?;
    let mut vars = stack.vars.clone();
    vars.insert("S3_ENDPOINT".into(), proxy.endpoint());
    let config = fleet::FleetConfig::from_env(&fleet::config::Env::from_map(vars))?;
    let _worker = fleet::start_worker(config, Queue::Geolocalization, geolocalization::register)?;

    // A 48 MB uncompressed COG (with its overviews).
    let (_keep, dir) = gdal_reference::scratch()?;
    create(&dir, "large-source.tif", 32633, (8000, 6000), 1, [300_000.0, 5_100_000.0, 380_000.0, 5_040_000.0], &[])?;
    translate(&dir, "large-source.tif", "large-cog.tif", &["-of", "COG", "-co", "COMPRESS=NONE", "-co", "BLOCKSIZE=512"])?;
    let bytes = std::fs::read(dir.join("large-cog.tif"))?;
    let file_size = bytes.len() as u64;
    let image = put(&stack, "gdal/large-cog.tif", bytes, "image/tiff").await?;
    let expected = reference(&dir, "large-cog.tif")?.corners.context("reference corners")?;

    let before = proxy.traffic();
    let footprint = geolocalize(&stack, request(&image, "large-cog")?).await?.map_err(anyhow::Error::msg)?;
    let read = proxy.traffic().response_bytes - before.response_bytes;
    let requests = proxy.traffic().requests - before.requests;
    eprintln!("footprint of a {file_size}-byte COG: {read} bytes read in {requests} requests");
    assert!(read <= 1024 * 1024, "{read} bytes read for the footprint of a {file_size}-byte COG");
    assert!(file_size > 40 * 1024 * 1024, "the COG is large ({file_size} bytes)");
    for (actual, expected) in footprint.corners.iter().zip(expected) {
        assert!(difference(*actual, expected) <= TOLERANCE_DEG, "{actual:?} vs gdalinfo {expected:?}");
    }

    // Range requests (GDAL's) answered 503 five times: more than GDAL's own two retries, so the
    // activity fails as transient and Temporal runs it again, which then succeeds.
    proxy.fail_next(5, 503, |head| head.header("range").is_some());
    let footprint = geolocalize(&stack, request(&image, "large-cog-retried")?).await?.map_err(anyhow::Error::msg)?;
    assert_eq!(proxy.traffic().rejected, 5, "every injected failure was met");
    for (actual, expected) in footprint.corners.iter().zip(expected) {
        assert!(difference(*actual, expected) <= TOLERANCE_DEG, "{actual:?} vs gdalinfo {expected:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_unusable_georeferencing_fails_without_retrying_and_names_the_object() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Geolocalization, geolocalization::register)?;

    let plain = put(&stack, "satellite/no-georef.tif", geotiff::plain_tiff(64, 64), "image/tiff").await?;
    let text = geolocalize_fixture(&stack, request(&plain, "no-georef")?, "geolocalize-no-georeference.json")
        .await?
        .expect_err("a plain TIFF has no footprint");
    assert!(text.contains("s3://fleet-inputs/satellite/no-georef.tif"), "{text}");
    assert!(text.contains("no georeferencing"), "{text}");
    assert!(text.contains("no-georef.tfw"), "the sidecars looked for are named: {text}");
    assert!(text.contains("InvalidInput") && text.contains("NonRetryableFailure"), "{text}");

    // GeoTIFF keys naming an EPSG code no registry knows: no CRS, and projected coordinates.
    let unknown = put(&stack, "satellite/unknown-crs.tif", geotiff::geotiff_unknown_epsg(64, 64), "image/tiff").await?;
    let text = geolocalize(&stack, request(&unknown, "unknown-crs")?).await?.expect_err("an unknown CRS has no footprint");
    assert!(text.contains("s3://fleet-inputs/satellite/unknown-crs.tif"), "{text}");
    assert!(text.contains("has no ellipsoid"), "{text}");
    eprintln!("unknown EPSG code: {text}");
    assert!(text.contains("InvalidInput") && text.contains("NonRetryableFailure"), "{text}");

    // Not an image GDAL reads at all.
    let text_file = put(&stack, "satellite/notes.tif", b"not a raster".to_vec(), "image/tiff").await?;
    let text = geolocalize(&stack, request(&text_file, "notes")?).await?.expect_err("text has no footprint");
    assert!(text.contains("s3://fleet-inputs/satellite/notes.tif") && text.contains("InvalidInput"), "{text}");

    // Nothing was written for any of them.
    for name in ["no-georef", "unknown-crs", "notes"] {
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
