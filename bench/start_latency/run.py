#!/usr/bin/env python3
"""Start latency of training jobs on the local backend, next to the floor.

Measures the time from just before `POST /api/v1/jobs` to the first line of
the user's code, over N jobs. In the same run it measures a bare fork and exec
of the same user script by this program, the floor no launcher can beat.
Prints p50, p90, p99 and mean of each and their ratio.

The user's code is a shell script (`--entry shell`, the default) whose first
line records the wall-clock time with `date +%s%N`, or a Python script
(`--entry python`) whose first line records `time.time_ns()`, so the Python
interpreter's start counts as user code. Jobs run one at a time, each waited
for until it ends, against one `tandem server` on 127.0.0.1.

    bench/start_latency/run.py --tandem build/default/src/cli/tandem [--jobs 200]

Modes (`--mode`): `cold` starts every job on a new `tandem train` process
(KeepAlivePeriodInSeconds 0); `warm` starts every job on the worker that the
previous job kept (KeepAlivePeriodInSeconds 300, same match key). MODES below
is the table a further mode joins.

Only the standard library is used. Everything runs in a temporary directory
that is removed at the end (BENCH_KEEP_DIR=1 keeps it, with the server log);
the server is stopped with SIGTERM.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The user's code. Its first line records the time into the file named by
# its first argument; it then writes a model file so that the job completes.
ENTRY_POINTS = {
    "shell": ("user.sh", "/bin/sh", """#!/bin/sh
date +%s%N > "$1"
echo ok > "$SM_MODEL_DIR/model.txt"
"""),
    "python": ("user.py", "/usr/bin/python3", """import time; first_line_ns = time.time_ns()
import os
import sys
with open(sys.argv[1], "w") as stamp:
    stamp.write(f"{first_line_ns}\\n")
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as model:
    model.write("ok\\n")
"""),
}

# Bounds on every wait, so a broken server ends the run instead of hanging it.
JOB_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 30


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, what, timeout_s=JOB_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.001)
    raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")


def read_stamp(path):
    """Returns the nanoseconds a finished stamp file holds, else None."""
    try:
        with open(path) as stamp:
            text = stamp.read()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


class Api:
    def __init__(self, url, token):
        self.url = url
        self.token = token

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + "/api/v1" + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path} failed: {error.code} {error.read().decode()}")


class Bench:
    def __init__(self, root, entry):
        self.root = root
        self.script, self.interpreter, text = ENTRY_POINTS[entry]
        self.source_dir = os.path.join(root, "inputs", "src")
        self.stamps = os.path.join(root, "stamps")
        os.makedirs(self.source_dir)
        os.makedirs(self.stamps)
        with open(os.path.join(self.source_dir, self.script), "w") as script:
            script.write(text)
        with open(os.path.join(root, "inputs", "train.csv"), "w") as data:
            data.write("y,x\n1,2\n")

    def stamp_path(self, name):
        return os.path.join(self.stamps, name)

    def spec(self, name, keep_alive_s):
        return {
            "TrainingJobName": name,
            "Repository": "bench",
            "AlgorithmSpecification": {
                "EntryPoint": [self.interpreter, self.script, self.stamp_path(name)],
                "SourceDir": self.source_dir},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {
                "FileDataSource": {"Path": os.path.join(self.root, "inputs", "train.csv")}}}],
            "OutputDataConfig": {"ModelName": "bench-model"},
            "ResourceConfig": {"InstanceCount": 1, "CpuCount": 1,
                               "KeepAlivePeriodInSeconds": keep_alive_s},
        }

    def run_floor(self, index):
        """Forks and execs the user script directly; returns start to first line in ms."""
        name = f"floor-{index}"
        model_dir = os.path.join(self.root, "floor-model")
        os.makedirs(model_dir, exist_ok=True)
        environment = {"PATH": "/usr/bin:/bin", "SM_MODEL_DIR": model_dir}
        started_ns = time.time_ns()
        process = subprocess.Popen([self.interpreter, self.script, self.stamp_path(name)],
                                   cwd=self.source_dir, env=environment)
        process.wait(timeout=JOB_TIMEOUT_S)
        first_line_ns = read_stamp(self.stamp_path(name))
        if process.returncode != 0 or first_line_ns is None:
            raise SystemExit(f"the user script failed with exit code {process.returncode}")
        return (first_line_ns - started_ns) / 1e6

    def run_job(self, api, name, keep_alive_s):
        """Submits one job, waits for its end, returns submit to first line in ms."""
        submitted_ns = time.time_ns()
        job = api.call("POST", "/jobs", self.spec(name, keep_alive_s))
        first_line_ns = wait_until(lambda: read_stamp(self.stamp_path(name)),
                                   f"the first line of job {name}")

        def ended():
            current = api.call("GET", "/jobs/" + job["JobId"])
            status = current["TrainingJobStatus"]
            return current if status in ("Completed", "Failed", "Stopped") else None

        final = wait_until(ended, f"job {name} to end")
        if final["TrainingJobStatus"] != "Completed":
            raise SystemExit(f"job {name} ended {final['TrainingJobStatus']}: "
                             f"{final.get('FailureReason', '')}")
        return (first_line_ns - submitted_ns) / 1e6


def run_cold(bench, api, jobs):
    return [bench.run_job(api, f"cold-{i}", 0) for i in range(jobs)]


# Warm jobs keep their worker this long, far beyond the time between two jobs.
WARM_KEEP_ALIVE_S = 300
# Pause, not measured, between a worker turning Available and the next submit.
# A just-kept worker is still starting for some milliseconds, which real jobs
# minutes apart never see.
WARM_SETTLE_S = 0.2


def run_warm(bench, api, jobs):
    """Runs each job on the worker the previous job kept (docs/warm-pools.md).

    The first job starts cold and is not counted. Before each submit the
    previous job's worker must show Available, so every counted job is
    handed to a kept worker.
    """
    bench.run_job(api, "warm-seed", WARM_KEEP_ALIVE_S)
    latencies = []
    for i in range(jobs):
        wait_until(lambda: api.call("GET", "/jobs?warm_pool_status=Available")["Jobs"],
                   "the previous job's kept worker")
        time.sleep(WARM_SETTLE_S)
        latencies.append(bench.run_job(api, f"warm-{i}", WARM_KEEP_ALIVE_S))
    # The seed's and every counted job's predecessor's worker was reused; the
    # last of them turns Reused once the last job's process has exited.
    wait_until(lambda: len(api.call("GET", f"/jobs?warm_pool_status=Reused&page_size={jobs}")
                           ["Jobs"]) >= jobs,
               f"{jobs} kept workers to show Reused")
    return latencies


# Mode name -> (label in the table, function(bench, api, jobs) -> latencies in ms).
MODES = {
    "cold": ("tandem, cold (new tandem train)", run_cold),
    "warm": ("tandem, warm (kept worker)", run_warm),
}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(label, values):
    return (f"| {label} | {len(values)} | {percentile(values, 0.5):.1f} | "
            f"{percentile(values, 0.9):.1f} | {percentile(values, 0.99):.1f} | "
            f"{statistics.mean(values):.1f} |")


def start_server(tandem, root):
    port = free_port()
    log = open(os.path.join(root, "server.log"), "w")
    server = subprocess.Popen(
        [tandem, "server", "--data-dir", os.path.join(root, "data"), "--port", str(port),
         "--input-root", os.path.join(root, "inputs"), "--log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    token_path = os.path.join(root, "data", "admin.token")
    wait_until(lambda: os.path.exists(token_path), "the admin token", SERVER_START_TIMEOUT_S)
    with open(token_path) as token:
        api = Api(f"http://127.0.0.1:{port}", token.read().strip())

    def healthy():
        try:
            return api.call("GET", "/health")
        except (urllib.error.URLError, ConnectionError):
            return None

    wait_until(healthy, "the server", SERVER_START_TIMEOUT_S)
    return server, api


def stop_server(server):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tandem", required=True, help="path of the tandem binary")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per mode (default 200)")
    parser.add_argument("--mode", choices=sorted(MODES), action="append",
                        help="a mode to measure; repeatable (default: every mode)")
    parser.add_argument("--entry", choices=sorted(ENTRY_POINTS), default="shell",
                        help="the user's code: a shell or a Python script (default shell)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is invalid, expected 1 or more")
    tandem = os.path.abspath(args.tandem)
    if not os.access(tandem, os.X_OK):
        parser.error(f"--tandem {args.tandem}: not an executable file")

    root = tempfile.mkdtemp(prefix="tandem-start-latency-")
    server = None
    try:
        bench = Bench(root, args.entry)
        server, api = start_server(tandem, root)
        results = []
        for mode in args.mode or sorted(MODES):
            label, run = MODES[mode]
            results.append((label, run(bench, api, args.jobs)))
        floor = [bench.run_floor(i) for i in range(args.jobs)]

        print(f"entry point: {args.entry} script; jobs per row: {args.jobs}, one at a time")
        print("| start | jobs | p50 ms | p90 ms | p99 ms | mean ms |")
        print("|---|---|---|---|---|---|")
        print(summary("fork and exec of the script (floor)", floor))
        for label, latencies in results:
            print(summary(label, latencies))
        for label, latencies in results:
            print(f"{label}: p50 {percentile(latencies, 0.5) / percentile(floor, 0.5):.1f}x "
                  f"the floor, p99 {percentile(latencies, 0.99) / percentile(floor, 0.99):.1f}x")
    finally:
        if server is not None:
            stop_server(server)
        if os.environ.get("BENCH_KEEP_DIR"):
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
