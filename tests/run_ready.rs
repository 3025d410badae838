//! What `dagship run` refuses before anything starts (exit 2, nothing executed), and that it
//! says every reason at once.

mod common;

use std::path::Path;

use common::dagship;

fn pipeline(dir: &Path, steps: &str) {
    let text = format!(
        "version: 1\nname: t\nenvironments:\n  local: {{}}\n  prod: {{ protected: true }}\nsteps:\n{steps}"
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
}

/// `dagship run --env ENV ARGS` in `dir` (not in CI): exit code and stderr.
fn run(dir: &Path, env: &str, args: &[&str]) -> (i32, String) {
    let out = dagship(dir)
        .env_remove("CI")
        .args(["run", "--env", env, "--output", "plain"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_reason_not_to_start_is_told_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let steps = "  first:\n    uses: command\n    with: { argv: [touch, ran] }\n  \
                 secret:\n    uses: command\n    with: { argv: [echo, '${{ secrets.NOT_SET_ANYWHERE }}'] }\n  \
                 deploy:\n    uses: cloud_run_job\n    with: { name: j, image: r.io/i:1, project: p, region: europe-west1 }\n  \
                 tool:\n    uses: command\n    with: { argv: [no-such-program-dagship, --version] }\n";
    pipeline(dir.path(), steps);
    let (code, stderr) = run(dir.path(), "prod", &[]);
    assert_eq!(code, 2, "{stderr}");
    for reason in [
        "nothing was run: 4 things to fix first",
        "environment `prod` is protected",
        "secrets not set: `NOT_SET_ANYWHERE` (step `secret`)",
        "steps `deploy` call Google Cloud: no Google Cloud credentials",
        "`no-such-program-dagship` is not installed here (not on PATH): step `tool` runs it",
    ] {
        assert!(stderr.contains(reason), "missing `{reason}` in:\n{stderr}");
    }
    assert!(!dir.path().join("ran").exists(), "nothing was executed");
}

#[test]
fn one_reason_reads_as_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        "  tool:\n    uses: command\n    with: { argv: [./missing.sh] }\n",
    );
    let (code, stderr) = run(dir.path(), "local", &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "error: `./missing.sh` is not installed here (not on PATH): step `tool` runs it; install it, or put it on PATH"
        ) && stderr.contains(", so nothing was run"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("missing.sh"), "#!/bin/sh\ntrue\n").unwrap();
    let (code, stderr) = run(dir.path(), "local", &[]);
    assert_eq!(
        code, 2,
        "a file that is not executable cannot start: {stderr}"
    );
    use std::os::unix::fs::PermissionsExt;
    let exe = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path().join("missing.sh"), exe).unwrap();
    let (code, stderr) = run(dir.path(), "local", &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn an_output_that_nothing_selected_produces_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let steps = "  make:\n    uses: command\n    with: { argv: [sh, -c, 'echo x=1 >> $DAGSHIP_OUTPUT'] }\n  \
                 use:\n    uses: command\n    needs: [make]\n    with: { argv: [touch, '${{ steps.make.outputs.x }}'] }\n  \
                 cloud:\n    uses: command\n    environments: [prod]\n    with: { argv: [sh, -c, 'echo y=1 >> $DAGSHIP_OUTPUT'] }\n  \
                 after_cloud:\n    uses: command\n    needs: [cloud]\n    with: { argv: [touch, 'y${{ steps.cloud.outputs.y }}'] }\n";
    pipeline(dir.path(), steps);
    let (code, stderr) = run(dir.path(), "local", &["--only", "use"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "step `use` reads `steps.make.outputs.x`, but `make` is not selected (`--only`/`--from`)"
        ),
        "{stderr}"
    );
    let (code, stderr) = run(dir.path(), "local", &["--only", "make,use"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("1").exists(), "the output reached `use`");
    let (code, stderr) = run(dir.path(), "local", &["--only", "after_cloud"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("but `cloud` is not selected") || stderr.contains("`cloud` does not run"),
        "{stderr}"
    );
    let (code, stderr) = run(dir.path(), "local", &["--from", "cloud"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("but `cloud` does not run in this environment"),
        "{stderr}"
    );
}
