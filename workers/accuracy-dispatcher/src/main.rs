//! The accuracy-dispatcher worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::AccuracyDispatcher, accuracy_dispatcher::register)
}
