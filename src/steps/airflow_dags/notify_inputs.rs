//! `notify:` of the `airflow_dags` step: Airflow's notifiers on every task's failure, its
//! shape (each value checked where it is written) and its reading into [`Notify`].

use super::super::Inputs;
use crate::dags::notify::{self, Notify, Slack};
use crate::expr::{Template, Unrevealed};
use crate::shape::{Field, Record, Rule, Shape};
use crate::yaml::Node;

const CONNECTION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "an Airflow connection id such as `slack_alerts`",
    null: false,
    check: |text| notify::check_connection(text).map_err(|e| e.to_string()),
});

const CHANNEL: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a Slack channel such as `#data-alerts`, or a channel id",
    null: false,
    check: |text| notify::check_channel(text).map_err(|e| e.to_string()),
});

const EMAIL: Shape = Shape::List(&Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "an email address such as `data-team@example.com`",
    null: false,
    check: |text| notify::check_email(text).map_err(|e| e.to_string()),
}));

const NOTIFY_RECORD: Record = Record {
    fields: &[
        Field::optional(
            "slack",
            CONNECTION,
            "Airflow connection to Slack (conn type `slack`, the bot token as password): `SlackNotifier`.",
        ),
        Field::optional(
            "slack_channel",
            CHANNEL,
            "Channel of the Slack message (default: the notifier's, `#general`).",
        ),
        Field::optional(
            "email",
            EMAIL,
            "Addresses emailed through the `smtp_default` connection: `SmtpNotifier`.",
        ),
    ],
    exactly_one_of: &[],
};

pub(super) const NOTIFY: Shape = Shape::Record(&NOTIFY_RECORD);

/// The step's notifiers, with values resolved; none without `notify:`.
pub(super) fn read(inputs: &Inputs) -> Result<Notify, Unrevealed> {
    let Some(notify) = inputs.node("notify") else {
        return Ok(Notify::default());
    };
    let text = |node: &Node| inputs.resolver.resolve(&Template::of(node)).reveal();
    let field = |key: &str| notify.get(key).map(text).transpose();
    let slack = match field("slack")? {
        Some(connection) => Some(Slack {
            connection,
            channel: field("slack_channel")?,
        }),
        None => None,
    };
    let email = notify
        .get("email")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .map(text)
        .collect::<Result<_, _>>()?;
    Ok(Notify { slack, email })
}
