//! `dagship run` with real processes: order, parallelism, failures, retries, timeouts,
//! outputs, logs, and stopping whole process groups. Events are read from `--output json`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::dagship;

fn pipeline(dir: &Path, steps: &str) {
    let text = format!(
        "version: 1\nname: t\nenvironments:\n  local:\n    vars: {{ greeting: hello }}\n  \
         prod: {{ protected: true, vars: {{ greeting: hi }} }}\nsteps:\n{steps}"
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
}

/// Runs `dagship run --env local --output json ARGS` in `dir`: exit code, events, stderr.
fn run(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = dagship(dir)
        .env_remove("CI")
        .args(["run", "--env", "local", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        events,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn finished<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["id"] == id)
        .unwrap_or_else(|| panic!("no step_finished for {id}: {events:#?}"))
}

fn started(events: &[Value], id: &str) -> bool {
    events
        .iter()
        .any(|e| e["event"] == "step_started" && e["id"] == id)
}

fn output_lines(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "step_output" && e["id"] == id)
        .map(|e| e["line"].as_str().unwrap().to_string())
        .collect()
}

fn command(id: &str, needs: &[&str], argv: &str) -> String {
    format!(
        "  {id}:\n    uses: command\n    needs: [{}]\n    with: {{ argv: {argv} }}\n",
        needs.join(", ")
    )
}

#[test]
fn independent_steps_run_in_parallel_and_dependents_wait() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        command("a", &[], "[sleep, '1']"),
        command("b", &[], "[sleep, '1']"),
        command("c", &["a", "b"], "[\"true\"]"),
    ]
    .concat();
    pipeline(dir.path(), &steps);
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let span = |id: &str| {
        let f = finished(&events, id);
        (
            f["started_at"].as_f64().unwrap(),
            f["finished_at"].as_f64().unwrap(),
        )
    };
    let ((a0, a1), (b0, b1), (c0, _)) = (span("a"), span("b"), span("c"));
    assert!(a0 < b1 && b0 < a1, "a {a0}..{a1} and b {b0}..{b1} overlap");
    assert!(c0 >= a1 && c0 >= b1, "c starts after both of its needs");
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["outcome"].as_str()),
        (Some("run_finished"), Some("succeeded"))
    );
}

#[test]
fn jobs_bounds_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        command("a", &[], "[sleep, '0.5']"),
        command("b", &[], "[sleep, '0.5']"),
    ]
    .concat();
    pipeline(dir.path(), &steps);
    let (code, events, _) = run(dir.path(), &["--jobs", "1"]);
    assert_eq!(code, 0);
    let (a, b) = (finished(&events, "a"), finished(&events, "b"));
    let disjoint = a["finished_at"].as_f64() <= b["started_at"].as_f64()
        || b["finished_at"].as_f64() <= a["started_at"].as_f64();
    assert!(disjoint, "with --jobs 1 the steps do not overlap");
}

#[test]
fn a_failure_skips_dependents_but_independent_steps_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        command("bad", &[], "[sh, -c, 'echo first; echo boom >&2; exit 3']"),
        command("after", &["bad"], "[\"true\"]"),
        command("later", &["after"], "[\"true\"]"),
        command("slow", &[], "[sleep, '0.3']"),
        command("other", &["slow"], "[\"true\"]"),
    ]
    .concat();
    pipeline(dir.path(), &steps);
    let (code, events, _) = run(dir.path(), &["--jobs", "1"]);
    assert_eq!(code, 1);
    let bad = finished(&events, "bad");
    assert_eq!(bad["outcome"], "failed");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3")
    );
    assert!(
        bad["log_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "boom")
    );
    for id in ["after", "later"] {
        assert_eq!(finished(&events, id)["outcome"], "skipped");
        assert!(!started(&events, id), "{id} never starts");
    }
    assert_eq!(finished(&events, "other")["outcome"], "succeeded");
}

#[test]
fn fail_fast_starts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        command("bad", &[], "[\"false\"]"),
        command("zlater", &[], "[\"true\"]"),
    ]
    .concat();
    pipeline(dir.path(), &steps);
    let (code, events, _) = run(dir.path(), &["--jobs", "1", "--fail-fast"]);
    assert_eq!(code, 1);
    assert_eq!(finished(&events, "zlater")["outcome"], "cancelled");
    assert!(!started(&events, "zlater"));
}

#[test]
fn retries_show_their_reason_and_can_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = "  flaky:\n    uses: command\n    retries: 2\n    with: { argv: [sh, -c, 'test -f marker || { touch marker; echo transient >&2; exit 1; }'] }\n";
    pipeline(dir.path(), flaky);
    let (code, events, _) = run(dir.path(), &[]);
    assert_eq!(code, 0);
    let retry = events
        .iter()
        .find(|e| e["event"] == "step_retrying")
        .expect("a retry event");
    assert!(
        retry["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 1")
    );
    assert!(retry["delay"].as_f64().unwrap() >= 0.5);
    assert_eq!(finished(&events, "flaky")["attempts"], 2);
}

#[test]
fn a_timeout_stops_the_step_and_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let slow = "  slow:\n    uses: command\n    timeout: 1\n    with: { argv: [sh, -c, 'echo $$ > pgid; sleep 30 & sleep 30'] }\n";
    pipeline(dir.path(), slow);
    let clock = Instant::now();
    let (code, events, _) = run(dir.path(), &["--stop-grace", "500ms"]);
    assert_eq!(code, 1);
    assert!(clock.elapsed() < Duration::from_secs(20));
    let f = finished(&events, "slow");
    assert_eq!(f["outcome"], "failed");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("timed out after 1.0s"),
        "{f}"
    );
    assert_group_gone(dir.path());
}

#[test]
fn outputs_flow_to_later_steps() {
    let dir = tempfile::tempdir().unwrap();
    let steps = "  make:\n    uses: command\n    with: { argv: [sh, -c, 'echo url=http://svc.local/x >> \"$DAGSHIP_OUTPUT\"'] }\n  \
                 use:\n    uses: command\n    needs: [make]\n    with: { argv: [echo, 'got ${{ steps.make.outputs.url }} ${{ vars.greeting }}'] }\n";
    pipeline(dir.path(), steps);
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        finished(&events, "make")["outputs"]["url"],
        "http://svc.local/x"
    );
    assert_eq!(
        output_lines(&events, "use"),
        ["got http://svc.local/x hello"]
    );
}

#[test]
fn logs_keep_everything_and_secrets_appear_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let steps = "  talk:\n    uses: command\n    env: { TOKEN: '${{ secrets.RUN_TEST_TOKEN }}' }\n    \
                 with: { argv: [sh, -c, 'for i in 1 2 3; do echo line $i; done; echo token=$TOKEN'] }\n";
    pipeline(dir.path(), steps);
    let out = dagship(dir.path())
        .env("RUN_TEST_TOKEN", "tok-3f9a-very-secret")
        .args(["run", "--env", "local", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("token=***") && !stdout.contains("tok-3f9a"),
        "{stdout}"
    );
    let run_id = stdout.lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v["event"] == "run_started").then(|| v["run_id"].as_str().unwrap().to_string())
    });
    let log = dir
        .path()
        .join(".dagship/logs")
        .join(run_id.unwrap())
        .join("talk.log");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("line 1\nline 2\nline 3\ntoken=***"), "{log}");
    assert!(!log.contains("tok-3f9a"));
}

#[test]
fn refuses_before_running_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        command("first", &[], "[touch, ran]"),
        "  deploy:\n    uses: cloud_run_job\n    with: { name: j, image: gcr.io/p/i, project: p, region: europe-west1 }\n".to_string(),
    ]
    .concat();
    pipeline(dir.path(), &steps);
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(events.is_empty());
    assert!(
        stderr.contains("no Google Cloud credentials")
            && stderr.contains("steps `deploy` call Google Cloud, so nothing was run"),
        "{stderr}"
    );
    assert!(!dir.path().join("ran").exists(), "nothing was executed");
    let (code, _, _) = run(dir.path(), &["--only", "first"]);
    assert_eq!(code, 0);
}

#[test]
fn protected_environments_and_missing_secrets_stop_the_run_up_front() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        &command("a", &[], "[echo, '${{ secrets.NOT_SET_ANYWHERE }}']"),
    );
    let out = dagship(dir.path())
        .env_remove("CI")
        .args(["run", "--env", "prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("environment `prod` is protected"));
    let (code, _, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("secrets not set: `NOT_SET_ANYWHERE` (step `a`)"),
        "{stderr}"
    );
}

#[test]
fn sigint_stops_every_process_of_a_running_step() {
    stop_with(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_stops_every_process_of_a_running_step() {
    stop_with(nix::sys::signal::Signal::SIGTERM);
}

fn stop_with(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    // The step's shell starts a grandchild in the background and waits on another.
    let steps = "  hang:\n    uses: command\n    with: { argv: [sh, -c, 'echo $$ > pgid; sleep 300 & sleep 300'] }\n";
    pipeline(dir.path(), steps);
    let mut child = dagship(dir.path())
        .env_remove("CI")
        .args([
            "run",
            "--env",
            "local",
            "--output",
            "json",
            "--stop-grace",
            "2s",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pgid_file = dir.path().join("pgid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pgid_file.exists()
        || std::fs::read_to_string(&pgid_file)
            .unwrap()
            .trim()
            .is_empty()
    {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200)); // let the grandchild start
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_group_gone(dir.path());
}

/// No process of the step's group (whose id the step wrote to `pgid`) is left running.
fn assert_group_gone(dir: &Path) {
    let pgid: i32 = std::fs::read_to_string(dir.join("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = dagship::exec::process::group_alive(nix::unistd::Pid::from_raw(pgid));
    let ps = Command::new("ps")
        .args(["-eo", "pid,pgid,stat,cmd"])
        .output();
    let listing: String = ps
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(&pgid.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!alive, "processes of group {pgid} survived:\n{listing}");
}

#[test]
fn composer_dags_syncs_to_a_local_dags_folder_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1\nname: t\nenvironments:\n  local: { dags_target: { dir: airflow/dags } }\nsteps:\n  \
        make:\n    uses: command\n    with: { argv: [sh, -c, 'mkdir -p out && echo \"x = 1\" > out/dbt_a.py && echo \"y = 2\" > out/dbt_b.py'] }\n  \
        upload:\n    uses: composer_dags\n    needs: [make]\n    with: { source: out, prune: true }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), text).unwrap();
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let outputs = &finished(&events, "upload")["outputs"];
    assert_eq!(
        (outputs["added"].as_str(), outputs["unchanged"].as_str()),
        (Some("2"), Some("0"))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("airflow/dags/dbt_a.py")).unwrap(),
        "x = 1\n"
    );
    let (code, events, _) = run(dir.path(), &[]);
    assert_eq!(code, 0);
    let outputs = &finished(&events, "upload")["outputs"];
    assert_eq!(
        (outputs["added"].as_str(), outputs["unchanged"].as_str()),
        (Some("0"), Some("2"))
    );
}

/// A real run as GitHub Actions sees it: masks before anything else, the secret nowhere (stdout,
/// stderr, logs, job summary, step outputs), and the summary and outputs files filled in.
#[test]
fn github_actions_run_masks_first_and_never_leaks_the_secret() {
    const SECRET: &str = "gh-s3cr3t-value-9f2c";
    let dir = tempfile::tempdir().unwrap();
    let steps = "  leak:\n    uses: command\n    env: { PASSWORD: '${{ secrets.GH_TEST_PASSWORD }}' }\n    \
                 with: { argv: [sh, -c, 'echo \"password is $PASSWORD\"; echo \"url=db://u:$PASSWORD@h\" >> \"$DAGSHIP_OUTPUT\"'] }\n  \
                 fail:\n    uses: command\n    with: { argv: [sh, -c, 'echo \"50% done: a, b\"; exit 4'] }\n";
    pipeline(dir.path(), steps);
    let (summary, outputs) = (
        dir.path().join("summary.md"),
        dir.path().join("outputs.txt"),
    );
    let out = dagship(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GH_TEST_PASSWORD", SECRET)
        .args(["run", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!("::add-mask::{SECRET}"),
        "the mask comes first:\n{stdout}"
    );
    assert_eq!(
        stdout.matches(SECRET).count(),
        1,
        "only in the mask command:\n{stdout}"
    );
    assert!(stdout.contains("::group::leak (command)") && stdout.contains("password is ***"));
    assert!(stdout.contains("::error title=fail failed::"), "{stdout}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        summary.contains("```mermaid") && summary.contains("classDef"),
        "{summary}"
    );
    assert!(
        summary.contains("| `leak` | command |") && summary.contains("| `fail` | command |"),
        "{summary}"
    );
    assert!(
        outputs.contains("run_id=")
            && outputs.contains("outcome=failed")
            && outputs.contains("leak_url=db://u:***@h"),
        "{outputs}"
    );
    let mut everything = vec![String::from_utf8(out.stderr).unwrap(), summary, outputs];
    for log in std::fs::read_dir(dir.path().join(".dagship/logs"))
        .unwrap()
        .flatten()
    {
        for file in std::fs::read_dir(log.path()).unwrap().flatten() {
            everything.push(std::fs::read_to_string(file.path()).unwrap());
        }
    }
    for text in everything {
        assert!(!text.contains(SECRET), "secret leaked into:\n{text}");
    }
}

#[test]
fn github_actions_shows_pipeline_errors_on_their_line() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        "  a:\n    uses: command\n    nedds: [b]\n    with: { argv: [\"true\"] }\n",
    );
    let out = dagship(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("::error file=pipeline.yaml,line=10,col=5,title=invalid pipeline file::unknown key `nedds`"), "{stdout}");
}

#[test]
fn commands_take_a_working_folder_environment_and_optional_shell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let steps = "  here:\n    uses: command\n    env: { WHO: world }\n    with: { argv: [sh, -c, 'echo $WHO from $(basename $PWD)'], cwd: sub }\n  \
                 shell:\n    uses: command\n    with: { argv: 'echo one | tr a-z A-Z', shell: true }\n";
    pipeline(dir.path(), steps);
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output_lines(&events, "here"), ["world from sub"]);
    assert_eq!(output_lines(&events, "shell"), ["ONE"]);
}

#[test]
fn a_step_skipped_here_still_orders_the_steps_around_it() {
    // `last` needs `middle`, which runs only in prod; `middle` needs `first`. Here `last`
    // must still wait for `first`, through the skipped step.
    let dir = tempfile::tempdir().unwrap();
    let steps = format!(
        "{}  middle:\n    uses: command\n    needs: [first]\n    environments: [prod]\n    with: {{ argv: [true] }}\n{}",
        command("first", &[], "[sh, -c, 'sleep 1; touch first.done']"),
        command("last", &["middle"], "[test, -e, first.done]"),
    );
    pipeline(dir.path(), &steps);
    let (code, events, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(finished(&events, "middle")["outcome"], "skipped");
    assert_eq!(finished(&events, "last")["outcome"], "succeeded");
}
