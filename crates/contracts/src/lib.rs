//! What crosses a task queue: the serde types of every workflow and activity input and output,
//! the task-queue names, the workflow/activity type names and the search-attribute keys.
//!
//! Worker crates never link each other's code. A workflow on one queue calls a workflow or an
//! activity on another queue through the marker types declared here, and the implementing
//! worker binds its code to the same marker (`#[activity(definition = ...)]`,
//! `#[run(name = ...)]`), so the compiler checks both sides agree on the types and the name.
#![warn(missing_docs)]

pub mod automation;
pub mod batch;
pub mod buckets;
pub mod checksum;
pub mod enhancement;
pub mod errors;
pub mod object;
pub mod queues;
pub mod schemas;
pub mod search;
pub mod settings;
pub mod submitted;
pub mod video;

pub use object::{ObjectRef, ObjectRefError};
pub use queues::Queue;

/// Declares a workflow contract: a unit marker implementing
/// [`temporalio_common::WorkflowDefinition`] under a pinned type name.
#[macro_export]
macro_rules! workflow_contract {
    ($(#[$doc:meta])* $marker:ident = $name:literal, $input:ty => $output:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;
        impl $marker {
            /// The pinned workflow type name.
            pub const NAME: &'static str = $name;
        }
        impl $crate::__private::WorkflowDefinition for $marker {
            type Input = $input;
            type Output = $output;
            fn name(&self) -> &str {
                $name
            }
        }
        impl $crate::__private::HasWorkflowDefinition for $marker {
            type Run = $marker;
        }
    };
}

/// Declares an activity contract: a unit marker implementing
/// [`temporalio_common::ActivityDefinition`] under a pinned type name.
#[macro_export]
macro_rules! activity_contract {
    ($(#[$doc:meta])* $marker:ident = $name:literal, $input:ty => $output:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;
        impl $marker {
            /// The pinned activity type name.
            pub const NAME: &'static str = $name;
        }
        impl $crate::__private::ActivityDefinition for $marker {
            type Input = $input;
            type Output = $output;
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

/// Declares a query contract on a workflow marker declared with [`workflow_contract!`].
#[macro_export]
macro_rules! query_contract {
    ($(#[$doc:meta])* $marker:ident = $name:literal on $workflow:ty, $input:ty => $output:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;
        impl $crate::__private::QueryDefinition for $marker {
            type Workflow = $workflow;
            type Input = $input;
            type Output = $output;
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

/// Declares a signal contract on a workflow marker declared with [`workflow_contract!`].
#[macro_export]
macro_rules! signal_contract {
    ($(#[$doc:meta])* $marker:ident = $name:literal on $workflow:ty, $input:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;
        impl $crate::__private::SignalDefinition for $marker {
            type Workflow = $workflow;
            type Input = $input;
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

/// True when a workflow implementation and its contract share a type name; the bounds make the
/// compiler check that input and output types agree too. Each worker's tests call it.
pub fn implements_workflow<Impl, Contract>(implementation: &Impl, contract: &Contract) -> bool
where
    Contract: temporalio_common::WorkflowDefinition,
    Impl: temporalio_common::WorkflowDefinition<Input = Contract::Input, Output = Contract::Output>,
{
    implementation.name() == contract.name()
}

/// True when a workflow implementation takes its contract's input as submitted JSON
/// ([`submitted::Submitted`]) and shares its type name and output type.
pub fn implements_submitted_workflow<Impl, Contract>(implementation: &Impl, contract: &Contract) -> bool
where
    Contract: temporalio_common::WorkflowDefinition,
    Impl: temporalio_common::WorkflowDefinition<Input = submitted::Submitted<Contract::Input>, Output = Contract::Output>,
{
    implementation.name() == contract.name()
}

#[doc(hidden)]
pub mod __private {
    pub use temporalio_common::{ActivityDefinition, HasWorkflowDefinition, QueryDefinition, SignalDefinition, WorkflowDefinition};
}
