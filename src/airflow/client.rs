//! A connection to one Airflow's REST API: which version it speaks, who dagship is to it, and
//! how far its clock is from ours (its parse times are compared with our upload times).

use std::sync::Once;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::Client;
use serde::de::DeserializeOwned;

use super::auth::{Credentials, Signer, unreachable};
use super::error::{AirflowError, detail};
use super::records::{DagsPage, ImportError, ImportErrorsPage, Page, ParsedDag};

/// The REST API an Airflow speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// Airflow 2's stable API, `/api/v1` (Cloud Composer 2).
    V1,
    /// Airflow 3's, `/api/v2`.
    V2,
}

impl ApiVersion {
    fn prefix(self) -> &'static str {
        match self {
            ApiVersion::V1 => "/api/v1",
            ApiVersion::V2 => "/api/v2",
        }
    }
}

/// Entries per page: Airflow's `maximum_page_limit` by default.
const PAGE: usize = 100;

pub struct Airflow {
    base: String,
    http: Client,
    api: ApiVersion,
    version: String,
    signer: Signer,
    /// Airflow's clock minus ours.
    offset: SignedDuration,
}

#[derive(serde::Deserialize)]
struct VersionInfo {
    version: String,
}

impl Airflow {
    /// Finds which API the Airflow at `base` speaks (Airflow 3's first), reads its clock,
    /// and logs in.
    pub async fn connect(base: &str, credentials: &Credentials) -> Result<Airflow, AirflowError> {
        static CRYPTO: Once = Once::new();
        CRYPTO.call_once(|| {
            // Fails only when a provider is already installed, which is just as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("dagship/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS client can be configured");
        let base = base.trim_end_matches('/').to_string();
        // Composer's front end wants Google's token on every path, the version too.
        let probe = match credentials {
            Credentials::Bearer(source) => Signer::Source(source.clone()),
            _ => Signer::Nothing,
        };
        for api in [ApiVersion::V2, ApiVersion::V1] {
            let url = format!("{base}{}/version", api.prefix());
            let asked = jiff::Timestamp::now();
            let request = probe.sign(http.get(&url), &base).await?;
            let response = request.send().await.map_err(|e| unreachable(&base, &e))?;
            let answered = jiff::Timestamp::now();
            let status = response.status().as_u16();
            let date = response.headers().get(reqwest::header::DATE).cloned();
            let body = response.bytes().await.map_err(|e| unreachable(&base, &e))?;
            match status {
                404 => continue,
                200..=299 => {
                    let info: VersionInfo =
                        serde_json::from_slice(&body).map_err(|e| AirflowError::Decode {
                            url: url.clone(),
                            detail: e.to_string(),
                        })?;
                    let signer = Signer::login(&http, &base, api, credentials).await?;
                    let offset = date
                        .and_then(|d| clock_offset(d.to_str().ok()?, asked, answered))
                        .unwrap_or(SignedDuration::ZERO);
                    return Ok(Airflow {
                        base,
                        http,
                        api,
                        version: info.version,
                        signer,
                        offset,
                    });
                }
                _ => {
                    return Err(AirflowError::Status {
                        url,
                        status,
                        detail: detail(status, &body),
                    });
                }
            }
        }
        Err(AirflowError::NotAirflow { url: base })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn api(&self) -> ApiVersion {
        self.api
    }

    /// Airflow's own version (`3.3.2`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Our time `at` on Airflow's clock.
    pub fn their_time(&self, at: Timestamp) -> Timestamp {
        at.checked_add(self.offset).unwrap_or(at)
    }

    /// Every DAG Airflow knows (not those whose file is gone), with when it was parsed.
    pub async fn parsed_dags(&self) -> Result<Vec<ParsedDag>, AirflowError> {
        self.all("dags", |page: DagsPage| page.read()).await
    }

    /// Every file Airflow could not import.
    pub async fn import_errors(&self) -> Result<Vec<ImportError>, AirflowError> {
        let relative = self.api == ApiVersion::V2;
        self.all("importErrors", |page: ImportErrorsPage| page.read(relative))
            .await
    }

    /// Every page of a listing.
    async fn all<P: DeserializeOwned, T>(
        &self,
        collection: &str,
        read: impl Fn(P) -> Result<Page<T>, String>,
    ) -> Result<Vec<T>, AirflowError> {
        let url = format!("{}{}/{collection}", self.base, self.api.prefix());
        let mut items = Vec::new();
        loop {
            let query = [("limit", PAGE), ("offset", items.len())];
            let page: P = self.get(&url, &query).await?;
            let page = read(page).map_err(|detail| AirflowError::Decode {
                url: url.clone(),
                detail,
            })?;
            let (got, total) = (page.items.len(), page.total);
            items.extend(page.items);
            if got == 0 || items.len() >= total {
                return Ok(items);
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, usize)],
    ) -> Result<T, AirflowError> {
        let request = self
            .signer
            .sign(self.http.get(url).query(query), &self.base);
        let response = request
            .await?
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        if !(200..300).contains(&status) {
            return Err(AirflowError::Status {
                url: url.into(),
                status,
                detail: detail(status, &body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| AirflowError::Decode {
            url: url.into(),
            detail: e.to_string(),
        })
    }
}

/// How far Airflow's clock (`date`, an HTTP `Date` header, whole seconds) is ahead of ours,
/// from a request we sent at `asked` and whose answer came at `answered`. The header cuts its
/// second short, so the middle of that second is compared with the middle of the exchange,
/// which is off by half a second (plus half the round trip): less than a second apart, the
/// clocks are taken to agree (as NTP keeps them), since a guess would be coarser than that.
fn clock_offset(date: &str, asked: Timestamp, answered: Timestamp) -> Option<SignedDuration> {
    let theirs =
        jiff::fmt::rfc2822::parse(date).ok()?.timestamp() + SignedDuration::from_millis(500);
    let middle = asked + answered.duration_since(asked) / 2;
    let offset = theirs.duration_since(middle);
    Some(if offset.abs() < SignedDuration::from_secs(1) {
        SignedDuration::ZERO
    } else {
        offset
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_offset_comes_from_the_date_header() {
        let asked: Timestamp = "2026-01-01T10:00:00.2Z".parse().unwrap();
        let answered: Timestamp = "2026-01-01T10:00:00.4Z".parse().unwrap();
        let ahead = clock_offset("Thu, 01 Jan 2026 10:00:30 GMT", asked, answered).unwrap();
        assert_eq!(ahead, SignedDuration::from_millis(30_200));
        let same = clock_offset("Thu, 01 Jan 2026 10:00:00 GMT", asked, answered).unwrap();
        assert_eq!(same, SignedDuration::ZERO, "within the header's precision");
        let behind = clock_offset("Thu, 01 Jan 2026 09:59:58 GMT", asked, answered).unwrap();
        assert_eq!(behind, SignedDuration::from_millis(-1_800));
        assert_eq!(clock_offset("not a date", asked, answered), None);
    }
}
