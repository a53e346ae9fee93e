"""Timing and resource probes for `scripts/bench`, installed by the rig when a scenario sets
``"measure": true``. They only observe: every hook calls the real supervisor code unchanged.

What is recorded (``time.monotonic_ns``, CLOCK_MONOTONIC, the clock Rust's ``Instant`` uses):

    launch        just before the child is started: ``subprocess.Popen`` (a Rust bundle, through
                  a SubprocessCoordinator) or ``os.fork`` (Airflow's own Python task runner)
    spawned       when that call returned in the supervisor
    accepted      each comm/logs connection, right after the supervisor's ``accept`` (before its
                  psutil ownership check); only for the TCP coordinators
    verified      when each ownership check returned
    run_patch     before ``PATCH /run`` (``_on_child_started``), and startup_sent after the
                  ``StartupDetails`` frame was written
    requests      (time, type, id) of every request frame as the supervisor's frame reader hands it
                  to ``handle_requests`` (after msgspec decoded the frame, before pydantic
                  validation and handling)
    responses     (time, id) after each frame the supervisor wrote (``send_msg``; id 0 is
                  ``StartupDetails``)
    exited        when the supervisor noticed the child's exit (``_process_exit_monotonic``)

and, while the child is blocked waiting for the answer to its terminal message, its
``/proc/<pid>/status`` (VmHWM, VmRSS) and ``/proc/<pid>/smaps_rollup`` (Rss, Pss, private and
shared pages). The child's CPU time and lifetime peak RSS come from
``getrusage(RUSAGE_CHILDREN)`` around ``supervise_task`` (see ``rusage``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import time

TERMINAL = {"SucceedTask", "RetryTask", "TaskState", "DeferTask", "RescheduleTask", "AwaitInputTask"}

events: dict = {"accepted": [], "verified": [], "requests": [], "responses": []}
_process = {}


def _now() -> int:
    return time.monotonic_ns()


def _proc_memory(pid: int) -> dict:
    """The child's memory counters in KiB, read from /proc while it is alive."""
    out: dict = {}
    _read_counters(f"/proc/{pid}/status", ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"), "status_error", out)
    _read_counters(
        f"/proc/{pid}/smaps_rollup",
        ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty"),
        "smaps_error",
        out,
    )
    return out


def _read_counters(path: str, keys: tuple, error_key: str, out: dict) -> None:
    """Adds the `key: number ...` lines of `path` named in `keys` to `out`; a read error goes
    under `error_key`."""
    try:
        with open(path) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in keys:
                    out[key] = int(rest.split()[0])
    except OSError as e:
        out[error_key] = str(e)


def install() -> None:
    """Wraps the supervisor's launch, accept, startup and request paths with probes."""
    import airflow.sdk.coordinators._subprocess as sub
    from airflow.sdk.execution_time import supervisor

    real_popen = subprocess.Popen

    class TimedPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            events.setdefault("launch", _now())
            super().__init__(*args, **kwargs)
            events.setdefault("spawned", _now())

    subprocess.Popen = TimedPopen  # type: ignore[misc]

    real_fork = os.fork

    def timed_fork():
        launch = _now()
        pid = real_fork()
        if pid != 0:
            events.setdefault("launch", launch)
            events.setdefault("spawned", _now())
        return pid

    os.fork = timed_fork

    real_is_from = sub._is_connection_from_process

    def timed_is_from(conn, proc, **kwargs):
        events["accepted"].append(_now())
        ok = real_is_from(conn, proc, **kwargs)
        events["verified"].append(_now())
        return ok

    sub._is_connection_from_process = timed_is_from

    real_started = supervisor.ActivitySubprocess._on_child_started

    def timed_started(self, **kwargs):
        events.setdefault("run_patch", _now())
        _process["proc"] = self
        try:
            return real_started(self, **kwargs)
        finally:
            events.setdefault("startup_sent", _now())

    supervisor.ActivitySubprocess._on_child_started = timed_started

    real_handle = supervisor.WatchedSubprocess.handle_requests

    def timed_handle(self, log):
        inner = real_handle(self, log)
        next(inner)
        while True:
            frame = yield
            kind = frame.body.get("type") if isinstance(frame.body, dict) else None
            events["requests"].append((_now(), kind, frame.id))
            if kind in TERMINAL and "memory_at_terminal" not in events:
                events["memory_at_terminal"] = _proc_memory(self.pid)
            inner.send(frame)

    supervisor.WatchedSubprocess.handle_requests = timed_handle

    real_send = supervisor.WatchedSubprocess.send_msg

    def timed_send(self, msg, request_id, error=None, **dump_opts):
        try:
            return real_send(self, msg, request_id, error, **dump_opts)
        finally:
            events["responses"].append((_now(), request_id))

    supervisor.WatchedSubprocess.send_msg = timed_send


def warm_supervisor() -> None:
    """Puts the supervisor process in the state of a long-lived worker (LocalExecutor, Celery)
    that has run tasks before: the schema-version migrator (Cadwyn) built and used once, which
    every SubprocessCoordinator task (any non-Python runtime) needs on its first request; and
    the Python task runner's modules imported, which a forked Python task then inherits
    instead of importing (a worker forked from a process with Airflow loaded has them)."""
    import airflow.dag_processing.dagbag  # noqa: F401
    import airflow.providers.standard.decorators.python  # noqa: F401
    import airflow.sdk.execution_time.task_runner  # noqa: F401
    from airflow.sdk.execution_time.comms import VariableResult
    from airflow.sdk.execution_time.schema import get_schema_version_migrator, resolve_body_class

    from airflow_rs_rig.coordinator import SCHEMA_VERSION

    migrator = get_schema_version_migrator()
    version = migrator.resolve_version(SCHEMA_VERSION)
    body = {"type": "GetVariable", "key": "warm-up"}
    migrator.upgrade(body, resolve_body_class(body), version)
    migrator.downgrade(VariableResult(key="warm-up", value="x"), version)


def rusage() -> dict:
    """``getrusage(RUSAGE_CHILDREN)``: CPU seconds and the largest reaped child's peak RSS."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"utime": r.ru_utime, "stime": r.ru_stime, "maxrss_kib": r.ru_maxrss}


def report(before: dict, after: dict, finished_ns: int) -> dict:
    """Everything recorded, as milliseconds since launch where it is a time."""
    launch = events.get("launch")

    def ms(t):
        return None if t is None or launch is None else (t - launch) / 1e6

    proc = _process.get("proc")
    exited = getattr(proc, "_process_exit_monotonic", None) if proc else None
    requests = events["requests"]
    return {
        "launch_wall_ns": launch,
        "spawned_ms": ms(events.get("spawned")),
        "accepted_ms": [ms(t) for t in events["accepted"]],
        "verified_ms": [ms(t) for t in events["verified"]],
        "run_patch_ms": ms(events.get("run_patch")),
        "startup_sent_ms": ms(events.get("startup_sent")),
        "requests": [{"ms": ms(t), "type": kind, "id": request_id} for t, kind, request_id in requests],
        "responses": [{"ms": ms(t), "id": request_id} for t, request_id in events["responses"]],
        "exited_ms": None if exited is None or launch is None else (exited * 1e9 - launch) / 1e6,
        "finished_ms": ms(finished_ns),
        "memory_at_terminal_kib": events.get("memory_at_terminal"),
        "rusage_before": before,
        "rusage_after": after,
        "child_cpu_s": (after["utime"] - before["utime"]) + (after["stime"] - before["stime"]),
        "child_user_s": after["utime"] - before["utime"],
        "child_sys_s": after["stime"] - before["stime"],
        # The largest reaped child's lifetime peak; valid as this run's child only when no
        # child had been reaped before (checked by the bench driver).
        "child_maxrss_kib": after["maxrss_kib"],
    }
