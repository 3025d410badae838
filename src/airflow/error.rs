//! What goes wrong when talking to Airflow, and which of it is worth waiting out.

use super::auth::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum AirflowError {
    #[error("cannot reach Airflow at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// Airflow (or the proxy in front of it) answered with an error.
    #[error("Airflow answered {url} with HTTP {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("no Airflow REST API at {url} (neither /api/v2/version nor /api/v1/version answers)")]
    NotAirflow { url: String },
    #[error(
        "Airflow at {url} wants a login: set DAGSHIP_AIRFLOW_USERNAME and DAGSHIP_AIRFLOW_PASSWORD to one of its users"
    )]
    LoginNeeded { url: String },
    #[error("Airflow at {url} refused the login of user `{username}` (HTTP {status}: {detail})")]
    LoginRefused {
        url: String,
        username: String,
        status: u16,
        detail: String,
    },
    #[error("cannot get a token for Airflow at {url}")]
    Token {
        url: String,
        #[source]
        source: TokenError,
    },
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
}

impl AirflowError {
    /// Whether waiting may help: Airflow is starting, restarting or busy.
    pub fn is_transient(&self) -> bool {
        match self {
            AirflowError::Unreachable { .. } => true,
            AirflowError::Status { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            _ => false,
        }
    }
}

/// Airflow's error bodies: Airflow 3 (FastAPI) sends `{"detail": "..."}`, or a list of
/// validation errors as `detail`; Airflow 2 sends RFC 7807 problems (`title`, `detail`).
/// Anything else (a proxy's page) is shown as text, shortened.
pub(crate) fn detail(status: u16, body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = match &json["detail"] {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .map(|i| {
                    i["msg"]
                        .as_str()
                        .map_or_else(|| i.to_string(), str::to_string)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => json["title"].as_str().map(str::to_string),
    };
    text.unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(body);
        let raw = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if raw.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_string()
        } else {
            raw.chars().take(200).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_airflows() {
        assert_eq!(
            detail(401, br#"{"detail":"Invalid credentials"}"#),
            "Invalid credentials"
        );
        let v1 = br#"{"detail":"Extra query parameter(s) bogus not in spec","status":400,"title":"Bad Request","type":"about:blank"}"#;
        assert_eq!(
            detail(400, v1),
            "Extra query parameter(s) bogus not in spec"
        );
        let fastapi = br#"{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer"}]}"#;
        assert_eq!(detail(422, fastapi), "Input should be a valid integer");
        assert_eq!(detail(502, b""), "Bad Gateway");
        assert_eq!(detail(404, b"<h1>Not\n Found</h1>"), "<h1>Not Found</h1>");
    }

    #[test]
    fn only_a_busy_or_absent_airflow_is_waited_for() {
        let status = |status| AirflowError::Status {
            url: "u".into(),
            status,
            detail: "d".into(),
        };
        assert!(status(503).is_transient() && status(429).is_transient());
        assert!(!status(401).is_transient() && !status(404).is_transient());
        let gone = AirflowError::Unreachable {
            url: "u".into(),
            detail: "connection refused".into(),
        };
        assert!(gone.is_transient());
    }
}
