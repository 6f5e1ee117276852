//! The JSON Schemas published under `schemas/` are the ones the contract types generate today:
//! a change to a type that clients send or receive fails here until the files are regenerated
//! (`UPDATE_SCHEMAS=1 cargo test -p contracts --test schemas`) and the change is reviewed.

use contracts::schemas::published;
use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn published_schemas_match_the_contract_types() {
    let dir = schemas_dir();
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut expected_files = Vec::new();
    let mut stale = Vec::new();
    for workflow in published() {
        for (file, schema) in [(workflow.input_file(), workflow.input()), (workflow.result_file(), workflow.result())] {
            let text = serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n";
            let path = dir.join(&file);
            if update {
                std::fs::write(&path, &text).expect("write the schema");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(file.clone());
            }
            expected_files.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ differs from the contract types for {stale:?}: regenerate with UPDATE_SCHEMAS=1 cargo test -p contracts --test schemas"
    );
    let mut present: Vec<String> =
        std::fs::read_dir(&dir).expect("schemas/").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    present.sort();
    expected_files.sort();
    assert_eq!(present, expected_files, "schemas/ holds exactly the published schemas");
}

#[test]
fn every_input_schema_leaves_defaulted_fields_optional() {
    let required = |name: &str| -> Vec<String> {
        let workflow = contracts::schemas::find(name).expect("published");
        let schema = serde_json::to_value(workflow.input()).expect("serializes");
        let mut fields: Vec<String> = schema["required"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        fields.sort();
        fields
    };
    assert_eq!(required("AutomationPipeline"), ["batch_id", "source"]);
    assert_eq!(required("EnhanceImage"), ["destination", "source"]);
    assert_eq!(required("EnhanceBatch"), ["destination", "source"]);
    assert_eq!(required("VideoPipeline"), ["output", "video"]);
    assert_eq!(required("ChecksumObject"), ["object"]);
}
