// A build script is required for cargo to consider the [build-dependencies] of the hack crate.
fn main() {}
