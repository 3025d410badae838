//! Step kinds: one file each, behind one trait ([`kind::StepKind`]), listed in one registry.
//!
//! A kind declares its inputs (which drive checking and the JSON Schema), its outputs (which
//! `${{ steps.ID.outputs.NAME }}` may read), the actions it takes in an environment, how they
//! compare with what is live, and how they are carried out. Nothing outside this folder names
//! a kind: adding one is a file here and a line in [`KINDS`].

mod airflow_dags;
mod alembic;
mod cloud_run;
mod cloud_run_deploy;
mod cloud_run_job;
mod cloud_run_service;
mod command;
mod composer_dags;
mod dags_release;
mod dbt;
mod ecs_task_definition;
mod kind;
mod migrations;

use crate::pipeline::{Catalog, KindSchema, Step};
pub(crate) use kind::{
    ArtifactError, Done, Expected, Inputs, Live, Redeploy, Redeployed, StepKind, Unplanned,
    actions_for,
};

/// Every step kind, in the order the reference lists them.
const KINDS: &[&dyn StepKind] = &[
    &dbt::Dbt,
    &airflow_dags::AirflowDags,
    &cloud_run_service::CloudRunService,
    &cloud_run_job::CloudRunJob,
    &ecs_task_definition::EcsTaskDefinition,
    &composer_dags::ComposerDags,
    &alembic::Alembic,
    &command::Command,
];

/// The kinds as the pipeline file sees them (inputs, outputs, checks), for loading a file and
/// for its reference and schema.
pub struct Kinds;

impl Catalog for Kinds {
    fn kind(&self, name: &str) -> Option<&'static dyn KindSchema> {
        find(name).map(|k| k as &dyn KindSchema)
    }

    fn names(&self) -> Vec<&'static str> {
        KINDS.iter().map(|k| k.name()).collect()
    }
}

impl Kinds {
    /// Every kind, in the order the reference lists them.
    pub fn all(&self) -> impl Iterator<Item = &'static dyn KindSchema> {
        KINDS.iter().map(|k| *k as &dyn KindSchema)
    }
}

fn find(name: &str) -> Option<&'static dyn StepKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// The kind of a step of a loaded pipeline (whose kinds are known: unknown ones fail loading).
pub(crate) fn of(step: &Step) -> &'static dyn StepKind {
    find(step.kind_name()).expect("unknown kinds are rejected when the pipeline loads")
}
