"""Whole tasks under the real Airflow supervisor, Rust against Python (run by `scripts/bench`).

Every run is a fresh `python -m airflow_rs_rig` process: the real `supervise_task` of
apache-airflow-task-sdk 1.3.2 with the rig's fake Execution API (httpx.MockTransport), and
the rig's probes (`airflow_rs_rig/timing.py`) switched on. Variants:

    std, tokio, smol   the example bundle (release build) for that adapter, through the rig's
                       CommandCoordinator (a SubprocessCoordinator: Popen, two TCP sockets)
    python             the same task in `bench_dags/bench_python.py`, run by Airflow's own
                       Python task runner: queue "default" is not routed, so `supervise_task`
                       takes the default `_PythonCoordinator` path (fork, socketpairs) and the
                       task runner parses the DAG file from the "dags-folder" bundle

Series 1 runs task `bench_small` (read a variable, push it as XCom, succeed) `--runs` times
per variant, twice: "cold" (a fresh supervisor process, as every rig run is) and "warm" (the
supervisor first did its once-per-process work, as a long-lived worker has after its first
task); series 2 runs `bench_round_trips` (`--requests` GetVariable round trips, each timed by
the task itself) `--round-trip-runs` times per variant, warm. Variants take turns in a
rotating order so that slow phases of a shared machine spread over all of them.

    python bench_supervised.py --bundle-dir target/release --out results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUST = ("std", "tokio", "smol")
VARIANTS = (*RUST, "python")


def run_rig(scenario: dict, timeout: float = 180) -> dict:
    """One rig process; returns its JSON result (raises with its output on failure)."""
    fd, result_path = tempfile.mkstemp(prefix="bench-rig-", suffix=".json")
    os.close(fd)
    scenario = dict(scenario, result_path=result_path)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env["PYTHONPATH"] = HERE
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_rs_rig"],
        input=json.dumps(scenario).encode(),
        cwd=HERE,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    try:
        with open(result_path) as f:
            result = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError(
            f"the rig wrote no result ({e}); exit {proc.returncode}\n{proc.stderr.decode(errors='replace')[-3000:]}"
        ) from None
    finally:
        os.unlink(result_path)
    if result.get("error") or result.get("final_state") != "success":
        raise RuntimeError(
            f"run failed: state {result.get('final_state')!r}, error {result.get('error')!r}\n"
            + "\n".join(str(line.get("event")) for line in result.get("logs", [])[-20:])
        )
    return result


def scenario_for(variant: str, task: str, bundle_dir: str, dags_folder: str, variables: dict) -> dict:
    base = {"variables": variables, "measure": True}
    if variant == "python":
        return dict(
            base,
            coordinator="python",
            dag_id="bench_python",
            task_id=task,
            dag_rel_path="bench_python.py",
            env={"AIRFLOW__CORE__DAGS_FOLDER": dags_folder},
        )
    return dict(
        base,
        dag_id="interop",
        task_id=task,
        command=[os.path.join(bundle_dir, f"example-{variant}-bundle")],
    )


def per_run_metrics(result: dict, variant: str) -> dict:
    """The numbers of one whole-task run, in ms from launch (see docs/benchmarks.md)."""
    m = result["measure"]
    launch = m["launch_wall_ns"]
    requests = [(r["ms"], r["type"]) for r in m["requests"]]
    responses = sorted(r["ms"] for r in m["responses"])
    state_calls = [c for c in result["calls"] if c["method"] == "PATCH" and c["path"].endswith("/state")]
    final_reported = (state_calls[0]["t_ns"] - launch) / 1e6 if state_calls else None
    # The child's share: time the supervisor waited for it. Until it connected (Rust: exec,
    # start-up and dialling; Python's forked child has no connection to make), then from each
    # frame the supervisor wrote to the child's next request.
    connected = m["accepted_ms"][0] if m["accepted_ms"] else 0.0
    waited = connected
    terminal_at = None
    for at, kind in requests:
        before = [t for t in responses if t <= at]
        if before:
            waited += at - before[-1]
        if kind in ("SucceedTask", "TaskState", "RetryTask"):
            terminal_at = at
            break
    first_request = requests[0][0] if requests else None
    memory = m.get("memory_at_terminal_kib") or {}
    return {
        "first_request_type": requests[0][1] if requests else None,
        "request_types": [kind for _, kind in requests],
        "first_request_ms": first_request,
        "connected_ms": m["accepted_ms"][0] if m["accepted_ms"] else None,
        "startup_sent_ms": m["startup_sent_ms"],
        "runtime_to_first_request_ms": connected + (first_request - m["startup_sent_ms"]),
        "terminal_ms": terminal_at,
        "final_state_reported_ms": final_reported,
        "exited_ms": m["exited_ms"],
        "supervisor_returned_ms": m["finished_ms"],
        "child_wait_ms": waited,
        "child_cpu_ms": m["child_cpu_s"] * 1e3,
        "child_maxrss_kib": m["child_maxrss_kib"],
        "rusage_clean": m["rusage_before"]["maxrss_kib"] == 0,
        "vmhwm_kib": memory.get("VmHWM"),
        "pss_kib": memory.get("Pss"),
        "private_kib": (memory.get("Private_Clean", 0) + memory.get("Private_Dirty", 0)) if memory else None,
    }


def quantile(values: list, q: float) -> float:
    """Nearest-rank quantile, as the Rust benches compute it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def summary(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle-dir", required=True, help="where the release example bundles are")
    parser.add_argument("--runs", type=int, default=15, help="whole-task runs per variant")
    parser.add_argument("--round-trip-runs", type=int, default=5, help="round-trip runs per variant")
    parser.add_argument("--requests", type=int, default=1000, help="requests per round-trip run")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", required=True, help="JSON results")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]

    dags = tempfile.mkdtemp(prefix="bench-dags-")
    shutil.copy(os.path.join(HERE, "bench_dags", "bench_python.py"), dags)
    variables = {"bench_value": "hello", "bench_requests": str(args.requests)}
    out: dict = {"runs": args.runs, "round_trip_runs": args.round_trip_runs, "requests": args.requests}
    try:
        out["whole_task"] = {}
        # "cold": a fresh supervisor process, as each rig run is; "warm": the supervisor first
        # did the once-per-process work a long-lived worker did for its first task.
        for mode in ("cold", "warm"):
            whole: dict = {v: [] for v in variants}
            for i in range(args.runs):
                for variant in variants[i % len(variants) :] + variants[: i % len(variants)]:
                    started = time.monotonic()
                    scenario = scenario_for(variant, "bench_small", args.bundle_dir, dags, variables)
                    scenario["warm_supervisor"] = mode == "warm"
                    metrics = per_run_metrics(run_rig(scenario), variant)
                    whole[variant].append(metrics)
                    print(
                        f"  bench_small {mode} {variant:<6} run {i + 1:>2}: first request {metrics['first_request_ms']:8.1f} ms"
                        f" (runtime's share {metrics['runtime_to_first_request_ms']:6.2f} ms),"
                        f" final state {metrics['final_state_reported_ms']:8.1f} ms,"
                        f" supervisor done {metrics['supervisor_returned_ms']:8.1f} ms,"
                        f" child CPU {metrics['child_cpu_ms']:6.1f} ms, VmHWM {(metrics['vmhwm_kib'] or 0) / 1024:6.1f} MiB"
                        f" [{time.monotonic() - started:.1f} s]",
                        flush=True,
                    )
            out["whole_task"][mode] = {
                v: {
                    "runs": runs,
                    "summary": {
                        k: summary([r[k] for r in runs])
                        for k in runs[0]
                        if isinstance(runs[0][k], (int, float)) and not isinstance(runs[0][k], bool)
                    },
                }
                for v, runs in whole.items()
            }

        trips: dict = {v: [] for v in variants}
        for i in range(args.round_trip_runs):
            for variant in variants[i % len(variants) :] + variants[: i % len(variants)]:
                scenario = scenario_for(variant, "bench_round_trips", args.bundle_dir, dags, variables)
                scenario["warm_supervisor"] = True
                result = run_rig(scenario)
                value = next(x["value"] for x in result["xcoms"] if x["task_id"] == "bench_round_trips")
                series = value if isinstance(value, dict) else {"get_variable": value}
                # The supervisor's own time per GetVariable: from the request frame's arrival
                # to its answer written.
                answered = {r["id"]: r["ms"] for r in result["measure"]["responses"]}
                handling = [
                    (answered[r["id"]] - r["ms"]) * 1e3
                    for r in result["measure"]["requests"]
                    if r["type"] == "GetVariable" and r["id"] in answered
                ]
                run = {"supervisor_handling": {"p50_us": quantile(handling, 0.5), "p99_us": quantile(handling, 0.99), "n": len(handling)}}
                for name, nanos in series.items():
                    us = [n / 1e3 for n in nanos]
                    run[name] = {"p50_us": quantile(us, 0.5), "p99_us": quantile(us, 0.99), "n": len(us)}
                trips[variant].append(run)
                print(
                    f"  bench_round_trips {variant:<6} run {i + 1}: "
                    + ", ".join(f"{k} p50 {v['p50_us']:.1f} us p99 {v['p99_us']:.1f} us" for k, v in run.items()),
                    flush=True,
                )
        out["round_trips"] = {
            v: {
                name: {
                    "p50_us": summary([r[name]["p50_us"] for r in runs]),
                    "p99_us": summary([r[name]["p99_us"] for r in runs]),
                }
                for name in runs[0]
            }
            for v, runs in trips.items()
            if runs
        }
    finally:
        shutil.rmtree(dags, ignore_errors=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
