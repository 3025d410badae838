//! Failure notifications: Airflow's own notifiers on every task of the DAGs, called when a
//! task fails (after its last retry), so that a broken model reaches the team's Slack channel
//! or inbox without a callback module of their own.
//!
//! Which notifiers there are shapes the DAG files (an import, the `on_failure_callback` of the
//! tasks' defaults); the values they take (connection ids, channel, addresses) differ between
//! environments and live in the settings module, like the executor's, so that the DAG files a
//! release promotes stay the same.
//!
//! Every value is also a field that the notifier renders as a Jinja template when it fires:
//! checking them here to hold no `{`, `}` or `%` keeps them from being read as templates.

use std::fmt::Write;

use super::operator::Setting;
use super::python::{str_list_without_airflow, str_lit_without_airflow};

/// The notifiers of the DAGs' tasks; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub slack: Option<Slack>,
    /// Addresses an email goes to (through the `smtp_default` connection).
    pub email: Vec<String>,
}

/// `SlackNotifier`: a message posted through a Slack API connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slack {
    /// The Airflow connection (conn type `slack`, the bot token as its password).
    pub connection: String,
    /// Where the message goes (a `#name` or a channel id); else the notifier's default.
    pub channel: Option<String>,
}

/// A notification setting Airflow or the notifier would refuse, or read as a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "notify: `{value}` is not an Airflow connection id (letters, digits, `_`, `-` or `.`, \
         at most 250 characters)"
    )]
    Connection { value: String },
    #[error(
        "notify: `{value}` is not a Slack channel (`#name` of lowercase letters, digits, `-`, `_` \
         or `.`, or a channel id such as `C0123456789`)"
    )]
    Channel { value: String },
    #[error("notify: `{value}` is not an email address (`name@domain`, no spaces or braces)")]
    Email { value: String },
}

const SLACK_IMPORT: &str =
    "from airflow.providers.slack.notifications.slack import SlackNotifier\n";
const SMTP_IMPORT: &str = "from airflow.providers.smtp.notifications.smtp import SmtpNotifier\n";

/// The Slack message, rendered by the notifier from the failed task's context.
const SLACK_TEXT: &str = ":red_circle: dbt task `{{ ti.task_id }}` of DAG `{{ dag.dag_id }}` \
    failed (run `{{ run_id }}`, try {{ ti.try_number }}).";

impl Notify {
    pub fn is_empty(&self) -> bool {
        self.slack.is_none() && self.email.is_empty()
    }

    pub fn check(&self) -> Result<(), NotifyError> {
        if let Some(slack) = &self.slack {
            check_connection(&slack.connection)?;
            if let Some(channel) = &slack.channel {
                check_channel(channel)?;
            }
        }
        self.email.iter().try_for_each(|a| check_email(a))
    }

    /// The import lines of the notifiers the DAG files use.
    pub(super) fn imports(&self) -> impl Iterator<Item = &'static str> {
        let slack = self.slack.as_ref().map(|_| SLACK_IMPORT);
        let email = (!self.email.is_empty()).then_some(SMTP_IMPORT);
        slack.into_iter().chain(email)
    }

    /// The values of the settings module. Their names depend only on which notifiers there
    /// are (a channel is always a setting, `None` when not given).
    pub(super) fn settings(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        if let Some(slack) = &self.slack {
            out.push(Setting {
                name: "NOTIFY_SLACK_CONNECTION",
                about: "Failure notifications: the Slack connection, and the channel (None: the notifier's default).",
                value: str_lit_without_airflow(&slack.connection),
            });
            out.push(Setting {
                name: "NOTIFY_SLACK_CHANNEL",
                about: "",
                value: slack
                    .channel
                    .as_deref()
                    .map_or_else(|| "None".to_string(), str_lit_without_airflow),
            });
        }
        if !self.email.is_empty() {
            out.push(Setting {
                name: "NOTIFY_EMAIL",
                about: "Failure notifications: who gets an email.",
                value: str_list_without_airflow(&self.email),
            });
        }
        out
    }

    /// The `on_failure_callback` entry of the tasks' `default_args`, when there are notifiers.
    pub(super) fn default_arg(&self) -> Option<String> {
        let mut notifiers = Vec::new();
        if self.slack.is_some() {
            notifiers.push(format!(
                "SlackNotifier(slack_conn_id=NOTIFY_SLACK_CONNECTION, text={}, **({{}} if \
                 NOTIFY_SLACK_CHANNEL is None else {{\"channel\": NOTIFY_SLACK_CHANNEL}}))",
                super::python::str_lit(SLACK_TEXT)
            ));
        }
        if !self.email.is_empty() {
            // The provider's own subject and body name the DAG, task, run and try.
            notifiers.push("SmtpNotifier(to=NOTIFY_EMAIL)".to_string());
        }
        if notifiers.is_empty() {
            return None;
        }
        let mut out = String::from("\"on_failure_callback\": [");
        let _ = write!(out, "{}]", notifiers.join(", "));
        Some(out)
    }
}

/// Airflow's rule for a connection id (`[\w.-]+`, at most 250 characters), in ASCII.
pub fn check_connection(value: &str) -> Result<(), NotifyError> {
    let ok = !value.is_empty()
        && value.len() <= 250
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(()).ok_or_else(|| NotifyError::Connection {
        value: value.to_string(),
    })
}

/// Slack's channel names (lowercase, at most 80 characters) or ids.
pub fn check_channel(value: &str) -> Result<(), NotifyError> {
    let name = value.strip_prefix('#').unwrap_or(value);
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let id = !value.starts_with('#')
        && value.len() <= 24
        && value.len() >= 9
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (ok || id)
        .then_some(())
        .ok_or_else(|| NotifyError::Channel {
            value: value.to_string(),
        })
}

pub fn check_email(value: &str) -> Result<(), NotifyError> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_graphic() && !matches!(c, '@' | '{' | '}' | '%' | '<' | '>' | ',' | ';')
            })
    };
    let ok = value.len() <= 254
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| plain(local) && plain(domain) && domain.contains('.'));
    ok.then_some(()).ok_or_else(|| NotifyError::Email {
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(connection: &str, channel: Option<&str>) -> Notify {
        Notify {
            slack: Some(Slack {
                connection: connection.into(),
                channel: channel.map(Into::into),
            }),
            email: Vec::new(),
        }
    }

    #[test]
    fn values_that_a_notifier_would_render_as_templates_are_refused() {
        assert!(slack("slack_alerts", Some("#data-alerts")).check().is_ok());
        assert!(slack("slack.prod-1", Some("C0123456789")).check().is_ok());
        assert!(slack("slack_alerts", None).check().is_ok());
        for bad in ["{{ var.value.x }}", "", "a b", "x%y"] {
            assert!(slack(bad, None).check().is_err(), "{bad:?}");
        }
        for bad in ["#{{ ti }}", "#Data", "#", "general channel"] {
            let e = slack("c", Some(bad)).check().unwrap_err();
            assert!(matches!(e, NotifyError::Channel { .. }), "{bad:?}");
        }
        let email = |a: &str| {
            Notify {
                email: vec![a.into()],
                ..Notify::default()
            }
            .check()
        };
        assert!(email("data-team+dbt@acme.example").is_ok());
        for bad in [
            "x",
            "a@b",
            "{{ x }}@acme.com",
            "a b@acme.com",
            "a@acme.com,b@acme.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_dag_files_name_the_values_and_the_settings_module_holds_them() {
        let mut both = slack("slack_alerts", None);
        both.email = vec!["data@acme.example".into()];
        assert_eq!(both.imports().count(), 2);
        let arg = both.default_arg().unwrap();
        assert!(arg.starts_with("\"on_failure_callback\": [SlackNotifier(slack_conn_id=NOTIFY_SLACK_CONNECTION, text="), "{arg}");
        assert!(arg.ends_with("SmtpNotifier(to=NOTIFY_EMAIL)]"), "{arg}");
        let names: Vec<_> = both.settings().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "NOTIFY_SLACK_CONNECTION",
                "NOTIFY_SLACK_CHANNEL",
                "NOTIFY_EMAIL"
            ]
        );
        let values: Vec<_> = both.settings().into_iter().map(|s| s.value).collect();
        assert_eq!(values[1], "None");
        assert_eq!(values[2], "[\"data@acme.example\"]");
        // Another channel changes the settings module only.
        let other = slack("slack_alerts", Some("#prod"));
        assert_eq!(other.default_arg(), slack("x", None).default_arg());
        assert_eq!(other.settings()[1].value, "\"#prod\"");
        assert!(Notify::default().default_arg().is_none());
        assert_eq!(Notify::default().imports().count(), 0);
    }
}
