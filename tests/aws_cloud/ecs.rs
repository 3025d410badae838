//! The `ecs_task_definition` step on moto (ECS and ECR): a revision registered with the
//! image pinned to the digest its ECR tag points to, every other field kept; none on an
//! unchanged run; a plan that shows the image field it would change; and the ARN handed to
//! the `ecs_task` executor of generated DAGs.

use std::path::Path;
use std::process::Command;

use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, KeyValuePair, NetworkMode, Tag};

use crate::common::{dagship, run};
use crate::moto;

const ACCOUNT: &str = "123456789012";

async fn ecs() -> aws_sdk_ecs::Client {
    let cloud = moto::cloud(None).await;
    let conf = aws_sdk_ecs::config::Builder::from(cloud.config().await).endpoint_url(moto::url());
    aws_sdk_ecs::Client::from_conf(conf.build())
}

async fn ecr() -> aws_sdk_ecr::Client {
    let cloud = moto::cloud(None).await;
    let conf = aws_sdk_ecr::config::Builder::from(cloud.config().await).endpoint_url(moto::url());
    aws_sdk_ecr::Client::from_conf(conf.build())
}

/// Pushes a manifest (which names `layer`) as `repository:tag`; returns its digest.
async fn push(repository: &str, tag: &str, layer: &str) -> String {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 7023, "digest": format!("sha256:{}", "c".repeat(64)) },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                     "size": 32654, "digest": format!("sha256:{layer}") }],
    });
    let pushed = ecr()
        .await
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap();
    let image = pushed.image().unwrap();
    image
        .image_id()
        .unwrap()
        .image_digest()
        .unwrap()
        .to_string()
}

/// A family's first revision, as infrastructure code would register it.
async fn first_revision(family: &str, image: &str) {
    let container = |name: &str, image: &str| {
        ContainerDefinition::builder()
            .name(name)
            .image(image)
            .essential(name == "dbt")
            .environment(
                KeyValuePair::builder()
                    .name("DBT_TARGET")
                    .value("prod")
                    .build(),
            )
            .build()
    };
    ecs()
        .await
        .register_task_definition()
        .family(family)
        .container_definitions(container("dbt", image))
        .container_definitions(container(
            "sidecar",
            "public.ecr.aws/aws-observability/otel:1",
        ))
        .execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecs-execution"))
        .task_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/dbt"))
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("1024")
        .memory("4096")
        .tags(Tag::builder().key("team").value("data").build())
        .send()
        .await
        .unwrap();
}

async fn revisions(family: &str) -> Vec<String> {
    let listed = ecs()
        .await
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .unwrap();
    listed.task_definition_arns().to_vec()
}

fn pipeline(dir: &Path, family: &str, image: &str) {
    let text = format!(
        "version: 1\nname: warehouse\nenvironments:\n  aws:\n    region: {}\n\
         steps:\n  runner:\n    uses: ecs_task_definition\n    \
         with: {{ family: {family}, image: \"{image}\", container: dbt }}\n",
        moto::REGION
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
}

fn on_moto(dir: &Path) -> Command {
    let mut cmd = dagship(dir);
    cmd.env("AWS_ACCESS_KEY_ID", moto::KEY)
        .env("AWS_SECRET_ACCESS_KEY", moto::KEY)
        .env("AWS_ENDPOINT_URL", moto::url());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_a_pinned_revision_once_and_plans_the_image_it_changes() {
    let suffix = format!("{:08x}", fastrand::u32(..));
    let (family, repository) = (format!("dbt-{suffix}"), format!("dbt-runner-{suffix}"));
    let ecr_client = ecr().await;
    ecr_client
        .create_repository()
        .repository_name(&repository)
        .send()
        .await
        .unwrap();
    let host = format!("{ACCOUNT}.dkr.ecr.{}.amazonaws.com", moto::REGION);
    let tagged = format!("{host}/{repository}:v1");
    let first = push(&repository, "v1", &"a".repeat(64)).await;
    first_revision(&family, &format!("{host}/{repository}:v0")).await;
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &family, &tagged);

    let (code, stdout, stderr) = run(on_moto(dir.path()).args(["plan", "--env", "aws"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let pinned = format!("{host}/{repository}@{first}");
    let change = format!("containerDefinitions[dbt].image: {host}/{repository}:v0 → {pinned}");
    assert!(
        stdout.contains(&change),
        "the plan shows the field it changes: {stdout}"
    );

    let (code, stdout, stderr) = run(on_moto(dir.path()).args(["run", "--env", "aws", "--yes"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let arns = revisions(&family).await;
    assert_eq!(arns.len(), 2, "{arns:?}");
    let latest = ecs()
        .await
        .describe_task_definition()
        .task_definition(&family)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let td = latest.task_definition().unwrap();
    assert_eq!(td.revision(), 2);
    let images: Vec<&str> = td
        .container_definitions()
        .iter()
        .filter_map(|c| c.image())
        .collect();
    assert_eq!(
        images,
        [pinned.as_str(), "public.ecr.aws/aws-observability/otel:1"]
    );
    assert_eq!((td.cpu(), td.memory()), (Some("1024"), Some("4096")));
    assert_eq!(td.network_mode(), Some(&NetworkMode::Awsvpc));
    assert_eq!(
        td.execution_role_arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/ecs-execution").as_str())
    );
    let env = td.container_definitions()[0].environment();
    assert_eq!(
        env[0].value(),
        Some("prod"),
        "the container's settings are kept"
    );
    assert_eq!(latest.tags().len(), 1, "and the revision's tags");

    let (code, stdout, stderr) = run(on_moto(dir.path()).args(["run", "--env", "aws", "--yes"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("no new revision") || stderr.contains("no new revision"),
        "{stdout}"
    );
    assert_eq!(
        revisions(&family).await.len(),
        2,
        "an unchanged run registers nothing"
    );
    let (_, stdout, _) = run(on_moto(dir.path()).args(["plan", "--env", "aws"]));
    assert!(stdout.contains("live: no change"), "{stdout}");

    // The tag moves: the next plan shows the new digest.
    let second = push(&repository, "v1", &"b".repeat(64)).await;
    let (_, stdout, _) = run(on_moto(dir.path()).args(["plan", "--env", "aws"]));
    let moved = format!("{pinned} → {host}/{repository}@{second}");
    assert!(stdout.contains(&moved), "{stdout}");
}

#[test]
fn the_ecs_task_executor_takes_the_registered_arn() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1\nname: warehouse\nenvironments:\n  aws:\n    region: eu-west-1\n\
        steps:\n  runner:\n    uses: ecs_task_definition\n    with:\n      family: dbt-runner\n      \
        image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/dbt:1\n  dags:\n    \
        uses: airflow_dags\n    needs: [runner]\n    with:\n      manifest: target/manifest.json\n      \
        out: build/dags\n      executor: ecs_task\n      cluster: dbt\n      \
        task_definition: \"${{ steps.runner.outputs.task_definition_arn }}\"\n      \
        container_name: dbt\n";
    std::fs::write(dir.path().join("pipeline.yaml"), text).unwrap();
    let (code, stdout, stderr) = run(dagship(dir.path()).arg("validate"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let wrong = text.replace("task_definition_arn", "task_definition");
    std::fs::write(dir.path().join("pipeline.yaml"), wrong).unwrap();
    let (code, _, stderr) = run(dagship(dir.path()).arg("validate"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("task_definition_arn"),
        "the outputs are named: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_registers_the_released_digest_though_the_tag_moved() {
    let suffix = format!("{:08x}", fastrand::u32(..));
    let repository = format!("dbt-promoted-{suffix}");
    let (staging, prod) = (
        format!("dbt-staging-{suffix}"),
        format!("dbt-prod-{suffix}"),
    );
    let ecr_client = ecr().await;
    let created = ecr_client.create_repository().repository_name(&repository);
    created.send().await.unwrap();
    let host = format!("{ACCOUNT}.dkr.ecr.{}.amazonaws.com", moto::REGION);
    let released = push(&repository, "main", &"d".repeat(64)).await;
    for family in [&staging, &prod] {
        first_revision(family, &format!("{host}/{repository}:v0")).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "version: 1\nname: warehouse\nenvironments:\n  \
         staging:\n    region: {region}\n    vars: {{ family: {staging} }}\n  \
         prod:\n    region: {region}\n    vars: {{ family: {prod} }}\n    promote_from: staging\n\
         steps:\n  runner:\n    uses: ecs_task_definition\n    \
         with: {{ family: \"${{{{ vars.family }}}}\", image: \"{host}/{repository}:main\", container: dbt }}\n",
        region = moto::REGION
    );
    std::fs::write(dir.path().join("pipeline.yaml"), text).unwrap();
    let (code, stdout, stderr) =
        run(on_moto(dir.path()).args(["run", "--env", "staging", "--yes"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let releases = ["releases", "--env", "staging", "--format", "json"];
    let (code, stdout, stderr) = run(on_moto(dir.path()).args(releases));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let compact = serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap()
        .to_string();
    let image = format!("\"image\":\"{host}/{repository}@{released}\"");
    let revision = format!(":task-definition/{staging}:2\"");
    assert!(
        compact.contains(&image) && compact.contains(&revision),
        "the release records the digest and the revision: {compact}"
    );
    // The tag moves after the release was cut: the promotion must not follow it.
    push(&repository, "main", &"e".repeat(64)).await;
    let promote = ["promote", "--from", "staging", "--to", "prod", "--yes"];
    let (code, stdout, stderr) = run(on_moto(dir.path()).args(promote));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let latest = ecs()
        .await
        .describe_task_definition()
        .task_definition(&prod);
    let latest = latest.send().await.unwrap();
    let image = latest.task_definition().unwrap().container_definitions()[0].image();
    assert_eq!(
        image,
        Some(format!("{host}/{repository}@{released}").as_str())
    );
}

/// `rollback` redeploys the release before: a new revision of the family that runs the image
/// digest that release recorded, though the tag has moved on since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_registers_the_digest_of_the_release_before() {
    let suffix = format!("{:08x}", fastrand::u32(..));
    let (repository, family) = (format!("dbt-back-{suffix}"), format!("dbt-{suffix}"));
    let ecr_client = ecr().await;
    let created = ecr_client.create_repository().repository_name(&repository);
    created.send().await.unwrap();
    let host = format!("{ACCOUNT}.dkr.ecr.{}.amazonaws.com", moto::REGION);
    first_revision(&family, &format!("{host}/{repository}:v0")).await;
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &family, &format!("{host}/{repository}:main"));
    let deploy = ["run", "--env", "aws", "--yes"];
    let first = push(&repository, "main", &"a".repeat(64)).await;
    let (code, stdout, stderr) = run(on_moto(dir.path()).args(deploy));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let second = push(&repository, "main", &"b".repeat(64)).await;
    let (code, stdout, stderr) = run(on_moto(dir.path()).args(deploy));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let image_now = || async {
        let latest = ecs()
            .await
            .describe_task_definition()
            .task_definition(&family);
        let latest = latest.send().await.unwrap();
        let image = latest.task_definition().unwrap().container_definitions()[0].image();
        image.unwrap().to_string()
    };
    assert_eq!(image_now().await, format!("{host}/{repository}@{second}"));

    let rollback = ["rollback", "--env", "aws", "--yes"];
    let (code, stdout, stderr) = run(on_moto(dir.path()).args(rollback));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(image_now().await, format!("{host}/{repository}@{first}"));
    assert_eq!(
        revisions(&family).await.len(),
        4,
        "v0, first, second, rollback"
    );
}
