//! A real Airflow 3 for one test: `airflow db migrate` on SQLite, then `airflow api-server`
//! and `airflow dag-processor`, each in its own process group, stopped (the whole group)
//! when dropped, also when the test fails. Parsing is set to look at the DAG folder every
//! second, so that a test waits seconds, not minutes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

/// A user of the simple auth manager, with the `viewer` role: all that reading import
/// errors and DAGs needs.
pub const USER: &str = "deployer";
pub const PASSWORD: &str = "viewer-pass-1234";

pub struct Airflow3 {
    home: tempfile::TempDir,
    /// The REST API's base URL.
    pub url: String,
    /// The folder it reads DAGs from.
    pub dags: PathBuf,
    children: Vec<Child>,
}

fn airflow_binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/airflow");
    assert!(
        bin.is_file(),
        "Airflow is not installed in .venv: run `bash scripts/python-env.sh` (requirements-test.txt)"
    );
    bin
}

impl Airflow3 {
    pub fn start() -> Airflow3 {
        let home = tempfile::tempdir().unwrap();
        let dags = home.path().join("dags");
        std::fs::create_dir(&dags).unwrap();
        let passwords = home.path().join("passwords.json");
        std::fs::write(&passwords, format!("{{\"{USER}\": \"{PASSWORD}\"}}")).unwrap();
        let port = crate::gcp_support::free_port();
        let mut airflow = Airflow3 {
            url: format!("http://127.0.0.1:{port}"),
            dags,
            children: Vec::new(),
            home,
        };
        let migrate = airflow
            .command(&["db", "migrate"])
            .output()
            .expect("airflow starts");
        assert!(
            migrate.status.success(),
            "airflow db migrate: {}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        for (args, log) in [
            (
                vec![
                    "api-server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--apps",
                    "core",
                ],
                "api-server.log",
            ),
            (vec!["dag-processor"], "dag-processor.log"),
        ] {
            let log = std::fs::File::create(airflow.home.path().join(log)).unwrap();
            let child = airflow
                .command(&args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("airflow starts");
            airflow.children.push(child);
        }
        airflow.wait_until_up(port);
        airflow
    }

    fn command(&self, args: &[&str]) -> Command {
        let home = self.home.path();
        let mut cmd = Command::new(airflow_binary());
        cmd.args(args)
            .stdin(Stdio::null())
            .env("AIRFLOW_HOME", home)
            .env("AIRFLOW__CORE__DAGS_FOLDER", &self.dags)
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env(
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
                format!("{USER}:viewer"),
            )
            .env(
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
                home.join("passwords.json"),
            )
            .env(
                "AIRFLOW__API_AUTH__JWT_SECRET",
                "dagship-test-jwt-secret-0123456789",
            )
            .env("AIRFLOW__API__WORKERS", "1")
            .env("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "1")
            .env("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "1")
            .env("AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES", "1");
        cmd
    }

    /// Until the API answers its version (a minute at most).
    fn wait_until_up(&mut self, port: u16) {
        let started = Instant::now();
        loop {
            if version_answers(port) {
                return;
            }
            for child in &mut self.children {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("an Airflow process ended ({status}):\n{}", self.logs());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "Airflow's API did not come up:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The last lines of both processes' logs, for a failure message.
    pub fn logs(&self) -> String {
        ["api-server.log", "dag-processor.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.home.path().join(name)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "--- {name}\n{}",
                    lines[lines.len().saturating_sub(30)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn dags(&self) -> &Path {
        &self.dags
    }
}

fn version_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /api/v2/version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

impl Drop for Airflow3 {
    fn drop(&mut self) {
        for child in &self.children {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            // Whatever the group still holds (workers, parsing processes) goes too.
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}
