//! The ingestion worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::Ingestion, ingestion::register)
}
