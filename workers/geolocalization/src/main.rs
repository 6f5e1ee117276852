//! The geolocalization worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::Geolocalization, geolocalization::register)
}
