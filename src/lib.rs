//! dagship: deploy a dbt + Airflow (Cloud Composer) + Cloud Run + alembic data platform from
//! one declarative pipeline file.
//!
//! A deployment reads as a straight line through these modules, each layer using only the ones
//! before it:
//!
//! - [`source`], [`yaml`], [`diagnostic`], [`expr`], [`shape`], [`report`] (events), and the
//!   clouds' own APIs, [`gcp`] and [`airflow`], which know nothing of pipelines; [`dbt`] and
//!   [`dags`] read manifests and write DAG files;
//! - [`pipeline`]: `pipeline.yaml` as typed values, checked against the step kinds' schemas;
//! - [`action`], [`exec`], `steps::kind`: what a step kind is given and returns;
//! - [`sync`]: where DAG files go, behind one trait;
//! - [`steps`] (one file per kind), [`plan`], `runner` (scheduling, retries);
//! - `commands` and [`cli`].

// Inside the crate, `pub(crate)`: `pub` is what the integration tests and benches use.
#![deny(unreachable_pub)]

pub mod action;
pub mod airflow;
pub mod artifact;
pub mod aws;
pub mod checksum;
pub mod cli;
mod cloud;
mod commands;
pub mod dags;
pub mod dbt;
pub mod diagnostic;
pub mod error;
mod error_chain;
pub mod exec;
pub mod expr;
pub mod gcp;
pub mod git;
mod graph;
pub mod pipeline;
pub mod plan;
pub mod prune;
pub mod reference;
pub mod release;
pub mod report;
pub mod resolve;
mod runner;
mod schema;
pub mod selection;
pub mod shape;
pub mod source;
pub mod steps;
pub mod sync;
pub mod yaml;
