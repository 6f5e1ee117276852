//! Generated sample inputs with known properties, for `starter demo`, the tests and the
//! benchmarks: navad flight images (sharp, blurred, low-contrast), satellite GeoTIFFs with
//! georeferencing tags, corrupt files and short video clips.
#![warn(missing_docs)]
pub mod enhancement;
pub mod geotiff;
pub mod navad;
pub mod video;
