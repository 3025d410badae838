//! Amazon Web Services, through the official AWS SDK for Rust (signing, the credentials
//! chain, retries). One concept a file: [`credentials`] finds credentials without a network
//! call, [`endpoints`] says where each API is, and [`s3`], [`mwaa`], [`ecs`] and [`ecr`] are
//! the APIs themselves ([`mwaa_update`] reads an MWAA update's progress; [`ecs_names`] says
//! which task definition names ECS accepts). [`Cloud`] is one environment's way in: its region and role, and the SDK's
//! configuration, loaded on first use.

pub mod credentials;
pub mod ecr;
pub mod ecs;
pub mod ecs_names;
pub mod endpoints;
pub mod mwaa;
pub mod mwaa_update;
pub mod s3;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::sync::OnceCell;

use endpoints::Endpoints;

/// Tries of one call, the first included. The SDK's standard retry mode retries throttling
/// (`SlowDown`, `Throttling`, 429), 5xx and dropped connections, with exponential backoff
/// and jitter; its default of 3 tries gives up too soon on a bucket that throttles a burst
/// of uploads.
pub const MAX_ATTEMPTS: u32 = 6;

/// The STS session name of an assumed role, as CloudTrail shows who called.
const SESSION_NAME: &str = "dagship";

/// The SDK's configuration for `region` (else the SDK's own): retries, and an HTTPS client
/// on rustls' ring provider (no aws-lc to build).
fn loader(region: Option<&str>) -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    match region {
        Some(region) => loader.region(Region::new(region.to_string())),
        None => loader,
    }
}

/// One environment's way into AWS.
pub struct Cloud {
    /// The environment's region, else the SDK's (`AWS_REGION`, the profile's).
    pub region: Option<String>,
    /// A role to assume (its ARN) with the credentials found.
    pub assume_role: Option<String>,
    pub endpoints: Endpoints,
    /// Fixed keys were given: the chain is not asked.
    fixed_keys: bool,
    config: OnceCell<SdkConfig>,
}

impl Cloud {
    /// For `region` and `assume_role`, with the endpoints the process environment names.
    /// Makes no call yet.
    pub fn connect(region: Option<&str>, assume_role: Option<&str>) -> Cloud {
        Cloud {
            region: region.map(str::to_string),
            assume_role: assume_role.map(str::to_string),
            endpoints: Endpoints::from_env(),
            fixed_keys: false,
            config: OnceCell::new(),
        }
    }

    /// With fixed keys instead of the chain's credentials, and the given endpoints (a local
    /// stand-in such as moto, which takes any keys).
    pub async fn with_keys(region: &str, endpoints: Endpoints, key: &str, secret: &str) -> Cloud {
        let keys = Credentials::new(key, secret, None, None, "fixed keys");
        let config = loader(Some(region)).credentials_provider(keys).load().await;
        Cloud {
            region: Some(region.to_string()),
            assume_role: None,
            endpoints,
            fixed_keys: true,
            config: OnceCell::new_with(Some(config)),
        }
    }

    /// Why calls cannot be made here, found without a network call.
    pub fn credentials_problem(&self) -> Option<String> {
        if self.fixed_keys {
            return None;
        }
        match credentials::discover() {
            Ok(Some(_)) => None,
            Ok(None) => Some(credentials::CredentialsError::Missing.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }

    /// The SDK's configuration: the credentials chain (and the role it assumes), the
    /// region, retries and the HTTPS client. Loaded once.
    pub async fn config(&self) -> &SdkConfig {
        self.config.get_or_init(|| self.load()).await
    }

    async fn load(&self) -> SdkConfig {
        let base = loader(self.region.as_deref()).load().await;
        let Some(role) = &self.assume_role else {
            return base;
        };
        let mut sts = base.to_builder();
        if let Some(url) = &self.endpoints.sts {
            sts.set_endpoint_url(Some(url.clone()));
        }
        let role = AssumeRoleProvider::builder(role)
            .session_name(SESSION_NAME)
            .configure(&sts.build())
            .build()
            .await;
        base.into_builder()
            .credentials_provider(SharedCredentialsProvider::new(role))
            .build()
    }

    /// The S3 API (whose calls fail at once without credentials).
    pub async fn s3(&self) -> s3::S3 {
        let s3 = s3::S3::new(self.config().await, &self.endpoints);
        s3.refusing(self.credentials_problem())
    }

    /// The ECS API.
    pub async fn ecs(&self) -> ecs::Ecs {
        ecs::Ecs::new(self.config().await, &self.endpoints)
    }

    /// The ECR API.
    pub async fn ecr(&self) -> ecr::Ecr {
        ecr::Ecr::new(self.config().await, &self.endpoints)
    }

    /// The MWAA API.
    pub async fn mwaa(&self) -> mwaa::Mwaa {
        mwaa::Mwaa::new(self.config().await, &self.endpoints)
    }
}
