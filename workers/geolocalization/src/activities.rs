//! Activities of the geolocalization queue: `ComputeFootprint` (georeferencing -> WGS 84
//! footprint -> GeoJSON Feature and STAC Item in S3) and `DetectImageKind` (satellite or navad).
//!
//! The image is never downloaded: GDAL reads its header through `/vsis3/` with range requests
//! ([`crate::raster`]). Before that, one HEAD tells a missing object (non-retryable) from an
//! unreachable store (retried), and one LIST of the image's stem gives GDAL its sidecars.

use crate::footprint::{self, FootprintGeometry};
use crate::georef::{self, Georeference, PrjSidecar};
use crate::raster::{self, RasterError, S3Access};
use crate::stac::{self, ItemTime};
use contracts::ObjectRef;
use contracts::automation::{Footprint, GeolocalizeRequest, ImageKind};
use fleet::failure::{invalid_input, not_found, rejected, transient};
use fleet::kit::blocking;
use fleet::{Storage, StorageError};
use geojson::{Feature, GeometryValue};
use std::sync::Arc;
use std::time::SystemTime;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Largest `.prj` sidecar read (real ones are a few hundred bytes to a few KB).
const MAX_PRJ_BYTES: u64 = 64 * 1024;
/// Keys listed to find an image's sidecars (one S3 page).
const MAX_SIBLINGS: i32 = 1000;

/// The geolocalization worker's activities and the clients they use.
pub struct GeolocalizationActivities {
    storage: Storage,
    access: S3Access,
}

/// Everything read about one image: its georeferencing, footprint and GeoJSON.
#[derive(Debug, Clone)]
pub struct Computed {
    /// The georeferencing GDAL read.
    pub georef: Georeference,
    /// The WGS 84 footprint.
    pub footprint: FootprintGeometry,
    /// The GeoJSON Feature.
    pub feature: Feature,
    /// The RFC 7946 geometry (the Feature's) and its `bbox`.
    pub geometry: (GeometryValue, [f64; 4]),
    /// The object's `Last-Modified`, when the store gave one.
    pub last_modified: Option<SystemTime>,
}

impl GeolocalizationActivities {
    /// Activities over `storage`, GDAL reaching the same store through `access`.
    pub fn new(storage: Storage, access: S3Access) -> Self {
        Self { storage, access }
    }

    /// Reads `image`'s georeferencing through GDAL and computes its footprint, writing nothing.
    pub async fn footprint_of(&self, image: &ObjectRef) -> Result<Computed, ActivityError> {
        let last_modified = self.storage.last_modified(image).await.map_err(StorageError::into_activity_error)?;
        let Some(last_modified) = last_modified else {
            return Err(not_found(image, "object not found"));
        };
        let siblings = self.siblings(image).await?;
        let prj = match georef::prj_sibling(image.file_name(), &siblings) {
            Some(name) => Some(self.read_prj(&sibling_object(image, name)?).await?),
            None => None,
        };
        let access = self.access.clone();
        let (path, subject) = (raster::vsis3_path(image.bucket(), image.key()), image.clone());
        let computed = blocking(image, move || -> Result<_, ActivityError> {
            let _config = access.apply().map_err(|e| raster_failure(&subject, e))?;
            let dataset = raster::open(&path, &siblings).map_err(|e| raster_failure(&subject, e))?;
            let read = georef::read(&dataset, subject.file_name(), &siblings, prj.as_ref());
            // A read error while the tags were fetched is reported, not returned: a network fault
            // then must retry instead of passing for a file without georeferencing.
            let (failure, warnings) = raster::reports_since_open();
            if let Some(failure) = failure.filter(RasterError::is_retryable) {
                return Err(raster_failure(&subject, failure));
            }
            // Bad input, with what GDAL warned about while reading it.
            let refuse = |reason: String| match warnings.is_empty() {
                true => invalid_input(&subject, reason),
                false => invalid_input(&subject, format!("{reason} (GDAL: {})", warnings.join("; "))),
            };
            let (georef, srs) = read.map_err(|e| refuse(e.to_string()))?;
            let footprint = footprint::compute(&georef, &srs).map_err(|e| refuse(e.to_string()))?;
            let feature = footprint::feature(&subject, &georef, &footprint).map_err(|e| refuse(e.to_string()))?;
            let geometry = footprint::rfc7946_geometry(&footprint.corners).map_err(|e| refuse(e.to_string()))?;
            Ok((georef, footprint, feature, geometry))
        })
        .await??;
        let (georef, footprint, feature, geometry) = computed;
        Ok(Computed { georef, footprint, feature, geometry, last_modified })
    }

    /// File names beside `image` that may be its sidecars: one LIST of `{folder}/{stem}.`.
    async fn siblings(&self, image: &ObjectRef) -> Result<Vec<String>, ActivityError> {
        let key = image.key();
        let folder_end = key.rfind('/').map_or(0, |slash| slash + 1);
        let stem = georef::split_extension(&key[folder_end..]).0;
        let prefix = format!("{}{stem}.", &key[..folder_end]);
        let (listed, _) = self.storage.list_page(image.bucket(), &prefix, None, MAX_SIBLINGS).await.map_err(StorageError::into_activity_error)?;
        Ok(listed.iter().map(|object| object.key()[folder_end..].to_owned()).filter(|name| !name.contains('/')).collect())
    }

    /// The text of a `.prj` sidecar.
    async fn read_prj(&self, prj: &ObjectRef) -> Result<PrjSidecar, ActivityError> {
        let size = self.storage.size(prj).await.map_err(StorageError::into_activity_error)?;
        if size.is_some_and(|size| size > MAX_PRJ_BYTES) {
            return Err(invalid_input(prj, format!("projection file larger than {MAX_PRJ_BYTES} bytes")));
        }
        let bytes = self.storage.get(prj).await.map_err(StorageError::into_activity_error)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| invalid_input(prj, "projection file is not UTF-8 text"))?;
        Ok(PrjSidecar { name: prj.to_string(), text })
    }
}

/// `image`'s sibling called `name`.
fn sibling_object(image: &ObjectRef, name: &str) -> Result<ObjectRef, ActivityError> {
    let key = image.key();
    let folder = &key[..key.rfind('/').map_or(0, |slash| slash + 1)];
    ObjectRef::new(image.bucket(), format!("{folder}{name}")).map_err(|e| invalid_input(image, format!("sidecar {name}: {e}")))
}

/// The activity failure of a failed GDAL read of `image`.
fn raster_failure(image: &ObjectRef, error: RasterError) -> ActivityError {
    match &error {
        RasterError::NotFound(_) => not_found(image, error),
        RasterError::AccessDenied(_) => rejected(image, error),
        RasterError::Transient(_) => transient(image, error),
        RasterError::UnsupportedFormat(_) | RasterError::Unreadable(_) => invalid_input(image, error),
    }
}

/// RFC 3339 (UTC) of `time`.
fn rfc3339(time: SystemTime) -> Option<String> {
    time::OffsetDateTime::from(time).format(&time::format_description::well_known::Rfc3339).ok()
}

#[activities]
impl GeolocalizationActivities {
    /// Reads the image's georeferencing through GDAL, computes its WGS 84 footprint and writes
    /// it as a GeoJSON Feature to `request.geojson` and a STAC Item beside it (overwriting: the
    /// keys are the caller's, derived from the batch and the image).
    #[activity(definition = contracts::automation::ComputeFootprint)]
    pub async fn compute_footprint(self: Arc<Self>, _ctx: ActivityContext, request: GeolocalizeRequest) -> Result<Footprint, ActivityError> {
        let image = &request.image;
        let Computed { georef, footprint, feature, geometry: (geometry, bbox), last_modified } = self.footprint_of(image).await?;

        let time = match (&georef.capture_time, last_modified.and_then(rfc3339)) {
            (Some(captured), _) => ItemTime::Captured { rfc3339: captured.rfc3339.clone(), source: captured.source },
            (None, Some(stored)) => ItemTime::Stored(stored),
            (None, None) => ItemTime::Stored(rfc3339(SystemTime::UNIX_EPOCH).unwrap_or_default()),
        };
        let item_object = ObjectRef::new(request.geojson.bucket(), documents::stac::item_key(request.geojson.key()))
            .map_err(|e| invalid_input(&request.geojson, format!("no STAC Item key beside it: {e}")))?;
        let objects = stac::ItemObjects { image, geojson: &request.geojson, item: &item_object };
        let item = stac::item(objects, &georef, &footprint, (&geometry, bbox), &time);

        self.storage
            .put(&request.geojson, feature.to_string().into_bytes(), "application/geo+json")
            .await
            .map_err(StorageError::into_activity_error)?;
        let item_bytes = serde_json::to_vec_pretty(&item).map_err(|e| invalid_input(image, format!("cannot encode the STAC Item: {e}")))?;
        self.storage.put(&item_object, item_bytes, "application/geo+json").await.map_err(StorageError::into_activity_error)?;
        let FootprintGeometry { corners, center, gsd_m } = footprint;
        tracing::info!(%image, geojson = %request.geojson, stac_item = %item_object, crs = %georef.crs.name, epsg = ?georef.crs.epsg, ?center, ?gsd_m, "footprint written");
        Ok(Footprint { image: image.clone(), geojson: request.geojson.clone(), source_epsg: georef.crs.epsg.unwrap_or(0), corners, center, gsd_m })
    }

    /// `Satellite` when GDAL finds georeferencing in the image or its sidecars (a geotransform,
    /// ground control points or a CRS), `Navad` otherwise (JPEG, PNG, plain TIFF, and files too
    /// broken to tell: ingestion reports those).
    #[activity(definition = contracts::automation::DetectImageKind)]
    pub async fn detect_image_kind(self: Arc<Self>, _ctx: ActivityContext, image: ObjectRef) -> Result<ImageKind, ActivityError> {
        if self.storage.size(&image).await.map_err(StorageError::into_activity_error)?.is_none() {
            return Err(not_found(&image, "object not found"));
        }
        let siblings = self.siblings(&image).await?;
        let access = self.access.clone();
        let (path, subject) = (raster::vsis3_path(image.bucket(), image.key()), image.clone());
        let kind = blocking(&image, move || -> Result<ImageKind, ActivityError> {
            let _config = access.apply().map_err(|e| raster_failure(&subject, e))?;
            match raster::open(&path, &siblings) {
                Ok(dataset) => Ok(if georef::is_georeferenced(&dataset) { ImageKind::Satellite } else { ImageKind::Navad }),
                Err(e @ (RasterError::NotFound(_) | RasterError::AccessDenied(_) | RasterError::Transient(_))) => Err(raster_failure(&subject, e)),
                Err(_) => Ok(ImageKind::Navad),
            }
        })
        .await??;
        tracing::info!(%image, kind = kind.as_str(), "image kind detected");
        Ok(kind)
    }
}
