//! The one list activity of the batch engine, [`ListBatchPage`](contracts::batch::ListBatchPage),
//! registered by every worker whose queue runs a batch workflow.

use contracts::batch::{ListPage, ListPageRequest};
use fleet::kit::is_image_key;
use fleet::{Storage, StorageError};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Keys read per listing call at most (S3's own page limit).
const MAX_PAGE: u32 = 1000;

/// Top-level folder of everything the automation pipeline writes (`automation/{batch_id}/...`).
pub const OUTPUT_ROOT: &str = "automation";

/// True when a listed key is a batch item: an image file ([`is_image_key`]), and not inside the
/// fleet's own output folder (tiles are PNGs) unless the listing asked for that folder on
/// purpose. Sidecars (`.metadata.json`, `.sha256`, world files, GeoJSON) fall out by extension.
pub fn is_batch_image(key: &str, listing_prefix: &str) -> bool {
    if !is_image_key(key) {
        return false;
    }
    let in_outputs = key.starts_with(&format!("{OUTPUT_ROOT}/"));
    let listing_outputs = listing_prefix.starts_with(&format!("{OUTPUT_ROOT}/")) || listing_prefix == OUTPUT_ROOT;
    !in_outputs || listing_outputs
}

/// One page of a prefix listing, split into batch images and skipped keys.
pub async fn list_page(storage: &Storage, request: &ListPageRequest) -> Result<ListPage, ActivityError> {
    let location = &request.location;
    let max_keys = request.max_keys.clamp(1, MAX_PAGE) as i32;
    let (listed, next_after) = storage
        .list_page(&location.bucket, &location.prefix, request.start_after.as_deref(), max_keys)
        .await
        .map_err(StorageError::into_activity_error)?;
    let page = split_page(listed, &location.prefix, next_after);
    tracing::debug!(%location, images = page.objects.len(), more = page.next_after.is_some(), "listed a page");
    Ok(page)
}

/// The batch images among `listed` (keys in order), with the skipped keys counted where they lie.
fn split_page(listed: Vec<contracts::ObjectRef>, listing_prefix: &str, next_after: Option<String>) -> ListPage {
    let mut page = ListPage { objects: Vec::new(), skipped_before: Vec::new(), skipped_after: 0, next_after };
    for object in listed {
        if is_batch_image(object.key(), listing_prefix) {
            page.objects.push(object);
            page.skipped_before.push(std::mem::take(&mut page.skipped_after));
        } else {
            page.skipped_after += 1;
        }
    }
    page
}

/// The batch engine's activities.
pub struct BatchActivities {
    storage: Storage,
}

impl BatchActivities {
    /// Activities over `storage`.
    pub fn new(storage: Storage) -> Self {
        Self { storage }
    }
}

#[activities]
impl BatchActivities {
    /// Lists one page of keys under the request's prefix and keeps the batch images.
    #[activity(definition = contracts::batch::ListBatchPage)]
    pub async fn list_batch_page(self: Arc<Self>, _ctx: ActivityContext, request: ListPageRequest) -> Result<ListPage, ActivityError> {
        list_page(&self.storage, &request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_keeps_images_and_skips_sidecars_and_outputs() {
        for key in ["f/a.jpg", "f/b.JPEG", "f/c.png", "f/d.tif", "f/e.TIFF"] {
            assert!(is_batch_image(key, "f/"), "{key}");
        }
        for key in [
            "f/a.jpg.metadata.json",
            "f/a.jpg.sha256",
            "f/a.json",
            "f/d.tfw",
            "f/d.jgw",
            "f/d.wld",
            "f/d.tif.aux.xml",
            "f/a.jpg.geojson",
            "f/noextension",
            "f/.png",
            "automation/b1/f/a.jpg/tiles/r0-c0.png",
        ] {
            assert!(!is_batch_image(key, ""), "{key}");
        }
        // Asking for the output folder explicitly is allowed.
        assert!(is_batch_image("automation/b1/x.png", "automation/b1/"));
    }

    #[test]
    fn skipped_keys_are_counted_where_they_lie() {
        let keys = ["f/a.jpg.sha256", "f/a.jpg", "f/b.jpg", "f/b.tfw", "f/b.xml", "f/c.png", "f/notes.txt"];
        let listed = keys.iter().map(|k| contracts::ObjectRef::new("fleet-inputs", *k).unwrap()).collect();
        let page = split_page(listed, "f/", Some("f/notes.txt".into()));
        let names: Vec<&str> = page.objects.iter().map(|o| o.key()).collect();
        assert_eq!(names, ["f/a.jpg", "f/b.jpg", "f/c.png"]);
        assert_eq!(page.skipped_before, [1, 0, 2]);
        assert_eq!(page.skipped_after, 1);
        assert_eq!(page.next_after.as_deref(), Some("f/notes.txt"));
    }
}
