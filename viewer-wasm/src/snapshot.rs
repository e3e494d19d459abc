//! Rebuilds the catalog from its track's frames: the first frame of each group is a full JSON
//! snapshot, later frames in the group are RFC 7396 merge patches applied in order (hang's
//! "snapshot" mode, as moq-json writes it). What a group may make the viewer hold is capped:
//! each frame at [`MAX_FRAME_BYTES`], the patches since its snapshot at [`MAX_PATCH_BYTES`].

use serde_json::{Map, Value};

use crate::catalog::{Catalog, CatalogError};

/// Largest catalog frame accepted: far above any real catalog, low enough that a hostile
/// publisher can't make the viewer parse megabytes per update.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Most patch bytes a group may apply after its snapshot; past it the value is dropped until
/// the next group's snapshot. moq-json's encoder starts a new group once its patches outweigh
/// 8 snapshots (or after 256 frames), and a real catalog is a few KiB, so no real publisher comes
/// near. A merge patch only keeps what it carries, so the document never holds more than its
/// snapshot and these patches: at most 2 MiB of JSON, however long a hostile group runs.
pub const MAX_PATCH_BYTES: usize = 1 << 20;

/// The catalog as reconstructed so far from the current group.
#[derive(Debug, Default)]
pub struct Snapshot {
    current: Option<Value>,
    /// Bytes of the patches applied since the snapshot.
    patch_bytes: usize,
}

impl Snapshot {
    /// Apply one frame of the catalog track; `first_in_group` says whether it is the snapshot.
    /// A failed frame invalidates the value until the next group's snapshot.
    pub fn apply(&mut self, first_in_group: bool, payload: &[u8]) -> Result<(), CatalogError> {
        let result = self.try_apply(first_in_group, payload);
        if result.is_err() {
            self.current = None;
        }
        result
    }

    fn try_apply(&mut self, first_in_group: bool, payload: &[u8]) -> Result<(), CatalogError> {
        if payload.len() > MAX_FRAME_BYTES {
            return Err(CatalogError(format!(
                "catalog frame of {} bytes is too large",
                payload.len()
            )));
        }
        let value: Value = serde_json::from_slice(payload)
            .map_err(|err| CatalogError(format!("not JSON: {err}")))?;
        if first_in_group {
            self.current = Some(value);
            self.patch_bytes = 0;
            return Ok(());
        }
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| CatalogError("a catalog patch arrived without its snapshot".into()))?;
        self.patch_bytes += payload.len();
        if self.patch_bytes > MAX_PATCH_BYTES {
            return Err(CatalogError(format!(
                "the catalog's patches since its snapshot exceed {} KiB; waiting for the next snapshot",
                MAX_PATCH_BYTES / 1024
            )));
        }
        merge_patch(current, value);
        Ok(())
    }

    /// The catalog the frames so far describe, or `None` before a snapshot.
    pub fn catalog(&self) -> Option<Result<Catalog, CatalogError>> {
        self.current.as_ref().map(Catalog::from_value)
    }
}

/// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(&key);
            } else {
                merge_patch(map.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's own example.
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));

        let mut target = json!({"a": [1]});
        merge_patch(&mut target, json!({"a": {"b": 1}}));
        assert_eq!(target, json!({"a": {"b": 1}}));

        let mut target = json!({"a": 1});
        merge_patch(&mut target, json!([2]));
        assert_eq!(target, json!([2]));
    }

    #[test]
    fn snapshot_then_patches_rebuild_the_catalog() {
        let mut snapshot = Snapshot::default();
        assert!(snapshot.catalog().is_none());

        let first = br#"{"video":{"renditions":{"v":{"codec":"avc1.640020","codedWidth":640,"codedHeight":360}}}}"#;
        snapshot.apply(true, first).expect("snapshot");
        let catalog = snapshot.catalog().expect("present").expect("valid");
        assert_eq!(catalog.video.renditions["v"].coded_width, Some(640));

        let patch = br#"{"video":{"renditions":{"v":{"codedWidth":1280,"codedHeight":720}}}}"#;
        snapshot.apply(false, patch).expect("patch");
        let catalog = snapshot.catalog().expect("present").expect("valid");
        assert_eq!(catalog.video.renditions["v"].coded_width, Some(1280));
        assert_eq!(catalog.video.renditions["v"].codec, "avc1.640020");

        // A new group starts over from its own snapshot.
        snapshot
            .apply(true, br#"{"video":{"renditions":{}}}"#)
            .expect("snapshot");
        assert!(
            snapshot
                .catalog()
                .expect("present")
                .expect("valid")
                .video
                .renditions
                .is_empty()
        );
    }

    #[test]
    fn garbage_is_an_error_and_drops_the_value() {
        let mut snapshot = Snapshot::default();
        assert!(
            snapshot.apply(false, b"{}").is_err(),
            "a patch needs a snapshot"
        );
        snapshot.apply(true, b"{}").expect("snapshot");
        let err = snapshot.apply(false, b"{not json").expect_err("bad patch");
        assert!(err.to_string().contains("not JSON"), "{err}");
        assert!(snapshot.catalog().is_none());
        assert!(
            snapshot
                .apply(true, &vec![b' '; MAX_FRAME_BYTES + 1])
                .is_err()
        );
    }

    #[test]
    fn patches_past_the_cap_drop_the_value_until_the_next_snapshot() {
        let mut snapshot = Snapshot::default();
        snapshot.apply(true, b"{}").expect("snapshot");
        // Each patch adds a new key of 64 KiB: the document would grow without end.
        let patch = |key: usize| format!(r#"{{"k{key:02}":"{}"}}"#, "x".repeat(64 * 1024));
        let per_patch = patch(0).len();
        let fit = MAX_PATCH_BYTES / per_patch;
        for key in 0..fit {
            snapshot
                .apply(false, patch(key).as_bytes())
                .expect("within the cap");
        }
        let err = snapshot
            .apply(false, patch(fit).as_bytes())
            .expect_err("past the cap");
        assert!(err.to_string().contains("next snapshot"), "{err}");
        assert!(snapshot.catalog().is_none());
        assert!(snapshot.apply(false, b"{}").is_err(), "still no baseline");
        // The next group starts over with a fresh budget.
        snapshot.apply(true, b"{}").expect("snapshot");
        snapshot
            .apply(false, patch(0).as_bytes())
            .expect("a new budget");
    }
}
