//! The STAC 1.1 Item of a satellite image, written beside its GeoJSON.
//!
//! - `geometry` and `bbox`: the footprint's RFC 7946 geometry (a MultiPolygon across the
//!   antimeridian, west > east in the `bbox`);
//! - `datetime`: the capture time the file records (EXIF `DateTimeOriginal`, TIFF `DateTime`;
//!   read as UTC when the file gives no offset, as rio-stac does); a file without one gets the
//!   object's S3 `Last-Modified` time (the scene was taken before it was stored), and
//!   `fleet:datetime_source` says which. STAC allows `null` only with a
//!   `start_datetime`/`end_datetime` range, which the worker has no honest start for;
//! - the projection extension v2.0: `proj:code` (`EPSG:n`, or `null` with `proj:wkt2` when the
//!   CRS has no EPSG code), `proj:shape` `[rows, columns]`, `proj:transform` `[a, b, c, d, e, f]`
//!   (x = a·col + b·row + c, y = d·col + e·row + f: GDAL's geotransform reordered);
//! - assets: the image (`data`) and the GeoJSON (`metadata`), as `s3://` hrefs.

use crate::footprint::FootprintGeometry;
use crate::georef::Georeference;
use contracts::ObjectRef;
use documents::stac::{PROJECTION_EXTENSION, STAC_VERSION, item_id};
use geojson::GeometryValue;
use serde_json::{Value, json};

/// Where an Item's `datetime` came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemTime {
    /// The file's own capture time (RFC 3339, UTC) and the metadata item it came from.
    Captured {
        /// RFC 3339.
        rfc3339: String,
        /// `TIFFTAG_DATETIME`, `EXIF_DateTimeOriginal`.
        source: &'static str,
    },
    /// The object's `Last-Modified` (RFC 3339, UTC).
    Stored(String),
}

/// The STAC media type of the image, from GDAL's driver and the file name.
fn media_type(georef: &Georeference, image: &ObjectRef) -> &'static str {
    let name = image.file_name().to_ascii_lowercase();
    match georef.driver.as_str() {
        "GTiff" | "COG" if georef.cloud_optimized => "image/tiff; application=geotiff; profile=cloud-optimized",
        "GTiff" | "COG" => "image/tiff; application=geotiff",
        "JP2OpenJPEG" | "JP2KAK" | "JP2ECW" | "JP2MrSID" | "JPEG2000" => "image/jp2",
        "PNG" => "image/png",
        "JPEG" => "image/jpeg",
        _ if name.ends_with(".tif") || name.ends_with(".tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// The objects an Item names.
#[derive(Debug, Clone, Copy)]
pub struct ItemObjects<'a> {
    /// The image.
    pub image: &'a ObjectRef,
    /// Its footprint GeoJSON.
    pub geojson: &'a ObjectRef,
    /// Where the Item itself is written.
    pub item: &'a ObjectRef,
}

/// The Item of `objects.image`, with the footprint's RFC 7946 `geometry` and `bbox`.
pub fn item(
    objects: ItemObjects<'_>,
    georef: &Georeference,
    footprint: &FootprintGeometry,
    (geometry, bbox): (&GeometryValue, [f64; 4]),
    time: &ItemTime,
) -> Value {
    let ItemObjects { image, geojson, item } = objects;
    let gt = &georef.geo_transform;
    let (datetime, source) = match time {
        ItemTime::Captured { rfc3339, source } => (rfc3339.clone(), *source),
        ItemTime::Stored(rfc3339) => (rfc3339.clone(), "object_last_modified"),
    };
    let mut properties = json!({
        "datetime": datetime,
        "fleet:datetime_source": source,
        "proj:code": georef.crs.epsg.map(|code| format!("EPSG:{code}")),
        "proj:shape": [georef.height, georef.width],
        "proj:transform": [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]],
        "fleet:gsd_m": footprint.gsd_m,
    });
    if georef.crs.epsg.is_none() {
        properties["proj:wkt2"] = Value::from(georef.crs.wkt2.clone());
    }
    json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJECTION_EXTENSION],
        "id": item_id(image.key()),
        "geometry": geojson::Geometry::new(geometry.clone()),
        "bbox": bbox,
        "properties": properties,
        "links": [{ "rel": "self", "href": item.to_string(), "type": "application/geo+json" }],
        "assets": {
            "image": { "href": image.to_string(), "type": media_type(georef, image), "title": image.file_name(), "roles": ["data"] },
            "footprint": { "href": geojson.to_string(), "type": "application/geo+json", "title": "Footprint (GeoJSON)", "roles": ["metadata"] },
        },
    })
}
