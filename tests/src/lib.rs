//! Cross-pipeline end-to-end tests (`tests/*.rs`): the automation batch across every worker,
//! faults, bad inputs, secrets, compose and the stack. The harness they share is the `testkit`
//! crate; this library is empty.
