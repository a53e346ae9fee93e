#!/usr/bin/env python3
"""Feeds request frames through the real ``apache-airflow-task-sdk`` supervisor's request path
and reports every frame it would refuse.

Usage, from the repository root::

    $(scripts/python-env) tests/python/validate_requests.py DIR

``DIR`` holds ``<name>.bin`` files, each one whole request frame (4-byte big-endian length,
then the msgpack ``[id, body]`` or ``[id, body, context_carrier]``), and next to each an
optional ``<name>.json``: ``{"id": <id>, "body": <the body as JSON>, "context_carrier": ...}``
with what the sender meant to send (timestamps as RFC 3339 text, durations as seconds).
``protocol-core/tests/python_validation.rs`` writes such a folder with this crate's encoder.

Each frame goes exactly where the supervisor sends it: the real ``length_prefixed_frame_reader``
(``msgspec`` decode of ``_RequestFrame``) reading it from a socket stand-in, then the real
``WatchedSubprocess.handle_requests`` of a supervisor whose runtime declared schema
``2026-06-16``, so ``_deserialize_request`` runs the schema migrator's ``upgrade`` and the
result is validated by ``ActivitySubprocess.decoder`` (``TypeAdapter(ToSupervisor)``). A frame
is *refused* when that path logs "Unable to decode message" (the supervisor then never answers
it) or when the frame reader raises (which would crash the supervisor). An accepted frame is
then compared with its ``.json``: the id, the context carrier, and every field of the body
must have kept its value, so a field the supervisor silently ignores or reads differently is
caught too.

Before looking at ``DIR`` the script proves the harness can fail: deliberately wrong bodies
(a naive datetime, a missing ``PutVariable.description``, an extra key in ``SucceedTask``,
``bin`` in ``SetXCom.value``, ...) must be refused, and a correct one accepted.

Exit status: 0 when every frame is accepted and kept its values; 1 otherwise, naming each
failing frame; 2 when the self-test fails or the arguments are wrong.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import sys
import traceback
import types
from pathlib import Path
from typing import Any
from uuid import UUID

from airflow.sdk.execution_time.comms import _RequestFrame
from airflow.sdk.execution_time.supervisor import ActivitySubprocess, length_prefixed_frame_reader

SCHEMA_VERSION = "2026-06-16"


class _Socket:
    """Stands in for the supervisor's end of the comm socket: hands out ``data`` in reads."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(bytes(data))
        self.pos = 0

    def recv(self, n: int) -> bytes:
        chunk = bytes(self.data[self.pos : self.pos + n])
        self.pos += len(chunk)
        return chunk

    def recv_into(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


class _Log:
    """Stands in for the supervisor's logger; keeps the refusals ``handle_requests`` logs."""

    def __init__(self) -> None:
        self.refusals: list[str] = []

    def exception(self, event: str, **kw: Any) -> None:
        error = sys.exc_info()[1]
        self.refusals.append(f"{event}: {type(error).__name__}: {error}")

    def _ignore(self, *args: Any, **kw: Any) -> None:
        pass

    debug = info = warning = error = _ignore


class Outcome:
    def __init__(self) -> None:
        self.requests: list[tuple[Any, Any, int]] = []  # (validated message, frame, request id)
        self.refusals: list[str] = []


def feed(data: bytes) -> Outcome:
    """Runs ``data`` (one or more whole frames) through the supervisor's request path."""
    outcome = Outcome()
    log = _Log()
    frames: list[_RequestFrame] = []

    supervisor = types.SimpleNamespace(
        _subprocess_schema_version=SCHEMA_VERSION,
        decoder=ActivitySubprocess.decoder,
    )
    supervisor._deserialize_request = types.MethodType(ActivitySubprocess._deserialize_request, supervisor)

    def handle(msg: Any, _log: Any, req_id: int) -> None:
        outcome.requests.append((msg, frames[-1], req_id))

    supervisor._handle_request = handle
    handler = ActivitySubprocess.handle_requests(supervisor, log)

    def recording():
        # Between the frame reader and `handle_requests`, to keep the decoded frame.
        next(handler)
        while True:
            frame = yield
            frames.append(frame)
            handler.send(frame)

    reader, _on_close = length_prefixed_frame_reader(recording(), on_close=lambda sock: None)
    sock = _Socket(data)
    try:
        while sock.pos < len(sock.data):
            if not reader(sock):
                break
    except Exception as error:  # the real supervisor does not catch these either
        outcome.refusals.append(
            f"frame reader raised {type(error).__name__}: {error} (this crashes the supervisor)"
        )
    outcome.refusals += log.refusals
    if sock.pos != len(sock.data):
        outcome.refusals.append(f"{len(sock.data) - sock.pos} bytes were never read")
    return outcome


# ---------------------------------------------------------------------------------------------
# Comparing what was meant with what the supervisor validated
# ---------------------------------------------------------------------------------------------


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def differences(ours: Any, theirs: Any, path: str) -> list[str]:
    """Where the value the supervisor validated (``theirs``, a ``model_dump()`` in Python mode)
    does not hold what the sender meant (``ours``, JSON). Precision the supervisor cannot keep
    (nanoseconds beyond microseconds) is allowed to go; anything else must survive."""
    if isinstance(theirs, dt.datetime):
        mine = _parse_time(ours)
        if theirs.tzinfo is None:
            return [f"{path}: the supervisor holds a naive datetime {theirs!r}"]
        if mine is None or mine != theirs:  # fromisoformat truncates to µs, as pydantic does
            return [f"{path}: sent {ours!r}, supervisor holds {theirs.isoformat()}"]
        return []
    if isinstance(theirs, dt.timedelta):
        if not isinstance(ours, (int, float)) or isinstance(ours, bool):
            return [f"{path}: sent {ours!r} for a duration"]
        if abs(theirs.total_seconds() - ours) > 1e-6:
            return [f"{path}: sent {ours!r} s, supervisor holds {theirs}"]
        return []
    if isinstance(theirs, UUID):
        return [] if ours == str(theirs) else [f"{path}: sent {ours!r}, supervisor holds {theirs}"]
    if isinstance(theirs, enum.Enum):
        return [] if ours == theirs.value else [f"{path}: sent {ours!r}, supervisor holds {theirs.value!r}"]
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: sent {ours!r}, supervisor holds a map"]
        problems = []
        for key, value in ours.items():
            if key not in theirs:
                problems.append(f"{path}.{key}: sent {value!r}, the supervisor dropped the key")
            else:
                problems += differences(value, theirs[key], f"{path}.{key}")
        for key, value in theirs.items():
            if key not in ours and value is not None:
                problems.append(f"{path}.{key}: not sent, supervisor holds {value!r}")
        return problems
    if isinstance(theirs, (list, tuple)):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return [f"{path}: sent {ours!r}, supervisor holds {theirs!r}"]
        problems = []
        for index, (mine, its) in enumerate(zip(ours, theirs)):
            problems += differences(mine, its, f"{path}[{index}]")
        return problems
    if isinstance(theirs, float) and isinstance(ours, float):
        same = theirs == ours and math.copysign(1, theirs) == math.copysign(1, ours)
        return [] if same else [f"{path}: sent {ours!r}, supervisor holds {theirs!r}"]
    if type(theirs) is not type(ours) or theirs != ours:
        return [f"{path}: sent {ours!r} ({type(ours).__name__}), supervisor holds {theirs!r} ({type(theirs).__name__})"]
    return []


def body_differences(ours: dict, msg: Any) -> list[str]:
    """Compares a sent body with the validated message. Keys the sender left out must hold the
    model's default (they were not sent, so that is all the supervisor can have)."""
    theirs = msg.model_dump()
    problems = []
    for key, value in theirs.items():
        if key in ours:
            problems += differences(ours[key], value, key)
        else:
            default = type(msg).model_fields[key].get_default(call_default_factory=True)
            if value != default:
                problems.append(f"{key}: not sent, supervisor holds {value!r} instead of the default {default!r}")
    for key in ours:
        if key not in theirs:
            problems.append(f"{key}: sent {ours[key]!r}, the supervisor's model has no such field (ignored)")
    return problems


# ---------------------------------------------------------------------------------------------
# Self-test: the harness must refuse what the supervisor refuses
# ---------------------------------------------------------------------------------------------

_GOOD_SUCCEED = {"type": "SucceedTask", "end_date": "2025-01-01T00:00:00Z", "task_outlets": [], "outlet_events": []}

MUST_REFUSE: dict[str, dict | None] = {
    "naive datetime in SucceedTask.end_date": {**_GOOD_SUCCEED, "end_date": "2025-01-01T00:00:00"},
    "PutVariable without description": {"type": "PutVariable", "key": "k", "value": "v"},
    "extra key in SucceedTask": {**_GOOD_SUCCEED, "unexpected": 1},
    "bin in SetXCom.value": {
        "type": "SetXCom", "key": "k", "value": b"\x00\x01", "dag_id": "d", "run_id": "r", "task_id": "t",
    },
    "timestamp extension in SetXCom.value": {
        "type": "SetXCom", "key": "k", "value": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
        "dag_id": "d", "run_id": "r", "task_id": "t",
    },
    "TaskState.state success": {"type": "TaskState", "state": "success"},
    "unknown type": {"type": "NoSuchRequest"},
    "no type": {"key": "k"},
    "nil body": None,
    "GetXComSequenceSlice without stop": {
        "type": "GetXComSequenceSlice", "key": "k", "dag_id": "d", "run_id": "r", "task_id": "t",
        "start": 0, "step": None,
    },
    "UUID that is not one": {"type": "GetPrevSuccessfulDagRun", "ti_id": "not-a-uuid"},
    "empty CreateHITLDetailPayload.options": {
        "type": "CreateHITLDetailPayload", "ti_id": "01931b2c-0000-7000-8000-000000000001",
        "options": [], "subject": "s",
    },
}


def self_test() -> list[str]:
    problems = []
    for index, (name, body) in enumerate(MUST_REFUSE.items()):
        outcome = feed(bytes(_RequestFrame(id=index, body=body).as_bytes()))
        if outcome.requests or not outcome.refusals:
            problems.append(f"self-test: the supervisor accepted {name}: {body!r}")
    good = feed(bytes(_RequestFrame(id=99, body=_GOOD_SUCCEED).as_bytes()))
    if good.refusals or len(good.requests) != 1:
        problems.append(f"self-test: the supervisor refused a correct SucceedTask: {good.refusals}")
    else:
        problems += [f"self-test: {p}" for p in body_differences(_GOOD_SUCCEED, good.requests[0][0])]
    return problems


# ---------------------------------------------------------------------------------------------


def check_file(path: Path) -> list[str]:
    outcome = feed(path.read_bytes())
    if outcome.refusals:
        return [f"REFUSED {path.name}: {reason}" for reason in outcome.refusals]
    if len(outcome.requests) != 1:
        return [f"REFUSED {path.name}: {len(outcome.requests)} requests handled, expected 1"]
    meant_path = path.with_suffix(".json")
    if not meant_path.exists():
        return []
    meant = json.loads(meant_path.read_text(encoding="utf-8"))
    msg, frame, request_id = outcome.requests[0]
    problems = []
    if request_id != meant["id"]:
        problems.append(f"id: sent {meant['id']}, supervisor read {request_id}")
    if frame.context_carrier != meant.get("context_carrier"):
        problems.append(f"context_carrier: sent {meant.get('context_carrier')!r}, supervisor read {frame.context_carrier!r}")
    problems += body_differences(meant["body"], msg)
    return [f"CHANGED {path.name}: {p}" for p in problems]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    problems = self_test()
    if problems:
        print("\n".join(problems))
        print("validate_requests: the self-test failed: the harness cannot be trusted")
        return 2
    print(f"validate_requests: self-test ok: {len(MUST_REFUSE)} wrong bodies refused, a correct one accepted")
    files = sorted(Path(argv[0]).glob("*.bin"))
    failures: list[str] = []
    for path in files:
        try:
            failures += check_file(path)
        except Exception:
            failures.append(f"ERROR {path.name}: {traceback.format_exc()}")
    failed = len({line.split(":", 1)[0] for line in failures})
    for line in failures:
        print(line)
    print(f"validate_requests: checked {len(files)} frames: {len(files) - failed} accepted unchanged, {failed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
