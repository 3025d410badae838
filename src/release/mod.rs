//! Releases: what each run, promotion or rollback deployed to an environment, recorded once
//! and never changed ([`record`]), kept in the environment's state store ([`store`]) beside
//! the lock that lets one run at a time change the environment ([`lock`]).

pub mod checkout;
pub mod history;
pub mod lock;
pub mod record;
pub mod recorder;
pub mod store;

/// Who deploys: `GITHUB_ACTOR` in GitHub Actions, else the local user.
pub fn actor() -> String {
    ["GITHUB_ACTOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            let uid = nix::unistd::getuid();
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The URL of the CI run deploying, when there is one (GitHub Actions).
pub fn ci_url() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let (server, repository, run) = (
        var("GITHUB_SERVER_URL")?,
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?,
    );
    let mut url = format!("{server}/{repository}/actions/runs/{run}");
    if let Some(attempt) = var("GITHUB_RUN_ATTEMPT") {
        url.push_str(&format!("/attempts/{attempt}"));
    }
    Some(url)
}

/// This machine's name, for the lock.
pub fn host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string())
}
