//! AWS against moto in server mode (started once for this binary) and, where moto is laxer
//! than AWS, a strict fake: the DAG sync to S3 (first sync, unchanged, change, prune that
//! spares other owners' files, throttling), S3's conditional writes, the S3 release store,
//! an MWAA environment's DAG folder, and plans without credentials.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod ecs;
mod example;
mod fake_mwaa;
mod fault_proxy;
mod moto;
mod release_store;
mod s3_sync;
