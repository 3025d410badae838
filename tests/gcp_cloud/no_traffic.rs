//! `no_traffic`: the candidate revision under a short tag and 0%, then all traffic; a failed or
//! stopped candidate puts the traffic back as it was, without dagship's tag, so that the next
//! deploy moves traffic as usual and reports the revision that really serves.

use serde_json::Value;

use crate::world::{DIGEST_V2, Setup, World, finished, revision_with, said, short};

fn tags(service: &Value) -> Vec<String> {
    service["traffic"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["tag"].as_str().map(str::to_string))
        .collect()
}

fn serving(w: &World, name: &str) -> String {
    short(&w.service(name)["latestReadyRevision"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_candidate_is_rolled_back_and_the_next_deploy_moves_traffic() {
    let w = World::new().await;
    let no_traffic = |tag, mode| Setup {
        tag,
        mode,
        no_traffic: true,
        ..Setup::default()
    };
    w.pipeline(no_traffic("v1", "a"));
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let first = serving(&w, "docs");

    let message =
        "The user-provided container failed to start and listen on the port defined by PORT=8080.";
    w.fake.lock().unwrap().run.failing_images.insert(
        format!("europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V2}"),
        message.into(),
    );
    w.pipeline(no_traffic("v2", "a"));
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 1);
    let reason = finished(&events, "docs")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(message) && reason.contains(&format!("traffic stays on {first}")),
        "{reason}"
    );
    // Rolled back: traffic follows the latest ready revision again, and the tag is gone.
    let svc = w.service("docs");
    assert_eq!(revision_with(&svc, 100), [first.as_str()], "{svc:#}");
    assert!(tags(&svc).is_empty(), "{svc:#}");
    assert_eq!(
        svc["traffic"][0]["type"], "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
        "{svc:#}"
    );
    assert!(
        said(&events, "docs")
            .iter()
            .any(|l| l.contains("traffic is back as it was"))
    );

    // Fixed, and deployed without `no_traffic`: the new revision gets the traffic, and the
    // step reports the revision that serves it.
    w.fake.lock().unwrap().run.failing_images.clear();
    w.pipeline(Setup {
        tag: "v2",
        mode: "fixed",
        ..Setup::default()
    });
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let revision = finished(&events, "docs")["outputs"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(revision, first);
    assert_eq!(revision_with(&w.service("docs"), 100), [revision]);
}

/// Staged, checked, then moved: two writes, the second built from what Cloud Run answered
/// (without the `@type` of the operation's response, which Cloud Run would refuse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_is_staged_under_a_short_tag_then_given_all_traffic() {
    let w = World::new().await;
    // 39 characters: with the tag `dagship`, 46, Cloud Run's limit.
    let service = "warehouse-docs-europe-west1-production1";
    assert_eq!(service.len(), 39);
    let setup = |tag| Setup {
        tag,
        service,
        no_traffic: true,
        ..Setup::default()
    };
    w.pipeline(setup("v1"));
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let first = serving(&w, service);

    w.pipeline(setup("v2"));
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let revision = finished(&events, "docs")["outputs"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(revision, first);
    let writes = w.fake.lock().unwrap().run.writes.clone();
    let (staged, moved) = (&writes[writes.len() - 2], &writes[writes.len() - 1]);
    let candidate = staged["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "dagship")
        .unwrap_or_else(|| panic!("{staged:#}"));
    assert_eq!(
        (
            candidate["revision"].as_str(),
            candidate["percent"].as_u64()
        ),
        (Some(revision.as_str()), Some(0))
    );
    assert_eq!(revision_with(&w.service(service), 100), [revision.as_str()]);
    assert!(moved.get("@type").is_none());
    assert!(tags(&w.service(service)).is_empty());
    let lines = said(&events, "docs").join("\n");
    assert!(lines.contains("is ready at https://dagship---"), "{lines}");
}

/// A service without a ready revision serves nothing: its first good revision is deployed
/// directly (a traffic target must name a revision, and there is none to name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_serves_nothing_is_deployed_directly() {
    let w = World::new().await;
    w.fake.lock().unwrap().run.failing_images.insert(
        format!(
            "europe-docker.pkg.dev/acme/dbt/docs@{}",
            crate::world::DIGEST_V1
        ),
        "crashed".into(),
    );
    w.pipeline(Setup::default());
    let (code, _) = w.run_only(Some("docs")).await;
    assert_eq!(code, 1);
    assert!(w.service("docs")["latestReadyRevision"].is_null());
    w.fake.lock().unwrap().run.failing_images.clear();
    w.pipeline(Setup {
        tag: "v2",
        no_traffic: true,
        ..Setup::default()
    });
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let revision = finished(&events, "docs")["outputs"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(revision_with(&w.service("docs"), 100), [revision]);
}

/// The step's `timeout` ends the wait for the candidate; the traffic is put back before the
/// step ends. The candidate became ready meanwhile, so the traffic stays pinned to the
/// revision that served before rather than following "latest" to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_the_wait_and_puts_the_traffic_back() {
    let w = World::new().await;
    w.fake.lock().unwrap().run.polls = 0;
    w.pipeline(Setup {
        no_traffic: true,
        ..Setup::default()
    });
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let first = serving(&w, "docs");

    w.fake.lock().unwrap().run.polls = 4;
    w.pipeline(Setup {
        tag: "v2",
        no_traffic: true,
        timeout: Some("3s"),
        ..Setup::default()
    });
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 1);
    let reason = finished(&events, "docs")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("timed out after 3"), "{reason}");
    let svc = w.service("docs");
    assert!(tags(&svc).is_empty(), "{svc:#}");
    assert_eq!(revision_with(&svc, 100), [first], "{svc:#}");
    assert!(
        said(&events, "docs")
            .iter()
            .any(|l| l.contains("traffic is back as it was"))
    );
}
