"""Decodes the golden StartupDetails and GetVariable frames the way apache-airflow-task-sdk
1.3.2 does, for comparison with the Rust codec benchmark (benches/codec.rs runs this).

* StartupDetails, as the task runner reads its first frame (``CommsDecoder._read_frame`` and
  ``_from_frame``): ``msgspec.msgpack.Decoder(_ResponseFrame).decode(payload)``, then
  ``TypeAdapter(ToTask).validate_python(frame.body)``.
* GetVariable, as the supervisor reads a request (``_make_process_socket_reader`` and
  ``ActivitySubprocess.handle_requests``): ``msgspec.msgpack.Decoder(_RequestFrame)
  .decode(payload)``, then ``ActivitySubprocess.decoder.validate_python(frame.body)``
  (``TypeAdapter(ToSupervisor)``; the schema-version migration is skipped, as it is when the
  runtime speaks the supervisor's own schema).

Usage: python msgspec_decode.py FIXTURES_DIR [--seconds S] [--rounds N]

Prints one JSON object per line: {"op", "stage", "median_ns", "min_ns", "max_ns",
"rounds", "iters"}, where each round times ``iters`` calls and reports ns per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def payload(path: Path) -> bytes:
    data = path.read_bytes()
    length = int.from_bytes(data[:4], "big")
    if length + 4 != len(data):
        raise SystemExit(f"{path}: length prefix {length} does not match the file")
    return data[4:]


def measure(fn, seconds: float, rounds: int) -> dict:
    # Calibrate the loop count to about seconds / rounds per round.
    fn()
    iters = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(iters):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= 20_000_000 or iters >= 1 << 24:
            break
        iters *= 2
    per_round_ns = seconds * 1e9 / rounds
    iters = max(1, int(iters * per_round_ns / max(elapsed, 1)))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter_ns() - start) / iters)
    return {
        "median_ns": statistics.median(samples),
        "min_ns": min(samples),
        "max_ns": max(samples),
        "rounds": rounds,
        "iters": iters,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    import msgspec
    import pydantic
    from airflow.sdk.execution_time.comms import ToTask, _RequestFrame, _ResponseFrame
    from airflow.sdk.execution_time.supervisor import ActivitySubprocess
    from pydantic import TypeAdapter

    startup = payload(args.fixtures / "to_task" / "StartupDetails.bin")
    get_variable = payload(args.fixtures / "to_supervisor" / "GetVariable.bin")

    response_decoder = msgspec.msgpack.Decoder(_ResponseFrame)
    request_decoder = msgspec.msgpack.Decoder(_RequestFrame)
    to_task = TypeAdapter(ToTask)
    to_supervisor = ActivitySubprocess.decoder

    # Check once that the decode really yields the expected models.
    details = to_task.validate_python(response_decoder.decode(startup).body)
    assert type(details).__name__ == "StartupDetails", type(details)
    request = to_supervisor.validate_python(request_decoder.decode(get_variable).body)
    assert type(request).__name__ == "GetVariable", type(request)

    cases = [
        ("startup_details", "msgspec", lambda: response_decoder.decode(startup)),
        (
            "startup_details",
            "msgspec+pydantic",
            lambda: to_task.validate_python(response_decoder.decode(startup).body),
        ),
        ("get_variable", "msgspec", lambda: request_decoder.decode(get_variable)),
        (
            "get_variable",
            "msgspec+pydantic",
            lambda: to_supervisor.validate_python(request_decoder.decode(get_variable).body),
        ),
    ]
    versions = {
        "python": sys.version.split()[0],
        "msgspec": msgspec.__version__,
        "pydantic": pydantic.VERSION,
    }
    print(json.dumps({"versions": versions}), flush=True)
    for op, stage, fn in cases:
        result = measure(fn, args.seconds, args.rounds)
        print(json.dumps({"op": op, "stage": stage, **result}), flush=True)


if __name__ == "__main__":
    main()
