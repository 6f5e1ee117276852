//! The JSON documents (and their object names) the fleet writes to S3, shared by the worker
//! that writes each one and by the readers: the starter, the tests, other services. They never
//! cross a task queue, so changing one rebuilds its writer and readers, not the whole fleet.
#![warn(missing_docs)]

pub mod automation;
pub mod stac;
pub mod video;
