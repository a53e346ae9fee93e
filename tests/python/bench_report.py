"""Writes the results of `scripts/bench` into docs/benchmarks.md and README.md.

Only the blocks between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` are replaced; the
prose around them is maintained by hand. A missing marker is an error, never a silent skip.

    python bench_report.py --results target/bench --doc docs/benchmarks.md --readme README.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
from importlib import metadata

RUST = ("std", "tokio", "smol")


# ---------------------------------------------------------------- formatting helpers


def times_over(value: float, target: float) -> str:
    """How many times its target a missed value is: two decimals near 1, where one reads 1.0."""
    ratio = value / target
    return f"{ratio:.2f}" if ratio < 1.1 else f"{ratio:.1f}"


def num(value, digits=1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000 and digits <= 1:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def cell(stat: dict | None, digits=1, scale=1.0) -> str:
    """`median [min – max]` of a summary dict."""
    if not stat or stat.get("median") is None:
        return "–"
    med, lo, hi = (stat[k] * scale for k in ("median", "min", "max"))
    return f"**{num(med, digits)}** [{num(lo, digits)} – {num(hi, digits)}]"


def ratio_range(python: float | None, rust: list) -> str:
    values = [python / r for r in rust if python is not None and r]
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    fmt = (lambda v: f"{v:.0f}") if lo >= 10 else (lambda v: f"{v:.1f}")
    return f"{fmt(lo)}×" if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}×"


def med(stat: dict | None):
    return None if not stat else stat.get("median")


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def load(path: str):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- machine and versions


def run(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_block(results: str) -> str:
    lscpu = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in run("lscpu").splitlines())
    )
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    rows = [
        ["CPU", f"`{lscpu.get('Model name', '?')}`, {lscpu.get('CPU(s)', '?')} vCPUs "
         f"({lscpu.get('Thread(s) per core', '?')} thread(s) per core), hypervisor {lscpu.get('Hypervisor vendor', 'none')}"],
        ["Memory", f"{mem_kib / 1024 / 1024:.1f} GiB"],
        ["Kernel", f"Linux {platform.release()}, clocksource "
         + (open("/sys/devices/system/clocksource/clocksource0/current_clocksource").read().strip()
            if os.path.exists("/sys/devices/system/clocksource/clocksource0/current_clocksource") else "?")],
        ["Rust", f"{run('rustc', '-V')}; bundles `--release`, bench harnesses `bench` profile"],
        ["Python", f"{platform.python_version()}, apache-airflow-task-sdk {version('apache-airflow-task-sdk')}, "
         f"apache-airflow-core {version('apache-airflow-core')}, msgspec {version('msgspec')}, "
         f"pydantic {version('pydantic')}, httpx {version('httpx')}"],
    ]
    started = open(os.path.join(results, "started")).read().strip()
    commit = open(os.path.join(results, "commit")).read().strip()
    dirty = open(os.path.join(results, "dirty")).read().strip()
    rows.append(["Run", f"{started}, commit `{commit}`" + (f" with {dirty} modified files" if dirty != "0" else "")])
    reruns = os.path.join(results, "reruns")
    if os.path.exists(reruns):
        for line in open(reruns):
            at, stages, commit, dirty = line.rstrip("\n").split("\t")
            rows.append(["Stages run again", f"{stages} at {at}, commit `{commit}`"
                         + (f" with {dirty} modified files" if dirty != "0" else "")])
    quiet = []
    with open(os.path.join(results, "quiet.tsv")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            # Older results have no time column.
            stage, at, loadavg, others = fields if len(fields) == 4 else (fields[0], "–", *fields[1:])
            quiet.append([stage, at, loadavg, others])
    return (
        table(["", ""], rows)
        + "\n\nHow quiet the machine was before each stage (`/proc/loadavg`: 1, 5 and 15-minute load;"
        + " other benchmark processes: `pgrep -f 'criterion|codec-|cargo bench'`):\n\n"
        + table(["stage", "started (UTC)", "load average", "other benchmark processes"], quiet)
    )


# ---------------------------------------------------------------- real supervisor


WHOLE_ROWS = [
    ("first_request_ms", "launch → first request frame at the supervisor", "ms", 1),
    ("runtime_to_first_request_ms", "… of which the runtime's own time (see below)", "ms", 2),
    ("final_state_reported_ms", "launch → final state sent to the Execution API", "ms", 1),
    ("supervisor_returned_ms", "launch → `supervise_task` returned", "ms", 1),
    ("child_wait_ms", "time the supervisor waited for the task process", "ms", 2),
    ("child_cpu_ms", "task process CPU time (user + sys)", "ms", 1),
    ("vmhwm_kib", "task process peak RSS (VmHWM at its terminal message)", "MiB", 1),
    ("pss_kib", "… its PSS at that moment", "MiB", 1),
    ("private_kib", "… its private (unshared) memory", "MiB", 1),
]


def supervised_whole_block(sup: dict, mode: str) -> str:
    whole = sup["whole_task"][mode]
    variants = [v for v in (*RUST, "python") if v in whole]
    rows = []
    for key, label, unit, digits in WHOLE_ROWS:
        scale = 1 / 1024 if unit == "MiB" else 1.0
        stats = {v: whole[v]["summary"].get(key) for v in variants}
        python = med(stats.get("python"))
        rust = [med(stats[v]) for v in RUST if v in stats and med(stats[v])]
        rows.append(
            [f"{label} ({unit})"]
            + [cell(stats[v], digits, scale) for v in variants]
            + [ratio_range(python, rust) if "python" in stats else "–"]
        )
    header = ["median [min – max] of " + str(sup["runs"]) + " runs"] + [
        f"Rust {v}" if v in RUST else "Python" for v in variants
    ] + ["Python ÷ Rust"]
    python_runs = whole.get("python", {}).get("runs", [])
    first_types = sorted({r["first_request_type"] for r in python_runs if r.get("first_request_type")})
    rust_types = sorted({r["first_request_type"] for v in RUST for r in whole.get(v, {}).get("runs", [])})
    maxrss = summary([r["child_maxrss_kib"] / 1024 for r in python_runs if r.get("rusage_clean")])
    stalls = sum(1 for r in python_runs if r["supervisor_returned_ms"] - r["final_state_reported_ms"] > 1000)
    if maxrss["median"] is not None:
        maxrss_note = (
            f"Python's task process is forked from the supervisor and never execs, so its `ru_maxrss` is valid:"
            f" {cell(maxrss, 1)} MiB, as its VmHWM (the pages it shares with the supervisor count as resident)."
        )
    else:
        maxrss_note = (
            "`ru_maxrss` of `RUSAGE_CHILDREN` is not usable in this state: importing Airflow core during the"
            " warm-up runs a short-lived child process first, and `ru_maxrss` reports the largest child (the"
            " cold table shows the Python task's)."
        )
    notes = [
        f"First request: Rust {', '.join(rust_types) or '–'}; Python {', '.join(first_types) or '–'}.",
        maxrss_note,
        f"In {stalls} of {len(python_runs)} Python runs the supervisor returned more than 1 s after the final"
        " state (its exit-detection stall, see below); no Rust run did"
        if not any(r["supervisor_returned_ms"] - r["final_state_reported_ms"] > 1000 for v in RUST for r in whole.get(v, {}).get("runs", []))
        else f"In {stalls} of {len(python_runs)} Python runs the supervisor returned more than 1 s after the final state.",
    ]
    return table(header, rows) + "\n\n" + "\n".join(f"* {n}" for n in notes)


def supervised_trips_block(sup: dict) -> str:
    trips = sup["round_trips"]
    rows = []
    labels = {
        "get_variable": "`ctx.get_variable` (one GetVariable)",
        "send": "`SUPERVISOR_COMMS.send(GetVariable)` (one GetVariable)",
        "variable_get": "`Variable.get` (GetVariable + MaskSecret)",
    }
    for variant in (*RUST, "python"):
        if variant not in trips:
            continue
        series = trips[variant]
        handling = series.get("supervisor_handling")
        for name, stat in series.items():
            if name == "supervisor_handling":
                continue
            rows.append(
                [
                    ("Rust " + variant) if variant in RUST else "Python",
                    labels.get(name, name),
                    cell(stat["p50_us"], 0),
                    cell(stat["p99_us"], 0),
                    cell(handling["p50_us"], 0) if handling else "–",
                    num(med(stat["p50_us"]) - med(handling["p50_us"]), 0) if handling else "–",
                ]
            )
    rust_p50 = [med(trips[v]["get_variable"]["p50_us"]) for v in RUST if v in trips]
    python = trips.get("python", {})
    ratios = []
    for name in ("send", "variable_get"):
        if name in python:
            ratios.append(f"{labels[name]}: p50 {ratio_range(med(python[name]['p50_us']), rust_p50)} the Rust p50")
    header = [
        "task",
        "what the task timed",
        f"p50 (µs), median [min – max] of {sup['round_trip_runs']} runs",
        "p99 (µs)",
        "supervisor's own time per GetVariable, p50 (µs)",
        "p50 minus the supervisor's time (µs)",
    ]
    return (
        table(header, rows)
        + f"\n\nEach run: {sup['requests']} sequential requests timed by the task itself."
        + (" Python ÷ Rust: " + "; ".join(ratios) + "." if ratios else "")
    )


# ---------------------------------------------------------------- loopback and start-up


def above_floor(lat: dict, key: str, field: str) -> list[float]:
    """Each round's `field` of `key` minus the floor's in the same round. A round runs every
    configuration within a second or two, inside one of the machine's speed phases, which
    last much longer; the difference of two medians over rounds would mix phases."""
    return [v - f for v, f in zip(lat[key][field], lat["floor"][field])]


def loopback_block(data: dict, pinned: dict | None) -> str:
    names = {
        "floor": "floor: blocking echo (std only)",
        "tokio_echo": "reactor floor: the same echo client on tokio",
        "async_io_echo": "reactor floor: the same echo client on async-io (smol)",
        "raw_client_session_server": "raw frames → lean `SupervisorSession` server",
        "std": "`airflow-sdk-std` client → lean server",
        "tokio": "`airflow-sdk-tokio` client → lean server",
        "smol": "`airflow-sdk-smol` client → lean server",
    }
    out = []
    for label, d in (("any CPU (the scheduler places both threads)", data), ("both threads on CPU 0 (`taskset -c 0`)", pinned)):
        if not d:
            continue
        lat = d["latency"]
        rows = []
        for key, name in names.items():
            if key not in lat:
                continue
            p50 = summary(lat[key]["p50"])
            p99 = summary(lat[key]["p99"])
            d50 = summary(above_floor(lat, key, "p50"))
            d99 = summary(above_floor(lat, key, "p99"))
            verdict = "" if key in ("floor", "tokio_echo", "async_io_echo", "raw_client_session_server") else ("met" if d50["median"] <= 2000 else "missed")
            rows.append([name, cell(p50, 2, 1e-3), cell(p99, 2, 1e-3), cell(d50, 2, 1e-3), cell(d99, 2, 1e-3), verdict])
        out.append(
            f"**Round trips, {label}** ({d['count']:,} per run after {d['warmup']:,} warm-up, {d['rounds']} rounds;"
            f" frames of {d['request_frame_bytes']} and {d['response_frame_bytes']} bytes):\n\n"
            + table(["client → server", "p50 (µs)", "p99 (µs)", "p50 − floor, same round (µs)", "p99 − floor, same round (µs)",
                     "target: p50 within 2 µs of the floor"], rows)
        )
        trows = []
        for key in ("floor", "raw_client_session_server", "tokio", "smol"):
            if key not in d["throughput"]:
                continue
            trows.append([names[key]] + [cell(summary(d["throughput"][key][str(w)]), 0, 1e-3) for w in d["windows"]])
        out.append(
            f"**Pipelined throughput, {label}** ({d['pipelined']:,} requests per run; thousands of requests/s):\n\n"
            + table(["client → server"] + [f"{w} in flight" for w in d["windows"]], trows)
        )
    return "\n\n".join(out)


def startup_block(data: dict) -> str:
    def stat(runs, pick):
        return summary([pick(r) for r in runs])

    rows = []
    for adapter in RUST:
        if adapter not in data:
            continue
        runs = data[adapter]["runs"]
        life = data[adapter]["lifetime_runs"]
        first = stat(runs, lambda r: r["first_request_ms"])
        hwm = stat(runs, lambda r: r["at_terminal_kib"].get("VmHWM", 0) / 1024)
        lifetime = stat(life, lambda r: r.get("time_maxrss_kib", 0) / 1024) if life else None
        ok = all(r["success"] and r["exit_status"] == 0 for r in runs)
        rows.append(
            [
                adapter + ("" if ok else " (NOT ALL RUNS SUCCEEDED)"),
                cell(stat(runs, lambda r: r["accepted_ms"]), 2),
                cell(first, 2),
                cell(stat(runs, lambda r: r["first_request_ms"] - r["accepted_ms"]), 2),
                cell(stat(runs, lambda r: r["exited_ms"]), 2),
                cell(stat(runs, lambda r: (r["cpu_user_s"] + r["cpu_sys_s"]) * 1e3), 2),
                cell(hwm, 2),
                cell(lifetime, 2) if lifetime else "–",
                ("met" if first["median"] <= 5 else "missed") + " / " + ("met" if max(hwm["max"], (lifetime or hwm)["max"]) <= 10 else "missed"),
            ]
        )
    n = len(data[RUST[0]]["runs"])
    m = len(data[RUST[0]]["lifetime_runs"])
    return table(
        [
            f"adapter ({n} runs; median [min – max])",
            "spawn → comm connected (ms)",
            "spawn → first request (ms)",
            "`StartupDetails` sent → first request (ms)",
            "spawn → reaped (ms)",
            "CPU, user + sys (ms)",
            "VmHWM at terminal message (MiB)",
            f"lifetime peak RSS, GNU `time` ({m} runs; MiB)",
            "targets ≤ 5 ms / ≤ 10 MB",
        ],
        rows,
    )


# ---------------------------------------------------------------- codec


CODEC_SUMMARY = re.compile(
    r"^(decode/\S+|encode/\S+)\s+([0-9.]+) ns\s+\[([0-9.]+), ([0-9.]+)\]\s+([0-9.]+) ns\s+([0-9.]+) ns (met|MISSED)$", re.M
)


def codec_runs(results: str) -> dict[str, list[tuple[float, float]]]:
    """Each headline codec operation's (median ns, target ns) in every run: the full run
    (codec.txt) first, then the headline re-runs (codec-rerun-*.txt), which `scripts/bench`
    makes because the machine's speed changes over minutes."""
    runs: dict[str, list[tuple[float, float]]] = {}
    names = ["codec.txt"] + sorted(n for n in os.listdir(results) if re.fullmatch(r"codec-rerun-\d+\.txt", n))
    for name in names:
        path = os.path.join(results, name)
        if not os.path.exists(path):
            continue
        for m in CODEC_SUMMARY.finditer(open(path).read()):
            runs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(6))))
    return runs


def codec_summary(results: str) -> list[tuple[str, float, float, bool, int]]:
    """(operation, median of the runs' medians in ns, target ns, met, runs) for each headline
    codec operation."""
    out = []
    for op, runs in codec_runs(results).items():
        median = statistics.median(m for m, _ in runs)
        target = runs[0][1]
        out.append((op, median, target, median <= target, len(runs)))
    return out


def codec_block(results: str) -> str:
    text = open(os.path.join(results, "codec.txt")).read()
    instructions = {}
    path = os.path.join(results, "instructions.txt")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"^(\S+/\S+)\s+([0-9.]+)\s*$", line)
            if m:
                instructions[m.group(1)] = float(m.group(2))
    runs = codec_runs(results)
    rows = []
    for op, median, target, met, count in codec_summary(results):
        ins = instructions.get(op)
        each = " · ".join(f"{m:,.1f}" for m, _ in runs[op])
        rows.append(
            [f"`{op}`", f"≤ {target:,.0f} ns", f"**{median:,.1f} ns**", each,
             f"{ins:,.0f}" if ins is not None else "–", "met" if met else f"missed, ×{times_over(median, target)}"]
        )
    streams = []
    for m in re.finditer(r"^(stream/\S+)\s+([0-9.]+) M frames/s \[([0-9.]+), ([0-9.]+)\] \((\d+) ns/frame\)$", text, re.M):
        streams.append([f"`{m.group(1)}`", f"{m.group(2)} M/s [{m.group(3)}, {m.group(4)}]", f"{m.group(5)} ns"])
    python = []
    for m in re.finditer(r"^(StartupDetails decode|GetVariable decode)\s+(\S+ \[\S+ \S+\])\s+(\S+ \[\S+ \S+\])\s+(\S+ \[\S+ \S+\])$", text, re.M):
        python.append([m.group(1), m.group(2), m.group(3), m.group(4)])
    if not rows:
        return "The codec run printed no summary (see `target/bench/codec.txt`)."
    count = max(len(r) for r in runs.values())
    out = table(["operation", "target", f"median of the runs' medians ({count} runs)", "each run's median (ns; the full run first)",
                 "instructions", ""], rows)
    if streams:
        out += "\n\n" + table(["stream", "frames/s at the median [95 % CI]", "per frame"], streams)
    if python:
        out += "\n\n" + table(["payload (ns per decode, median [interval])", "Rust", "msgspec", "msgspec + pydantic"], python)
    return out


def before_after_block(results: str) -> str | None:
    """The loopback benchmark built against an older revision and this one, run alternately
    (`BENCH_BEFORE=<rev> scripts/bench`)."""
    folder = os.path.join(results, "before-after")
    if not os.path.isdir(folder):
        return None
    revision = open(os.path.join(folder, "revision")).read().strip()
    blocks = []
    for prefix, placement in (("", "threads placed by the scheduler"), ("1cpu", "both threads on CPU 0 (`taskset -c 0`)")):
        runs = {"before": [], "after": []}
        for name in sorted(os.listdir(folder)):
            for which in runs:
                if name.startswith(which + prefix + "-") and name.endswith(".json"):
                    runs[which].append(load(os.path.join(folder, name)))
        if runs["before"] and runs["after"]:
            blocks.append(before_after_table(revision, runs, placement))
    return "\n\n".join(blocks) if blocks else None


def before_after_table(revision: str, runs: dict, placement: str) -> str:
    """One placement's table of the before-and-after runs."""

    def pooled(which, path):
        values = []
        for data in runs[which]:
            node = data
            for key in path:
                node = node[key]
            values.extend(node)
        return summary(values)

    rows = []
    for key, name in (("std", "`airflow-sdk-std`"), ("tokio", "`airflow-sdk-tokio`"), ("smol", "`airflow-sdk-smol`"), ("floor", "floor (unchanged)")):
        b50, a50 = pooled("before", ("latency", key, "p50")), pooled("after", ("latency", key, "p50"))
        b99, a99 = pooled("before", ("latency", key, "p99")), pooled("after", ("latency", key, "p99"))
        above_b, above_a = (statistics.median(v for data in runs[which] for v in above_floor(data["latency"], key, "p50"))
                            for which in ("before", "after"))
        row = [name, cell(b50, 2, 1e-3), cell(a50, 2, 1e-3),
               num(above_b / 1e3, 2) + " → " + num(above_a / 1e3, 2),
               cell(b99, 2, 1e-3), cell(a99, 2, 1e-3)]
        if key in ("tokio", "smol"):
            w = str(max(runs["after"][0]["windows"]))
            row += [cell(pooled("before", ("throughput", key, w)), 0, 1e-3), cell(pooled("after", ("throughput", key, w)), 0, 1e-3)]
        else:
            row += ["", ""]
        rows.append(row)
    w = max(runs["after"][0]["windows"])
    return (
        f"Loopback benchmark built against `{revision}` (before) and this tree (after), {len(runs['after'])} alternating"
        f" runs of each, {placement}; medians [min – max] over the runs' rounds.\n\n"
        + table(["client", "p50 before (µs)", "p50 after (µs)", "p50 − floor, same round (µs)", "p99 before (µs)", "p99 after (µs)",
                 f"{w} in flight before (k requests/s)", "after"], rows)
    )


# ---------------------------------------------------------------- README


def span(values: list, spec: str, unit: str) -> str:
    """The range of the adapters' values, or one value when they agree at this precision."""
    low, high = format(min(values), spec), format(max(values), spec)
    return f"{low} {unit}" if low == high else f"{low}–{high} {unit}"


def readme_block(sup: dict | None, startup: dict | None, loop: dict | None, loop1: dict | None, codec: list) -> str:
    rows = []
    if startup:
        first = [statistics.median([r["first_request_ms"] for r in startup[a]["runs"]]) for a in RUST]
        hwm = [statistics.median([r["at_terminal_kib"]["VmHWM"] / 1024 for r in startup[a]["runs"]]) for a in RUST]
        rows.append(["bundle start-up: spawn → first request", "≤ 5 ms", span(first, ".1f", "ms"), ""])
        rows.append(["task process peak RSS", "≤ 10 MB", span(hwm, ".1f", "MiB"), ""])
    if sup:
        whole = sup["whole_task"]["warm"]
        if "python" in whole:
            py = whole["python"]["summary"]
            rust = [whole[a]["summary"] for a in RUST if a in whole]
            for key, label, unit, scale in (
                ("final_state_reported_ms", "whole task under Airflow's supervisor (warm): launch → final state", "ms", 1.0),
                ("vmhwm_kib", "task process peak RSS under Airflow's supervisor", "MiB", 1 / 1024),
                ("child_cpu_ms", "task process CPU time: read a variable, push an XCom", "ms", 1.0),
                ("runtime_to_first_request_ms", "runtime's own time to its first request", "ms", 1.0),
            ):
                values = [med(r[key]) * scale for r in rust]
                rows.append([label, "", span(values, ".1f", unit), f"{med(py[key]) * scale:,.0f} {unit}"])
        trips = sup["round_trips"]
        if "python" in trips:
            values = [med(trips[a]["get_variable"]["p50_us"]) for a in RUST if a in trips]
            rows.append(["one GetVariable round trip through the supervisor, p50", "", span(values, ".0f", "µs"),
                         f"{med(trips['python']['send']['p50_us']):.0f} µs"])
    for label, data in (("threads anywhere", loop), ("on one CPU", loop1)):
        if not data:
            continue
        lat = data["latency"]
        deltas = {a: statistics.median(above_floor(lat, a, "p50")) / 1e3 for a in RUST if a in lat}
        rows.append([f"round trip over loopback, p50 above a blocking echo ({label})", "≤ 2 µs",
                     " · ".join(f"{a} {d:.1f}" for a, d in deltas.items()) + " µs", ""])
    for op, median, target, met, runs in codec:
        rows.append([f"codec `{op}` (median of {runs} criterion runs)", f"≤ {target:,.0f} ns",
                     f"{median:,.1f} ns" + ("" if met else f" (missed, ×{times_over(median, target)})"), ""])
    return table(["", "target", "Rust (std, tokio, smol)", "Python task runner"], rows)


# ---------------------------------------------------------------- splicing


def splice(path: str, blocks: dict) -> None:
    with open(path) as f:
        text = f.read()
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- bench:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /bench:{re.escape(name)} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path}: no <!-- bench:{name} --> … <!-- /bench:{name} --> block")
        text = pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)
    with open(path, "w") as f:
        f.write(text)
    print(f"updated {path}: {', '.join(blocks)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--doc", required=True)
    parser.add_argument("--readme", required=True)
    args = parser.parse_args()
    r = args.results

    def maybe(name):
        path = os.path.join(r, name)
        return load(path) if os.path.exists(path) else None

    sup, loop, loop1, start = maybe("supervised.json"), maybe("loopback.json"), maybe("loopback-1cpu.json"), maybe("startup.json")
    blocks = {"machine": machine_block(r)}
    if sup:
        for mode in ("cold", "warm"):
            blocks[f"supervised-{mode}"] = supervised_whole_block(sup, mode)
        blocks["supervised-round-trips"] = supervised_trips_block(sup)
    if loop:
        blocks["loopback"] = loopback_block(loop, loop1)
    if start:
        blocks["startup"] = startup_block(start)
    if os.path.exists(os.path.join(r, "codec.txt")):
        blocks["codec"] = codec_block(r)
    before_after = before_after_block(r)
    if before_after:
        blocks["before-after"] = before_after
    splice(args.doc, blocks)
    splice(args.readme, {"performance": readme_block(sup, start, loop, loop1, codec_summary(r))})


if __name__ == "__main__":
    main()
