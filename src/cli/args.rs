//! The command line's arguments (clap), and how output should look (colour, verbosity).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::dags::options as limits;

#[derive(Debug, Parser)]
#[command(
    name = "dagship",
    // The crate's version, the release tag and the commit: see build.rs.
    version = env!("DAGSHIP_VERSION"),
    about = "Deploy a dbt + Airflow (Cloud Composer) + Cloud Run + alembic data platform from one pipeline file",
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// The pipeline file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "pipeline.yaml",
        value_name = "FILE"
    )]
    pub file: PathBuf,

    /// Change to DIR before doing anything (like `git -C`).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    /// Say more (repeat for even more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Say only what was asked for, and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the pipeline file (and, with --env, that environment's values). Runs nothing.
    Validate(ValidateArgs),
    /// Show what a run would do in an environment, step by step. Changes nothing.
    Plan(PlanArgs),
    /// Run the pipeline in an environment: steps in dependency order, independent ones in parallel.
    Run(RunArgs),
    /// Deploy to an environment exactly a release that succeeded in another: same images, DAG
    /// files and migration revision, nothing rebuilt.
    Promote(PromoteArgs),
    /// Deploy an environment's earlier release again.
    Rollback(RollbackArgs),
    /// List an environment's releases, newest first.
    Releases(ReleasesArgs),
    /// Remove an environment's lock (after showing who holds it).
    Unlock(UnlockArgs),
    /// Generate Airflow DAG files from a dbt manifest: one DAG per selector (or `dbt_all`).
    Dags(Box<DagsArgs>),
    /// Print the JSON Schema of the pipeline file (for editors).
    Schema,
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also check this environment's values (unset secrets are warnings).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
}

/// Where and which steps: shared by `plan` and `run`.
#[derive(Debug, Args)]
pub struct Target {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    pub env: String,

    /// Only these steps (comma-separated); their needs are assumed done.
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        conflicts_with = "from"
    )]
    pub only: Vec<String>,

    /// This step and everything downstream of it.
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
}

impl Target {
    pub fn selection(&self) -> crate::selection::Selection {
        use crate::selection::Selection;
        match (&self.from, self.only.is_empty()) {
            (Some(from), _) => Selection::From(from.clone()),
            (None, false) => Selection::Only(self.only.clone()),
            (None, true) => Selection::All,
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,

    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,

    /// Write the plan to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: Target,

    /// Show the plan instead of running it (same as `dagship plan`).
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub execution: Execution,
}

/// How a deployment runs: shared by `run`, `promote` and `rollback`.
#[derive(Debug, Args)]
pub struct Execution {
    /// How many steps may run at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(usize))]
    pub jobs: usize,

    /// After a failure, start no further steps (running ones finish).
    #[arg(long)]
    pub fail_fast: bool,

    /// Confirm a deployment to a `protected` environment (not needed in CI); also allows
    /// what `--allow-prune` allows.
    #[arg(long)]
    pub yes: bool,

    /// Let `airflow_dags` and `composer_dags` steps remove more of the files they manage than
    /// their `max_prune` allows (or all of them).
    #[arg(long)]
    pub allow_prune: bool,

    /// How to report progress (auto: GitHub Actions, terminal, or plain lines).
    #[arg(long, value_enum, default_value_t = crate::report::OutputKind::Auto)]
    pub output: crate::report::OutputKind,

    /// When stopping a step (Ctrl-C, timeout): wait this long after SIGINT, then SIGTERM, then SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_grace)]
    pub stop_grace: std::time::Duration,

    /// How long to wait for another run that holds the environment's lock (then exit 3).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_grace)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment whose release is promoted.
    #[arg(long, value_name = "ENV")]
    pub from: String,

    /// The environment it is deployed to (its `promote_from` must name `--from`).
    #[arg(long, value_name = "ENV")]
    pub to: String,

    /// This release of `--from` (default: its newest that succeeded).
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,

    /// Promote although `--to` does not list `--from` in `promote_from`.
    #[arg(long)]
    pub force: bool,

    /// Show the plan instead of deploying.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub execution: Execution,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    pub env: String,

    /// This earlier release (default: the one before the one deployed now).
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,

    /// Also downgrade databases to the release's migration revision.
    #[arg(long)]
    pub downgrade: bool,

    /// Show the plan instead of deploying.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub execution: Execution,
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    pub env: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    pub env: String,

    /// Remove the lock without asking.
    #[arg(long)]
    pub yes: bool,
}

fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms
            .parse()
            .map(std::time::Duration::from_millis)
            .map_err(|e| e.to_string());
    }
    crate::shape::parse_duration(text)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is not a duration such as `10s`, `500ms` or `1m`"))
}

#[derive(Debug, Args)]
pub struct DagsArgs {
    /// dbt's manifest.json (written by `dbt parse` or `dbt compile`).
    #[arg(long, value_name = "PATH")]
    pub manifest: PathBuf,

    /// selectors.yml: one DAG per selector (default: one DAG `dbt_all` with every model, seed and snapshot).
    #[arg(long, value_name = "PATH")]
    pub selectors: Option<PathBuf>,

    /// Folder the DAG files are written to (created if needed).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,

    /// Remove DAG files of selectors that are gone even when they are all, or more than
    /// `--max-prune`, of the DAG files dagship wrote into `--out`.
    #[arg(long)]
    pub allow_prune: bool,

    /// The share of the DAG files dagship wrote into `--out` that one run may remove, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_prune: u8,

    /// Write nothing: list what each DAG selects, one `<dag_id> <unique_id>` line per node
    /// (what `dbt ls --selector NAME` lists, with its default resource types).
    #[arg(long)]
    pub list: bool,

    /// How tasks run dbt.
    #[arg(long, value_enum, default_value_t = DagsOperator::Bash)]
    pub executor: DagsOperator,

    /// Where dbt tests run: a `test` task after each unit's `run`, inside `dbt build`, or not at all.
    #[arg(long, value_enum, default_value_t = DagsTests::AfterEach)]
    pub tests: DagsTests,

    /// `--project-dir` of the dbt commands, as the workers (or the job's container) see it.
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<String>,

    /// `--profiles-dir` of the dbt commands.
    #[arg(long, value_name = "DIR")]
    pub profiles_dir: Option<String>,

    /// `--target` of the dbt commands.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,

    /// Cloud Run job that runs dbt (executor `cloud_run_job`).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,

    /// Google Cloud project of the job (executor `cloud_run_job`).
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,

    /// Region of the job (executor `cloud_run_job`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    #[command(flatten)]
    pub executor_settings: ExecutorFlags,

    /// Schedule of one selector's DAG, e.g. `daily=0 5 * * *`, `daily=@daily` or `daily=null` (repeatable); else the selector's `schedule` key.
    #[arg(long = "schedule", value_name = "NAME=CRON", value_parser = parse_schedule)]
    pub schedules: Vec<(String, String)>,

    /// Add a `dbt source freshness` task per source, upstream of the units that read it.
    #[arg(long)]
    pub source_freshness: bool,

    /// The DAGs' start date (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2024-01-01", value_parser = parse_start_date)]
    pub start_date: String,

    /// DAG tags (repeatable; default: dbt, dagship).
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    pub tags: Vec<String>,

    /// Runs of one DAG at a time.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=AIRFLOW_INTEGER_MAX))]
    pub max_active_runs: u32,

    /// Retries of a failed task (a node's `meta.dagship.retries` wins).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=AIRFLOW_INTEGER_MAX))]
    pub retries: u32,

    /// Wait between retries, e.g. `300`, `5m`.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_retry_delay)]
    pub retry_delay: u64,

    /// Airflow pool of the dbt tasks (a node's `meta.dagship.pool` wins).
    #[arg(long, value_name = "POOL", value_parser = parse_pool)]
    pub pool: Option<String>,

    /// Function called when a DAG run fails, as an import path: `alerts.slack:notify`.
    #[arg(long, value_name = "IMPORT_PATH")]
    pub on_failure_callback: Option<String>,

    /// Post to Slack when a task fails, through this Airflow connection (conn type `slack`).
    #[arg(long, value_name = "CONNECTION_ID")]
    pub notify_slack: Option<String>,

    /// The Slack channel of `--notify-slack`, `#name` or an id.
    #[arg(long, value_name = "CHANNEL", requires = "notify_slack")]
    pub notify_slack_channel: Option<String>,

    /// Email this address when a task fails, through the `smtp_default` connection (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub notify_email: Vec<String>,

    /// A shell command run before the dbt tasks, as `ID=COMMAND` (repeatable).
    #[arg(long = "before", value_name = "ID=COMMAND", value_parser = parse_assignment)]
    pub before: Vec<(String, String)>,

    /// A shell command run after all dbt tasks, as `ID=COMMAND` (repeatable).
    #[arg(long = "after", value_name = "ID=COMMAND", value_parser = parse_assignment)]
    pub after: Vec<(String, String)>,
}

/// The Airflow operator of the dbt tasks, by its name in `dags::Operator::NAMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DagsOperator {
    Bash,
    #[value(name = "cloud_run_job")]
    CloudRunJob,
    #[value(name = "kubernetes_pod")]
    KubernetesPod,
    Docker,
    #[value(name = "dbt_cloud")]
    DbtCloud,
    #[value(name = "ecs_task")]
    EcsTask,
}

/// The settings of the executors `kubernetes_pod`, `docker`, `dbt_cloud` and `ecs_task`,
/// named as `dags::Operator::OWN_SETTINGS` names them (`--service-account`: `service_account`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Executor settings")]
pub struct ExecutorFlags {
    /// Image that holds the dbt project (`kubernetes_pod`, `docker`).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Kubernetes namespace of the pods (`kubernetes_pod`).
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Kubernetes service account of the pods (`kubernetes_pod`).
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// Resource request of the container, e.g. `cpu=500m` (`kubernetes_pod`; repeatable).
    #[arg(long = "request", value_name = "NAME=VALUE")]
    pub requests: Vec<String>,
    /// Resource limit of the container, e.g. `memory=2Gi` (`kubernetes_pod`; repeatable).
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    /// Environment variable from a Kubernetes secret (`kubernetes_pod`; repeatable).
    #[arg(long = "secret-env", value_name = "VARIABLE=SECRET:KEY")]
    pub secret_env: Vec<String>,
    /// Kube config file of the workers; without it, in-cluster (`kubernetes_pod`).
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<String>,
    /// Docker network of the container (`docker`).
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Bind mount `SOURCE:TARGET[:ro]` (`docker`; repeatable).
    #[arg(long = "mount", value_name = "SOURCE:TARGET[:ro]")]
    pub mounts: Vec<String>,
    /// dbt Cloud job id (`dbt_cloud`).
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// dbt Cloud account id; else the connection's (`dbt_cloud`).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// Airflow connection to dbt Cloud (`dbt_cloud`; default `dbt_cloud_default`).
    #[arg(long, value_name = "CONN_ID")]
    pub conn_id: Option<String>,
    /// Whether a task waits for its dbt Cloud run to end (`dbt_cloud`; default true).
    #[arg(long, value_name = "BOOL")]
    pub wait_for_termination: Option<bool>,
    /// ECS cluster (`ecs_task`).
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// ECS task definition (`ecs_task`).
    #[arg(long, value_name = "FAMILY[:REVISION]")]
    pub task_definition: Option<String>,
    /// Container of the task definition that runs dbt (`ecs_task`).
    #[arg(long, value_name = "NAME")]
    pub container_name: Option<String>,
    /// ECS launch type (`ecs_task`; default FARGATE).
    #[arg(long, value_name = "TYPE")]
    pub launch_type: Option<String>,
    /// Subnet of the task's awsvpc network (`ecs_task`; repeatable).
    #[arg(long = "subnet", value_name = "ID")]
    pub subnets: Vec<String>,
    /// Security group of the task's awsvpc network (`ecs_task`; repeatable).
    #[arg(long = "security-group", value_name = "ID")]
    pub security_groups: Vec<String>,
    /// Whether the task gets a public IP (`ecs_task`; default false).
    #[arg(long, value_name = "BOOL")]
    pub assign_public_ip: Option<bool>,
    /// CloudWatch log group of the container, shown in the task's log (`ecs_task`).
    #[arg(long, value_name = "GROUP")]
    pub awslogs_group: Option<String>,
    /// CloudWatch log stream prefix of the container (`ecs_task`).
    #[arg(long, value_name = "PREFIX")]
    pub awslogs_stream_prefix: Option<String>,
    /// AWS region; else the connection's (`ecs_task`).
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// Wait in Airflow's triggerer (`kubernetes_pod`, `dbt_cloud`, `ecs_task`; default false).
    #[arg(long, value_name = "BOOL")]
    pub deferrable: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DagsTests {
    #[value(name = "after_each")]
    AfterEach,
    Build,
    None,
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

// The `dags` values are held to Airflow's limits as they are parsed, so that a mistake is
// named with its flag; `DagOptions::check` holds the same rules for every other source.

/// Airflow keeps counts in 32-bit `Integer` columns.
const AIRFLOW_INTEGER_MAX: i64 = limits::INTEGER_MAX as i64;

fn parse_schedule(text: &str) -> Result<(String, String), String> {
    let (name, schedule) = parse_assignment(text)?;
    limits::check_schedule(&schedule).map_err(|e| e.to_string())?;
    Ok((name, schedule))
}

fn parse_start_date(text: &str) -> Result<String, String> {
    limits::check_start_date(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

fn parse_tag(text: &str) -> Result<String, String> {
    limits::check_tag(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

fn parse_retry_delay(text: &str) -> Result<u64, String> {
    let seconds = crate::shape::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration such as `300`, `5m` or `1h30m`"))?;
    limits::check_timedelta("a retry delay", seconds).map_err(|e| e.to_string())?;
    Ok(seconds)
}

fn parse_pool(text: &str) -> Result<String, String> {
    limits::check_name("pool", "slot_pool.pool", text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Mermaid,
    /// GitHub-flavoured Markdown, for a pull request comment or a job summary.
    Markdown,
}

/// How much to say, and in colour or not: what every command needs from the global flags.
#[derive(Debug, Clone)]
pub struct Output {
    pub color_stdout: bool,
    pub color_stderr: bool,
    pub verbose: u8,
    pub quiet: bool,
}

impl Output {
    pub(crate) fn new(cli: &Cli) -> Output {
        let choice = match cli.color {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
        let colored = |choice: anstream::ColorChoice| choice != anstream::ColorChoice::Never;
        Output {
            color_stdout: colored(anstream::AutoStream::choice(&std::io::stdout())),
            color_stderr: colored(anstream::AutoStream::choice(&std::io::stderr())),
            verbose: cli.verbose,
            quiet: cli.quiet,
        }
    }
}
