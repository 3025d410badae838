//! Where each Google API is reached. Every base URL can be overridden through the environment,
//! for tests (local fakes, emulators) and for private endpoints (Private Service Connect).

/// Base URLs, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Cloud Storage JSON API (`/storage/v1`, `/upload/storage/v1`).
    pub storage: String,
    /// Whether `storage` is an emulator named by `STORAGE_EMULATOR_HOST`: like Google's own
    /// clients, dagship then sends no credentials to it.
    pub storage_emulator: bool,
    /// Cloud Run Admin API (`/v2/...`).
    pub run: String,
    /// Cloud Composer API (`/v1/...`).
    pub composer: String,
    /// IAM Service Account Credentials API, for `impersonate_service_account`.
    pub iam: String,
    /// Replaces `https://HOST` of container images when resolving their digests.
    pub registry: Option<String>,
}

pub const STORAGE_VAR: &str = "DAGSHIP_STORAGE_ENDPOINT";
pub const EMULATOR_VAR: &str = "STORAGE_EMULATOR_HOST";
pub const RUN_VAR: &str = "DAGSHIP_RUN_ENDPOINT";
pub const COMPOSER_VAR: &str = "DAGSHIP_COMPOSER_ENDPOINT";
pub const IAM_VAR: &str = "DAGSHIP_IAM_ENDPOINT";
pub const REGISTRY_VAR: &str = "DAGSHIP_REGISTRY_ENDPOINT";

impl Endpoints {
    /// Google's public endpoints.
    pub fn google() -> Endpoints {
        Endpoints {
            storage: "https://storage.googleapis.com".into(),
            storage_emulator: false,
            run: "https://run.googleapis.com".into(),
            composer: "https://composer.googleapis.com".into(),
            iam: "https://iamcredentials.googleapis.com".into(),
            registry: None,
        }
    }

    /// Google's endpoints, with the overrides set in the process environment.
    pub fn from_env() -> Endpoints {
        Endpoints::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Endpoints {
        let mut e = Endpoints::google();
        if let Some(url) = get(STORAGE_VAR) {
            e.storage = base(&url);
        } else if let Some(host) = get(EMULATOR_VAR) {
            e.storage = base(&host);
            e.storage_emulator = true;
        }
        for (var, field) in [
            (RUN_VAR, &mut e.run),
            (COMPOSER_VAR, &mut e.composer),
            (IAM_VAR, &mut e.iam),
        ] {
            if let Some(url) = get(var) {
                *field = base(&url);
            }
        }
        e.registry = get(REGISTRY_VAR).map(|u| base(&u));
        e
    }
}

/// `host:port` (how emulators are usually named) becomes `http://host:port`.
fn base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_the_emulator_variable() {
        let e = Endpoints::from_lookup(|name| match name {
            EMULATOR_VAR => Some("localhost:4443".into()),
            RUN_VAR => Some("http://127.0.0.1:9/".into()),
            _ => None,
        });
        assert_eq!(e.storage, "http://localhost:4443");
        assert!(e.storage_emulator);
        assert_eq!(e.run, "http://127.0.0.1:9");
        assert_eq!(e.composer, "https://composer.googleapis.com");
        let explicit = Endpoints::from_lookup(|name| match name {
            EMULATOR_VAR => Some("localhost:4443".into()),
            STORAGE_VAR => Some("https://storage.example".into()),
            _ => None,
        });
        assert_eq!(
            (explicit.storage.as_str(), explicit.storage_emulator),
            ("https://storage.example", false),
            "the explicit endpoint wins and gets credentials"
        );
    }
}
