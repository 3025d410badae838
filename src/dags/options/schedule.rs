//! Airflow schedules, checked before a DAG file is written: `null`, one of Airflow's presets,
//! or five cron fields.
//!
//! Airflow 3 turns `schedule=` into a timetable (`_create_timetable` in
//! `airflow/sdk/definitions/dag.py`): `None`, `@once` and `@continuous` are timetables of
//! their own, `@hourly` … `@yearly` are cron expressions (`CRON_PRESETS` in
//! `airflow/sdk/definitions/timetables/_cron.py`), and any other string goes to croniter,
//! whose refusal is an import error of the file (`CronMixin.validate`, called by the DAG bag).
//! croniter splits the fields on ASCII whitespace only (`field_re` in `croniter.py`): a
//! no-break space pasted from a web page glues two fields into one.
//!
//! What is accepted is a subset of what croniter reads, with the meaning every cron gives
//! it: numbers and ranges in each field's bounds, `*`, steps, month and weekday names, `?`
//! for a whole day field, `L` (the last day) in the day of month and `N#K` (the K-th weekday
//! N) in the day of week. croniter's own extensions (`W`, `H`, `R`, a sixth field of seconds,
//! ranges that wrap around) are refused, and so is a schedule that never fires (`0 0 30 2 *`),
//! which croniter accepts and the scheduler then fails on. `tests/dags_schedules.rs` holds
//! every schedule accepted here to Airflow's own reading of it.

use std::fmt;

/// Airflow's presets: `None` aside, the strings `schedule=` takes besides cron expressions
/// (<https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/cron.html>).
pub const PRESETS: [&str; 8] = [
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
];

/// The text that stands for Python's `None`: a DAG that only runs when triggered.
pub const NO_SCHEDULE: &str = "null";

/// What a schedule text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule<'a> {
    /// `null`: no schedule; runs are triggered by hand or through the API.
    None,
    /// One of [`PRESETS`].
    Preset(&'a str),
    /// Five cron fields.
    Cron(&'a str),
}

impl<'a> Schedule<'a> {
    pub fn parse(text: &'a str) -> Result<Schedule<'a>, ScheduleError> {
        if text == NO_SCHEDULE {
            return Ok(Schedule::None);
        }
        if PRESETS.contains(&text) {
            return Ok(Schedule::Preset(text));
        }
        if text.starts_with('@') {
            return Err(ScheduleError::Preset {
                text: text.to_string(),
            });
        }
        check_cron(text).map(|()| Schedule::Cron(text))
    }
}

/// A cron field, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

const FIELDS: [CronField; 5] = [
    CronField::Minute,
    CronField::Hour,
    CronField::DayOfMonth,
    CronField::Month,
    CronField::DayOfWeek,
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl CronField {
    /// The smallest and largest value (7 is Sunday again in the day of week).
    fn bounds(self) -> (u32, u32) {
        match self {
            CronField::Minute => (0, 59),
            CronField::Hour => (0, 23),
            CronField::DayOfMonth => (1, 31),
            CronField::Month => (1, 12),
            CronField::DayOfWeek => (0, 7),
        }
    }

    /// The value a name stands for (`jan` is 1, `sun` is 0), in any case.
    fn named(self, word: &str) -> Option<u32> {
        let word = word.to_ascii_lowercase();
        let (names, first) = match self {
            CronField::Month => (&MONTHS[..], 1),
            CronField::DayOfWeek => (&WEEKDAYS[..], 0),
            _ => return None,
        };
        let i = names.iter().position(|n| *n == word)?;
        Some(first + i as u32)
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        })
    }
}

/// What is wrong with a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "`{text}` is not one of Airflow's presets ({})",
        PRESETS.join(", ")
    )]
    Preset { text: String },
    #[error(
        "`{text}` is not a cron expression: it holds {} (U+{:04X}), and cron fields are separated \
         by ASCII spaces only",
        describe_char(*found), *found as u32
    )]
    NotAscii { text: String, found: char },
    #[error(
        "`{text}` is not a cron expression: {count} fields where Airflow's schedules have five \
         (minute, hour, day of month, month, day of week, as in `0 5 * * *`), or one of \
         Airflow's presets such as `@daily`, or `null`"
    )]
    FieldCount { text: String, count: usize },
    #[error("`{text}` is not a cron expression: its {field} field `{value}` {problem}")]
    Field {
        text: String,
        field: CronField,
        value: String,
        problem: FieldProblem,
    },
    #[error(
        "`{text}` names both a day of month and an `N#K` weekday, which crons combine \
         differently (croniter: both at once); give one of them, with `*` in the other"
    )]
    NthWithDay { text: String },
    #[error(
        "`@continuous` starts a run as soon as the last one ends, one at a time: Airflow \
         refuses it with max_active_runs {max_active_runs} (`ContinuousTimetable.active_runs_limit` \
         is 1)"
    )]
    Continuous { max_active_runs: u32 },
    #[error(
        "`{text}` never fires: none of its months has a day of month it names, so Airflow's \
         scheduler would find no next run"
    )]
    Never { text: String },
}

/// What is wrong with one cron field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("has an empty item (two commas, or one at an end)")]
    Empty,
    #[error("holds `{item}`, which is neither a number nor a name")]
    NotAValue { item: String },
    #[error("holds {value}, outside {min} to {max}")]
    OutOfRange { value: u32, min: u32, max: u32 },
    #[error("holds the range {low}-{high}, which runs backwards (write the values as a list)")]
    Backwards { low: u32, high: u32 },
    #[error("has a step of 0")]
    ZeroStep,
    #[error("uses `?`, which stands for a whole day-of-month or day-of-week field only")]
    Question,
    #[error("uses `L`, which dagship accepts in the day-of-month field only, alone (`L`)")]
    Last,
    #[error(
        "uses `#`, which names the K-th weekday (`1#2`, K from 1 to 5) in the day-of-week field only"
    )]
    Nth,
    #[error("mixes `N#K` with plain weekdays, which croniter refuses or reads as one")]
    NthMixed,
    #[error(
        "holds `{item}`, a croniter extension (`W`, `H`, `R`) that other crons read differently"
    )]
    Extension { item: String },
}

fn describe_char(c: char) -> &'static str {
    match c {
        '\u{a0}' => "a no-break space",
        '\u{2000}'..='\u{200b}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => "a Unicode space",
        c if c.is_whitespace() => "a Unicode space",
        _ => "a non-ASCII character",
    }
}

/// The values one field allows: bit `v` for value `v`, and whether it is unrestricted
/// (`*`, `?`) or holds `L`.
#[derive(Debug, Default, Clone, Copy)]
struct Allowed {
    bits: u64,
    any: bool,
    last: bool,
    /// Items `N#K` (the day of week), and plain ones.
    nth: bool,
    plain: bool,
}

fn check_cron(text: &str) -> Result<(), ScheduleError> {
    if let Some(found) = text.chars().find(|c| !c.is_ascii()) {
        return Err(ScheduleError::NotAscii {
            text: text.to_string(),
            found,
        });
    }
    // croniter's separators: ASCII whitespace.
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    if parts.len() != FIELDS.len() {
        return Err(ScheduleError::FieldCount {
            text: text.to_string(),
            count: parts.len(),
        });
    }
    let mut allowed = [Allowed::default(); 5];
    for (i, (field, value)) in FIELDS.into_iter().zip(&parts).enumerate() {
        allowed[i] = parse_field(field, value).map_err(|problem| ScheduleError::Field {
            text: text.to_string(),
            field,
            value: value.to_string(),
            problem,
        })?;
    }
    let [_, _, days, months, weekdays] = allowed;
    if weekdays.nth && !days.any {
        return Err(ScheduleError::NthWithDay {
            text: text.to_string(),
        });
    }
    if !fires(days, months, weekdays) {
        return Err(ScheduleError::Never {
            text: text.to_string(),
        });
    }
    Ok(())
}

/// Whether some date matches. With both day fields restricted cron fires on either (croniter
/// too), and every weekday comes round in every month.
fn fires(days: Allowed, months: Allowed, weekdays: Allowed) -> bool {
    if days.any || days.last || !weekdays.any {
        return true;
    }
    const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let smallest_day = days.bits.trailing_zeros();
    (1..=12u32).any(|m| {
        (months.any || months.bits & (1 << m) != 0) && smallest_day <= LONGEST[m as usize - 1]
    })
}

fn parse_field(field: CronField, text: &str) -> Result<Allowed, FieldProblem> {
    let day_field = matches!(field, CronField::DayOfMonth | CronField::DayOfWeek);
    if text == "*" || (text == "?" && day_field) {
        return Ok(Allowed {
            any: true,
            ..Allowed::default()
        });
    }
    let mut allowed = Allowed::default();
    for item in text.split(',') {
        parse_item(field, item, &mut allowed)?;
    }
    if allowed.nth && allowed.plain {
        return Err(FieldProblem::NthMixed);
    }
    // Every value listed is `*` to croniter (`0-6`, `*,5`), which matters where cron
    // combines the two day fields.
    let (min, max) = field.bounds();
    let max = if field == CronField::DayOfWeek {
        6
    } else {
        max
    };
    let every = (min..=max).fold(0u64, |bits, v| bits | 1 << v);
    allowed.any = !allowed.nth && allowed.bits & every == every;
    Ok(allowed)
}

fn parse_item(field: CronField, item: &str, allowed: &mut Allowed) -> Result<(), FieldProblem> {
    if item.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if item.contains('?') {
        return Err(FieldProblem::Question);
    }
    if item.eq_ignore_ascii_case("l") && field == CronField::DayOfMonth {
        allowed.last = true;
        return Ok(());
    }
    if let Some((weekday, nth)) = item.split_once('#') {
        let day = nth_weekday(field, weekday, nth)?;
        allowed.bits |= 1 << day;
        allowed.nth = true;
        return Ok(());
    }
    allowed.plain = true;
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step_of(item, step)?)),
        None => (item, None),
    };
    let (low, high) = range_of(field, range, step.is_some())?;
    let mut v = low;
    while v <= high {
        // 7 is Sunday, as 0.
        let bit = if field == CronField::DayOfWeek {
            v % 7
        } else {
            v
        };
        allowed.bits |= 1 << bit;
        match v.checked_add(step.unwrap_or(1)) {
            Some(next) => v = next,
            None => break,
        }
    }
    Ok(())
}

/// `N#K`: the K-th weekday N of the month, one weekday (croniter's `sun-fri#2` is no
/// cron's), K from 1 to 5.
fn nth_weekday(field: CronField, weekday: &str, nth: &str) -> Result<u32, FieldProblem> {
    if field != CronField::DayOfWeek {
        return Err(FieldProblem::Nth);
    }
    let day = value(field, weekday).map_err(|_| FieldProblem::Nth)?;
    match nth.parse::<u32>() {
        Ok(1..=5) if nth.bytes().all(|b| b.is_ascii_digit()) => Ok(day % 7),
        _ => Err(FieldProblem::Nth),
    }
}

/// The step after `/`: a whole number, not 0.
fn step_of(item: &str, step: &str) -> Result<u32, FieldProblem> {
    if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_value(item));
    }
    match step.parse::<u32>() {
        Ok(0) => Err(FieldProblem::ZeroStep),
        Ok(n) => Ok(n),
        // More digits than any field has values: its first value alone, as in croniter.
        Err(_) => Ok(u32::MAX),
    }
}

/// The first and last value of `*`, `N`, `N-M`, or `N` before a step (up to the field's
/// end, in croniter as in Vixie cron: `5/15`).
fn range_of(field: CronField, range: &str, stepped: bool) -> Result<(u32, u32), FieldProblem> {
    let (min, max) = field.bounds();
    if range == "*" {
        return Ok((min, max));
    }
    let Some((low, high)) = range.split_once('-') else {
        let v = value(field, range)?;
        return Ok((v, if stepped { max } else { v }));
    };
    // Backwards before out of bounds: croniter reads `4-0` in the month field as a range
    // that wraps round, other crons refuse it.
    let (low, high) = (unbounded(field, low)?, unbounded(field, high)?);
    if low > high {
        return Err(FieldProblem::Backwards { low, high });
    }
    Ok((in_bounds(field, low)?, in_bounds(field, high)?))
}

/// One number or name in its field's bounds.
fn value(field: CronField, text: &str) -> Result<u32, FieldProblem> {
    in_bounds(field, unbounded(field, text)?)
}

/// A number or a name, whatever its size.
fn unbounded(field: CronField, text: &str) -> Result<u32, FieldProblem> {
    if let Some(v) = field.named(text) {
        return Ok(v);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_value(text));
    }
    Ok(text.parse::<u32>().unwrap_or(u32::MAX))
}

fn in_bounds(field: CronField, v: u32) -> Result<u32, FieldProblem> {
    let (min, max) = field.bounds();
    if v < min || v > max {
        return Err(FieldProblem::OutOfRange { value: v, min, max });
    }
    Ok(v)
}

/// An item that is not a value: `L` elsewhere than alone in the day of month, and croniter's
/// extensions (`15W`, `H`, `R(0-30)/5`), are named as such.
fn not_a_value(item: &str) -> FieldProblem {
    let lower = item.to_ascii_lowercase();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let rest_of = |s: &str| s.is_empty() || s.starts_with('(') || s.starts_with('/');
    let weekday = |s: &str| {
        lower.strip_suffix('w').is_some_and(digits) || s.strip_prefix('w').is_some_and(digits)
    };
    let hashed = lower.strip_prefix(['h', 'r']).is_some_and(rest_of);
    if lower.contains('l')
        && lower
            .chars()
            .all(|c| c == 'l' || c == 'w' || c == '-' || c.is_ascii_digit())
    {
        return FieldProblem::Last;
    }
    if weekday(&lower) || hashed {
        FieldProblem::Extension {
            item: item.to_string(),
        }
    } else {
        FieldProblem::NotAValue {
            item: item.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> FieldProblem {
        match Schedule::parse(text) {
            Err(ScheduleError::Field { problem, .. }) => problem,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn cron_presets_and_null() {
        assert_eq!(Schedule::parse("null"), Ok(Schedule::None));
        assert_eq!(Schedule::parse("@daily"), Ok(Schedule::Preset("@daily")));
        for ok in [
            "0 5 * * *",
            "*/15 0-6 * * MON-FRI",
            "0 0 L * *",
            "0 0 1,L * *",
            "0 0 ? * 1#2",
            "0 0 * * sun#5",
            "0 0 * jan-jun/2 *",
            "5/15 * * * *",
            "0 0 29 2 *",
            "0 0 30 2 1",
            "0 0 * * 7",
            " 0 5 * * *\t",
        ] {
            assert!(
                Schedule::parse(ok).is_ok(),
                "{ok}: {:?}",
                Schedule::parse(ok)
            );
        }
    }

    #[test]
    fn what_croniter_would_refuse_or_read_otherwise() {
        assert_eq!(
            Schedule::parse("0\u{a0}5 * * *").unwrap_err().to_string(),
            "`0\u{a0}5 * * *` is not a cron expression: it holds a no-break space (U+00A0), and \
             cron fields are separated by ASCII spaces only"
        );
        assert!(matches!(
            Schedule::parse("every day"),
            Err(ScheduleError::FieldCount { count: 2, .. })
        ));
        assert!(matches!(
            Schedule::parse("0 5 * * * 30"),
            Err(ScheduleError::FieldCount { count: 6, .. })
        ));
        assert!(matches!(
            Schedule::parse("@annually"),
            Err(ScheduleError::Preset { .. })
        ));
        assert_eq!(
            problem("60 * * * *"),
            FieldProblem::OutOfRange {
                value: 60,
                min: 0,
                max: 59
            }
        );
        assert_eq!(problem("*/0 * * * *"), FieldProblem::ZeroStep);
        assert_eq!(
            problem("5-1 * * * *"),
            FieldProblem::Backwards { low: 5, high: 1 }
        );
        assert_eq!(problem("1,,2 * * * *"), FieldProblem::Empty);
        assert_eq!(problem("? * * * *"), FieldProblem::Question);
        assert_eq!(problem("0 0 * * 5L"), FieldProblem::Last);
        assert_eq!(problem("0 0 * * 1#6"), FieldProblem::Nth);
        assert_eq!(problem("0 0 1#2 * *"), FieldProblem::Nth);
        assert!(matches!(
            problem("0 0 15W * *"),
            FieldProblem::Extension { .. }
        ));
        assert!(matches!(
            problem("H * * * *"),
            FieldProblem::Extension { .. }
        ));
        assert!(matches!(
            problem("0 0 jan * *"),
            FieldProblem::NotAValue { .. }
        ));
        assert!(matches!(
            problem("+5 * * * *"),
            FieldProblem::NotAValue { .. }
        ));
        assert_eq!(
            Schedule::parse("0 0 30 2 *"),
            Err(ScheduleError::Never {
                text: "0 0 30 2 *".into()
            })
        );
        assert!(Schedule::parse("0 0 31 4,6,9,11 *").is_err());
    }
}
