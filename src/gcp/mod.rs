//! Google Cloud: credentials, the REST APIs dagship calls, and retries. One concept a file:
//! [`auth`] finds and builds credentials, [`http`] signs, retries and reads Google's errors,
//! [`endpoints`] says where each API is, and [`storage`], [`cloud_run`] (with [`run_spec`],
//! [`run_traffic`] and [`run_values`]), [`composer`] and [`registry`] are the APIs themselves.

pub mod auth;
pub mod cloud_run;
pub mod composer;
pub mod endpoints;
pub mod http;
pub mod registry;
pub mod run_spec;
pub mod run_traffic;
pub mod run_values;
pub mod storage;

use std::sync::Arc;

use auth::Auth;
use endpoints::Endpoints;
use http::Api;
use storage::Storage;

/// One environment's way into Google Cloud.
pub struct Cloud {
    pub endpoints: Endpoints,
    /// Signed with the environment's credentials.
    pub api: Api,
    /// Unsigned (registries sign their own way; emulators take none).
    pub plain: Api,
    pub storage: Storage,
    /// The environment's project, else the process's default one.
    pub project: Option<String>,
}

impl Cloud {
    /// Credentials (impersonating `impersonate` when set) and endpoints, from the process
    /// environment, for `project` (else the process's default project). Makes no call yet;
    /// must be called inside the tokio runtime that will make them.
    pub fn connect(project: Option<&str>, impersonate: Option<&str>) -> Cloud {
        let endpoints = Endpoints::from_env();
        let auth = Auth::discover(impersonate, &endpoints);
        Cloud::with(endpoints, auth, auth::project(project))
    }

    pub fn with(endpoints: Endpoints, auth: Auth, project: Option<String>) -> Cloud {
        let api = Api::new(Arc::new(auth));
        let plain = Api::new(Arc::new(Auth::Anonymous));
        let storage_api = if endpoints.storage_emulator {
            plain.clone()
        } else {
            api.clone()
        };
        Cloud {
            storage: Storage::new(storage_api, &endpoints.storage),
            endpoints,
            api,
            plain,
            project,
        }
    }

    /// Whether calls that need credentials can be made.
    pub fn has_credentials(&self) -> bool {
        self.api.auth().is_available()
    }

    /// Why calls that need credentials cannot be made.
    pub fn credentials_problem(&self) -> Option<String> {
        match self.api.auth() {
            Auth::Unavailable(e) => Some(e.to_string()),
            _ => None,
        }
    }
}
