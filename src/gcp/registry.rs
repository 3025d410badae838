//! Container images: what a reference names (checked before anything runs), and the digest a
//! tag points to now (Docker Registry HTTP API v2, which Artifact Registry and Docker Hub
//! speak), so that a deploy runs exactly one image whatever the tag does.
//!
//! Authentication follows the registry. Google's registries take the Google access token as a
//! bearer token (Artifact Registry, "Authenticating using the Docker Registry HTTP API"); it
//! is never sent to any other host. Any registry may answer 401 with a challenge,
//! `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`: dagship then asks the
//! realm for a token for that scope (anonymously, or for Google's registries as
//! `oauth2accesstoken` with the Google token) and asks again with it (Docker Registry v2 token
//! authentication, <https://distribution.github.io/distribution/spec/auth/token/>). Public
//! images, on Docker Hub or elsewhere, resolve without credentials.

use base64::Engine;
use serde_json::Value;

use super::auth::Auth;
use super::http::{Api, ApiError, Reply};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The host as written: `europe-docker.pkg.dev`, `docker.io`, `localhost:5000`.
    pub host: String,
    /// The repository as the registry knows it (`library/nginx` for `docker.io/nginx`).
    pub path: String,
    pub tag: String,
    pub digest: Option<String>,
}

/// An image reference Cloud Run would not take, after the grammar of
/// <https://github.com/distribution/reference/blob/main/reference.go>, with the registry host
/// required (`registry/path:tag` or `registry/path@sha256:...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error(
        "image `{image}` names no registry host; use its full name, e.g. `europe-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG` or `docker.io/library/IMAGE:TAG`"
    )]
    NoHost { image: String },
    #[error("image `{image}`: `{host}` is not a registry host name (`host.domain[:port]`)")]
    Host { image: String, host: String },
    #[error(
        "image `{image}`: `{component}` is not a path component (lowercase letters and digits, joined by `.`, `_`, `__` or hyphens)"
    )]
    Path { image: String, component: String },
    #[error(
        "image `{image}`: tag `{tag}` is not 1 to 128 letters, digits, `_`, `.` or `-` that begin with a letter, digit or `_`"
    )]
    Tag { image: String, tag: String },
    #[error(
        "image `{image}`: `{digest}` is not a digest, `sha256:` and 64 lowercase hexadecimal digits"
    )]
    Digest { image: String, digest: String },
    #[error("image `{image}`: its name is longer than 255 characters")]
    TooLong { image: String },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("image `{image}` was not found in its registry")]
    NotFound { image: String },
    #[error("resolving the digest of image `{image}`: {error}")]
    Api { image: String, error: ApiError },
    #[error("the registry refused access to image `{image}` (it may be private, or not exist)")]
    Denied { image: String },
    #[error("asking {realm} for a token to read image `{image}`: {error}")]
    Token {
        image: String,
        realm: String,
        error: ApiError,
    },
    #[error("the registry gave no digest for image `{image}`")]
    NoDigest { image: String },
}

impl ImageRef {
    /// `HOST[:PORT]/PATH[:TAG][@DIGEST]`; the first segment is the host when it holds a `.` or
    /// a `:` or is `localhost`, as Docker reads it.
    pub fn parse(image: &str) -> Result<ImageRef, ImageError> {
        let text = |s: &str| s.to_string();
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        if let Some(d) = digest.filter(|d| !is_digest(d)) {
            return Err(ImageError::Digest {
                image: text(image),
                digest: text(d),
            });
        }
        let slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(i) if slash.is_none_or(|s| i > s) => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let Some((host, path)) = name
            .split_once('/')
            .filter(|(h, _)| h.contains(['.', ':']) || *h == "localhost")
        else {
            return Err(ImageError::NoHost { image: text(image) });
        };
        if !is_host(host) {
            return Err(ImageError::Host {
                image: text(image),
                host: text(host),
            });
        }
        if let Some(bad) = path.split('/').find(|c| !is_path_component(c)) {
            return Err(ImageError::Path {
                image: text(image),
                component: text(bad),
            });
        }
        if name.len() > 255 {
            return Err(ImageError::TooLong { image: text(image) });
        }
        if let Some(t) = tag.filter(|t| !is_tag(t)) {
            return Err(ImageError::Tag {
                image: text(image),
                tag: text(t),
            });
        }
        // Docker Hub keeps official images under `library/`.
        let path = match (is_docker_hub(host), path.contains('/')) {
            (true, false) => format!("library/{path}"),
            _ => text(path),
        };
        Ok(ImageRef {
            host: text(host),
            path,
            tag: text(tag.unwrap_or("latest")),
            digest: digest.map(text),
        })
    }

    /// The same image, pinned: `HOST/PATH@sha256:...`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.host, self.path)
    }

    /// Where the registry API is: Docker Hub's is not at `docker.io`.
    fn registry_host(&self) -> &str {
        if is_docker_hub(&self.host) {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }

    /// Registries that take a Google access token (Artifact Registry, Container Registry).
    fn is_google(&self) -> bool {
        self.host.ends_with(".pkg.dev") || self.host == "gcr.io" || self.host.ends_with(".gcr.io")
    }
}

fn is_docker_hub(host: &str) -> bool {
    host == "docker.io" || host == "index.docker.io"
}

fn is_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.split('.').all(label)
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let starts_and_ends = component.starts_with(alnum) && component.ends_with(alnum);
    let separators_ok = component
        .split(alnum)
        .filter(|sep| !sep.is_empty())
        .all(|sep| sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-'));
    starts_and_ends
        && separators_ok
        && component
            .chars()
            .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
}

/// `[\w][\w.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.starts_with(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The image's digest (`sha256:...`): its own when pinned, else what its tag points to now.
/// `plain` sends no credentials of its own; `auth` is asked for a token only for Google's
/// registries.
pub async fn digest(
    plain: &Api,
    auth: &Auth,
    endpoint: Option<&str>,
    image: &str,
) -> Result<String, RegistryError> {
    let r = ImageRef::parse(image)?;
    if let Some(d) = &r.digest {
        return Ok(d.clone());
    }
    let base = endpoint.map_or_else(|| format!("https://{}", r.registry_host()), str::to_string);
    let lookup = Lookup {
        plain,
        image,
        url: format!("{base}/v2/{}/manifests/{}", r.path, r.tag),
    };
    let google_token = match r.is_google() {
        true => auth.token().await.map_err(|e| lookup.error(e.into()))?,
        false => None,
    };
    let first = lookup.head(google_token.as_deref().map(bearer)).await?;
    let reply = match first.status.as_u16() {
        401 => {
            let answer = lookup.answer_challenge(&first, &r, google_token.as_deref());
            let second = lookup.head(Some(answer.await?)).await?;
            if second.status.as_u16() == 401 {
                return Err(RegistryError::Denied {
                    image: image.into(),
                });
            }
            second
        }
        _ => first,
    };
    reply
        .headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or(RegistryError::NoDigest {
            image: image.into(),
        })
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Artifact Registry's user for a Google access token given as a password.
fn google_basic(token: &str) -> String {
    let pair = format!("oauth2accesstoken:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// One digest lookup: the manifest's URL, and the image for messages.
struct Lookup<'a> {
    plain: &'a Api,
    image: &'a str,
    url: String,
}

impl Lookup<'_> {
    fn error(&self, error: ApiError) -> RegistryError {
        RegistryError::Api {
            image: self.image.into(),
            error,
        }
    }

    /// `HEAD` of the manifest with `authorization`; a 401 comes back as an answer.
    async fn head(&self, authorization: Option<String>) -> Result<Reply, RegistryError> {
        let reply = self
            .plain
            .call_answering(&[401], |http| {
                let req = http.head(&self.url).header("accept", ACCEPT);
                match &authorization {
                    Some(a) => req.header("authorization", a),
                    None => req,
                }
            })
            .await;
        reply.map_err(|e| match e.status() {
            Some(404) => RegistryError::NotFound {
                image: self.image.into(),
            },
            _ => self.error(e),
        })
    }

    /// The `Authorization` that answers a 401's challenge.
    async fn answer_challenge(
        &self,
        refused: &Reply,
        r: &ImageRef,
        google_token: Option<&str>,
    ) -> Result<String, RegistryError> {
        let denied = || RegistryError::Denied {
            image: self.image.into(),
        };
        let header = refused
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let challenge = Challenge::parse(header).ok_or_else(denied)?;
        match challenge.scheme.as_str() {
            "bearer" => {
                let realm = challenge.param("realm").ok_or_else(denied)?;
                let default_scope = format!("repository:{}:pull", r.path);
                let scope = challenge.param("scope").unwrap_or(&default_scope);
                let service = challenge.param("service");
                let token = self.token(realm, service, scope, google_token).await?;
                Ok(bearer(&token))
            }
            "basic" => google_token.map(google_basic).ok_or_else(denied),
            _ => Err(denied()),
        }
    }

    /// A token from the challenge's realm for `scope`.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        google_token: Option<&str>,
    ) -> Result<String, RegistryError> {
        let failed = |error| RegistryError::Token {
            image: self.image.into(),
            realm: realm.into(),
            error,
        };
        let mut query = vec![("scope", scope)];
        query.extend(service.map(|s| ("service", s)));
        let reply = self
            .plain
            .call(|http| {
                let req = http.get(realm).query(&query);
                match google_token {
                    Some(t) => req.header("authorization", google_basic(t)),
                    None => req,
                }
            })
            .await
            .map_err(failed)?;
        let answer: Value = reply.json().map_err(failed)?;
        // The spec names it `token`; OAuth-style servers say `access_token`.
        answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                failed(ApiError::Decode {
                    url: realm.into(),
                    detail: "no `token` in the answer".into(),
                })
            })
    }
}

/// A `WWW-Authenticate` challenge: its scheme (lowercase) and parameters.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// `Scheme key="quoted, may hold commas",key=token` (RFC 9110, 11.6.1).
    fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if rest.is_empty() {
                break;
            }
            let (key, after) = rest.split_once('=')?;
            let after = after.trim_start();
            let (value, remaining) = match after.strip_prefix('"') {
                Some(quoted) => unquote(quoted)?,
                None => {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_string(), &after[end..])
                }
            };
            params.push((key.trim().to_ascii_lowercase(), value));
            rest = remaining;
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A quoted string's value (after its opening quote) and what follows its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &text[i + 1..])),
            _ => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_image_references() {
        let r = ImageRef::parse("europe-docker.pkg.dev/p/dbt/runner:abc123").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str(), r.tag.as_str()),
            ("europe-docker.pkg.dev", "p/dbt/runner", "abc123")
        );
        assert!(r.is_google());
        assert_eq!(
            r.pinned("sha256:f"),
            "europe-docker.pkg.dev/p/dbt/runner@sha256:f"
        );
        let local = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!((local.path.as_str(), local.tag.as_str()), ("app", "latest"));
        let hub = ImageRef::parse("docker.io/nginx:1.27").unwrap();
        assert_eq!(
            (hub.registry_host(), hub.path.as_str()),
            ("registry-1.docker.io", "library/nginx")
        );
        assert!(!hub.is_google());
        let pinned = ImageRef::parse(&format!("gcr.io/p/app:v1@{DIGEST}")).unwrap();
        assert_eq!(pinned.digest.as_deref(), Some(DIGEST));
    }

    #[test]
    fn refuses_what_a_registry_would() {
        let problem = |image: &str| ImageRef::parse(image).unwrap_err();
        assert!(matches!(
            problem("library/ubuntu:24.04"),
            ImageError::NoHost { .. }
        ));
        assert!(matches!(problem("ubuntu"), ImageError::NoHost { .. }));
        assert!(matches!(
            problem("europe-docker.pkg.dev/p/Dbt/runner:v1"),
            ImageError::Path { component, .. } if component == "Dbt"
        ));
        assert!(matches!(
            problem("europe-docker.pkg.dev/p//runner"),
            ImageError::Path { .. }
        ));
        assert!(matches!(
            problem("europe-docker.pkg.dev/p/runner:-v1"),
            ImageError::Tag { .. }
        ));
        assert!(matches!(
            problem("europe-docker.pkg.dev/p/runner:v1 "),
            ImageError::Tag { .. }
        ));
        assert!(matches!(
            problem("europe-docker.pkg.dev/p/runner@sha256:abc"),
            ImageError::Digest { .. }
        ));
        assert!(matches!(
            problem("bad_host.example.com/p/runner"),
            ImageError::Host { .. }
        ));
        let long = format!("gcr.io/{}", "a".repeat(250));
        assert!(matches!(problem(&long), ImageError::TooLong { .. }));
        for ok in [
            "gcr.io/p/a.b_c__d---e:V1.0_x-y",
            "localhost/app",
            "host:443/a/b",
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn reads_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/nginx:pull,push"));
        let basic = Challenge::parse(r#"Basic realm="Artifact Registry", charset=UTF-8"#).unwrap();
        assert_eq!(basic.scheme, "basic");
        assert_eq!(basic.param("charset"), Some("UTF-8"));
        let escaped = Challenge::parse(r#"Bearer realm="a\"b""#).unwrap();
        assert_eq!(escaped.param("realm"), Some("a\"b"));
        assert_eq!(Challenge::parse(r#"Bearer realm="open"#), None);
    }
}
