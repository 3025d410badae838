#!/usr/bin/env python3
"""Per-step scheduling overhead of `dagship run`, on a 1,000-step pipeline of no-op commands.

Both sides are measured in the same run: dagship running 1,000 `true` steps one at a time
(--jobs 1), against a plain loop that spawns `true` 1,000 times (the process cost dagship cannot
avoid). The difference, per step, is what dagship's engine, events and logs cost.

    cargo build --release && python3 bench/run_overhead.py [--steps N]
"""
import argparse
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAGSHIP = os.path.join(ROOT, "target", "release", "dagship")


def pipeline(steps: int, layer: int = 50) -> str:
    lines = ["version: 1", "name: overhead", "environments: { local: {} }", "steps:"]
    for i in range(steps):
        needs = f"[s{i - layer}]" if i >= layer else "[]"
        lines.append(f"  s{i}: {{ uses: command, needs: {needs}, with: {{ argv: [\"true\"] }} }}")
    return "\n".join(lines) + "\n"


def timed(cmd, cwd, repeat=3):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def spawn_loop(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    if not os.path.exists(DAGSHIP):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "pipeline.yaml"), "w") as f:
            f.write(pipeline(args.steps))
        base = [DAGSHIP, "run", "--env", "local", "--output", "json"]
        sequential = timed(base + ["--jobs", "1"], tmp)
        parallel = timed(base + ["--jobs", "4"], tmp)
    spawn = min(spawn_loop(args.steps) for _ in range(3))
    n = args.steps
    print(f"steps: {n}")
    print(f"baseline, spawning `true` {n} times in a loop: {spawn:.3f} s ({spawn / n * 1e3:.2f} ms per process)")
    print(f"dagship run --jobs 1: {sequential:.3f} s ({sequential / n * 1e3:.2f} ms per step)")
    print(f"dagship run --jobs 4: {parallel:.3f} s ({parallel / n * 1e3:.2f} ms per step)")
    print(f"scheduling overhead per step (jobs 1 minus the spawn baseline): {(sequential - spawn) / n * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
