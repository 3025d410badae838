//! How requests to Airflow are signed: a token from elsewhere (Google's, for Cloud Composer,
//! whose Airflow sits behind Google's front end), or one of Airflow's own users, who logs in
//! at `/auth/token` on Airflow 3 (a JWT) and is sent as basic auth to Airflow 2.

use std::sync::Arc;

use reqwest::{Client, RequestBuilder};
use serde::Deserialize;

use super::client::ApiVersion;
use super::error::{AirflowError, detail};

pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// Gives a bearer token for each request (and refreshes it when it expires).
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<String, TokenError>;
}

/// Who dagship is to Airflow.
#[derive(Clone)]
pub enum Credentials {
    /// A bearer token from elsewhere: Google's access token for Cloud Composer.
    Bearer(Arc<dyn TokenSource>),
    /// One of Airflow's own users.
    User { username: String, password: String },
    /// No one: Airflow 3's simple auth manager with `simple_auth_manager_all_admins` hands a
    /// token to anyone, and an Airflow 2 may leave its API open.
    Anonymous,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Bearer(_) => f.write_str("Bearer"),
            Credentials::User { username, .. } => write!(f, "User({username})"),
            Credentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// What each request carries, once logged in.
pub(crate) enum Signer {
    Source(Arc<dyn TokenSource>),
    Jwt(String),
    Basic { username: String, password: String },
    Nothing,
}

#[derive(Deserialize)]
struct LoginResponse {
    access_token: String,
}

impl Signer {
    /// Logs in where the API asks for it: Airflow 3 trades a user (or nobody, with
    /// `all_admins`) for a JWT at `{base}/auth/token`.
    pub(crate) async fn login(
        http: &Client,
        base: &str,
        api: ApiVersion,
        credentials: &Credentials,
    ) -> Result<Signer, AirflowError> {
        let url = format!("{base}/auth/token");
        let request = match (credentials, api) {
            (Credentials::Bearer(source), _) => return Ok(Signer::Source(Arc::clone(source))),
            (Credentials::User { username, password }, ApiVersion::V1) => {
                return Ok(Signer::Basic {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
            (Credentials::Anonymous, ApiVersion::V1) => return Ok(Signer::Nothing),
            (Credentials::User { username, password }, ApiVersion::V2) => http
                .post(&url)
                .json(&serde_json::json!({ "username": username, "password": password })),
            (Credentials::Anonymous, ApiVersion::V2) => http.get(&url),
        };
        let response = request.send().await.map_err(|e| unreachable(base, &e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| unreachable(base, &e))?;
        match status {
            200..=299 => {
                let login: LoginResponse =
                    serde_json::from_slice(&body).map_err(|e| AirflowError::Decode {
                        url: url.clone(),
                        detail: e.to_string(),
                    })?;
                Ok(Signer::Jwt(login.access_token))
            }
            // No user, and no `all_admins`: 403, or another auth manager's 404 or 405.
            400..=499 if matches!(credentials, Credentials::Anonymous) => {
                Err(AirflowError::LoginNeeded { url: base.into() })
            }
            400..=403 => match credentials {
                Credentials::User { username, .. } => Err(AirflowError::LoginRefused {
                    url: base.into(),
                    username: username.clone(),
                    status,
                    detail: detail(status, &body),
                }),
                _ => Err(AirflowError::LoginNeeded { url: base.into() }),
            },
            _ => Err(AirflowError::Status {
                url,
                status,
                detail: detail(status, &body),
            }),
        }
    }

    pub(crate) async fn sign(
        &self,
        request: RequestBuilder,
        base: &str,
    ) -> Result<RequestBuilder, AirflowError> {
        Ok(match self {
            Signer::Source(source) => {
                let token = source.token().await.map_err(|source| AirflowError::Token {
                    url: base.into(),
                    source,
                })?;
                request.bearer_auth(token)
            }
            Signer::Jwt(token) => request.bearer_auth(token),
            Signer::Basic { username, password } => request.basic_auth(username, Some(password)),
            Signer::Nothing => request,
        })
    }
}

/// reqwest's own sentence stops at "error sending request"; the cause is what helps.
pub(crate) fn unreachable(url: &str, e: &reqwest::Error) -> AirflowError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    AirflowError::Unreachable {
        url: url.into(),
        detail,
    }
}
