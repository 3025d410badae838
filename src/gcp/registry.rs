//! Container images: the digest a tag points to now (Docker Registry HTTP API v2, which
//! Artifact Registry speaks), so that a deploy runs exactly one image, whatever the tag does.

use base64::Engine;

use super::auth::Auth;
use super::http::{Api, ApiError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub host: String,
    pub path: String,
    pub tag: String,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "image `{0}` names no registry host; use its full name (e.g. `europe-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG`) or pin it with `@sha256:...`"
    )]
    NoHost(String),
    #[error("image `{image}` was not found in its registry")]
    NotFound { image: String },
    #[error("resolving the digest of image `{image}`: {error}")]
    Api { image: String, error: ApiError },
    #[error("the registry gave no digest for image `{image}`")]
    NoDigest { image: String },
}

impl ImageRef {
    /// `HOST/PATH[:TAG][@DIGEST]`; the host is the first segment when it looks like one.
    pub fn parse(image: &str) -> Option<ImageRef> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        let (host, path) = rest.split_once('/')?;
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return None;
        }
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, t),
            _ => (path, "latest"),
        };
        Some(ImageRef {
            host: host.into(),
            path: path.into(),
            tag: tag.into(),
            digest,
        })
    }

    /// The same image, pinned: `HOST/PATH@sha256:...`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.host, self.path)
    }

    /// Registries that take a Google access token (Artifact Registry, Container Registry).
    fn is_google(&self) -> bool {
        self.host.ends_with(".pkg.dev") || self.host == "gcr.io" || self.host.ends_with(".gcr.io")
    }
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The image's digest (`sha256:...`): its own when pinned, else what its tag points to now.
/// `plain` sends no credentials of its own; `auth` signs requests to Google's registries.
pub async fn digest(
    plain: &Api,
    auth: &Auth,
    endpoint: Option<&str>,
    image: &str,
) -> Result<String, RegistryError> {
    let Some(r) = ImageRef::parse(image) else {
        if let Some((_, d)) = image.split_once('@') {
            return Ok(d.to_string());
        }
        return Err(RegistryError::NoHost(image.into()));
    };
    if let Some(d) = &r.digest {
        return Ok(d.clone());
    }
    let base = endpoint.map_or_else(|| format!("https://{}", r.host), str::to_string);
    let url = format!("{base}/v2/{}/manifests/{}", r.path, r.tag);
    let api_error = |error| RegistryError::Api {
        image: image.into(),
        error,
    };
    let basic = match r.is_google() {
        // Artifact Registry's own convention: user `oauth2accesstoken`, the token as password.
        true => auth
            .token()
            .await
            .map_err(|e| api_error(e.into()))?
            .map(|t| {
                base64::engine::general_purpose::STANDARD.encode(format!("oauth2accesstoken:{t}"))
            }),
        false => None,
    };
    let reply = plain
        .call(|http| {
            let req = http.head(&url).header("accept", ACCEPT);
            match &basic {
                Some(b) => req.header("authorization", format!("Basic {b}")),
                None => req,
            }
        })
        .await
        .map_err(|e| match e.status() {
            Some(404) => RegistryError::NotFound {
                image: image.into(),
            },
            _ => api_error(e),
        })?;
    reply
        .headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or(RegistryError::NoDigest {
            image: image.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_image_references() {
        let r = ImageRef::parse("europe-docker.pkg.dev/p/dbt/runner:abc123").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str(), r.tag.as_str()),
            ("europe-docker.pkg.dev", "p/dbt/runner", "abc123")
        );
        assert_eq!(
            r.pinned("sha256:f"),
            "europe-docker.pkg.dev/p/dbt/runner@sha256:f"
        );
        let local = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!((local.path.as_str(), local.tag.as_str()), ("app", "latest"));
        assert!(
            ImageRef::parse("library/ubuntu:24.04").is_none(),
            "Docker Hub shorthand"
        );
        let pinned = ImageRef::parse("gcr.io/p/app:v1@sha256:00").unwrap();
        assert_eq!(pinned.digest.as_deref(), Some("sha256:00"));
    }
}
