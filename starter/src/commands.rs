//! One module per subcommand.

pub mod automation;
pub mod checksum;
pub mod demo;
pub mod enhance;
pub mod inputs;
pub mod schema;
pub mod status;
pub mod up;
pub mod video;
