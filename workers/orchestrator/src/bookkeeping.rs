//! The bookkeeping of a batch, kept free of Temporal so it is tested directly: the deterministic
//! child workflow ids and output keys, and the running totals.

use contracts::ObjectRef;
use contracts::automation::{AccuracyOutcome, BatchTotals, ImageKind, ImageOutcome, ImageStatus, TileRef};

/// Top-level folder of every object the pipeline writes (`automation/{batch_id}/...`); batch
/// listings skip it.
pub use batch::activities::OUTPUT_ROOT;

/// Keeps the characters Temporal ids and the Web UI handle well; anything else becomes `-`.
fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect()
}

/// Id of the `ImagePipeline` child of the image at `index` of a batch:
/// `{batch_id}/{index}-{file name}`, sanitized. The index keeps ids unique when two keys share a
/// file name, and makes a re-submitted batch reuse the same ids.
pub fn image_workflow_id(batch_id: &str, index: u64, object: &ObjectRef) -> String {
    format!("{}/{index}-{}", sanitize(batch_id), sanitize(object.file_name()))
}

/// Where a batch's outputs for one image go: `automation/{batch_id}/{image key}` (the accuracy
/// report and tiles under it, the GeoJSON beside it).
pub fn image_output_prefix(batch_id: &str, image: &ObjectRef) -> String {
    format!("{OUTPUT_ROOT}/{batch_id}/{}", image.key())
}

/// `automation/{batch_id}/{image key}.geojson` in the output bucket.
pub fn geojson_object(output_bucket: &str, batch_id: &str, image: &ObjectRef) -> Result<ObjectRef, contracts::ObjectRefError> {
    ObjectRef::new(output_bucket, format!("{}.geojson", image_output_prefix(batch_id, image)))
}

/// `automation/{batch_id}/summary/part-{run:04}.json`: one run's outcomes.
pub fn summary_part_object(output_bucket: &str, batch_id: &str, run: u32) -> Result<ObjectRef, contracts::ObjectRefError> {
    ObjectRef::new(output_bucket, format!("{OUTPUT_ROOT}/{batch_id}/summary/part-{run:04}.json"))
}

/// `automation/{batch_id}/summary.json`: the whole batch.
pub fn summary_object(output_bucket: &str, batch_id: &str) -> Result<ObjectRef, contracts::ObjectRefError> {
    ObjectRef::new(output_bucket, format!("{OUTPUT_ROOT}/{batch_id}/summary.json"))
}

/// For the final summary of a batch (`automation/{batch_id}/summary.json`, not a run's part),
/// the batch id and its STAC Collection beside it (`automation/{batch_id}/collection.json`).
pub fn collection_object(summary: &ObjectRef) -> Option<(String, ObjectRef)> {
    let folder = summary.key().strip_suffix("/summary.json")?;
    let batch_id = folder.strip_prefix(&format!("{OUTPUT_ROOT}/"))?;
    if batch_id.contains('/') {
        return None;
    }
    let collection = ObjectRef::new(summary.bucket(), format!("{folder}/{}", documents::stac::COLLECTION_NAME)).ok()?;
    Some((batch_id.to_owned(), collection))
}

/// The tile plan of an image: its grid's tiles (row-major) cut into consecutive groups, one
/// `MeasureTiles` activity each, every group holding about `pixels_per_task` pixels or more. A
/// 1 MP image is one task; larger images spread over as many tasks as they have such shares,
/// never more tasks than tiles.
pub fn tile_groups(tiles: Vec<TileRef>, pixels_per_task: u64) -> Vec<Vec<TileRef>> {
    let pixels: u64 = tiles.iter().map(|t| u64::from(t.width) * u64::from(t.height)).sum();
    let groups = pixels.div_ceil(pixels_per_task.max(1)).clamp(1, tiles.len().max(1) as u64) as usize;
    let (base, extra) = (tiles.len() / groups, tiles.len() % groups);
    let mut rest = tiles.into_iter();
    (0..groups).map(|g| rest.by_ref().take(base + usize::from(g < extra)).collect()).collect()
}

/// The outcome of a navad image whose accuracy analysis finished (passed or not).
pub fn navad_outcome(object: &ObjectRef, mut outputs: Vec<ObjectRef>, accuracy: AccuracyOutcome) -> ImageOutcome {
    outputs.push(accuracy.report);
    ImageOutcome {
        object: object.clone(),
        kind: Some(ImageKind::Navad),
        status: if accuracy.passed { ImageStatus::Passed } else { ImageStatus::FailedAccuracy },
        outputs,
        score: Some(accuracy.overall_score),
        error: None,
        accuracy_failures: accuracy.failures,
    }
}

/// The outcome of a satellite image whose footprint was written.
pub fn satellite_outcome(object: &ObjectRef, geojson: ObjectRef) -> ImageOutcome {
    ImageOutcome {
        object: object.clone(),
        kind: Some(ImageKind::Satellite),
        status: ImageStatus::Passed,
        outputs: vec![geojson],
        score: None,
        error: None,
        accuracy_failures: Vec::new(),
    }
}

/// Adds one image's outcome to the totals.
pub fn record(totals: &mut BatchTotals, outcome: &ImageOutcome) {
    totals.images += 1;
    match outcome.kind {
        Some(ImageKind::Navad) => totals.navad += 1,
        Some(ImageKind::Satellite) => totals.satellite += 1,
        None => {}
    }
    match outcome.status {
        ImageStatus::Passed => totals.passed += 1,
        ImageStatus::FailedAccuracy => totals.failed_accuracy += 1,
        ImageStatus::Error => totals.errors += 1,
    }
}

/// The one kind every image of the batch has so far, if there is one (for the `ImageType`
/// search attribute of the batch).
pub fn single_kind(totals: &BatchTotals) -> Option<ImageKind> {
    match (totals.navad, totals.satellite) {
        (0, 0) => None,
        (_, 0) => Some(ImageKind::Navad),
        (0, _) => Some(ImageKind::Satellite),
        _ => None,
    }
}

/// An `Error` outcome for `object`, its message naming the object even when the failure
/// reported deeper in the chain does not.
pub fn error_outcome(object: &ObjectRef, kind: Option<ImageKind>, message: &str, error_type: Option<&str>) -> ImageOutcome {
    let named = if message.contains(object.key()) { message.to_owned() } else { format!("{object}: {message}") };
    let error = match error_type {
        Some(t) => format!("{named} ({t})"),
        None => named,
    };
    ImageOutcome {
        object: object.clone(),
        kind,
        status: ImageStatus::Error,
        outputs: Vec::new(),
        score: None,
        error: Some(error),
        accuracy_failures: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str) -> ObjectRef {
        ObjectRef::new("fleet-inputs", key).unwrap()
    }

    #[test]
    fn ids_and_keys_are_deterministic_and_safe() {
        let image = obj("flights/day 1/IMG 0001.jpg");
        assert_eq!(image_workflow_id("b1", 7, &image), "b1/7-IMG-0001.jpg");
        assert_eq!(image_workflow_id("my batch", 0, &image), "my-batch/0-IMG-0001.jpg");
        assert_eq!(image_output_prefix("b1", &image), "automation/b1/flights/day 1/IMG 0001.jpg");
        assert_eq!(geojson_object("fleet-outputs", "b1", &image).unwrap().key(), "automation/b1/flights/day 1/IMG 0001.jpg.geojson");
        assert_eq!(summary_part_object("fleet-outputs", "b1", 3).unwrap().key(), "automation/b1/summary/part-0003.json");
        assert_eq!(summary_object("fleet-outputs", "b1").unwrap().key(), "automation/b1/summary.json");
        assert!(summary_object("fleet-outputs", "../x").is_err());
        let (batch, collection) = collection_object(&summary_object("fleet-outputs", "b1").unwrap()).unwrap();
        assert_eq!((batch.as_str(), collection.key()), ("b1", "automation/b1/collection.json"));
        assert_eq!(collection_object(&summary_part_object("fleet-outputs", "b1", 3).unwrap()), None);
    }

    #[test]
    fn batch_ids_must_be_safe_in_ids_and_keys() {
        use contracts::automation::validate_batch_id;
        for good in ["b1", "demo", "batch-2024.06_01"] {
            assert!(validate_batch_id(good).is_ok(), "{good}");
        }
        for bad in [String::new(), ".hidden".into(), "../x".into(), "a/b".into(), "a b".into(), "x".repeat(101)] {
            let err = validate_batch_id(&bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn totals_count_every_status_and_kind() {
        let mut totals = BatchTotals::default();
        let passed = ImageOutcome { status: ImageStatus::Passed, kind: Some(ImageKind::Navad), ..error_outcome(&obj("a.jpg"), None, "x", None) };
        let failed = ImageOutcome { status: ImageStatus::FailedAccuracy, ..passed.clone() };
        let satellite = ImageOutcome { kind: Some(ImageKind::Satellite), ..passed.clone() };
        let error = error_outcome(&obj("c.jpg"), None, "not an image", Some("InvalidInput"));
        record(&mut totals, &passed);
        assert_eq!(single_kind(&totals), Some(ImageKind::Navad));
        for outcome in [&failed, &satellite, &error] {
            record(&mut totals, outcome);
        }
        assert_eq!(totals, BatchTotals { images: 4, navad: 2, satellite: 1, passed: 2, failed_accuracy: 1, errors: 1 });
        assert_eq!(single_kind(&totals), None);
    }

    #[test]
    fn tile_plans_follow_the_pixels() {
        let grid = |columns: u32, rows: u32, width: u32, height: u32| -> Vec<TileRef> {
            (0..rows)
                .flat_map(|row| (0..columns).map(move |column| (row, column)))
                .map(|(row, column)| TileRef {
                    column,
                    row,
                    x: column * width,
                    y: row * height,
                    width,
                    height,
                    object: obj(&format!("t/r{row}c{column}.png")),
                })
                .collect()
        };
        // 1 MP in a 4x4 grid: one task with all 16 tiles, in grid order.
        let one = tile_groups(grid(4, 4, 256, 256), 4_000_000);
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].iter().map(|t| (t.row, t.column)).collect::<Vec<_>>(),
            grid(4, 4, 256, 256).iter().map(|t| (t.row, t.column)).collect::<Vec<_>>()
        );
        // 12 MP: three tasks of 6, 5 and 5 tiles, as even as 16 tiles allow, in order.
        let twelve = tile_groups(grid(4, 4, 1000, 750), 4_000_000);
        assert_eq!(twelve.iter().map(Vec::len).collect::<Vec<_>>(), [6, 5, 5]);
        let flat: Vec<(u32, u32)> = twelve.iter().flatten().map(|t| (t.row, t.column)).collect();
        assert_eq!(flat, grid(4, 4, 1000, 750).iter().map(|t| (t.row, t.column)).collect::<Vec<_>>());
        // Never more tasks than tiles, never none.
        assert_eq!(tile_groups(grid(2, 1, 5000, 5000), 1).len(), 2);
        assert_eq!(tile_groups(grid(1, 1, 3, 3), 4_000_000).len(), 1);
    }

    #[test]
    fn error_outcomes_name_the_object() {
        let image = obj("f/corrupt.jpg");
        let named = error_outcome(&image, None, "s3://fleet-inputs/f/corrupt.jpg: truncated", Some("InvalidInput"));
        assert_eq!(named.error.as_deref(), Some("s3://fleet-inputs/f/corrupt.jpg: truncated (InvalidInput)"));
        let unnamed = error_outcome(&image, Some(ImageKind::Navad), "timed out", None);
        assert_eq!(unnamed.error.as_deref(), Some("s3://fleet-inputs/f/corrupt.jpg: timed out"));
        assert_eq!(unnamed.status, ImageStatus::Error);
    }
}
