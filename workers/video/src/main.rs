//! The video worker binary.
fn main() -> std::process::ExitCode {
    fleet::worker_main(contracts::Queue::Video, video::register)
}
