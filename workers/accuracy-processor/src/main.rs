//! The accuracy-processor worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::AccuracyProcessor, accuracy_processor::register)
}
