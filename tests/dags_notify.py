"""Runs a folder of generated DAGs whose dbt fails, with Slack and an SMTP server faked on
127.0.0.1, and writes what the notifiers did as JSON, for tests/dags_notify.rs.

    .venv/bin/python tests/dags_notify.py OUT.json DAGS_DIR

AIRFLOW_HOME must be a fresh folder (its SQLite metadata DB is created here); `dbt` on PATH
is whatever the test put there. The Slack connection is `slack_alerts` (its `base_url`
pointing at the fake), email goes through `smtp_default` (pointing at the fake SMTP server).

Output: {"callbacks": {task_id: [class name, ...]},   # as loaded by DagBag
         "slack": {... the notifier's own attributes of the first task ...},
         "email": {...},
         "states": {task_id: state},
         "slack_posts": [{"channel": ..., "text": ...}],
         "emails": [{"from": ..., "to": [...], "subject": ...}]}
"""
import email
import email.policy
import json
import os
import socketserver
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLACK_POSTS = []
EMAILS = []


class Slack(BaseHTTPRequestHandler):
    """Slack's Web API, as far as `chat.postMessage` goes (form or JSON body)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            fields = json.loads(body)
        else:
            fields = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
        if self.path.rstrip("/").endswith("chat.postMessage"):
            SLACK_POSTS.append({"channel": fields.get("channel"), "text": fields.get("text"),
                                "token": self.headers.get("Authorization")})
            reply = {"ok": True, "channel": fields.get("channel"), "ts": "1700000000.000100"}
        else:
            reply = {"ok": False, "error": "unknown_method"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Smtp(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 fake-smtp ready")
        sender, recipients = None, []
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 fake-smtp")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip().strip("<>")
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                message = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                EMAILS.append({"from": sender, "to": recipients, "subject": str(message["Subject"])})
                sender, recipients = None, []
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def configure(folder):
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
        "sqlite:///" + os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db")
    )
    # dag.test() stores the DAG as the DAG processor would: its folder must be a bundle.
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps([{
        "name": "notify", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": folder, "refresh_interval": 0},
    }])
    slack = serve(ThreadingHTTPServer(("127.0.0.1", 0), Slack))
    smtp = serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp))
    os.environ["AIRFLOW_CONN_SLACK_ALERTS"] = json.dumps({
        "conn_type": "slack", "password": "xoxb-fake-token",
        "extra": {"base_url": f"http://127.0.0.1:{slack}/api/"},
    })
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": smtp,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@acme.example",
                  "timeout": 10, "retry_limit": 1},
    })


def notifiers(task):
    callbacks = task.on_failure_callback or []
    return callbacks if isinstance(callbacks, list) else [callbacks]


def main():
    out, folder = sys.argv[1], os.path.abspath(sys.argv[2])
    configure(folder)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.db import resetdb
    from airflow.utils.session import create_session

    resetdb()
    bag = DagBag(dag_folder=folder)
    if bag.import_errors or len(bag.dags) != 1:
        raise SystemExit(f"{folder}: {bag.import_errors or sorted(bag.dags)}")
    (dag,) = bag.dags.values()
    result = {"callbacks": {t.task_id: [type(n).__name__ for n in notifiers(t)] for t in dag.tasks}}
    first = notifiers(dag.tasks[0])
    for notifier in first:
        key = {"SlackNotifier": "slack", "SmtpNotifier": "email"}.get(type(notifier).__name__)
        if key == "slack":
            result[key] = {"slack_conn_id": notifier.slack_conn_id, "channel": notifier.channel,
                           "text": notifier.text}
        elif key == "email":
            result[key] = {"to": notifier.to, "smtp_conn_id": notifier.smtp_conn_id}
    dag.test()
    with create_session() as session:
        (run,) = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).all()
        result["states"] = {ti.task_id: str(getattr(ti.state, "value", ti.state))
                            for ti in run.get_task_instances(session=session)}
    result["slack_posts"], result["emails"] = SLACK_POSTS, EMAILS
    with open(out, "w") as file:
        json.dump(result, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
