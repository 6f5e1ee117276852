//! STAC 1.1 documents of the satellite path: where the Item of an image goes (beside its
//! GeoJSON, written by the geolocalization worker) and the Collection of a batch (beside the
//! batch's summary, written by the orchestrator from the Items of the batch).
//!
//! The Collection's spatial extent is the smallest longitude range holding every Item's
//! (across the antimeridian when that is shorter, then west > east as in the Items) and the
//! latitude range of all; its temporal extent runs from the earliest to the latest Item time.

use serde_json::{Value, json};

/// STAC version of every document written.
pub const STAC_VERSION: &str = "1.1.0";
/// The projection extension the Items use (`proj:code`, `proj:shape`, `proj:transform`).
pub const PROJECTION_EXTENSION: &str = "https://stac-extensions.github.io/projection/v2.0.0/schema.json";
/// Name of a batch's Collection, beside its `summary.json`.
pub const COLLECTION_NAME: &str = "collection.json";
/// Suffix of an Item's key.
const ITEM_SUFFIX: &str = ".stac-item.json";

/// The key of the STAC Item written beside the GeoJSON at `geojson_key`
/// (`scene.tif.geojson` -> `scene.tif.stac-item.json`).
pub fn item_key(geojson_key: &str) -> String {
    let stem = geojson_key.strip_suffix(".geojson").unwrap_or(geojson_key);
    format!("{stem}{ITEM_SUFFIX}")
}

/// A STAC id for the image at `key`: the key with `/` as `__` and anything outside
/// `A-Z a-z 0-9 - _ .` as `_` (ids end up in URLs of STAC APIs).
pub fn item_id(key: &str) -> String {
    key.replace('/', "__").chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// The batch's Collection: `items` are `(href relative to the Collection, the Item)`, in batch
/// order; `self_href` is where the Collection is written.
pub fn collection(batch_id: &str, self_href: &str, items: &[(String, Value)]) -> Value {
    let bboxes: Vec<[f64; 4]> = items.iter().filter_map(|(_, item)| bbox_of(item)).collect();
    let spatial = union_bbox(&bboxes).map_or_else(|| json!([[-180.0, -90.0, 180.0, 90.0]]), |b| json!([b]));
    let mut times: Vec<&str> = items
        .iter()
        .flat_map(|(_, item)| {
            let p = &item["properties"];
            [&p["datetime"], &p["start_datetime"], &p["end_datetime"]].into_iter().filter_map(Value::as_str).collect::<Vec<_>>()
        })
        .collect();
    // RFC 3339 in UTC with `Z`: the text order is the time order, fractions aside.
    times.sort_unstable();
    let temporal = json!([[times.first(), times.last()]]);
    let mut links = vec![
        json!({ "rel": "self", "href": self_href, "type": "application/json" }),
        json!({ "rel": "root", "href": format!("./{COLLECTION_NAME}"), "type": "application/json" }),
    ];
    links.extend(items.iter().map(|(href, item)| json!({ "rel": "item", "href": href, "type": "application/geo+json", "title": item["id"] })));
    json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": item_id(&format!("automation-{batch_id}")),
        "title": format!("Automation batch {batch_id}: satellite footprints"),
        "description": format!("Footprints of the satellite images of automation batch `{batch_id}`, one STAC Item each (projection extension), computed by the geolocalization worker with GDAL."),
        "license": "other",
        "extent": { "spatial": { "bbox": spatial }, "temporal": { "interval": temporal } },
        "links": links,
    })
}

/// `[west, south, east, north]` of an Item.
fn bbox_of(item: &Value) -> Option<[f64; 4]> {
    let b = item["bbox"].as_array()?;
    let v: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
    (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
}

/// The smallest box holding every box of `boxes` (west > east for a box across the
/// antimeridian): the longitude ranges as arcs of the circle, the largest gap between them left
/// out.
pub fn union_bbox(boxes: &[[f64; 4]]) -> Option<[f64; 4]> {
    let south = boxes.iter().map(|b| b[1]).fold(f64::INFINITY, f64::min);
    let north = boxes.iter().map(|b| b[3]).fold(f64::NEG_INFINITY, f64::max);
    // Arcs as [start, end] with start in [-180, 180) and end >= start (end may pass 180).
    let mut arcs: Vec<(f64, f64)> = boxes.iter().map(|b| (b[0], if b[2] >= b[0] { b[2] } else { b[2] + 360.0 })).collect();
    if arcs.is_empty() {
        return None;
    }
    arcs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Merge overlapping arcs in one sweep, then find the widest gap, wrap-around included.
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (start, end) in arcs {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    // An arc passing 180 may overlap the first arcs once wrapped.
    while merged.len() > 1 {
        let last_end = merged[merged.len() - 1].1 - 360.0;
        if last_end >= merged[0].0 {
            let first = merged.remove(0);
            let last = merged.len() - 1;
            merged[last].1 = merged[last].1.max(first.1 + 360.0);
        } else {
            break;
        }
    }
    if merged.iter().any(|(start, end)| end - start >= 360.0) {
        return Some([-180.0, south, 180.0, north]);
    }
    // The gap after arc i runs to the start of arc i+1 (the last one's wraps to the first).
    let n = merged.len();
    let (mut widest, mut after) = (f64::NEG_INFINITY, n - 1);
    for i in 0..n {
        let next_start = if i + 1 < n { merged[i + 1].0 } else { merged[0].0 + 360.0 };
        let gap = next_start - merged[i].1;
        if gap > widest {
            widest = gap;
            after = i;
        }
    }
    let west = merged[(after + 1) % n].0;
    let east = merged[after].1;
    let wrap = |lon: f64| if lon > 180.0 { lon - 360.0 } else { lon };
    Some([wrap(west), south, wrap(east), north])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_keys_and_ids() {
        assert_eq!(item_key("automation/b1/sat/a.tif.geojson"), "automation/b1/sat/a.tif.stac-item.json");
        assert_eq!(item_key("x/footprint"), "x/footprint.stac-item.json");
        assert_eq!(item_id("uploads/day 1/a.tif"), "uploads__day_1__a.tif");
    }

    #[test]
    fn union_of_boxes_takes_the_short_way_round() {
        assert_eq!(union_bbox(&[]), None);
        assert_eq!(union_bbox(&[[10.0, 40.0, 12.0, 41.0], [11.0, 39.0, 15.0, 40.5]]), Some([10.0, 39.0, 15.0, 41.0]));
        // One box across the antimeridian and one just east of it: still across.
        assert_eq!(union_bbox(&[[178.0, 50.0, -178.5, 52.5], [-177.0, 49.0, -176.0, 50.0]]), Some([178.0, 49.0, -176.0, 52.5]));
        // Boxes at 170°E and 170°W: 20° across the antimeridian beats 340° the other way.
        assert_eq!(union_bbox(&[[169.0, 0.0, 171.0, 1.0], [-171.0, 0.0, -169.0, 1.0]]), Some([169.0, 0.0, -169.0, 1.0]));
        // Boxes at 10°W and 10°E: across Greenwich.
        assert_eq!(union_bbox(&[[-11.0, 0.0, -9.0, 1.0], [9.0, 0.0, 11.0, 1.0]]), Some([-11.0, 0.0, 11.0, 1.0]));
    }

    #[test]
    fn collection_links_items_and_spans_their_extent() {
        let item = |id: &str, bbox: [f64; 4], datetime: &str| json!({ "id": id, "bbox": bbox, "properties": { "datetime": datetime } });
        let items = vec![
            ("./a.tif.stac-item.json".to_owned(), item("a", [10.0, 40.0, 12.0, 41.0], "2024-06-01T10:00:00Z")),
            ("./b.tif.stac-item.json".to_owned(), item("b", [11.0, 39.0, 15.0, 40.5], "2023-01-01T00:00:00Z")),
        ];
        let c = collection("b1", "s3://fleet-outputs/automation/b1/collection.json", &items);
        assert_eq!(c["extent"]["spatial"]["bbox"], json!([[10.0, 39.0, 15.0, 41.0]]));
        assert_eq!(c["extent"]["temporal"]["interval"], json!([["2023-01-01T00:00:00Z", "2024-06-01T10:00:00Z"]]));
        let rels: Vec<&str> = c["links"].as_array().unwrap().iter().map(|l| l["rel"].as_str().unwrap()).collect();
        assert_eq!(rels, ["self", "root", "item", "item"]);
        assert_eq!(c["id"], "automation-b1");
    }
}
