//! Cloud Run, Composer, credentials and container registries against local fakes of Google's
//! APIs and of a registry, strict where the real ones are: Workload Identity Federation end to
//! end (GitHub OIDC → STS → IAM) and its retries, deploys that wait on long-running operations
//! and readiness through 409/429/503 answers and lost answers, images pinned to digests
//! through the registry's token challenge, no-traffic deploys that put traffic back when they
//! fail or time out, Composer's DAG bucket, and plans that show the diff.

#[path = "../common/mod.rs"]
mod common;
#[path = "../gcp_support/mod.rs"]
mod gcp_support;

mod credentials;
mod deploys;
mod no_traffic;
mod promotion;
mod registry;
mod world;
