//! Activities of the geolocalization queue: `ComputeFootprint` (georeferencing -> WGS84
//! footprint -> GeoJSON Feature in S3) and `DetectImageKind` (satellite or navad).
//!
//! The image is streamed to a temporary file and only its header is read (the TIFF's first
//! directory, or a JPEG/PNG header for the size), never its pixels. Sidecars are looked up with
//! HEAD requests before anything is downloaded.

use crate::footprint::{self, FootprintGeometry};
use crate::georef::{self, GeorefError, Georeference, TiffHeader};
use contracts::ObjectRef;
use contracts::automation::{Footprint, GeolocalizeRequest, ImageKind};
use fleet::failure::{invalid_input, not_found, transient};
use fleet::kit::{Scratch, blocking};
use fleet::{Storage, StorageError};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Largest world file or `.prj` sidecar read (real ones are a few hundred bytes).
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// The geolocalization worker's activities and the clients they use.
pub struct GeolocalizationActivities {
    storage: Storage,
    scratch: Scratch,
}

impl GeolocalizationActivities {
    /// Activities over the given storage, downloading into `scratch`.
    pub fn new(storage: Storage, scratch: Scratch) -> Self {
        Self { storage, scratch }
    }
}

#[activities]
impl GeolocalizationActivities {
    /// Reads the image's georeferencing (GeoTIFF tags, else a world-file sidecar), computes its
    /// WGS84 footprint and writes it as a GeoJSON Feature to `request.geojson` (overwriting:
    /// the key is the caller's, derived from the batch and the image).
    #[activity(definition = contracts::automation::ComputeFootprint)]
    pub async fn compute_footprint(self: Arc<Self>, _ctx: ActivityContext, request: GeolocalizeRequest) -> Result<Footprint, ActivityError> {
        let image = &request.image;
        let header = self.read_header(image).await?;
        let from_tags = match &header.tiff {
            Some(Ok(tiff)) => georef::georeference_from_tiff(tiff).map_err(|e| invalid_input(image, e))?,
            Some(Err(e)) => return Err(invalid_input(image, e)),
            None => None,
        };
        let georef = match from_tags {
            Some(georef) => georef,
            None => self.georeference_from_sidecars(image, header.dimensions).await?,
        };

        let for_compute = georef.clone();
        let geometry = blocking(image, move || footprint::compute(&for_compute)).await?.map_err(|e| invalid_input(image, e))?;
        let FootprintGeometry { corners, center, gsd_m } = geometry.clone();
        let feature = footprint::feature(image, &georef, &geometry);
        self.storage
            .put(&request.geojson, feature.to_string().into_bytes(), "application/geo+json")
            .await
            .map_err(StorageError::into_activity_error)?;
        tracing::info!(%image, geojson = %request.geojson, epsg = georef.epsg, ?center, ?gsd_m, "footprint written");
        Ok(Footprint { image: image.clone(), geojson: request.geojson.clone(), source_epsg: georef.epsg, corners, center, gsd_m })
    }

    /// `Satellite` when the image has GeoTIFF tags or a world-file sidecar, `Navad` otherwise
    /// (JPEG, PNG, plain TIFF, and files too broken to tell: ingestion reports those).
    #[activity(definition = contracts::automation::DetectImageKind)]
    pub async fn detect_image_kind(self: Arc<Self>, _ctx: ActivityContext, image: ObjectRef) -> Result<ImageKind, ActivityError> {
        if self.storage.size(&image).await.map_err(StorageError::into_activity_error)?.is_none() {
            return Err(not_found(&image, "object not found"));
        }
        let kind = if self.find_sidecar(&georef::world_file_keys(image.key()), &image).await?.is_some() {
            ImageKind::Satellite
        } else {
            match self.read_header(&image).await?.tiff {
                Some(Ok(tiff)) if tiff.tags.any() => ImageKind::Satellite,
                _ => ImageKind::Navad,
            }
        };
        tracing::info!(%image, kind = kind.as_str(), "image kind detected");
        Ok(kind)
    }
}

/// What the image's header says.
struct ImageHeader {
    /// `Some` for a file with a TIFF signature: its header, or why it cannot be read.
    tiff: Option<Result<TiffHeader, GeorefError>>,
    /// Width and height, when the header gives them.
    dimensions: Option<(u32, u32)>,
}

impl GeolocalizationActivities {
    /// Downloads the image to a scratch file (removed on return) and reads its header.
    async fn read_header(&self, image: &ObjectRef) -> Result<ImageHeader, ActivityError> {
        let scratch = self.scratch.dir()?;
        let local = scratch.path().join("image");
        self.storage.download_to_file(image, &local).await.map_err(StorageError::into_activity_error)?;
        let header = blocking(image, move || read_header_from(&local)).await?;
        drop(scratch);
        header.map_err(|e| transient(image, format!("cannot read the downloaded copy: {e}")))
    }

    /// Georeferencing from a world file and an optional `.prj` next to the image.
    async fn georeference_from_sidecars(&self, image: &ObjectRef, dimensions: Option<(u32, u32)>) -> Result<Georeference, ActivityError> {
        let candidates = georef::world_file_keys(image.key());
        let Some(world_file) = self.find_sidecar(&candidates, image).await? else {
            let names = candidates.iter().map(|key| format!("s3://{}/{key}", image.bucket())).collect::<Vec<_>>().join(", ");
            return Err(invalid_input(
                image,
                format!("no georeferencing: no GeoTIFF tags (ModelTiepoint + ModelPixelScale or ModelTransformation) and no world file ({names})"),
            ));
        };
        let Some((width, height)) = dimensions else {
            return Err(invalid_input(image, format!("has a world file ({world_file}) but its image size cannot be read")));
        };
        let world_text = self.read_sidecar(&world_file).await?;
        let prj = match self.find_sidecar(&[georef::prj_key(image.key())], image).await? {
            Some(prj) => Some((prj.to_string(), self.read_sidecar(&prj).await?)),
            None => None,
        };
        let world_name = world_file.to_string();
        georef::georeference_from_world_file(
            width,
            height,
            (&world_name, &world_text),
            prj.as_ref().map(|(name, text)| (name.as_str(), text.as_str())),
        )
        .map_err(|e| invalid_input(image, e))
    }

    /// The first of `keys` (in the image's bucket) that exists.
    async fn find_sidecar(&self, keys: &[String], image: &ObjectRef) -> Result<Option<ObjectRef>, ActivityError> {
        for key in keys {
            // A key S3 would refuse cannot exist: nothing to look up.
            let Ok(candidate) = ObjectRef::new(image.bucket(), key.clone()) else { continue };
            if self.storage.size(&candidate).await.map_err(StorageError::into_activity_error)?.is_some() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    async fn read_sidecar(&self, sidecar: &ObjectRef) -> Result<String, ActivityError> {
        let size = self.storage.size(sidecar).await.map_err(StorageError::into_activity_error)?;
        if size.is_some_and(|size| size > MAX_SIDECAR_BYTES) {
            return Err(invalid_input(sidecar, format!("sidecar larger than {MAX_SIDECAR_BYTES} bytes")));
        }
        let bytes = self.storage.get(sidecar).await.map_err(StorageError::into_activity_error)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid_input(sidecar, "sidecar is not UTF-8 text"))
    }
}

/// Reads the header of a local copy: the TIFF directory for TIFFs, the size for other formats.
fn read_header_from(path: &Path) -> std::io::Result<ImageHeader> {
    let mut signature = Vec::with_capacity(4);
    std::fs::File::open(path)?.take(4).read_to_end(&mut signature)?;
    if georef::is_tiff(&signature) {
        let tiff = georef::read_tiff_header(BufReader::new(std::fs::File::open(path)?));
        let dimensions = tiff.as_ref().ok().map(|header| (header.width, header.height));
        return Ok(ImageHeader { tiff: Some(tiff), dimensions });
    }
    // JPEG, PNG, ...: the size from the header only (image reads no pixels for this).
    let dimensions = image::ImageReader::open(path)?.with_guessed_format()?.into_dimensions().ok();
    Ok(ImageHeader { tiff: None, dimensions })
}
