//! What Airflow says about DAG files: the DAGs it parsed from each and when, and the files it
//! could not import. Airflow 3 names a file relative to its DAG bundle (`relative_fileloc`,
//! an import error's `filename`), Airflow 2 by its absolute path on the machine that parsed
//! it; [`FilePath::is`] matches either against a name relative to the DAG folder.

use jiff::Timestamp;
use serde::Deserialize;

/// Where Airflow says a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilePath {
    /// Relative to the DAG folder (Airflow 3's bundle).
    Relative(String),
    /// Absolute, on Airflow's machine (Airflow 2): `/home/airflow/gcs/dags/x.py` on Composer.
    Absolute(String),
}

impl FilePath {
    /// Whether this is the file `name` (relative to the DAG folder, with `/`).
    pub fn is(&self, name: &str) -> bool {
        match self {
            FilePath::Relative(path) => path == name,
            FilePath::Absolute(path) => path
                .strip_suffix(name)
                .is_some_and(|folder| folder.ends_with('/')),
        }
    }

    /// Of `names`, the one this path is: the longest that matches, so that an absolute
    /// `/dags/sub/a.py` is `sub/a.py` rather than `a.py`.
    pub fn which<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
        names
            .into_iter()
            .filter(|n| self.is(n))
            .max_by_key(|n| n.len())
            .map(String::as_str)
    }
}

/// A DAG Airflow knows, from the file it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDag {
    pub dag_id: String,
    pub file: FilePath,
    /// When Airflow last parsed its file (`None`: never recorded).
    pub last_parsed: Option<Timestamp>,
    /// How long that parse took, in seconds (Airflow 3's `last_parse_duration`).
    pub parse_seconds: Option<f64>,
}

impl ParsedDag {
    /// When the last parse began, as far as Airflow tells: a parse that began before a file
    /// was written read the file before.
    pub fn parse_started(&self) -> Option<Timestamp> {
        let ended = self.last_parsed?;
        let took = self
            .parse_seconds
            .and_then(|s| jiff::SignedDuration::try_from_secs_f64(s).ok())
            .unwrap_or_default();
        Some(ended.checked_sub(took).unwrap_or(ended))
    }
}

/// A file Airflow could not import, with Python's traceback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: FilePath,
    /// When the failed parse was recorded (each parse that fails again renews it).
    pub timestamp: Timestamp,
    pub stack_trace: String,
}

/// A page of a listing, and how many entries there are in all.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) total: usize,
}

/// `GET /dags` (both versions; `relative_fileloc` is Airflow 3's).
#[derive(Deserialize)]
pub(crate) struct DagsPage {
    dags: Vec<DagRecord>,
    total_entries: usize,
}

#[derive(Deserialize)]
struct DagRecord {
    dag_id: String,
    fileloc: String,
    #[serde(default)]
    relative_fileloc: Option<String>,
    #[serde(default)]
    last_parsed_time: Option<String>,
    #[serde(default)]
    last_parse_duration: Option<f64>,
}

/// `GET /importErrors` (both versions; Airflow 3's `filename` is relative to its bundle).
#[derive(Deserialize)]
pub(crate) struct ImportErrorsPage {
    import_errors: Vec<ImportErrorRecord>,
    total_entries: usize,
}

#[derive(Deserialize)]
struct ImportErrorRecord {
    filename: String,
    timestamp: String,
    stack_trace: String,
}

impl DagsPage {
    pub(crate) fn read(self) -> Result<Page<ParsedDag>, String> {
        let items = self
            .dags
            .into_iter()
            .map(|d| {
                Ok(ParsedDag {
                    file: match d.relative_fileloc {
                        Some(relative) => FilePath::Relative(relative),
                        None => FilePath::Absolute(d.fileloc),
                    },
                    last_parsed: d.last_parsed_time.as_deref().map(time).transpose()?,
                    parse_seconds: d.last_parse_duration,
                    dag_id: d.dag_id,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Page {
            items,
            total: self.total_entries,
        })
    }
}

impl ImportErrorsPage {
    /// `relative`: Airflow 3, whose file names are relative to the bundle.
    pub(crate) fn read(self, relative: bool) -> Result<Page<ImportError>, String> {
        let items = self
            .import_errors
            .into_iter()
            .map(|e| {
                Ok(ImportError {
                    file: if relative {
                        FilePath::Relative(e.filename)
                    } else {
                        FilePath::Absolute(e.filename)
                    },
                    timestamp: time(&e.timestamp)?,
                    stack_trace: e.stack_trace,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Page {
            items,
            total: self.total_entries,
        })
    }
}

/// Airflow 3 writes `2026-01-01T10:00:00.123456Z`, Airflow 2 `...+00:00`.
fn time(text: &str) -> Result<Timestamp, String> {
    text.parse()
        .map_err(|e| format!("cannot read the time `{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_matched_relative_or_by_their_absolute_tail() {
        let relative = FilePath::Relative("sub/a.py".into());
        assert!(relative.is("sub/a.py") && !relative.is("a.py"));
        let absolute = FilePath::Absolute("/home/airflow/gcs/dags/sub/a.py".into());
        assert!(absolute.is("sub/a.py") && absolute.is("a.py"));
        assert!(!absolute.is("b/a.py") && !FilePath::Absolute("/x/ba.py".into()).is("a.py"));
        let ours = ["a.py".to_string(), "sub/a.py".to_string()];
        assert_eq!(absolute.which(&ours), Some("sub/a.py"));
        assert_eq!(
            FilePath::Absolute("/d/a.py".into()).which(&ours),
            Some("a.py")
        );
        assert_eq!(FilePath::Absolute("/d/c.py".into()).which(&ours), None);
    }

    #[test]
    fn both_airflows_answers_are_read() {
        let v3: DagsPage = serde_json::from_str(
            r#"{"dags":[{"dag_id":"good","fileloc":"/x/dags/good.py","relative_fileloc":"good.py",
                "last_parsed_time":"2026-12-03T10:25:33.090573Z","last_parse_duration":0.5,
                "is_paused":true}],"total_entries":1}"#,
        )
        .unwrap();
        let page = v3.read().unwrap();
        assert_eq!(page.items[0].file, FilePath::Relative("good.py".into()));
        assert_eq!(
            page.items[0].parse_started().unwrap().to_string(),
            "2026-12-03T10:25:32.590573Z"
        );
        let v2: DagsPage = serde_json::from_str(
            r#"{"dags":[{"dag_id":"d","fileloc":"/home/airflow/gcs/dags/d.py",
                "last_parsed_time":"2024-05-01T08:00:00.5+00:00"},
                {"dag_id":"e","fileloc":"/e.py","last_parsed_time":null}],"total_entries":7}"#,
        )
        .unwrap();
        let page = v2.read().unwrap();
        assert_eq!(page.total, 7);
        assert_eq!(
            page.items[0].file,
            FilePath::Absolute("/home/airflow/gcs/dags/d.py".into())
        );
        assert_eq!(page.items[1].last_parsed, None);
        assert_eq!(
            page.items[0].parse_started(),
            page.items[0].last_parsed,
            "Airflow 2 does not tell how long a parse took"
        );
        let errors: ImportErrorsPage = serde_json::from_str(
            r#"{"import_errors":[{"import_error_id":1,"timestamp":"2026-12-03T10:25:32.804781Z",
                "filename":"sub/broken.py","bundle_name":"dags-folder","stack_trace":"Traceback"}],
                "total_entries":1}"#,
        )
        .unwrap();
        let page = errors.read(true).unwrap();
        assert_eq!(
            page.items[0].file,
            FilePath::Relative("sub/broken.py".into())
        );
        let bad: DagsPage = serde_json::from_str(
            r#"{"dags":[{"dag_id":"d","fileloc":"/d.py","last_parsed_time":"yesterday"}],"total_entries":1}"#,
        )
        .unwrap();
        assert!(bad.read().unwrap_err().contains("`yesterday`"));
    }
}
