//! AWS against moto in server mode (started once for this binary) and, where moto differs
//! from AWS, a strict fake: the DAG sync to S3 (first sync, unchanged, change, prune that
//! spares other owners' files, throttling, lost answers), S3's conditional writes, the S3
//! release store, an MWAA environment's DAG folder and its `plugins.zip` and `requirements.txt`
//! (object versions in a versioned bucket, one `UpdateEnvironment`, waiting for `AVAILABLE`
//! past answers that describe the environment before the update),
//! the `ecs_task_definition` step (ECS and ECR; promotion and rollback pin the recorded
//! digest), the AWS example's plans, and plans without
//! credentials.
//!
//! Where moto 5.2.5 differs from AWS: it has no MWAA at all (`fake_mwaa.rs` answers
//! `GetEnvironment` and `UpdateEnvironment`, and moves an updated environment through
//! `UPDATING`); it keeps an object's checksum only when the algorithm header
//! (`x-amz-sdk-checksum-algorithm`) comes with the value, where S3 needs the value alone
//! (dagship sends both); and it serialises requests, so it never answers S3's 409
//! `ConditionalRequestConflict` (`release_store.rs` has a fake that does). Its conditional
//! writes and deletes (`If-None-Match: *`, `If-Match`, 412, 404 for a gone key) match S3's.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod ecs;
mod example;
mod fake_mwaa;
mod fault_proxy;
mod moto;
mod mwaa_files;
#[path = "../proxy_support/mod.rs"]
mod proxy_support;
mod release_store;
mod s3_sync;
