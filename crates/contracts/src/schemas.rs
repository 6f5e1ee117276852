//! The published JSON Schemas (draft 2020-12) of what clients send to and get from the
//! user-started workflows, generated from the contract types. They are checked in under
//! `schemas/` at the workspace root (a test fails when they and the types differ) and printed by
//! `starter schema <workflow>`.

use crate::Queue;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};

/// A workflow clients start, and how to get its schemas.
#[derive(Debug, Clone, Copy)]
pub struct PublishedWorkflow {
    /// The workflow type name.
    pub name: &'static str,
    /// The queue its workers poll (before any `TASK_QUEUE_PREFIX`).
    pub queue: Queue,
    input: fn() -> Schema,
    result: fn() -> Schema,
}

impl PublishedWorkflow {
    /// Schema of the input as a client may send it: fields with defaults are optional.
    pub fn input(&self) -> Schema {
        (self.input)()
    }

    /// Schema of the result.
    pub fn result(&self) -> Schema {
        (self.result)()
    }

    /// File name of the input schema under `schemas/`.
    pub fn input_file(&self) -> String {
        format!("{}.input.json", self.name)
    }

    /// File name of the result schema under `schemas/`.
    pub fn result_file(&self) -> String {
        format!("{}.result.json", self.name)
    }
}

/// Input schemas are as strict as the workflows: a field no type has is refused.
fn input<T: JsonSchema>() -> Schema {
    let refuse_unknown = RecursiveTransform(|schema: &mut Schema| {
        if schema.get("properties").is_some() && schema.get("additionalProperties").is_none() {
            schema.insert("additionalProperties".to_owned(), false.into());
        }
    });
    SchemaSettings::draft2020_12().for_deserialize().with_transform(refuse_unknown).into_generator().into_root_schema_for::<T>()
}

fn result<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<T>()
}

macro_rules! published {
    ($($workflow:path, $queue:expr, $input:ty => $result:ty;)*) => {
        [$(PublishedWorkflow { name: <$workflow>::NAME, queue: $queue, input: input::<$input>, result: result::<$result> },)*]
    };
}

/// Every workflow a client starts.
pub fn published() -> [PublishedWorkflow; 5] {
    use crate::{automation as a, checksum as c, enhancement as e, video as v};
    published! {
        a::AutomationPipeline, Queue::Orchestrator, a::AutomationRequest => a::AutomationSummary;
        e::EnhanceImage, Queue::Enhancement, e::EnhanceImageRequest => e::EnhanceImageResult;
        e::EnhanceBatch, Queue::Enhancement, e::EnhanceBatchRequest => e::EnhanceBatchSummary;
        v::VideoPipeline, Queue::Video, v::VideoRequest => v::VideoOutcome;
        c::ChecksumObject, Queue::Ingestion, c::ChecksumRequest => c::ChecksumResult;
    }
}

/// The workflow named `name` (its type name, any case).
pub fn find(name: &str) -> Option<PublishedWorkflow> {
    published().into_iter().find(|w| w.name.eq_ignore_ascii_case(name))
}
