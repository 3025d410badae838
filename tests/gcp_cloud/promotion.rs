//! A release cut in staging and promoted to prod against the fakes, with the release store in
//! a bucket of fake-gcs-server: prod gets the digests staging recorded, even after the tag
//! moved, without asking the registry; the DAG files are the same bytes in both buckets.

use crate::gcp_support::download;
use crate::world::{DIGEST_V1, DIGEST_V2, World, paths};

const PIPELINE: &str = r#"version: 1
name: t
environments:
  staging:
    project: acme
    region: europe-west1
    dags_target: { bucket: gs://staging-dags, prefix: dags/ }
    state: { bucket: gs://deploy-state/warehouse }
  prod:
    project: acme-prod
    region: europe-west1
    dags_target: { bucket: gs://prod-dags, prefix: dags/ }
    state: { bucket: gs://deploy-state/warehouse }
    promote_from: staging
steps:
  docs:
    uses: cloud_run_service
    with:
      name: docs
      image: europe-docker.pkg.dev/acme/dbt/docs:v1
  upload:
    uses: composer_dags
    with: { source: dags, prune: true }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_gets_the_digest_staging_recorded_without_asking_the_registry() {
    let w = World::new().await;
    for bucket in ["deploy-state", "staging-dags", "prod-dags"] {
        w.gcs.bucket(bucket).await;
    }
    std::fs::write(w.dir.path().join("pipeline.yaml"), PIPELINE).unwrap();
    let (code, _, err) = w.dagship(&["run", "--env", "staging"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, listed, err) = w
        .dagship(&["releases", "--env", "staging", "--format", "json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let release = &listed["releases"][0];
    let pinned = format!("europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V1}");
    let docs = release["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "docs")
        .unwrap();
    assert_eq!(docs["artifact"]["image"], pinned.as_str(), "{release}");
    assert_eq!(docs["artifact"]["kind"], "image");

    // The tag moves on; a promotion ships what staging tested, not what `v1` is now.
    w.registry
        .lock()
        .unwrap()
        .manifests
        .insert("acme/dbt/docs:v1".into(), DIGEST_V2.into());
    let asked = w.registry.lock().unwrap().log.len();
    let (code, plan, err) = w
        .dagship(&["promote", "--from", "staging", "--to", "prod", "--dry-run"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains(&format!("image: {pinned}")), "{plan}");
    assert!(plan.contains("deploys release staging/"), "{plan}");
    let (code, _, err) = w
        .dagship(&["promote", "--from", "staging", "--to", "prod"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        w.registry.lock().unwrap().log.len(),
        asked,
        "no tag looked up"
    );
    let prod = w.fake.lock().unwrap().run.services
        ["projects/acme-prod/locations/europe-west1/services/docs"]
        .clone();
    assert_eq!(prod["template"]["containers"][0]["image"], pinned.as_str());
    assert!(
        paths(&w.fake)
            .iter()
            .any(|p| p.contains("/v2/projects/acme-prod/")),
        "prod was deployed"
    );
    for bucket in ["staging-dags", "prod-dags"] {
        assert_eq!(
            download(&w.gcs.url, bucket, "dags/a.py").await.as_deref(),
            Some("a = 1"),
            "{bucket}"
        );
    }
    let (_, prod_releases, _) = w
        .dagship(&["releases", "--env", "prod", "--format", "json"])
        .await;
    let prod_releases: serde_json::Value = serde_json::from_str(&prod_releases).unwrap();
    let promoted = &prod_releases["releases"][0];
    assert_eq!(promoted["source"]["release"], release["id"]);
    assert_eq!(promoted["outcome"], "succeeded");
    // The records are objects in the state bucket, beside the other environment's.
    let record = format!(
        "warehouse/prod/releases/{}.json",
        promoted["id"].as_str().unwrap()
    );
    assert!(
        download(&w.gcs.url, "deploy-state", &record)
            .await
            .is_some()
    );
}
