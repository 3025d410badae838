//! Credentials: the AWS SDK's standard chain, found first without a network call.
//!
//! The SDK's default chain asks, in order: the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`), the shared config and credentials files (`AWS_PROFILE`, else
//! `default`), a web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`: what
//! `aws-actions/configure-aws-credentials` sets up from GitHub's OIDC token, and EKS's IRSA),
//! the container credentials endpoint (ECS tasks), and EC2's instance metadata service. The
//! last one can only be asked over the network, and waits for timeouts where it is not there.
//! So dagship looks for each source itself, the way the chain would find it, and only where
//! one is at hand builds the SDK's chain: a plan says at once "unknown: no credentials"
//! instead of waiting for a metadata service that is not there.
//!
//! An environment's `assume_role` then trades those credentials for the role's own, through
//! STS (`AssumeRole`, session name `dagship`); the SDK refreshes them before they expire.

use std::path::PathBuf;

/// Why no calls to AWS can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or \
         AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (as aws-actions/configure-aws-credentials \
         does), or run on AWS"
    )]
    Missing,
    #[error(
        "AWS_PROFILE names profile `{profile}`, which is in neither {config} nor {credentials}"
    )]
    NoProfile {
        profile: String,
        config: String,
        credentials: String,
    },
    #[error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")]
    NoSecret,
    #[error(
        "profile `{profile}` signs in through AWS IAM Identity Center (SSO), which dagship does \
         not build in: export the session's keys with \
         `eval \"$(aws configure export-credentials --profile {profile} --format env)\"`"
    )]
    Sso { profile: String },
}

/// Where credentials come from, as far as can be told without a network call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    Profile { name: String, file: PathBuf },
    WebIdentity { role: String },
    Container,
    InstanceMetadata,
}

impl Source {
    /// For messages: "the environment", "profile `ci` in ~/.aws/config".
    pub fn describe(&self) -> String {
        match self {
            Source::Environment => "the environment (AWS_ACCESS_KEY_ID)".into(),
            Source::Profile { name, file } => format!("profile `{name}` in {}", file.display()),
            Source::WebIdentity { role } => format!("a web identity token for {role}"),
            Source::Container => "the container credentials endpoint".into(),
            Source::InstanceMetadata => "the EC2 instance metadata service".into(),
        }
    }
}

/// The process's credentials source, if it has one.
pub fn discover() -> Result<Option<Source>, CredentialsError> {
    discover_with(
        &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        on_ec2(),
    )
}

/// [`discover`], given the process environment and whether this machine is an EC2 instance.
pub fn discover_with(
    var: &dyn Fn(&str) -> Option<String>,
    on_ec2: bool,
) -> Result<Option<Source>, CredentialsError> {
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(_), Some(_)) => return Ok(Some(Source::Environment)),
        (Some(_), None) => return Err(CredentialsError::NoSecret),
        _ => {}
    }
    if let Some(found) = profile(var)? {
        return Ok(Some(found));
    }
    if let (Some(_), Some(role)) = (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN")) {
        return Ok(Some(Source::WebIdentity { role }));
    }
    let container = [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ];
    if container.iter().any(|name| var(name).is_some()) {
        return Ok(Some(Source::Container));
    }
    let imds_off = var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok((on_ec2 && !imds_off).then_some(Source::InstanceMetadata))
}

/// The profile the SDK would read (`AWS_PROFILE`, else `default`), when it holds
/// credentials. A profile named in `AWS_PROFILE` that is in neither file is a mistake.
fn profile(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Source>, CredentialsError> {
    let home = var("HOME").map(PathBuf::from);
    let file = |var_name: &str, default: &str| {
        var(var_name)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let config = file("AWS_CONFIG_FILE", "config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let named = var("AWS_PROFILE");
    let name = named.clone().unwrap_or_else(|| "default".into());
    let read = |f: &Option<PathBuf>, config: bool| {
        let f = f.as_ref()?;
        let text = std::fs::read_to_string(f).ok()?;
        section(&text, &name, config).map(|keys| (f.clone(), keys))
    };
    let found: Vec<(PathBuf, Vec<String>)> = [read(&credentials, false), read(&config, true)]
        .into_iter()
        .flatten()
        .collect();
    if let Some((file, _)) = found
        .iter()
        .find(|(_, keys)| keys.iter().any(|k| CREDENTIAL_KEYS.contains(&k.as_str())))
    {
        let file = file.clone();
        return Ok(Some(Source::Profile { name, file }));
    }
    let sso = |k: &String| k.starts_with("sso_");
    if found.iter().any(|(_, keys)| keys.iter().any(sso)) {
        return Err(CredentialsError::Sso { profile: name });
    }
    let shown = |f: Option<PathBuf>| f.map_or("(no file)".into(), |f| f.display().to_string());
    match named {
        Some(profile) if found.is_empty() => Err(CredentialsError::NoProfile {
            profile,
            config: shown(config),
            credentials: shown(credentials),
        }),
        _ => Ok(None),
    }
}

/// Keys of a profile that give credentials (without them, a profile only sets a region).
const CREDENTIAL_KEYS: &[&str] = &[
    "aws_access_key_id",
    "role_arn",
    "credential_process",
    "web_identity_token_file",
];

/// The keys of profile `name` in an ini file's text, if it has that section: `[name]` in
/// the credentials file; `[profile name]` in the config file, where `default` may be
/// `[default]`.
fn section(text: &str, name: &str, config: bool) -> Option<Vec<String>> {
    let mut keys = None;
    for line in text.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            let profile = header.strip_prefix("profile ").map(str::trim);
            let ours = match config {
                true => profile == Some(name) || (name == "default" && header == "default"),
                false => header == name,
            };
            if keys.is_some() && !ours {
                break;
            }
            keys = ours.then(Vec::new).or(keys);
        } else if let (Some(found), Some((key, _))) = (keys.as_mut(), line.split_once('=')) {
            found.push(key.trim().to_ascii_lowercase());
        }
    }
    keys
}

/// Whether this machine is an EC2 instance (Nitro and Xen), as the DMI tables and the
/// hypervisor say: the instance metadata service is only asked for where there is one.
fn on_ec2() -> bool {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    read("/sys/class/dmi/id/sys_vendor").trim() == "Amazon EC2"
        || read("/sys/class/dmi/id/board_asset_tag")
            .trim()
            .starts_with("i-")
        || read("/sys/hypervisor/uuid").trim().starts_with("ec2")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_chains_sources_in_its_order() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        assert_eq!(
            discover_with(&env(&keys), true),
            Ok(Some(Source::Environment))
        );
        let oidc = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy"),
            ("HOME", "/nonexistent"),
        ];
        assert_eq!(
            discover_with(&env(&oidc), false),
            Ok(Some(Source::WebIdentity {
                role: "arn:aws:iam::123456789012:role/deploy".into()
            }))
        );
        let ecs = [
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"),
            ("HOME", "/nonexistent"),
        ];
        assert_eq!(
            discover_with(&env(&ecs), false),
            Ok(Some(Source::Container))
        );
        let bare = [("HOME", "/nonexistent")];
        assert_eq!(discover_with(&env(&bare), false), Ok(None));
        assert_eq!(
            discover_with(&env(&bare), true),
            Ok(Some(Source::InstanceMetadata))
        );
        let off = [
            ("HOME", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        assert_eq!(discover_with(&env(&off), true), Ok(None));
        let half = [("AWS_ACCESS_KEY_ID", "AKIA")];
        assert_eq!(
            discover_with(&env(&half), false),
            Err(CredentialsError::NoSecret)
        );
    }

    #[test]
    fn profiles_in_either_file_and_a_named_one_that_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        let config = dir.path().join(".aws/config");
        let text = "[default]\nregion = eu-west-1\naws_access_key_id = AKIA\n\
                    [profile ci]\nrole_arn = x\nsource_profile = default\n\
                    [profile region-only]\nregion = us-east-1\n\
                    [profile dev]\nsso_session = acme\nsso_account_id = 1\n";
        std::fs::write(&config, text).unwrap();
        let found = discover_with(&env(&[("HOME", home), ("AWS_PROFILE", "ci")]), false);
        assert_eq!(
            found,
            Ok(Some(Source::Profile {
                name: "ci".into(),
                file: config.clone()
            }))
        );
        let default = discover_with(&env(&[("HOME", home)]), false).unwrap();
        assert!(matches!(default, Some(Source::Profile { name, .. }) if name == "default"));
        let no_keys = discover_with(
            &env(&[("HOME", home), ("AWS_PROFILE", "region-only")]),
            false,
        );
        assert_eq!(
            no_keys,
            Ok(None),
            "a profile without credentials is no source"
        );
        let sso = discover_with(&env(&[("HOME", home), ("AWS_PROFILE", "dev")]), false);
        assert_eq!(
            sso,
            Err(CredentialsError::Sso {
                profile: "dev".into()
            })
        );
        let missing = discover_with(&env(&[("HOME", home), ("AWS_PROFILE", "prod")]), false);
        assert!(
            matches!(&missing, Err(CredentialsError::NoProfile { profile, .. }) if profile == "prod"),
            "{missing:?}"
        );
    }
}
