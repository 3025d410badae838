//! Waiting for an MWAA update: what one `GetEnvironment` answer says of the update dagship
//! asked for. `GetEnvironment` may lag a moment behind `UpdateEnvironment` and still describe
//! the environment as it was, `AVAILABLE` or `UPDATE_FAILED` with the *earlier* update's
//! `LastUpdate`. Such an answer is neither our update's success nor its failure: only a
//! `LastUpdate` other than the one before ours (a new `CreatedAt`), or a status on the way
//! (`UPDATING`, …) seen since, speaks of ours.

use super::mwaa::{Environment, LastUpdate, MwaaError, NO_REASON};

/// How an environment stands after an update was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still at work (`UPDATING`, or another status on the way back to `AVAILABLE`).
    Working(String),
    /// `AVAILABLE`, running what the update asked for.
    Done,
}

/// One update's wait, from the `LastUpdate` the environment showed before it.
#[derive(Debug)]
pub struct UpdateWatch {
    before: Option<LastUpdate>,
    /// A status other than `AVAILABLE` and `UPDATE_FAILED` was seen since the update was
    /// asked for: the environment has taken it up.
    taken_up: bool,
}

impl UpdateWatch {
    pub fn new(before: Option<LastUpdate>) -> UpdateWatch {
        UpdateWatch {
            before,
            taken_up: false,
        }
    }

    /// How the update stands by `env`, one `GetEnvironment` answer of environment `name`.
    pub fn judge(&mut self, name: &str, env: &Environment) -> Result<Progress, MwaaError> {
        let ours = env
            .last_update
            .as_ref()
            .filter(|u| Some(*u) != self.before.as_ref());
        let failed = |reason: Option<String>| MwaaError::UpdateFailed {
            name: name.into(),
            status: env.status.clone(),
            reason: reason.unwrap_or_else(|| NO_REASON.into()),
        };
        let failure = ours.and_then(LastUpdate::failure);
        match env.status.as_str() {
            "AVAILABLE" => match ours {
                Some(u) if u.status.as_deref() == Some("PENDING") => {
                    Ok(Progress::Working("AVAILABLE, the update PENDING".into()))
                }
                Some(_) if failure.is_some() => Err(failed(failure)),
                Some(_) => Ok(Progress::Done),
                None if self.taken_up => Ok(Progress::Done),
                None => Ok(Progress::Working(
                    "still AVAILABLE: the update has not begun".into(),
                )),
            },
            "UPDATE_FAILED" if ours.is_none() && !self.taken_up => Ok(Progress::Working(
                "still UPDATE_FAILED from the update before: this one has not begun".into(),
            )),
            "UPDATE_FAILED" | "UNAVAILABLE" | "CREATE_FAILED" | "DELETING" | "DELETED" => {
                Err(failed(failure))
            }
            other => {
                self.taken_up = true;
                Ok(Progress::Working(other.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mwaa::DagFolder;
    use aws_smithy_types::DateTime;

    fn update(at: i64, status: &str, error: Option<&str>) -> Option<LastUpdate> {
        Some(LastUpdate {
            created_at: Some(DateTime::from_secs(at)),
            status: Some(status.into()),
            error: error.map(str::to_string),
        })
    }

    fn env(status: &str, last_update: Option<LastUpdate>) -> Environment {
        Environment {
            dags: DagFolder {
                bucket: "b".into(),
                prefix: "dags/".into(),
            },
            status: status.into(),
            plugins: None,
            requirements: None,
            last_update,
        }
    }

    fn working(p: Result<Progress, MwaaError>) -> bool {
        matches!(p, Ok(Progress::Working(_)))
    }

    #[test]
    fn an_answer_from_before_the_update_is_waited_past() {
        let failed_before = update(100, "FAILED", Some("BAD: earlier"));
        let mut watch = UpdateWatch::new(failed_before.clone());
        assert!(working(
            watch.judge("e", &env("UPDATE_FAILED", failed_before.clone()))
        ));
        assert!(working(watch.judge("e", &env("AVAILABLE", failed_before))));
        assert!(working(
            watch.judge("e", &env("UPDATING", update(200, "PENDING", None)))
        ));
        let done = watch.judge("e", &env("AVAILABLE", update(200, "SUCCESS", None)));
        assert!(matches!(done, Ok(Progress::Done)), "{done:?}");

        let succeeded_before = update(100, "SUCCESS", None);
        let mut watch = UpdateWatch::new(succeeded_before.clone());
        assert!(working(
            watch.judge("e", &env("AVAILABLE", succeeded_before))
        ));
        assert!(working(
            watch.judge("e", &env("AVAILABLE", update(200, "PENDING", None)))
        ));
    }

    #[test]
    fn our_update_failing_fails_with_its_reason_whatever_the_status() {
        for status in ["UPDATE_FAILED", "AVAILABLE"] {
            let mut watch = UpdateWatch::new(update(100, "SUCCESS", None));
            let answer = env(status, update(200, "FAILED", Some("BAD: ours")));
            match watch.judge("e", &answer) {
                Err(MwaaError::UpdateFailed { reason, .. }) => assert_eq!(reason, "BAD: ours"),
                other => panic!("{status}: {other:?}"),
            }
        }
        let mut watch = UpdateWatch::new(None);
        assert!(working(watch.judge("e", &env("UPDATING", None))));
        let failed = watch.judge("e", &env("UPDATE_FAILED", None));
        assert!(
            matches!(&failed, Err(MwaaError::UpdateFailed { reason, .. }) if reason == NO_REASON),
            "{failed:?}"
        );
        let gone = UpdateWatch::new(None).judge("e", &env("DELETING", None));
        assert!(gone.is_err(), "{gone:?}");
    }

    #[test]
    fn without_last_update_records_seeing_it_at_work_is_enough() {
        let mut watch = UpdateWatch::new(None);
        assert!(working(watch.judge("e", &env("AVAILABLE", None))));
        assert!(working(watch.judge("e", &env("UPDATING", None))));
        assert!(matches!(
            watch.judge("e", &env("AVAILABLE", None)),
            Ok(Progress::Done)
        ));
    }
}
