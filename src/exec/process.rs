//! Running one program of a step: its own process group, output streamed line by line, and a
//! stop that reaches every process it spawned (dbt starts children of its own).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::report::Stream;

/// What to start: everything already resolved (secrets revealed).
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub(crate) argv: Vec<String>,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    Exited(i32),
    /// Killed by a signal it did not handle.
    Signalled(i32),
    /// Stopped because the step was cancelled or timed out.
    Stopped,
}

/// How long each signal gets before the next, harder one: SIGINT lets dbt cancel its queries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StopPolicy {
    pub(crate) grace: Duration,
}

/// Runs `program`, sending each output line to `lines`, until it exits or `stop` is cancelled.
pub(crate) async fn run(
    program: &Program,
    lines: mpsc::UnboundedSender<(Stream, String)>,
    stop: &CancellationToken,
    policy: StopPolicy,
) -> std::io::Result<Ended> {
    let mut child = spawn(program)?;
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let readers = [
        child
            .stdout
            .take()
            .map(|o| forward(o, Stream::Stdout, lines.clone())),
        child
            .stderr
            .take()
            .map(|e| forward(e, Stream::Stderr, lines.clone())),
    ];
    drop(lines);
    let ended = tokio::select! {
        status = child.wait() => {
            let status = status?;
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => Ended::Exited(code),
                (None, Some(sig)) => Ended::Signalled(sig),
                (None, None) => Ended::Signalled(0),
            }
        }
        _ = stop.cancelled() => {
            if let Some(pgid) = pgid {
                stop_group(pgid, &mut child, policy).await;
            }
            Ended::Stopped
        }
    };
    // A background grandchild may hold the pipes open forever: do not wait for it.
    for reader in readers.into_iter().flatten() {
        if tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(ended)
}

fn spawn(program: &Program) -> std::io::Result<Child> {
    let (name, args) = program
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command line"))?;
    Command::new(name)
        .args(args)
        .current_dir(&program.cwd)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that one signal reaches everything it starts, and a Ctrl-C in
        // the terminal reaches dagship alone, which then stops steps in order.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

fn forward(
    stream: impl AsyncRead + Unpin + Send + 'static,
    which: Stream,
    lines: mpsc::UnboundedSender<(Stream, String)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        while reader
            .read_until(b'\n', &mut buf)
            .await
            .is_ok_and(|n| n > 0)
        {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            if lines.send((which, line)).is_err() {
                break;
            }
            buf.clear();
        }
    })
}

/// Whether `program` can be started from `cwd`: a path (with a `/`) that exists, or a name
/// found in one of the folders of `path` (`$PATH`), as the shell would look for it.
pub(crate) fn findable(program: &str, cwd: &Path, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(&cwd.join(program));
    }
    path.is_some_and(|path| {
        std::env::split_paths(path).any(|dir| runnable(&cwd.join(dir).join(program)))
    })
}

/// SIGINT to the whole group, then SIGTERM, then SIGKILL, each after `grace`, until no
/// process of the group is left.
pub(crate) async fn stop_group(pgid: Pid, child: &mut Child, policy: StopPolicy) {
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        if killpg(pgid, signal).is_err() {
            return; // the group is gone
        }
        let deadline = tokio::time::Instant::now() + policy.grace;
        while tokio::time::Instant::now() < deadline {
            // Reap the leader, or its zombie keeps the group alive in our eyes.
            let _ = child.try_wait();
            if !group_alive(pgid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether any process of the group is still running. Zombies do not count: an orphaned
/// grandchild is reaped by init, not by us, and may linger a moment after it died.
pub fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true; // no /proc: the signal check is all we have
    };
    entries.flatten().any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.as_raw().to_string()
    })
}
