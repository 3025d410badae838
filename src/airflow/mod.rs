//! Airflow's REST API, as far as a deploy needs it: which DAG files Airflow has parsed, and
//! which of them failed to import. It serves Airflow 3 (`/api/v2`) and Airflow 2 (`/api/v1`,
//! Cloud Composer 2) alike, telling them apart by asking each for its version. One concept a
//! file: [`auth`] signs requests (a Google token for Composer, Airflow's own login for a
//! local Airflow), [`client`] talks to the API, [`records`] reads its answers, and
//! [`confirm`] waits until Airflow has parsed the files a sync wrote.
//!
//! Like `gcp`, a leaf: it knows nothing of pipelines, and is handed a URL and credentials.

mod auth;
mod client;
mod confirm;
mod error;
mod records;

pub use auth::{Credentials, TokenError, TokenSource};
pub use client::{Airflow, ApiVersion};
pub use confirm::{ConfirmError, Failed, Wait, confirm};
pub use error::AirflowError;
pub use records::{FilePath, ImportError, ParsedDag};
