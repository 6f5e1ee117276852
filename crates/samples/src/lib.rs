//! Generated sample inputs with known properties, for `starter demo`, the tests and the
//! benchmarks: navad flight images (sharp, blurred, low-contrast), satellite GeoTIFFs with
//! georeferencing tags, corrupt files and short video clips; navad TIFFs written by GDAL's
//! command line and EXIF tags written by ExifTool, at test time, with those tools' readings.
#![warn(missing_docs)]
pub mod enhancement;
pub mod exiftool;
pub mod geotiff;
pub mod navad;
pub mod navad_tiff;
pub mod video;
