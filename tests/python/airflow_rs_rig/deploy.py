"""A real Airflow deployment on one machine, for the end-to-end test.

``python -m airflow_rs_rig.deploy < config.json`` starts apache-airflow 3.3.2 (api-server,
scheduler with LocalExecutor, dag-processor, SQLite, free loopback ports, a temporary
AIRFLOW_HOME) with packed Rust bundles in the ExecutableCoordinator's executables root and
the example stub DAGs in its DAGs folder, triggers DAG runs through the REST API, waits for
them (bounded), collects what the UI would show, and stops every component by its process
group, even when something fails. The config:

    bundles      paths of packed bundle executables
    dags         paths of DAG files
    runs         [{"dag_id": ..., "run_id": ...}]
    variables    {key: value}, created through the REST API before the runs
    connections  {conn_id: {conn_type, host, schema, login, password, port, extra}}, likewise
    logs_of      [[dag_id, run_id, task_id]]: task logs to fetch (every try)
    xcoms_of     [[dag_id, run_id, task_id, key]]
    result_path  where to write the result (JSON)
    timeout      seconds for all runs to finish (default 240)

The result: runs (state, task instances), xcoms, logs, leftover (component process groups
still alive after stopping: must be empty), error (when the deployment itself failed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

config = json.load(sys.stdin)
home = tempfile.mkdtemp(prefix="airflow-rs-deploy-")
python_bin = os.path.dirname(sys.executable)
airflow = os.path.join(python_bin, "airflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


api_port = free_port()
bundles_root = os.path.join(home, "executable-bundles")
dags_folder = os.path.join(home, "dags")
os.makedirs(bundles_root)
os.makedirs(dags_folder)
env = {
    **os.environ,
    "AIRFLOW_HOME": home,
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    "AIRFLOW__API__PORT": str(api_port),
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
    "AIRFLOW__API_AUTH__JWT_SECRET": "airflow-rs-deploy-test-secret-0123456789",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    # The same settings a user copies from examples/airflow-rust.env.
    "AIRFLOW__SDK__COORDINATORS": json.dumps(
        {
            "rust": {
                "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
                "kwargs": {"executables_root": [bundles_root], "task_startup_timeout": 10},
            }
        }
    ),
    "AIRFLOW__SDK__QUEUE_TO_COORDINATOR": json.dumps({"rust": "rust"}),
}
base = f"http://127.0.0.1:{api_port}/api/v2"
components: dict[str, subprocess.Popen] = {}
result: dict = {"runs": {}, "xcoms": {}, "logs": {}, "leftover": [], "error": None, "home": home}


def api(method: str, path: str, body: dict | None = None, timeout: float = 10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"content-type": "application/json", "accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for name, proc in components.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}; see {home}/{name}.log")
        try:
            value = check()
            if value:
                return value
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as e:
            last = e
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not happen within {timeout} s (last error: {last})")


def start(name: str, *args: str) -> None:
    log = open(os.path.join(home, f"{name}.log"), "wb")
    # Its own session, so the whole process group can be stopped by its id.
    components[name] = subprocess.Popen([airflow, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_all() -> None:
    for proc in components.values():
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for proc in components.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for name, proc in components.items():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        time.sleep(0.2)
    for name, proc in components.items():
        try:
            os.killpg(proc.pid, 0)
            result["leftover"].append(name)
        except ProcessLookupError:
            pass


try:
    for path in config["bundles"]:
        target = os.path.join(bundles_root, os.path.basename(path))
        shutil.copy2(path, target)
        os.chmod(target, 0o755)
    for path in config["dags"]:
        shutil.copy2(path, dags_folder)

    started = time.monotonic()
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    start("api-server", "api-server", "--port", str(api_port))
    start("scheduler", "scheduler")
    start("dag-processor", "dag-processor")
    wanted = {run["dag_id"] for run in config["runs"]}

    def dags_ready():
        dags = api("GET", "/dags?limit=100")
        present = {d["dag_id"] for d in dags["dags"]}
        return wanted <= present

    wait_for("the DAGs to be parsed", dags_ready, 120)
    for key, value in config.get("variables", {}).items():
        api("POST", "/variables", {"key": key, "value": value})
    for conn_id, fields in config.get("connections", {}).items():
        api("POST", "/connections", {"connection_id": conn_id, **fields})
    result["ready_after"] = time.monotonic() - started
    for run in config["runs"]:
        api("POST", f"/dags/{run['dag_id']}/dagRuns", {"dag_run_id": run["run_id"], "logical_date": None})

    def all_finished():
        done = True
        for run in config["runs"]:
            state = api("GET", f"/dags/{run['dag_id']}/dagRuns/{run['run_id']}")["state"]
            result["runs"].setdefault(run["dag_id"], {})["state"] = state
            done = done and state in ("success", "failed")
        return done

    wait_for("the DAG runs to finish", all_finished, config.get("timeout", 240))
    result["finished_after"] = time.monotonic() - started
    for run in config["runs"]:
        tis = api("GET", f"/dags/{run['dag_id']}/dagRuns/{run['run_id']}/taskInstances")["task_instances"]
        result["runs"][run["dag_id"]]["tasks"] = {t["task_id"]: {"state": t["state"], "try_number": t["try_number"], "queue": t["queue"]} for t in tis}
    for dag_id, run_id, task_id, key in config.get("xcoms_of", []):
        try:
            entry = api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}?deserialize=true")
            result["xcoms"][f"{dag_id}.{task_id}.{key}"] = entry.get("value")
        except urllib.error.HTTPError as e:
            result["xcoms"][f"{dag_id}.{task_id}.{key}"] = {"http_error": e.code}
    for dag_id, run_id, task_id in config.get("logs_of", []):
        tries = result["runs"].get(dag_id, {}).get("tasks", {}).get(task_id, {}).get("try_number") or 1
        for attempt in range(1, tries + 1):
            content = api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{attempt}")["content"]
            result["logs"][f"{dag_id}.{task_id}.{attempt}"] = content
except Exception as e:  # reported for the Rust test to show
    result["error"] = f"{type(e).__name__}: {e}"
finally:
    stop_all()
    for name in components:
        try:
            with open(os.path.join(home, f"{name}.log"), errors="replace") as f:
                result.setdefault("component_log_tails", {})[name] = f.read()[-3000:]
        except OSError:
            pass
    with open(config["result_path"], "w") as out:
        json.dump(result, out, default=str)
    if result["error"] is None and not result["leftover"]:
        shutil.rmtree(home, ignore_errors=True)
