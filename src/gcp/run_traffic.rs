//! Where a service's traffic goes (`traffic`, a list of `TrafficTarget`s in the Admin API v2),
//! for deploying a candidate revision without traffic: pin today's traffic and add the
//! candidate under a tag with 0%, then move all traffic to it, or put the traffic back as it
//! was when the candidate fails.
//!
//! A `REVISION` target always names a revision (Cloud Run refuses one without), and dagship's
//! tag is short: Cloud Run refuses a tag whose length plus the service name's exceeds 46.

use serde_json::{Value, json};

use super::cloud_run::short_name;

/// The tag a candidate revision is deployed under; its URL is `https://dagship---SERVICE-...`.
pub const CANDIDATE_TAG: &str = "dagship";

const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";

/// Tags dagship made: its own, and the `dagship-XXXXXXXX` ones of earlier versions.
fn is_dagships(target: &Value) -> bool {
    target["tag"]
        .as_str()
        .is_some_and(|t| t == CANDIDATE_TAG || t.starts_with("dagship-"))
}

/// A service's traffic as a list; an empty one means what Cloud Run does then: all to the
/// latest ready revision.
fn targets(traffic: &Value) -> Vec<Value> {
    match traffic.as_array() {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!({ "type": LATEST, "percent": 100 })],
    }
}

/// "Latest" entries pinned to `serving`, so that a new revision gets nothing by becoming the
/// latest.
fn pin_latest(list: &mut [Value], serving: &str) {
    for t in list {
        if t["type"] == LATEST {
            t["type"] = json!(REVISION);
            t["revision"] = json!(serving);
        }
    }
}

/// Today's traffic pinned to `serving`, without dagship's old tags, plus `candidate` under
/// [`CANDIDATE_TAG`] with 0%.
pub fn staged(traffic: &Value, serving: &str, candidate: &str) -> Value {
    let mut list: Vec<Value> = targets(traffic)
        .into_iter()
        .filter(|t| !is_dagships(t))
        .collect();
    pin_latest(&mut list, serving);
    list.push(json!({
        "type": REVISION, "revision": candidate, "percent": 0, "tag": CANDIDATE_TAG
    }));
    Value::Array(list)
}

/// All traffic to the latest revision (the candidate, now ready); other people's tags keep
/// their routes with 0%, dagship's go.
pub fn moved(traffic: &Value) -> Value {
    let mut list = vec![json!({ "type": LATEST, "percent": 100 })];
    for t in targets(traffic) {
        if t["tag"].as_str().is_some_and(|tag| !tag.is_empty()) && !is_dagships(&t) {
            let mut kept = t.clone();
            kept["percent"] = json!(0);
            list.push(kept);
        }
    }
    Value::Array(list)
}

/// The traffic as it was before a candidate was staged, without dagship's tags. When the
/// candidate became ready after all, "latest" would send traffic to it: then it stays pinned
/// to `serving` instead.
pub fn restored(before: &Value, pin_to: Option<&str>) -> Value {
    let mut list: Vec<Value> = targets(before)
        .into_iter()
        .filter(|t| !is_dagships(t))
        .collect();
    if let Some(serving) = pin_to {
        pin_latest(&mut list, serving);
    }
    Value::Array(list)
}

/// The revision that serves the most traffic now (`trafficStatuses`), else the latest ready
/// one: what a deploy reports, since a pinned service does not serve its newest revision.
pub fn serving_revision(service: &Value) -> Option<String> {
    let latest_ready = service["latestReadyRevision"]
        .as_str()
        .map(short_name)
        .filter(|r| !r.is_empty());
    let statuses = service["trafficStatuses"].as_array();
    let top = statuses
        .into_iter()
        .flatten()
        .max_by_key(|s| s["percent"].as_u64().unwrap_or(0));
    let from_status = top.and_then(|s| match s["revision"].as_str().filter(|r| !r.is_empty()) {
        Some(revision) => Some(short_name(revision)),
        None if s["type"] == LATEST => latest_ready,
        None => None,
    });
    from_status.or(latest_ready).map(str::to_string)
}

/// The URL of the candidate's tag, once Cloud Run reports it.
pub fn candidate_url(service: &Value) -> Option<&str> {
    service["trafficStatuses"]
        .as_array()?
        .iter()
        .find(|t| t["tag"] == CANDIDATE_TAG)?["uri"]
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_pinned_then_moved_and_old_dagship_tags_go() {
        let live = json!([{ "type": LATEST, "percent": 100 },
                          { "type": REVISION, "revision": "s-old", "percent": 0, "tag": "old" },
                          { "type": REVISION, "revision": "s-x", "percent": 0, "tag": "dagship-1a2b3c4d" }]);
        let pinned = staged(&live, "s-1", "s-2");
        assert_eq!(
            pinned,
            json!([{ "type": REVISION, "revision": "s-1", "percent": 100 },
                   { "type": REVISION, "revision": "s-old", "percent": 0, "tag": "old" },
                   { "type": REVISION, "revision": "s-2", "percent": 0, "tag": "dagship" }])
        );
        let all = moved(&pinned);
        assert_eq!(
            all,
            json!([{ "type": LATEST, "percent": 100 },
                   { "type": REVISION, "revision": "s-old", "percent": 0, "tag": "old" }])
        );
    }

    #[test]
    fn an_empty_traffic_list_is_all_to_the_latest() {
        let pinned = staged(&Value::Null, "s-1", "s-2");
        assert_eq!(pinned[0]["revision"], "s-1");
        assert_eq!(
            restored(&json!([]), None),
            json!([{ "type": LATEST, "percent": 100 }])
        );
    }

    #[test]
    fn restoring_drops_dagship_tags_and_pins_only_when_asked() {
        let before = json!([{ "type": LATEST, "percent": 100 },
                            { "type": REVISION, "revision": "s-x", "percent": 0, "tag": "dagship" }]);
        assert_eq!(
            restored(&before, None),
            json!([{ "type": LATEST, "percent": 100 }])
        );
        assert_eq!(
            restored(&before, Some("s-1")),
            json!([{ "type": REVISION, "revision": "s-1", "percent": 100 }])
        );
    }

    #[test]
    fn the_serving_revision_is_the_one_with_the_traffic() {
        let pinned = json!({
            "latestReadyRevision": "projects/p/locations/r/services/s/revisions/s-2",
            "trafficStatuses": [
                { "type": REVISION, "revision": "s-1", "percent": 100 },
                { "type": REVISION, "revision": "s-2", "percent": 0, "tag": "dagship", "uri": "https://dagship---s" }
            ]
        });
        assert_eq!(serving_revision(&pinned).as_deref(), Some("s-1"));
        assert_eq!(candidate_url(&pinned), Some("https://dagship---s"));
        let latest = json!({
            "latestReadyRevision": "projects/p/locations/r/services/s/revisions/s-2",
            "trafficStatuses": [{ "type": LATEST, "percent": 100 }]
        });
        assert_eq!(serving_revision(&latest).as_deref(), Some("s-2"));
        assert_eq!(serving_revision(&json!({})), None);
    }
}
