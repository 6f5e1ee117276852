//! The orchestrator worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::Orchestrator, orchestrator::register)
}
