//! Deploys of a Cloud Run service and job and a sync to Composer, through the answers Cloud
//! Run gives under load, and the values Cloud Run would refuse, refused before any call.

use serde_json::json;

use crate::gcp_support::download;
use crate::gcp_support::fake_google::account_token;
use crate::world::{DEPLOYER, DIGEST_V1, DIGEST_V2, Setup, World, finished, paths, said};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_pin_digests_wait_for_operations_and_sync_to_composer() {
    let w = World::new().await;
    w.pipeline(Setup::default());
    // Answers Cloud Run gives under load: each is retried, or re-read and written again.
    w.fake.lock().unwrap().script = vec![
        ("POST".into(), "/services".into(), 503, 1),
        ("GET".into(), "/operations/".into(), 429, 1),
        ("POST".into(), "/jobs".into(), 409, 1),
    ];
    let (code, events) = w.run().await;
    assert_eq!(code, 0, "{events:#?}");
    let docs = &finished(&events, "docs")["outputs"];
    assert_eq!(docs["image_digest"], DIGEST_V1);
    assert!(
        docs["revision"].as_str().unwrap().starts_with("docs-00001"),
        "{docs}"
    );
    assert_eq!(docs["url"], "https://docs-abc123-ew.a.run.app");
    assert_eq!(finished(&events, "runner")["outputs"]["job"], "dbt-runner");
    let upload = &finished(&events, "upload")["outputs"];
    assert_eq!(
        (upload["added"].as_str(), upload["unchanged"].as_str()),
        (Some("2"), Some("0"))
    );
    assert_eq!(
        download(
            &w.gcs.url,
            "europe-west1-composer-staging-bucket",
            "dags/a.py"
        )
        .await
        .as_deref(),
        Some("a = 1")
    );

    let svc = w.service("docs");
    let container = &svc["template"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V1}")
    );
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(
        container["env"][2],
        json!({ "name": "DB_URL", "valueSource": { "secretKeyRef": { "secret": "db-url", "version": "3" } } })
    );
    let job =
        w.fake.lock().unwrap().run.jobs["projects/acme/locations/europe-west1/jobs/dbt-runner"]
            .clone();
    assert_eq!(job["template"]["taskCount"], 2);
    assert_eq!(job["template"]["template"]["timeout"], "3600s");
    let deployer = account_token(DEPLOYER);
    let log = w.fake.lock().unwrap().log.clone();
    assert!(
        log.iter()
            .filter(|(p, _)| p.contains("/v2/projects/"))
            .all(|(_, t)| t.as_deref() == Some(deployer.as_str())),
        "every call carried the deployer's token"
    );
    // Artifact Registry was asked with the same token, as a bearer token, and nothing else.
    let registry = w.registry.lock().unwrap().log.clone();
    assert!(!registry.is_empty());
    assert!(
        registry
            .iter()
            .all(|(_, a)| a.as_deref() == Some(format!("Bearer {deployer}").as_str())),
        "{registry:?}"
    );

    // Nothing changed: the plan says so, field by field.
    let (code, plan, err) = w.dagship(&["plan", "--env", "staging"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(plan.matches("live: no change").count(), 2, "{plan}");
    assert!(
        plan.contains("files: 0 to add, 0 to change, 0 to delete, 2 unchanged"),
        "{plan}"
    );

    w.pipeline(Setup {
        tag: "v2",
        mode: "b",
        ..Setup::default()
    });
    std::fs::write(w.dir.path().join("dags/a.py"), "a = 2").unwrap();
    std::fs::remove_file(w.dir.path().join("dags/b.py")).unwrap();
    let (_, plan, _) = w.dagship(&["plan", "--env", "staging"]).await;
    for line in [
        format!(
            "~ image: europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V1} → europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V2}"
        ),
        "~ env.MODE: \"a\" → \"b\"".to_string(),
        "~ a.py".to_string(),
        "- b.py".to_string(),
        "files: 0 to add, 1 to change, 1 to delete, 0 unchanged".to_string(),
    ] {
        assert!(plan.contains(&line), "plan lacks `{line}`:\n{plan}");
    }
    assert!(!plan.contains("s3cret"), "{plan}");
    let writes = w.fake.lock().unwrap().run.writes.len();
    assert_eq!(writes, 2, "a plan never writes");
}

/// The create is carried out but its answer lost; the retried create finds the service there
/// (409 ALREADY_EXISTS) while its operation still runs. dagship waits for it to settle, sees
/// that it runs the spec, and writes nothing more (a PATCH now would be refused, 409 ABORTED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_waits_for_its_operation_instead_of_patching() {
    let w = World::new().await;
    w.pipeline(Setup::default());
    {
        let mut fake = w.fake.lock().unwrap();
        fake.run.polls = 3;
        fake.lost_answers = vec![("POST".into(), "/services".into(), 1)];
    }
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 0, "{events:#?}");
    let calls = paths(&w.fake);
    let creates = calls.iter().filter(|c| c.starts_with("POST /v2/")).count();
    assert_eq!(creates, 2, "the create and its retry: {calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("PATCH")), "{calls:?}");
    assert_eq!(w.fake.lock().unwrap().run.writes.len(), 1);
    let lines = said(&events, "docs").join("\n");
    assert!(lines.contains("ALREADY_EXISTS"), "{lines}");
    assert!(
        lines.contains("already runs this spec") || lines.contains("serves revision"),
        "{lines}"
    );
    let docs = &finished(&events, "docs")["outputs"];
    assert!(
        docs["revision"].as_str().unwrap().starts_with("docs-00001"),
        "{docs}"
    );
}

/// A region that holds an expression is known only when the step starts; a zone there fails
/// the step before any call to the registry or Cloud Run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_value_cloud_run_would_refuse_fails_the_step_before_any_call() {
    let w = World::new().await;
    w.pipeline(Setup {
        region: "europe-west1-b",
        ..Setup::default()
    });
    let (code, out, err) = w.dagship(&["validate"]).await;
    assert_eq!(
        code, 0,
        "an expression is not checked when the file loads: {out}{err}"
    );
    let (code, events) = w.run_only(Some("docs")).await;
    assert_eq!(code, 1);
    let reason = finished(&events, "docs")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("`europe-west1-b` is a zone; Cloud Run takes its region, `europe-west1`"),
        "{reason}"
    );
    assert!(w.registry.lock().unwrap().log.is_empty());
    let calls = paths(&w.fake);
    assert!(!calls.iter().any(|c| c.contains("/v2/")), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_environment_that_does_not_exist_is_named() {
    let w = World::new().await;
    w.pipeline(Setup::default());
    w.fake.lock().unwrap().environments.clear();
    let (code, out, _) = w
        .dagship(&[
            "run", "--env", "staging", "--output", "json", "--only", "upload",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(out.contains("Composer environment `composer-staging` was not found in project acme, region europe-west1"), "{out}");
}
