//! The enhancement worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::Enhancement, enhancement::register)
}
