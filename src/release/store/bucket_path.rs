//! What the Cloud Storage and the S3 stores share: where in a bucket the keys are, and how
//! a store knows its own write again.

use std::collections::BTreeMap;

/// Where a bucket store keeps its keys: objects under a prefix of a bucket,
/// `SCHEME://BUCKET/PREFIX`.
pub(super) struct BucketPath {
    scheme: &'static str,
    pub(super) bucket: String,
    /// Empty, or ending in `/`: what every key is put under.
    root: String,
}

impl BucketPath {
    pub(super) fn new(scheme: &'static str, bucket: &str, prefix: &str) -> BucketPath {
        let root = match prefix.trim_matches('/') {
            "" => String::new(),
            prefix => format!("{prefix}/"),
        };
        BucketPath {
            scheme,
            bucket: bucket.to_string(),
            root,
        }
    }

    /// The object that holds `key` (or the name prefix of the keys under a `key/`).
    pub(super) fn object(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }

    /// `gs://bucket/prefix`, for messages.
    pub(super) fn url(&self) -> String {
        match self.root.strip_suffix('/') {
            Some(prefix) => format!("{}://{}/{prefix}", self.scheme, self.bucket),
            None => format!("{}://{}", self.scheme, self.bucket),
        }
    }

    /// The keys that listed object names hold, sorted; a folder placeholder (`a/b/`, as the
    /// consoles make) is no key.
    pub(super) fn keys(&self, names: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut keys: Vec<String> = names
            .into_iter()
            .filter_map(|name| name.strip_prefix(&self.root).map(str::to_string))
            .filter(|key| !key.is_empty() && !key.ends_with('/'))
            .collect();
        keys.sort();
        keys
    }
}

/// Object metadata key: a number drawn for each write, to know our own write again.
pub(super) const WRITE_KEY: &str = "dagship-write";

/// A number drawn for one write, and the object metadata that carries it: a write refused
/// because the object changed, whose object carries our number, was ours after all (a
/// retry whose first answer was lost).
pub(super) fn write_mark() -> (String, BTreeMap<String, String>) {
    let mark = format!("{:016x}", fastrand::u64(..));
    let metadata = BTreeMap::from([(WRITE_KEY.to_string(), mark.clone())]);
    (mark, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_folder_and_keys_are_read_back_under_it() {
        let at = BucketPath::new("gs", "bk", "/state/");
        assert_eq!(at.url(), "gs://bk/state");
        assert_eq!(at.object("e/lock.json"), "state/e/lock.json");
        let names = ["state/b", "state/a/", "state/a/x", "other/c", "state/"];
        let keys = at.keys(names.iter().map(|n| n.to_string()));
        assert_eq!(keys, ["a/x", "b"]);
        let bare = BucketPath::new("s3", "bk", "");
        assert_eq!(
            (bare.url(), bare.object("k")),
            ("s3://bk".into(), "k".into())
        );
    }
}
