//! The clouds dagship calls, as one closed set: which one an action calls ([`Provider`]),
//! whether its credentials are at hand (found without a network call, so that a run without
//! them stops before it starts), and the connections a run's steps or a plan's comparisons
//! share ([`Connections`]: one per cloud, project or region, and identity, made on first use).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::{aws, gcp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Google,
    Aws,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Google => "Google Cloud",
            Provider::Aws => "AWS",
        })
    }
}

/// Why calls to a cloud cannot be made here.
pub(crate) type CredentialsProblem = Box<dyn std::error::Error + Send + Sync>;

impl Provider {
    /// Why calls to this cloud cannot be made here, found without a network call.
    pub fn credentials_problem(self) -> Option<CredentialsProblem> {
        match self {
            Provider::Google => match gcp::auth::Source::discover() {
                Ok(Some(_)) => None,
                Ok(None) => Some(Box::new(gcp::auth::AuthError::Missing)),
                Err(e) => Some(Box::new(e)),
            },
            Provider::Aws => match aws::credentials::discover() {
                Ok(Some(_)) => None,
                Ok(None) => Some(Box::new(aws::credentials::CredentialsError::Missing)),
                Err(e) => Some(Box::new(e)),
            },
        }
    }
}

/// Who calls, and where: the project (else the process's default) and the identity to take.
type GoogleKey = (Option<String>, Option<String>);

/// Where AWS is called, and as whom: the region (else the SDK's) and the role to assume.
type AwsKey = (Option<String>, Option<String>);

/// Connections to the clouds, made on first use inside the runtime that will make the calls
/// (credentials refresh their tokens on it), and shared so that a token is fetched once.
#[derive(Default)]
pub struct Connections {
    google: Mutex<HashMap<GoogleKey, Arc<gcp::Cloud>>>,
    aws: Mutex<HashMap<AwsKey, Arc<aws::Cloud>>>,
}

impl Connections {
    /// Google Cloud for `project`, as `impersonate` when set.
    pub fn google(&self, project: Option<&str>, impersonate: Option<&str>) -> Arc<gcp::Cloud> {
        let key = (project.map(str::to_string), impersonate.map(str::to_string));
        let mut open = self.google.lock().expect("not poisoned");
        let cloud = open
            .entry(key)
            .or_insert_with(|| Arc::new(gcp::Cloud::connect(project, impersonate)));
        Arc::clone(cloud)
    }

    /// AWS in `region`, as `assume_role` when set. The SDK's configuration is loaded on
    /// first use, once per region and role.
    pub fn aws(&self, region: Option<&str>, assume_role: Option<&str>) -> Arc<aws::Cloud> {
        let key = (region.map(str::to_string), assume_role.map(str::to_string));
        let mut open = self.aws.lock().expect("not poisoned");
        let cloud = open
            .entry(key)
            .or_insert_with(|| Arc::new(aws::Cloud::connect(region, assume_role)));
        Arc::clone(cloud)
    }

    /// Why calls that need credentials fail on a connection made so far, if one cannot.
    pub fn credentials_problem(&self) -> Option<String> {
        let google = self.google.lock().expect("not poisoned");
        let aws = self.aws.lock().expect("not poisoned");
        google
            .values()
            .find_map(|cloud| cloud.credentials_problem())
            .or_else(|| aws.values().find_map(|cloud| cloud.credentials_problem()))
    }
}
