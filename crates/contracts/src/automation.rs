//! The image automation pipeline: navad flight images go through ingestion (validation) and
//! accuracy analysis (tiles fanned out to processors); satellite images go through
//! geolocalization (georeferencing -> footprint).
//!
//! Workflows, by queue:
//! - orchestrator: [`AutomationPipeline`] (the batch, a sliding window of children,
//!   continue-as-new) and [`ImagePipeline`] (one image, one path);
//! - ingestion: [`IngestImage`] (validation + metadata JSON) and the [`ValidateImage`] activity;
//! - accuracy-dispatcher: [`AnalyzeAccuracy`] ([`SplitTiles`], fan-out of
//!   [`ComputeTileMetrics`] on the accuracy-processor queue, [`WriteAccuracyReport`]);
//! - geolocalization: [`Geolocalize`] ([`ComputeFootprint`]) and the [`DetectImageKind`]
//!   activity the orchestrator calls when a request leaves the kind open.
//!
//! Only object keys travel between steps, never pixels.

use crate::ObjectRef;
use crate::object::PrefixRef;
use crate::settings::ActivitySettings;
use crate::submitted::{InputError, check_prefix, check_range};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The two kinds of aerial image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    /// A navad flight image: ingestion, then accuracy analysis.
    Navad,
    /// A satellite image (GeoTIFF or world file): geolocalization.
    Satellite,
}

impl ImageKind {
    /// `navad` / `satellite`, also the `ImageType` search-attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Navad => "navad",
            ImageKind::Satellite => "satellite",
        }
    }
}

impl std::str::FromStr for ImageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "navad" => Ok(ImageKind::Navad),
            "satellite" => Ok(ImageKind::Satellite),
            other => Err(format!("{other:?} is not an image kind (navad or satellite)")),
        }
    }
}

/// One image of a batch, its kind given or left to detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageInput {
    /// The image object.
    pub object: ObjectRef,
    /// `None`: detected (GeoTIFF georeferencing present means satellite).
    pub kind: Option<ImageKind>,
}

/// Where a batch's images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchSource {
    /// An explicit list.
    Objects(Vec<ImageInput>),
    /// Every object under a prefix (listed page by page, as the batch advances), one kind for
    /// all or detected per image.
    Prefix {
        /// Bucket and prefix.
        location: PrefixRef,
        /// Kind of every image, or `None` to detect.
        kind: Option<ImageKind>,
    },
}

/// Size limits checked from an image's header before any pixel is decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ImageLimits {
    /// Largest accepted width in pixels.
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest accepted width x height (decompression bombs).
    pub max_pixels: u64,
    /// Largest accepted file size in bytes.
    pub max_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_width: 30_000, max_height: 30_000, max_pixels: 250_000_000, max_bytes: 512 * 1024 * 1024 }
    }
}

/// Pass/fail thresholds of the accuracy report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AccuracyThresholds {
    /// A tile whose Laplacian variance is below this is flagged blurred.
    pub min_laplacian_variance: f64,
    /// Largest share of blurred tiles for the image to pass (0..1).
    pub max_blurred_tile_fraction: f64,
    /// Accepted range of the mean luminance (0..255).
    pub min_mean_luminance: f64,
    /// See `min_mean_luminance`.
    pub max_mean_luminance: f64,
    /// Largest share of clipped (0 or 255) pixels, shadows plus highlights (0..1).
    pub max_clipped_fraction: f64,
    /// Smallest overall score (0..100) for the image to pass.
    pub min_overall_score: f64,
}

impl Default for AccuracyThresholds {
    fn default() -> Self {
        Self {
            min_laplacian_variance: 100.0,
            max_blurred_tile_fraction: 0.25,
            min_mean_luminance: 40.0,
            max_mean_luminance: 220.0,
            max_clipped_fraction: 0.05,
            min_overall_score: 60.0,
        }
    }
}

/// Timeouts and retries of every automation activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AutomationActivities {
    /// [`ValidateImage`].
    pub validate: ActivitySettings,
    /// [`DetectImageKind`].
    pub detect_kind: ActivitySettings,
    /// [`SplitTiles`].
    pub split_tiles: ActivitySettings,
    /// [`ComputeTileMetrics`] (heartbeats).
    pub tile_metrics: ActivitySettings,
    /// [`WriteAccuracyReport`].
    pub write_report: ActivitySettings,
    /// [`ComputeFootprint`].
    pub footprint: ActivitySettings,
    /// [`ListBatchPage`](crate::batch::ListBatchPage) and [`WriteBatchSummary`].
    pub batch_io: ActivitySettings,
}

impl Default for AutomationActivities {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            validate: ActivitySettings::with_timeout(2 * minute),
            detect_kind: ActivitySettings::with_timeout(minute),
            split_tiles: ActivitySettings::with_timeout(5 * minute),
            tile_metrics: ActivitySettings::with_timeout(2 * minute).heartbeat(Duration::from_secs(10)),
            write_report: ActivitySettings::with_timeout(minute),
            footprint: ActivitySettings::with_timeout(minute),
            batch_io: ActivitySettings::with_timeout(minute),
        }
    }
}

fn default_pixels_per_task() -> u64 {
    4_000_000
}

/// Everything configurable about a batch; the starter fills it from the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AutomationSettings {
    /// Children running at once.
    pub max_concurrent_images: u32,
    /// Images handled per workflow run before continuing as new (keeps history bounded).
    pub images_per_run: u32,
    /// Tile grid of the accuracy analysis: columns.
    pub tile_columns: u32,
    /// Tile grid of the accuracy analysis: rows.
    pub tile_rows: u32,
    /// Pixels a [`MeasureTiles`] activity gets at least before the grid is split over more
    /// activities (the tiles of a 1 MP image are one task; a 12 MP image spreads over three).
    #[serde(default = "default_pixels_per_task")]
    pub pixels_per_task: u64,
    /// Accuracy pass/fail thresholds.
    pub thresholds: AccuracyThresholds,
    /// Header limits of ingestion.
    pub limits: ImageLimits,
    /// Activity timeouts and retries.
    pub activities: AutomationActivities,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self {
            max_concurrent_images: 8,
            images_per_run: 200,
            tile_columns: 4,
            tile_rows: 4,
            pixels_per_task: default_pixels_per_task(),
            thresholds: AccuracyThresholds::default(),
            limits: ImageLimits::default(),
            activities: AutomationActivities::default(),
        }
    }
}

fn default_output_bucket() -> String {
    crate::buckets::OUTPUTS.to_owned()
}

/// Most images one workflow run handles before continuing as new: keeps a run's history and
/// pending children well inside Temporal's limits.
pub const MAX_IMAGES_PER_RUN: u32 = 1000;
/// Most images in flight at once.
pub const MAX_CONCURRENT_IMAGES: u32 = 500;
/// Most tile columns (and rows) of the accuracy grid.
pub const MAX_TILE_GRID: u32 = 64;

impl crate::submitted::Resolve for AutomationRequest {
    fn check(&self) -> Result<(), InputError> {
        validate_batch_id(&self.batch_id).map_err(|e| InputError::new("batch_id", e))?;
        crate::object::validate_bucket(&self.output_bucket).map_err(|e| InputError::new("output_bucket", e))?;
        if let BatchSource::Prefix { location, .. } = &self.source {
            check_prefix("source.prefix.location", location)?;
        }
        self.settings.check().map_err(|e| e.within("settings"))
    }
}

impl AutomationSettings {
    /// Checks every setting; the error names the field (below `settings`).
    pub fn check(&self) -> Result<(), InputError> {
        check_range("max_concurrent_images", self.max_concurrent_images, 1..=MAX_CONCURRENT_IMAGES)?;
        check_range("images_per_run", self.images_per_run, 1..=MAX_IMAGES_PER_RUN)?;
        check_range("tile_columns", self.tile_columns, 1..=MAX_TILE_GRID)?;
        check_range("tile_rows", self.tile_rows, 1..=MAX_TILE_GRID)?;
        check_range("pixels_per_task", self.pixels_per_task, 1..=u64::MAX)?;
        let t = &self.thresholds;
        for (name, value, max) in [
            ("min_laplacian_variance", t.min_laplacian_variance, f64::MAX),
            ("max_blurred_tile_fraction", t.max_blurred_tile_fraction, 1.0),
            ("min_mean_luminance", t.min_mean_luminance, 255.0),
            ("max_mean_luminance", t.max_mean_luminance, 255.0),
            ("max_clipped_fraction", t.max_clipped_fraction, 1.0),
            ("min_overall_score", t.min_overall_score, 100.0),
        ] {
            check_range(&format!("thresholds.{name}"), value, 0.0..=max)?;
        }
        if t.min_mean_luminance > t.max_mean_luminance {
            return Err(InputError::new(
                "thresholds.min_mean_luminance",
                format!("{} is above max_mean_luminance {}", t.min_mean_luminance, t.max_mean_luminance),
            ));
        }
        let l = &self.limits;
        check_range("limits.max_width", l.max_width, 1..=u32::MAX)?;
        check_range("limits.max_height", l.max_height, 1..=u32::MAX)?;
        check_range("limits.max_pixels", l.max_pixels, 1..=u64::MAX)?;
        check_range("limits.max_bytes", l.max_bytes, 1..=u64::MAX)?;
        let a = &self.activities;
        for (name, settings) in [
            ("validate", &a.validate),
            ("detect_kind", &a.detect_kind),
            ("split_tiles", &a.split_tiles),
            ("tile_metrics", &a.tile_metrics),
            ("write_report", &a.write_report),
            ("footprint", &a.footprint),
            ("batch_io", &a.batch_io),
        ] {
            settings.check(&format!("activities.{name}"))?;
        }
        Ok(())
    }
}

/// Workflow id of the batch `batch_id` (the starter's, so a re-submitted batch is the same
/// workflow and makes no second set of outputs).
pub fn batch_workflow_id(batch_id: &str) -> String {
    format!("automation-{batch_id}")
}

/// Checks a batch id: 1-100 characters of `A-Z a-z 0-9 - _ .`, not starting with `.`. It names
/// child workflow ids and the output folder `automation/{batch_id}/`, so it must be safe in both.
pub fn validate_batch_id(batch_id: &str) -> Result<(), String> {
    let ok = !batch_id.is_empty()
        && batch_id.len() <= 100
        && !batch_id.starts_with('.')
        && batch_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid batch id {batch_id:?}: 1-100 characters of letters, digits, '-', '_' and '.', not starting with '.'"))
    }
}

/// Input of [`AutomationPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutomationRequest {
    /// Names the batch in child workflow ids and output keys (deterministic, so re-submitting a
    /// batch overwrites instead of duplicating).
    pub batch_id: String,
    /// The images.
    pub source: BatchSource,
    /// Bucket for reports, GeoJSON and the batch summary (`fleet-outputs` when absent).
    #[serde(default = "default_output_bucket")]
    pub output_bucket: String,
    /// Settings (each absent one takes the fleet's default).
    #[serde(default)]
    pub settings: AutomationSettings,
    /// State carried across continue-as-new; `None` on the first run (not for clients to set).
    #[serde(default)]
    pub carried: Option<CarriedState>,
}

/// What one run hands to the next when it continues as new.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CarriedState {
    /// Images already handled (index of the next one in the batch order).
    pub next_index: u64,
    /// Listing continuation for a prefix source (S3 start-after key).
    pub list_after: Option<String>,
    /// Running totals.
    pub totals: BatchTotals,
    /// Summary parts written by earlier runs.
    pub summary_parts: Vec<ObjectRef>,
    /// Runs so far (this one excluded).
    pub runs: u32,
}

/// Counts over a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchTotals {
    /// Images handled.
    pub images: u64,
    /// Navad images.
    pub navad: u64,
    /// Satellite images.
    pub satellite: u64,
    /// Images whose pipeline completed and passed (navad: accuracy passed; satellite:
    /// footprint written).
    pub passed: u64,
    /// Navad images analysed but failing the accuracy thresholds.
    pub failed_accuracy: u64,
    /// Images that ended in an error (invalid input, missing object, ...).
    pub errors: u64,
}

/// Final status of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Completed and passed.
    Passed,
    /// Navad image analysed, accuracy below thresholds.
    FailedAccuracy,
    /// Ended in an error.
    Error,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageOutcome {
    /// The image.
    pub object: ObjectRef,
    /// The path taken, when the kind was known or detected.
    pub kind: Option<ImageKind>,
    /// Final status.
    pub status: ImageStatus,
    /// Objects written for it (metadata JSON, accuracy report, GeoJSON).
    pub outputs: Vec<ObjectRef>,
    /// Overall accuracy score (navad).
    pub score: Option<f64>,
    /// The error, naming the input, when `status` is `Error`.
    pub error: Option<String>,
    /// Why a navad image failed accuracy, one line per failed threshold (empty otherwise).
    #[serde(default)]
    pub accuracy_failures: Vec<String>,
}

/// Result of [`AutomationPipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutomationSummary {
    /// The batch.
    pub batch_id: String,
    /// Totals over the whole batch.
    pub totals: BatchTotals,
    /// Per-image outcomes of the last run (all of them when the batch fit in one run; the
    /// full list is in `summary`).
    pub images: Vec<ImageOutcome>,
    /// The JSON summary of every image in the batch.
    pub summary: ObjectRef,
    /// Workflow runs the batch took (continue-as-new).
    pub runs: u32,
}

/// Live progress, from the `progress` query.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutomationProgress {
    /// Images handled so far (all runs).
    pub done: u64,
    /// Images in the batch, when known (explicit lists; a prefix is known once listed).
    pub total: Option<u64>,
    /// Children running now.
    pub running: u32,
    /// Totals so far.
    pub totals: BatchTotals,
    /// Current run number (1-based).
    pub run: u32,
}

/// Input of [`ImagePipeline`]: one image and the batch's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageJob {
    /// The batch it belongs to.
    pub batch_id: String,
    /// The image.
    pub image: ImageInput,
    /// Bucket for its outputs.
    pub output_bucket: String,
    /// Settings.
    pub settings: AutomationSettings,
}

/// Input of [`IngestImage`] and [`ValidateImage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IngestRequest {
    /// The image.
    pub image: ObjectRef,
    /// Header limits.
    pub limits: ImageLimits,
    /// Timeouts and retries of [`ValidateImage`].
    pub activity: ActivitySettings,
}

/// EXIF fields of interest, when present.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExifSummary {
    /// `DateTimeOriginal` as written in the file (EXIF's `YYYY:MM:DD HH:MM:SS`, without
    /// sub-seconds or offset), unchanged; `null` without one, even when [`Self::captured_at`]
    /// fell back to IFD0 `DateTime`.
    pub capture_time: Option<String>,
    /// The capture time in RFC 3339 form, sub-seconds and UTC offset included when the file
    /// records them (`2024-06-01T10:15:30.123+02:00`; the fraction's digits as written). Without
    /// an offset tag the camera's zone is unknown and none is invented: the value is then a local
    /// time without offset (`2024-06-01T10:15:30.123`), which RFC 3339 alone does not cover.
    /// `null` when the file has no valid date-time. Absent from results recorded before it
    /// existed.
    #[serde(default)]
    pub captured_at: Option<String>,
    /// Which tags [`Self::captured_at`] was read from; `null` when it is `null`.
    #[serde(default)]
    pub capture_time_source: Option<CaptureTimeSource>,
    /// Camera make.
    pub camera_make: Option<String>,
    /// Camera model.
    pub camera_model: Option<String>,
    /// Latitude, decimal degrees (south negative).
    pub gps_latitude: Option<f64>,
    /// Longitude, decimal degrees (west negative).
    pub gps_longitude: Option<f64>,
    /// Altitude, metres.
    pub gps_altitude: Option<f64>,
}

/// The EXIF tags a capture time was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CaptureTimeSource {
    /// `DateTimeOriginal`, with `SubSecTimeOriginal` and `OffsetTimeOriginal`: when the picture
    /// was taken.
    #[serde(rename = "DateTimeOriginal")]
    DateTimeOriginal,
    /// The fallback when `DateTimeOriginal` is absent or invalid: IFD0 `DateTime`, with
    /// `SubSecTime` and `OffsetTime`. EXIF defines it as the time the file was last changed,
    /// which is the capture time only if nothing edited the file since.
    #[serde(rename = "DateTime")]
    DateTime,
}

/// The metadata JSON written beside a validated image, and the result of ingestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageMetadata {
    /// The image.
    pub image: ObjectRef,
    /// `jpeg`, `png` or `tiff`.
    pub format: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// EXIF fields, when present.
    pub exif: ExifSummary,
    /// Where this metadata was written (`<key>.metadata.json`).
    pub metadata_object: ObjectRef,
}

/// Input of [`AnalyzeAccuracy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccuracyRequest {
    /// The (validated) image.
    pub image: ObjectRef,
    /// Bucket for tiles and the report.
    pub output_bucket: String,
    /// Key prefix for tiles and the report (deterministic per batch and image).
    pub output_prefix: String,
    /// Grid columns.
    pub tile_columns: u32,
    /// Grid rows.
    pub tile_rows: u32,
    /// Pass/fail thresholds.
    pub thresholds: AccuracyThresholds,
    /// Activity settings.
    pub activities: AutomationActivities,
}

/// One tile of the grid, written as its own object by [`SplitTiles`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TileRef {
    /// Column index.
    pub column: u32,
    /// Row index.
    pub row: u32,
    /// Left edge in the image, pixels.
    pub x: u32,
    /// Top edge in the image, pixels.
    pub y: u32,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// The tile's lossless grayscale image.
    pub object: ObjectRef,
}

/// Input of [`SplitTiles`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitRequest {
    /// The image.
    pub image: ObjectRef,
    /// Bucket for the tiles.
    pub output_bucket: String,
    /// Key prefix for the tiles.
    pub output_prefix: String,
    /// Grid columns.
    pub columns: u32,
    /// Grid rows.
    pub rows: u32,
}

/// Input of [`MeasureTiles`]: tiles measured by one activity (a group of a grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TileGroupRequest {
    /// The tiles, in grid order.
    pub tiles: Vec<TileRef>,
    /// Laplacian variance below which a tile is flagged blurred.
    pub blur_threshold: f64,
}

/// Most tiles in one grid: each tile is measured and reported, so this keeps a report and an
/// analysis bounded.
pub const MAX_TILES: u32 = 1024;

/// Checks a tile grid has 1..=[`MAX_TILES`] tiles.
pub fn validate_grid(columns: u32, rows: u32) -> Result<(), String> {
    let tiles = u64::from(columns) * u64::from(rows);
    if tiles == 0 || tiles > u64::from(MAX_TILES) {
        return Err(format!("a {columns}x{rows} tile grid is outside 1..={MAX_TILES} tiles"));
    }
    Ok(())
}

/// Input of [`ComputeTileMetrics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TileMetricsRequest {
    /// The tile.
    pub tile: TileRef,
    /// Laplacian variance below which the tile is flagged blurred.
    pub blur_threshold: f64,
}

/// Quality metrics of one tile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TileMetrics {
    /// The tile.
    pub tile: TileRef,
    /// Variance of the 3x3 Laplacian (sharpness).
    pub laplacian_variance: f64,
    /// Mean luminance, 0..255.
    pub mean_luminance: f64,
    /// Share of pixels at 0 (clipped shadows).
    pub shadow_clipped_fraction: f64,
    /// Share of pixels at 255 (clipped highlights).
    pub highlight_clipped_fraction: f64,
    /// Estimated noise standard deviation (Immerkaer's method).
    pub noise_sigma: f64,
    /// `laplacian_variance` below the threshold.
    pub blurred: bool,
    /// Identity of the worker that computed it (shows the fan-out in reports and tests).
    pub worker: String,
}

/// Input of [`WriteAccuracyReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportRequest {
    /// The image.
    pub image: ObjectRef,
    /// Where to write the report.
    pub report: ObjectRef,
    /// Grid columns.
    pub columns: u32,
    /// Grid rows.
    pub rows: u32,
    /// Every tile's metrics.
    pub tiles: Vec<TileMetrics>,
    /// Thresholds.
    pub thresholds: AccuracyThresholds,
}

/// Result of [`AnalyzeAccuracy`] and [`WriteAccuracyReport`] (the report JSON itself holds the
/// full tile grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccuracyOutcome {
    /// The image.
    pub image: ObjectRef,
    /// The report JSON.
    pub report: ObjectRef,
    /// Overall score, 0..100.
    pub overall_score: f64,
    /// Passed every threshold.
    pub passed: bool,
    /// Why it failed, one line per failed threshold.
    pub failures: Vec<String>,
    /// Distinct processor identities that computed tiles.
    pub processors: Vec<String>,
}

/// Input of [`Geolocalize`] and [`ComputeFootprint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GeolocalizeRequest {
    /// The satellite image (GeoTIFF, or any image with a world-file sidecar).
    pub image: ObjectRef,
    /// Where to write the GeoJSON Feature (the STAC Item goes beside it:
    /// `documents::stac::item_key`).
    pub geojson: ObjectRef,
    /// Activity settings of [`ComputeFootprint`].
    pub activity: ActivitySettings,
}

/// Result of geolocalization (the GeoJSON holds the polygon too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Footprint {
    /// The image.
    pub image: ObjectRef,
    /// The GeoJSON Feature written.
    pub geojson: ObjectRef,
    /// EPSG code of the source CRS; 0 when it has none (a `.prj` in ESRI form, say).
    pub source_epsg: u32,
    /// Corners in WGS84 `[lon, lat]`, longitudes in [-180, 180]: upper-left, upper-right,
    /// lower-right, lower-left (as `gdalinfo -json`'s `wgs84Extent`).
    pub corners: [[f64; 2]; 4],
    /// Center in WGS84 `[lon, lat]`.
    pub center: [f64; 2],
    /// Ground sample distance in metres per pixel, `[x, y]`.
    pub gsd_m: [f64; 2],
}

/// Input of [`WriteBatchSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryRequest {
    /// Where to write.
    pub object: ObjectRef,
    /// The outcomes of this part (one run); for the final summary, the last run's outcomes,
    /// written after those of the merged parts (empty for a pure merge).
    pub images: Vec<ImageOutcome>,
    /// Parts to merge into `object` (the final summary), in order.
    pub merge_parts: Vec<ObjectRef>,
    /// Totals to record.
    pub totals: BatchTotals,
}

crate::workflow_contract!(
    /// The batch: one [`ImagePipeline`] child per image, bounded concurrency, continue-as-new.
    AutomationPipeline = "AutomationPipeline", AutomationRequest => AutomationSummary
);
crate::resolver_contract!(ResolveAutomationRequest = "ResolveAutomationRequest", AutomationRequest);
crate::query_contract!(
    /// Live progress of a batch.
    AutomationProgressQuery = "progress" on AutomationPipeline, () => AutomationProgress
);
crate::workflow_contract!(
    /// One image through its path (orchestrator queue).
    ImagePipeline = "ImagePipeline", ImageJob => ImageOutcome
);
crate::workflow_contract!(
    /// Navad ingestion (ingestion queue): validation and metadata JSON.
    IngestImage = "IngestImage", IngestRequest => ImageMetadata
);
crate::workflow_contract!(
    /// Navad accuracy analysis (accuracy-dispatcher queue).
    AnalyzeAccuracy = "AnalyzeAccuracy", AccuracyRequest => AccuracyOutcome
);
crate::workflow_contract!(
    /// Satellite geolocalization (geolocalization queue).
    Geolocalize = "Geolocalize", GeolocalizeRequest => Footprint
);

crate::activity_contract!(
    /// Validates an image and writes its metadata JSON (ingestion queue).
    ValidateImage = "ValidateImage", IngestRequest => ImageMetadata
);
crate::activity_contract!(
    /// `satellite` when the image carries GeoTIFF georeferencing or a world file, else `navad`
    /// (geolocalization queue).
    DetectImageKind = "DetectImageKind", ObjectRef => ImageKind
);
crate::activity_contract!(
    /// Writes the tiles of an image's grid as objects (accuracy-dispatcher queue).
    SplitTiles = "SplitTiles", SplitRequest => Vec<TileRef>
);
crate::activity_contract!(
    /// Quality metrics of one tile (accuracy-processor queue; heartbeats): the fan-out of
    /// `AnalyzeAccuracy` runs recorded before [`MeasureTiles`].
    ComputeTileMetrics = "ComputeTileMetrics", TileMetricsRequest => TileMetrics
);
crate::activity_contract!(
    /// Quality metrics of a group of tiles, in the group's order (accuracy-processor queue;
    /// heartbeats). `ImagePipeline` sizes the groups from the image (see
    /// [`AutomationSettings::pixels_per_task`]).
    MeasureTiles = "MeasureTiles", TileGroupRequest => Vec<TileMetrics>
);
crate::activity_contract!(
    /// Aggregates tile metrics into the accuracy report JSON (accuracy-dispatcher queue).
    WriteAccuracyReport = "WriteAccuracyReport", ReportRequest => AccuracyOutcome
);
crate::activity_contract!(
    /// Georeferencing -> footprint GeoJSON (geolocalization queue).
    ComputeFootprint = "ComputeFootprint", GeolocalizeRequest => Footprint
);
crate::activity_contract!(
    /// Writes a summary part, or merges parts into the final summary (orchestrator queue).
    WriteBatchSummary = "WriteBatchSummary", SummaryRequest => ObjectRef
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_summaries_recorded_before_the_capture_time_fields_still_deserialize() {
        // The shape of results in histories recorded before `captured_at` existed.
        let old = r#"{"capture_time":"2024:06:01 10:15:30","camera_make":"Navad","camera_model":null,
            "gps_latitude":null,"gps_longitude":null,"gps_altitude":null}"#;
        let summary: ExifSummary = serde_json::from_str(old).unwrap();
        assert_eq!(summary.capture_time.as_deref(), Some("2024:06:01 10:15:30"));
        assert_eq!((summary.captured_at, summary.capture_time_source), (None, None));

        let new = ExifSummary {
            captured_at: Some("2023-01-02T03:04:05.45-05:30".to_owned()),
            capture_time_source: Some(CaptureTimeSource::DateTime),
            ..ExifSummary::default()
        };
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(json["capture_time_source"], "DateTime");
        assert_eq!(serde_json::from_value::<ExifSummary>(json).unwrap(), new);
    }
}
