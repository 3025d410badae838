//! dagship: deploy a dbt + Airflow (Cloud Composer) + Cloud Run + alembic data platform from
//! one declarative pipeline file.
//!
//! A deployment reads as a straight line through these modules:
//! `pipeline.yaml` → [`yaml`] → [`pipeline`] (model and checks) → [`graph`] and [`selection`]
//! → [`plan`] (actions of each [`steps`] kind) → output ([`plan::text`], [`plan::json`],
//! [`plan::mermaid`]).

pub mod cli;
pub mod commands;
pub mod dags;
pub mod dbt;
pub mod diagnostic;
pub mod error;
pub mod expr;
pub mod gcp;
pub mod git;
pub mod graph;
pub mod pipeline;
pub mod plan;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod runner;
pub mod schema;
pub mod selection;
pub mod shape;
pub mod source;
pub mod steps;
pub mod sync;
pub mod yaml;
