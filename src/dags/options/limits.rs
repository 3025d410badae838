//! Airflow's own limits on the values a generated DAG holds: what would make Airflow refuse
//! to import the file, or what its database could not keep once a run starts. Checked when
//! the file is generated (and, for literal values of an `airflow_dags` step, when the
//! pipeline loads), so that no file Airflow rejects is ever written.

/// The longest `datetime.timedelta`, in seconds: `timedelta.max` is 999,999,999 days and
/// 23:59:59 (<https://docs.python.org/3/library/datetime.html#datetime.timedelta.max>).
/// `timedelta(seconds=N)` past it raises `OverflowError`, an import error of the file.
pub const TIMEDELTA_MAX_SECONDS: u64 = 999_999_999 * 86_400 + 86_399;

/// `TAG_MAX_LEN` in `airflow/sdk/definitions/dag.py` (and the `dag_tag.name` column): a
/// longer tag is a `ValueError` when the DAG is created.
pub const TAG_MAX_LEN: usize = 100;

/// Pools and queues are `String(256)` columns (`slot_pool.pool`, `task_instance.pool`,
/// `task_instance.queue` in `airflow/models/`): a longer pool cannot exist, and a longer
/// queue cannot be stored with the task instance.
pub const NAME_MAX_LEN: usize = 256;

/// Retries (`task_instance.max_tries`), pool slots and `max_active_runs` are `Integer`
/// columns: 32 bits in PostgreSQL and MySQL, Airflow's production databases.
pub const INTEGER_MAX: u64 = i32::MAX as u64;

/// A value Airflow would refuse, naming the value, the limit and where Airflow sets it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{setting} of {seconds} seconds is longer than a Python `timedelta` can be \
         ({TIMEDELTA_MAX_SECONDS} seconds, 999999999 days): Airflow cannot import the file"
    )]
    Timedelta { setting: String, seconds: u64 },
    #[error(
        "{setting} of 0 seconds: Airflow takes a zero `execution_timeout` for no time limit \
         at all; give one second or more, or leave it out"
    )]
    ZeroTimeout { setting: String },
    #[error(
        "tag `{tag}` has {len} characters; Airflow refuses tags longer than {TAG_MAX_LEN} \
         (`TAG_MAX_LEN` in airflow/sdk/definitions/dag.py)",
        len = tag.chars().count()
    )]
    Tag { tag: String },
    #[error("start date `{date}` is not a date such as 2024-01-01")]
    Date { date: String },
    #[error(
        "start date `{date}` is in year {year}; Python's `datetime`, which Airflow's dates \
         are, has the years 1 to 9999"
    )]
    Year { date: String, year: i16 },
    #[error(
        "{setting} `{name}` has {len} characters; Airflow keeps at most {NAME_MAX_LEN} (its \
         `{column}` column is `String({NAME_MAX_LEN})`)",
        len = name.chars().count()
    )]
    Name {
        setting: String,
        name: String,
        column: &'static str,
    },
    #[error(
        "{setting} {value} is more than Airflow's database holds: at most {INTEGER_MAX} (its \
         `{column}` column is a 32-bit `Integer`)"
    )]
    Integer {
        setting: String,
        value: u64,
        column: &'static str,
    },
}

/// A duration Airflow writes as a `timedelta` (`retry_delay`).
pub fn check_timedelta(setting: &str, seconds: u64) -> Result<(), LimitError> {
    if seconds > TIMEDELTA_MAX_SECONDS {
        return Err(LimitError::Timedelta {
            setting: setting.to_string(),
            seconds,
        });
    }
    Ok(())
}

/// A time limit (`execution_timeout`): a `timedelta`, and more than zero, which Airflow's
/// task runner reads as no limit (`if task.execution_timeout:` in
/// `airflow/sdk/execution_time/task_runner.py`).
pub fn check_timeout(setting: &str, seconds: u64) -> Result<(), LimitError> {
    if seconds == 0 {
        return Err(LimitError::ZeroTimeout {
            setting: setting.to_string(),
        });
    }
    check_timedelta(setting, seconds)
}

/// A DAG tag: Python counts its length in characters (code points).
pub fn check_tag(tag: &str) -> Result<(), LimitError> {
    if tag.chars().count() > TAG_MAX_LEN {
        return Err(LimitError::Tag {
            tag: tag.to_string(),
        });
    }
    Ok(())
}

/// `YYYY-MM-DD`, a real day, in the years `datetime` has (`datetime.MINYEAR` is 1).
pub fn check_start_date(date: &str) -> Result<(), LimitError> {
    let parsed: Result<jiff::civil::Date, _> = date.parse();
    match parsed {
        Ok(d) if d.to_string() != date => Err(LimitError::Date {
            date: date.to_string(),
        }),
        Ok(d) if d.year() < 1 => Err(LimitError::Year {
            date: date.to_string(),
            year: d.year(),
        }),
        Ok(_) => Ok(()),
        Err(_) => Err(LimitError::Date {
            date: date.to_string(),
        }),
    }
}

/// A pool or queue name, kept in a `String(256)` column.
pub fn check_name(setting: &str, column: &'static str, name: &str) -> Result<(), LimitError> {
    if name.chars().count() > NAME_MAX_LEN {
        return Err(LimitError::Name {
            setting: setting.to_string(),
            name: name.to_string(),
            column,
        });
    }
    Ok(())
}

/// A count kept in an `Integer` column.
pub fn check_integer(setting: &str, column: &'static str, value: u64) -> Result<(), LimitError> {
    if value > INTEGER_MAX {
        return Err(LimitError::Integer {
            setting: setting.to_string(),
            value,
            column,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_up_to_the_largest_timedelta() {
        assert_eq!(check_timedelta("retry_delay", 0), Ok(()));
        assert_eq!(
            check_timedelta("retry_delay", TIMEDELTA_MAX_SECONDS),
            Ok(())
        );
        assert!(check_timedelta("retry_delay", TIMEDELTA_MAX_SECONDS + 1).is_err());
        assert!(matches!(
            check_timeout("execution_timeout", 0),
            Err(LimitError::ZeroTimeout { .. })
        ));
        assert_eq!(check_timeout("execution_timeout", 1), Ok(()));
    }

    #[test]
    fn tags_dates_and_names() {
        assert_eq!(check_tag(&"é".repeat(100)), Ok(()));
        assert_eq!(
            check_tag(&"t".repeat(101)).unwrap_err().to_string(),
            format!(
                "tag `{}` has 101 characters; Airflow refuses tags longer than 100 \
                 (`TAG_MAX_LEN` in airflow/sdk/definitions/dag.py)",
                "t".repeat(101)
            )
        );
        assert_eq!(check_start_date("0001-01-01"), Ok(()));
        assert_eq!(check_start_date("9999-12-31"), Ok(()));
        assert!(matches!(
            check_start_date("0000-01-01"),
            Err(LimitError::Year { year: 0, .. })
        ));
        assert!(matches!(
            check_start_date("-000001-01-01"),
            Err(LimitError::Year { year: -1, .. })
        ));
        for bad in ["2024-13-01", "2024-1-1", "tomorrow", ""] {
            assert!(
                matches!(check_start_date(bad), Err(LimitError::Date { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            check_name("pool", "slot_pool.pool", &"p".repeat(256)),
            Ok(())
        );
        assert!(check_name("pool", "slot_pool.pool", &"p".repeat(257)).is_err());
        assert_eq!(check_integer("retries", "max_tries", INTEGER_MAX), Ok(()));
        assert!(check_integer("retries", "max_tries", INTEGER_MAX + 1).is_err());
    }
}
