"""Run one scenario: a Rust bundle launched by the real supervisor, a fake Execution API.

Reads a scenario (JSON) on stdin and writes the result (JSON) to its `result_path`. The scenario:

    command          the bundle command (the supervisor appends --comm and --logs)
    dag_id, task_id  the task instance to run
    try_number, max_tries, should_retry, map_index
    variables        {key: value} served by GET /variables/{key}
    connections      {conn_id: {conn_type, host, login, password, port, schema, extra}}
    xcoms            [{dag_id?, run_id?, task_id, key, map_index?, value}]
    failures         [{method, path (regex), status, json?, delay?}]: injected API answers
    xcom_keys_to_clear, next_method, next_kwargs, conf
    env              extra environment for the supervisor and so the bundle
    logging_level, namespace_levels   [logging] settings
    sigterm_after    seconds after the bundle starts to send it SIGTERM
    coordinator      "command" (default): run `command` through the rig's CommandCoordinator;
                     "executable": Airflow's own ExecutableCoordinator, which must find the
                     bundle for dag_id under `executables_root` (a list of directories);
                     "python": no queue routing, so Airflow's own Python task runner runs
                     dag_rel_path from the "dags-folder" bundle (set AIRFLOW__CORE__DAGS_FOLDER
                     in env)
    dag_rel_path     the DAG file, relative to the bundle (default "rig_dag.py")
    measure          true: record launch, connection, request and exit times and the child's
                     CPU time and memory (timing.py); the result gets "measure"
    warm_supervisor  with measure: first do the supervisor's one-time work a long-lived worker
                     has done after its first task (timing.warm_supervisor)

The result: exit_code, final_state, error (what supervise_task raised, if anything), calls
(every Execution API request, with JSON bodies), logs (the task log lines, parsed), duration,
and with the executable coordinator, resolved_command: the command and schema version its
bundle search chose.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid

scenario = json.load(sys.stdin)
home = tempfile.mkdtemp(prefix="airflow-rs-rig-")

# Settings must be in the environment before airflow is imported.
os.environ.update(
    {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # One attempt: injected 5xx answers must reach the task, not be retried for 30 s.
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1",
        "AIRFLOW__SDK__COORDINATORS": json.dumps(
            {
                "rust": {
                    "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
                    "kwargs": {"executables_root": scenario["executables_root"], "task_startup_timeout": 10},
                }
                if scenario.get("coordinator") == "executable"
                else {
                    "classpath": "airflow_rs_rig.coordinator.CommandCoordinator",
                    "kwargs": {"command": scenario.get("command", []), "task_startup_timeout": 10},
                }
            }
        ),
        "AIRFLOW__SDK__QUEUE_TO_COORDINATOR": json.dumps({"rust-queue": "rust"}),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": scenario.get("logging_level", "INFO"),
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": scenario.get("namespace_levels", ""),
    }
)
os.environ.update(scenario.get("env", {}))

import httpx  # noqa: E402
import psutil  # noqa: E402

from airflow.sdk.api.client import Client  # noqa: E402
from airflow.sdk.api.datamodels._generated import BundleInfo, TaskInstance  # noqa: E402
from airflow.sdk.execution_time.supervisor import supervise_task  # noqa: E402

from airflow_rs_rig.coordinator import RESULTS  # noqa: E402

resolved_commands: list = []
if scenario.get("coordinator") == "executable":
    # Airflow's ExecutableCoordinator runs unchanged; only its answers are recorded.
    from airflow.sdk.coordinators.executable import ExecutableCoordinator  # noqa: E402

    _build_command = ExecutableCoordinator._build_execute_task_command
    _execute_task = ExecutableCoordinator.execute_task

    def _recording_build_command(self, *, what):
        command = _build_command(self, what=what)
        resolved_commands.append(command)
        return command

    def _recording_execute_task(self, **kwargs):
        result = _execute_task(self, **kwargs)
        RESULTS.append(result)
        return result

    ExecutableCoordinator._build_execute_task_command = _recording_build_command
    ExecutableCoordinator.execute_task = _recording_execute_task

elif scenario.get("coordinator") == "python":
    # Airflow's own Python task runner; only its result is recorded.
    from airflow.sdk.execution_time.coordinator import _PythonCoordinator  # noqa: E402

    _python_execute_task = _PythonCoordinator.execute_task

    def _recording_python_execute_task(self, **kwargs):
        result = _python_execute_task(self, **kwargs)
        RESULTS.append(result)
        return result

    _PythonCoordinator.execute_task = _recording_python_execute_task

DAG_ID = scenario["dag_id"]
TASK_ID = scenario["task_id"]
RUN_ID = scenario.get("run_id", "manual__2025-01-01T00:00:00+00:00")
TI_ID = uuid.UUID("01931b2c-0000-7000-8000-0000000000aa")

calls: list[dict] = []
variables: dict = dict(scenario.get("variables", {}))
connections: dict = dict(scenario.get("connections", {}))
xcoms: dict = {}
for x in scenario.get("xcoms", []):
    xcoms[(x.get("dag_id", DAG_ID), x.get("run_id", RUN_ID), x["task_id"], x["key"], x.get("map_index", -1))] = x["value"]
failures = [dict(f, _re=re.compile(f["path"])) for f in scenario.get("failures", [])]


def dag_run_json() -> dict:
    return {
        "dag_id": DAG_ID,
        "run_id": RUN_ID,
        "logical_date": "2025-01-01T00:00:00Z",
        "data_interval_start": "2024-12-31T00:00:00Z",
        "data_interval_end": "2025-01-01T00:00:00Z",
        "run_after": "2025-01-01T00:00:00Z",
        "start_date": "2025-01-01T00:00:01Z",
        "end_date": None,
        "clear_number": 0,
        "run_type": "manual",
        "state": "running",
        "conf": scenario.get("conf", {}),
        "consumed_asset_events": [],
        "partition_key": None,
    }


def not_found(what: str) -> httpx.Response:
    return httpx.Response(404, json={"detail": {"reason": "not_found", "message": f"{what} not found"}})


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.startswith("/execution"):
        path = path[len("/execution") :]
    body = None
    if request.content:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = request.content.decode(errors="replace")
    calls.append(
        {"method": request.method, "path": path, "query": dict(request.url.params), "body": body, "t_ns": time.monotonic_ns()}
    )

    for failure in failures:
        if failure["method"] == request.method and failure["_re"].search(path):
            if failure.get("delay"):
                time.sleep(failure["delay"])
            if failure.get("status"):
                return httpx.Response(failure["status"], json=failure.get("json", {"detail": "injected"}))

    method = request.method
    if method == "PATCH" and path.endswith("/run"):
        return httpx.Response(
            200,
            json={
                "dag_run": dag_run_json(),
                "task_reschedule_count": 0,
                "max_tries": scenario.get("max_tries", 0),
                "variables": [],
                "connections": [],
                "next_method": scenario.get("next_method"),
                "next_kwargs": scenario.get("next_kwargs"),
                "xcom_keys_to_clear": scenario.get("xcom_keys_to_clear", []),
                "should_retry": scenario.get("should_retry", False),
            },
        )
    if method == "PUT" and path.endswith("/heartbeat"):
        return httpx.Response(204)
    if method == "PATCH" and path.endswith("/state"):
        return httpx.Response(204)
    if method in ("PATCH", "PUT") and re.search(r"/task-instances/[^/]+/(skip-downstream|rtif|rendered-map-index)$", path):
        return httpx.Response(200, json={"ok": True})

    m = re.fullmatch(r"/variables/(.+)", path)
    if m and m.group(1) != "keys":
        key = m.group(1)
        if method == "GET":
            if key not in variables:
                return not_found(f"Variable with key '{key}'")
            return httpx.Response(200, json={"key": key, "value": variables[key]})
        if method == "PUT":
            variables[key] = body.get("value") if isinstance(body, dict) else None
            return httpx.Response(200, json={"ok": True})
        if method == "DELETE":
            variables.pop(key, None)
            return httpx.Response(200, json={"ok": True})

    m = re.fullmatch(r"/connections/(.+)", path)
    if m and method == "GET":
        conn_id = m.group(1)
        if conn_id not in connections:
            return not_found(f"Connection with ID {conn_id}")
        c = connections[conn_id]
        return httpx.Response(
            200,
            json={
                "conn_id": conn_id,
                "conn_type": c.get("conn_type", "generic"),
                "host": c.get("host"),
                "schema": c.get("schema"),
                "login": c.get("login"),
                "password": c.get("password"),
                "port": c.get("port"),
                "extra": c.get("extra"),
            },
        )

    m = re.fullmatch(r"/xcoms/([^/]+)/([^/]+)/([^/]+)/([^/]+)", path)
    if m:
        dag, run, task, key = m.groups()
        map_index = int(request.url.params.get("map_index", -1))
        slot = (dag, run, task, key, map_index)
        if method == "GET":
            if slot not in xcoms:
                return not_found(f"XCom with key='{key}'")
            return httpx.Response(200, json={"key": key, "value": xcoms[slot]})
        if method == "POST":
            xcoms[slot] = body
            return httpx.Response(201, json={"ok": True})
        if method == "DELETE":
            xcoms.pop(slot, None)
            return httpx.Response(200, json={"ok": True})
        if method == "HEAD":
            count = sum(1 for s in xcoms if s[:4] == (dag, run, task, key))
            return httpx.Response(200, headers={"Content-Range": f"map_indexes {count}"})

    return httpx.Response(404, json={"detail": f"the rig's fake API has no route for {method} {path}"})


def send_sigterm_later(delay: float, binary: str) -> None:
    """Sends SIGTERM to the bundle process `delay` seconds after it appears."""
    me = psutil.Process()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for child in me.children(recursive=True):
            try:
                if os.path.realpath(child.exe()) == os.path.realpath(binary):
                    time.sleep(delay)
                    child.terminate()
                    return
            except psutil.Error:
                continue
        time.sleep(0.02)


client = Client(base_url="http://rig.invalid/execution/", token="rig-token", transport=httpx.MockTransport(handler))
ti = TaskInstance(
    id=TI_ID,
    task_id=TASK_ID,
    dag_id=DAG_ID,
    run_id=RUN_ID,
    try_number=scenario.get("try_number", 1),
    dag_version_id=uuid.UUID("01931b2c-0000-7000-8000-0000000000bb"),
    map_index=scenario.get("map_index", -1),
    # Queue "default" is not routed to a coordinator: Airflow's own Python task runner.
    queue="default" if scenario.get("coordinator") == "python" else "rust-queue",
)
log_path = os.path.join(home, "task.log")
if "sigterm_after" in scenario:
    threading.Thread(
        target=send_sigterm_later, args=(scenario["sigterm_after"], scenario["command"][0]), daemon=True
    ).start()

if scenario.get("measure"):
    from airflow_rs_rig import timing

    if scenario.get("warm_supervisor"):
        timing.warm_supervisor()
    timing.install()
    rusage_before = timing.rusage()
python_task = scenario.get("coordinator") == "python"
started = time.monotonic()
error = None
exit_code = None
try:
    exit_code = supervise_task(
        ti=ti,
        bundle_info=BundleInfo(name="dags-folder", version=None) if python_task else BundleInfo(name="rig-bundle", version="1"),
        dag_rel_path=scenario.get("dag_rel_path", "rig_dag.py"),
        token="rig-token",
        client=client,
        log_path=log_path,
    )
except Exception as e:  # reported, so the Rust test can show it
    error = f"{type(e).__name__}: {e}"
duration = time.monotonic() - started
measure = timing.report(rusage_before, timing.rusage(), time.monotonic_ns()) if scenario.get("measure") else None

logs = []
if os.path.exists(log_path):
    with open(log_path, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if raw:
                try:
                    logs.append(json.loads(raw))
                except ValueError:
                    logs.append({"unparsed": raw.decode(errors="replace")})

final_state = getattr(RESULTS[-1].final_state, "value", RESULTS[-1].final_state) if RESULTS else None
# The supervisor logs to stdout, so the result goes to its own file.
with open(scenario["result_path"], "w") as out:
  json.dump(
    {
        "exit_code": exit_code,
        "final_state": final_state,
        "error": error,
        "calls": calls,
        "logs": logs,
        "variables": variables,
        "xcoms": [{"dag_id": k[0], "run_id": k[1], "task_id": k[2], "key": k[3], "map_index": k[4], "value": v} for k, v in xcoms.items()],
        "duration": duration,
        "resolved_command": resolved_commands[-1] if resolved_commands else None,
        "measure": measure,
    },
    out,
    default=str,
  )
