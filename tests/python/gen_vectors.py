#!/usr/bin/env python3
"""Generates golden frames for every message type with the real ``apache-airflow-task-sdk`` code.

Run it with the pinned venv from the repository root::

    $(scripts/python-env) tests/python/gen_vectors.py [--out DIR]

It writes ``protocol-core/tests/fixtures/generated/`` (or ``DIR``):

* ``to_task/<Type>[_variant].bin``: whole response frames (4-byte big-endian length, then the
  msgpack payload) produced by the real supervisor path: ``WatchedSubprocess.send_msg`` (which
  runs the schema migrator's ``downgrade`` and ``model_dump`` with the dump options the real
  request handlers use) writing a ``_ResponseFrame``. Error responses appear both in the body
  slot and in the error slot, for every ``ErrorType``.
* ``to_supervisor/<Type>[_variant].bin``: whole request frames as the Python task runner writes
  them (``CommsDecoder._make_frame(msg).as_bytes()``, a ``_RequestFrame``).
* ``manifest.json``: for each file its type, slot, decoded value (datetimes as
  ``{"$timestamp": "<RFC 3339>"}``) and the msgpack format of every value (``wire_types``), plus
  the member names of the real ``ToTask`` and ``ToSupervisor`` unions and every ``ErrorType``.

Types with optional fields get a ``_minimal`` variant (required fields only) and a ``_full``
variant (every field set); response types also get ``_nulls`` when dumping without
``exclude_unset`` differs from the minimal form. Datetimes cover the timestamp32, timestamp64
and timestamp96 (pre-1970 and far-future) extension widths.

All values are fixed (no clock, no random UUIDs), so re-running produces identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
import json
import struct
import sys
import types
import typing
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import UUID

import pendulum
import pydantic_core
from pydantic import BaseModel

from airflow.sdk.api.datamodels import _generated as gen
from airflow.sdk.exceptions import ErrorType
from airflow.sdk.execution_time import comms
from airflow.sdk.execution_time.supervisor import WatchedSubprocess

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "protocol-core" / "tests" / "fixtures" / "generated"
SCHEMA_VERSION = "2026-06-16"

# ---------------------------------------------------------------------------------------------
# Fixed values
# ---------------------------------------------------------------------------------------------

UTC = dt.timezone.utc
T32 = dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)  # whole seconds: timestamp32
T64 = dt.datetime(2025, 1, 1, 0, 0, 5, 123456, tzinfo=UTC)  # microseconds: timestamp64
T64_LATE = dt.datetime(2025, 1, 1, 0, 7, 42, 999999, tzinfo=UTC)
T96_PAST = dt.datetime(1969, 7, 20, 20, 17, 40, 250000, tzinfo=UTC)  # pre-1970: timestamp96
T96_EPOCH_EDGE = dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
T96_FUTURE = dt.datetime(2600, 1, 1, tzinfo=UTC)  # seconds >= 2**34: timestamp96
T_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
T_MIN = dt.datetime(1, 1, 1, tzinfo=UTC)
T_OFFSET = dt.datetime(2025, 1, 1, 5, 30, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
T_PENDULUM = pendulum.datetime(2025, 6, 1, 14, 0, 0, tz="Europe/Paris")

TI_ID = UUID("01931b2c-0000-7000-8000-000000000001")
DAG_VERSION_ID = UUID("01931b2c-0000-7000-8000-000000000002")
OTHER_TI_ID = UUID("01931b2c-0000-7000-8000-0000000000ff")

DAG_ID = "orders_daily"
RUN_ID = "scheduled__2025-01-01T00:00:00+00:00"
TASK_ID = "load_orders"

NESTED_JSON = {
    "rows": 1200,
    "ratio": 0.25,
    "negative": -7,
    "big": 2**63 - 1,
    "bigger": 2**64 - 1,
    "smallest": -(2**63),
    "ok": True,
    "nothing": None,
    "text": "zürich → 東京 🚀",
    "empty": "",
    "list": [1, "two", 3.5, None, False, [], {}],
    "nested": {"a": {"b": {"c": [{"d": "deep"}]}}},
}

TRACE_CARRIER = {
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "airflow=rust",
}

# ---------------------------------------------------------------------------------------------
# A msgpack reader that reports the wire format of every value
# ---------------------------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(secs: int, nanos: int) -> str:
    """UTC RFC 3339 text of a Unix instant; fraction digits only when needed (6 or 9)."""
    moment = _EPOCH + dt.timedelta(seconds=secs)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if nanos:
        text += f".{nanos // 1000:06d}" if nanos % 1000 == 0 else f".{nanos:09d}"
    return text + "Z"


class _Walker:
    """Reads msgpack bytes itself, because msgspec does not say which format a value came in."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"truncated msgpack at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def value(self) -> tuple[Any, Any]:
        b = self.take(1)[0]
        if b <= 0x7F:
            return b, "positive fixint"
        if b >= 0xE0:
            return b - 0x100, "negative fixint"
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, "fixmap")
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, "fixarray")
        if 0xA0 <= b <= 0xBF:
            return self.take(b & 0x1F).decode("utf-8"), "fixstr"
        if b == 0xC0:
            return None, "nil"
        if b in (0xC2, 0xC3):
            return b == 0xC3, "true" if b == 0xC3 else "false"
        if b in (0xC4, 0xC5, 0xC6):
            width = {0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
            return {"$bin": self.take(self.uint(width)).hex()}, f"bin{width * 8}"
        if b in (0xC7, 0xC8, 0xC9):
            width = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
            return self.ext(self.uint(width), f"ext{width * 8}")
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0], "float32"
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0], "float64"
        if 0xCC <= b <= 0xCF:
            width = 1 << (b - 0xCC)
            return self.uint(width), f"uint{width * 8}"
        if 0xD0 <= b <= 0xD3:
            width = 1 << (b - 0xD0)
            return int.from_bytes(self.take(width), "big", signed=True), f"int{width * 8}"
        if 0xD4 <= b <= 0xD8:
            size = 1 << (b - 0xD4)
            return self.ext(size, f"fixext{size}")
        if b in (0xD9, 0xDA, 0xDB):
            width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
            return self.take(self.uint(width)).decode("utf-8"), f"str{width * 8}"
        if b in (0xDC, 0xDD):
            width = 2 if b == 0xDC else 4
            return self.array(self.uint(width), f"array{width * 8}")
        if b in (0xDE, 0xDF):
            width = 2 if b == 0xDE else 4
            return self.map(self.uint(width), f"map{width * 8}")
        raise ValueError(f"byte 0x{b:02x} at {self.pos - 1} starts no msgpack value")

    def array(self, n: int, name: str) -> tuple[list, dict]:
        values, kinds = [], []
        for _ in range(n):
            value, kind = self.value()
            values.append(value)
            kinds.append(kind)
        return values, {"$type": name, "items": kinds}

    def map(self, n: int, name: str) -> tuple[dict, dict]:
        values, kinds = {}, {}
        for _ in range(n):
            key, _ = self.value()
            if not isinstance(key, str):
                raise ValueError(f"map key {key!r} is not a string")
            value, kind = self.value()
            values[key] = value
            kinds[key] = kind
        return values, {"$type": name, "fields": kinds}

    def ext(self, size: int, name: str) -> tuple[Any, str]:
        tag = int.from_bytes(self.take(1), "big", signed=True)
        payload = self.take(size)
        kind = f"{name}({tag})"
        if tag != -1:
            return {"$ext": [tag, payload.hex()]}, kind
        if size == 4:
            secs, nanos, width = int.from_bytes(payload, "big"), 0, 32
        elif size == 8:
            word = int.from_bytes(payload, "big")
            secs, nanos, width = word & 0x3_FFFF_FFFF, word >> 34, 64
        elif size == 12:
            nanos = int.from_bytes(payload[:4], "big")
            secs, width = int.from_bytes(payload[4:], "big", signed=True), 96
        else:
            raise ValueError(f"timestamp extension of {size} bytes")
        return {"$timestamp": rfc3339(secs, nanos)}, f"{kind} timestamp{width}"


def walk(payload: bytes) -> tuple[Any, Any]:
    """Decodes one msgpack value into ``(value, wire_types)``."""
    walker = _Walker(payload)
    value, kinds = walker.value()
    if walker.pos != len(walker.data):
        raise ValueError(f"{len(walker.data) - walker.pos} bytes after the msgpack value")
    return value, kinds


# ---------------------------------------------------------------------------------------------
# The real encoders
# ---------------------------------------------------------------------------------------------


class _Capture:
    """Stands in for the supervisor's socket to the task: keeps what ``sendall`` writes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data


def supervisor_frame(
    request_id: int, msg: BaseModel | None, error: comms.ErrorResponse | None, dump_opts: dict
) -> bytes:
    """A response frame exactly as ``WatchedSubprocess.send_msg`` writes it for a runtime that
    declared schema ``2026-06-16`` (so the migrator's downgrade runs, as for a Rust bundle)."""
    fake = types.SimpleNamespace(_subprocess_schema_version=SCHEMA_VERSION, stdin=_Capture())
    fake._serialize_response = functools.partial(WatchedSubprocess._serialize_response, fake)
    WatchedSubprocess.send_msg(fake, msg, request_id=request_id, error=error, **dump_opts)
    return bytes(fake.stdin.data)


def runtime_frame(request_id: int, msg: BaseModel, carrier: dict[str, str] | None) -> bytes:
    """A request frame exactly as the Python task runner writes it
    (``CommsDecoder._make_frame(msg).as_bytes()``); with ``carrier``, the frame a traced runner
    writes (``_make_frame`` injects the active span's W3C context there)."""
    if carrier is None:
        fake = types.SimpleNamespace(id_counter=iter([request_id]))
        frame = comms.CommsDecoder._make_frame(fake, msg)
    else:
        frame = comms._RequestFrame(id=request_id, body=msg.model_dump(), context_carrier=carrier)
    return bytes(frame.as_bytes())


# ---------------------------------------------------------------------------------------------
# Vector specifications
# ---------------------------------------------------------------------------------------------


@dataclass
class Vector:
    direction: str  # "to_task" or "to_supervisor"
    type_name: str | None  # None for the empty response
    variant: str | None
    note: str
    msg: BaseModel | None = None
    slot: str = "body"  # to_task: "body", "error" or "empty"
    dump_opts: dict = field(default_factory=dict)
    carrier: dict[str, str] | None = None
    request_id: int | None = None

    @property
    def file(self) -> str:
        stem = self.type_name or "Empty"
        if self.variant:
            stem += f"_{self.variant}"
        return f"{self.direction}/{stem}.bin"


def _required_keys(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items() if f.is_required()}


def _has_optional(model: type[BaseModel]) -> bool:
    return any(not f.is_required() for name, f in model.model_fields.items() if name != "type")


def response(
    model: type[BaseModel],
    note: str,
    full: dict,
    dump_opts: dict | None = None,
    variant: str | None = None,
) -> list[Vector]:
    """Vectors of one response type: ``_minimal``/``_nulls``/``_full`` when it has optional
    fields, else one vector. ``dump_opts`` are what the real handler passes to ``send_msg``."""
    opts = dump_opts or {}
    name = model.__name__
    # The real handlers pass `type` explicitly (the `from_*_response` constructors), so that
    # it survives `exclude_unset`.
    full = {**full, "type": name}
    if variant is not None or not _has_optional(model):
        return [Vector("to_task", name, variant, note, model(**full), dump_opts=opts)]
    minimal = {k: v for k, v in full.items() if k in _required_keys(model) or k == "type"}
    out = [
        Vector("to_task", name, "minimal", f"{note}; required fields only, unset keys absent",
               model(**minimal), dump_opts={**opts, "exclude_unset": True}),
    ]
    plain = {k: v for k, v in opts.items() if k != "exclude_unset"}
    nulls = model(**minimal)
    if nulls.model_dump(**plain) != nulls.model_dump(**{**plain, "exclude_unset": True}):
        out.append(Vector("to_task", name, "nulls", f"{note}; required fields only, defaults and nils written",
                          nulls, dump_opts=plain))
    out.append(Vector("to_task", name, "full", f"{note}; every field set", model(**full), dump_opts=opts))
    return out


def request(model: type[BaseModel], note: str, full: dict, variant: str | None = None) -> list[Vector]:
    """Vectors of one request type: ``_minimal`` and ``_full`` when it has optional fields."""
    name = model.__name__
    if variant is not None or not _has_optional(model):
        return [Vector("to_supervisor", name, variant, note, model(**full))]
    minimal = {k: v for k, v in full.items() if k in _required_keys(model)}
    return [
        Vector("to_supervisor", name, "minimal", f"{note}; required fields only", model(**minimal)),
        Vector("to_supervisor", name, "full", f"{note}; every field set", model(**full)),
    ]


def _dag_run(**overrides: Any) -> dict:
    run = dict(
        dag_id=DAG_ID,
        run_id=RUN_ID,
        logical_date=T32,
        data_interval_start=T96_PAST,
        data_interval_end=T32,
        run_after=T32,
        start_date=T64,
        end_date=T64_LATE,
        clear_number=2,
        run_type=gen.DagRunType.SCHEDULED,
        state=gen.DagRunState.SUCCESS,
        conf={"region": "eu-west-1", "limits": {"rows": 5000}, "tags": ["a", "b"]},
        triggering_user_name="ada",
        consumed_asset_events=[
            gen.AssetEventDagRunReference(
                asset=gen.AssetReferenceAssetEventDagRun(
                    name="raw_orders", uri="s3://lake/raw/orders", extra={"format": "parquet"}
                ),
                extra={"rows": 1200, "note": None},
                source_task_id="extract",
                source_dag_id="ingest",
                source_run_id="manual__2024-12-31T23:00:00+00:00",
                source_map_index=-1,
                source_aliases=[gen.AssetAliasReferenceAssetEventDagRun(name="orders_alias")],
                timestamp=T_OFFSET,
                partition_key="2025-01-01",
            )
        ],
        partition_key="2025-01-01",
        partition_date=T96_FUTURE,
        note="rerun after fix",
        team_name="data-eng",
    )
    run.update(overrides)
    return run


def _asset_event(event_id: int) -> gen.AssetEventResponse:
    return gen.AssetEventResponse(
        id=event_id,
        timestamp=T64,
        extra={"rows": 1200, "checksum": "abc123"},
        asset=gen.AssetResponse(name="orders", uri="s3://warehouse/orders", group="asset", extra={}),
        created_dagruns=[
            gen.DagRunAssetReference(
                run_id="asset_triggered__2025-01-01T00:00:05+00:00",
                dag_id="report",
                logical_date=None,
                start_date=T64_LATE,
                end_date=None,
                state="running",
                data_interval_start=T96_EPOCH_EDGE,
                data_interval_end=T32,
                partition_key=None,
            )
        ],
        source_task_id="load_orders",
        source_dag_id=DAG_ID,
        source_run_id=RUN_ID,
        source_map_index=3,
        partition_key="eu",
    )


def _error_detail(error: ErrorType) -> dict:
    return {
        ErrorType.CONNECTION_NOT_FOUND: {"conn_id": "warehouse_db"},
        ErrorType.VARIABLE_NOT_FOUND: {"key": "missing_variable"},
        ErrorType.XCOM_NOT_FOUND: {"key": "return_value", "offset": 9},
        ErrorType.ASSET_NOT_FOUND: {"name": "orders"},
        ErrorType.TASK_STORE_NOT_FOUND: {"ti_id": str(TI_ID), "key": "cursor"},
        ErrorType.ASSET_STORE_NOT_FOUND: {"name": "orders", "key": "watermark"},
        ErrorType.DAGRUN_ALREADY_EXISTS: {"dag_id": "report", "run_id": "manual__1"},
        ErrorType.PERMISSION_DENIED: {"conn_id": "warehouse_db", "status_code": 403},
        ErrorType.GENERIC_ERROR: {"message": "something failed"},
        ErrorType.API_SERVER_ERROR: {
            "status_code": 409,
            "message": "Server returned error",
            "detail": {"detail": {"reason": "invalid_state", "previous_state": "success"}},
        },
    }[error]


def to_task_vectors() -> list[Vector]:
    hitl_full = dict(
        ti_id=TI_ID,
        options=["approve", "reject", "défer 🕒"],
        subject="Release orders?",
        body="Check the **numbers** first.",
        defaults=["reject"],
        multiple=True,
        params={"threshold": 0.5, "reasons": ["late", "wrong"]},
        assigned_users=[gen.HITLUser(id="u-1", name="Ada"), gen.HITLUser(id="u-2", name="Grace")],
    )
    ti = gen.TaskInstance(
        id=TI_ID,
        task_id=TASK_ID,
        dag_id=DAG_ID,
        run_id=RUN_ID,
        try_number=1,
        dag_version_id=DAG_VERSION_ID,
    )
    ti_full = gen.TaskInstance(
        id=TI_ID,
        task_id=TASK_ID,
        dag_id=DAG_ID,
        run_id=RUN_ID,
        try_number=3,
        dag_version_id=DAG_VERSION_ID,
        map_index=7,
        hostname="worker-1.example.com",
        context_carrier=TRACE_CARRIER,
        queue="rust",
    )
    ctx_min = gen.TIRunContext(
        dag_run=gen.DagRun(
            **{
                k: v
                for k, v in _dag_run(consumed_asset_events=[], end_date=None).items()
                if k in _required_keys(gen.DagRun)
            }
        ),
        max_tries=0,
    )
    ctx_full = gen.TIRunContext(
        dag_run=gen.DagRun(**_dag_run()),
        task_reschedule_count=2,
        max_tries=4,
        variables=[
            gen.VariableResponse(key="region", value="eu"),
            gen.VariableResponse(key="unset", value=None),
        ],
        connections=[
            gen.ConnectionResponse(
                conn_id="warehouse_db",
                conn_type="postgres",
                host="db.example.com",
                schema="analytics",
                login="etl",
                password="s3cr3t",
                port=5432,
                extra='{"sslmode": "require"}',
            )
        ],
        next_method="execute_complete",
        next_kwargs={"event": {"status": "done", "rows": 3}},
        xcom_keys_to_clear=["return_value", "rows"],
        should_retry=True,
        start_date=T96_PAST,
    )
    startup = [
        Vector(
            "to_task", "StartupDetails", "minimal",
            "first frame, request id 0, as ActivitySubprocess._on_child_started builds it "
            "(model_construct, no dump options); fresh run, defaults only",
            comms.StartupDetails.model_construct(
                ti=ti, dag_rel_path="orders.py", bundle_info=gen.BundleInfo(name="dags-folder"),
                start_date=T64, ti_context=ctx_min, sentry_integration="",
            ),
        ),
        Vector(
            "to_task", "StartupDetails", "full",
            "first frame of a resumed, mapped, traced try: preloaded variables and connections "
            "(dumped without by_alias, so the connection schema travels as `schema_`), "
            "next_method/next_kwargs, a pendulum start_date",
            comms.StartupDetails.model_construct(
                ti=ti_full, dag_rel_path="pipelines/orders.py",
                bundle_info=gen.BundleInfo(name="git-repo", version="8f3e2a1"),
                start_date=T_PENDULUM, ti_context=ctx_full,
                sentry_integration="airflow.sdk.execution_time.sentry.configure",
            ),
        ),
        Vector(
            "to_task", "StartupDetails", "next_kwargs_text",
            "resume with next_kwargs as serialized text, a far-future run and pre-1970 dates",
            comms.StartupDetails.model_construct(
                ti=ti, dag_rel_path="orders.py", bundle_info=gen.BundleInfo(name="dags-folder", version=None),
                start_date=T96_EPOCH_EDGE,
                ti_context=gen.TIRunContext(
                    dag_run=gen.DagRun(**_dag_run(run_type=gen.DagRunType.ASSET_MATERIALIZATION,
                                                  state=gen.DagRunState.QUEUED, run_after=T96_FUTURE,
                                                  logical_date=None, conf=None)),
                    max_tries=1, next_method="resume", next_kwargs='{"__var": {}, "__type": "dict"}',
                ),
                sentry_integration="",
            ),
        ),
    ]

    vectors: list[Vector] = startup
    vectors += response(comms.AssetResult, "answer to GetAssetByName/GetAssetByUri",
                        dict(name="orders", uri="s3://warehouse/orders.parquet", group="asset",
                             extra={"owner": "data-eng", "rows": 1200, "schema": {"id": "int"}}),
                        dump_opts={"exclude_unset": True})
    vectors += response(comms.AssetsByAliasResult, "answer to GetAssetsByAlias",
                        dict(assets=[comms.AssetResult(name="orders", uri="s3://warehouse/orders", group="asset"),
                                     comms.AssetResult(name="refunds", uri="s3://warehouse/refunds",
                                                       group="finance", extra={"pii": False})]))
    vectors += response(comms.AssetsByAliasResult, "answer to GetAssetsByAlias; alias resolves to nothing",
                        dict(assets=[]), variant="empty")
    vectors += response(comms.AssetEventsResult, "answer to GetAssetEventByAsset",
                        dict(asset_events=[_asset_event(1), _asset_event(2**40)]), dump_opts={"exclude_unset": True})
    vectors += response(comms.AssetEventsResult, "answer to GetAssetEventByAssetAlias; no events",
                        dict(asset_events=[]), variant="empty")
    vectors += response(comms.AssetStateStoreResult, "answer to GetAssetStateStoreByName",
                        dict(value=NESTED_JSON))
    vectors += response(comms.AssetStateStoreResult, "answer to GetAssetStateStoreByUri; null value",
                        dict(value=None), variant="null")
    vectors += response(comms.ConnectionResult, "answer to GetConnection (handler dumps exclude_unset, by_alias)",
                        dict(conn_id="warehouse_db", conn_type="postgres", host="db.example.com", schema="analytics",
                             login="etl", password="s3cr3t", port=5432, extra='{"sslmode": "require"}'),
                        dump_opts={"exclude_unset": True, "by_alias": True})
    vectors += response(comms.ConnectionResult, "answer to GetConnection; only the type is set",
                        dict(conn_id="fs_default", conn_type="fs", host=None, schema=None, login=None,
                             password=None, port=None, extra=None),
                        dump_opts={"exclude_unset": True, "by_alias": True}, variant="nulls")
    vectors += response(comms.DagRunResult, "answer to GetDagRun (handler dumps exclude_unset)",
                        _dag_run(), dump_opts={"exclude_unset": True})
    vectors += response(comms.DagRunStateResult, "answer to GetDagRunState",
                        dict(state=gen.DagRunState.FAILED))
    vectors += response(comms.DRCount, "answer to GetDRCount", dict(count=42))
    vectors += response(comms.DagResult, "answer to GetDag",
                        dict(dag_id=DAG_ID, is_paused=False, bundle_name="git-repo", bundle_version="8f3e2a1",
                             relative_fileloc="pipelines/orders.py", owners="data-eng, ada",
                             tags=["orders", "daily"], next_dagrun=T32))
    vectors += response(comms.DagResult, "answer to GetDag; unversioned, never scheduled",
                        dict(dag_id="adhoc", is_paused=True, bundle_name=None, bundle_version=None,
                             relative_fileloc=None, owners=None, tags=[], next_dagrun=None), variant="nulls")
    for error in ErrorType:
        detail = _error_detail(error)
        vectors.append(Vector("to_task", "ErrorResponse", error.value,
                              f"{error.value} in the body slot", comms.ErrorResponse(error=error, detail=detail)))
    for error in ErrorType:
        vectors.append(Vector("to_task", "ErrorResponse", f"error_slot_{error.value}",
                              f"{error.value} in the error slot (body nil)", slot="error",
                              msg=comms.ErrorResponse(error=error, detail=_error_detail(error))))
    vectors.append(Vector("to_task", "ErrorResponse", "error_slot_exception",
                          "error slot after an exception in a handler (status_code nil)", slot="error",
                          msg=comms.ErrorResponse(error=ErrorType.API_SERVER_ERROR,
                                                  detail={"status_code": None, "message": "timed out",
                                                          "exception_type": "ReadTimeout"})))
    vectors.append(Vector("to_task", "ErrorResponse", "error_slot_unhandled",
                          "error slot for a request 1.3.2 does not handle", slot="error",
                          msg=comms.ErrorResponse(error=ErrorType.API_SERVER_ERROR,
                                                  detail={"status_code": 400, "message": "Unhandled request"})))
    vectors.append(Vector("to_task", "ErrorResponse", "defaults", "ErrorResponse with every field defaulted",
                          comms.ErrorResponse()))
    vectors += response(comms.PrevSuccessfulDagRunResult, "answer to GetPrevSuccessfulDagRun",
                        dict(data_interval_start=T96_PAST, data_interval_end=T32, start_date=T64,
                             end_date=T64_LATE), dump_opts={"exclude_unset": True})
    vectors += response(comms.PreviousTIResult, "answer to GetPreviousTI",
                        dict(task_instance=gen.PreviousTIResponse(
                            task_id=TASK_ID, dag_id=DAG_ID, run_id="scheduled__2024-12-31T00:00:00+00:00",
                            logical_date=T96_PAST, start_date=T64, end_date=T64_LATE, state="success",
                            try_number=2, map_index=-1, duration=457.876543)))
    vectors += response(comms.SentFDs, "answer to ResendLoggingFD (Unix sockets only)", dict(fds=[7, 9]))
    vectors += response(comms.TaskRescheduleStartDate, "answer to GetTaskRescheduleStartDate",
                        dict(start_date=T64))
    vectors += response(comms.TaskRescheduleStartDate, "answer to GetTaskRescheduleStartDate; never rescheduled",
                        dict(start_date=None), variant="null")
    vectors += response(comms.TaskStateStoreResult, "answer to GetTaskStateStore", dict(value=NESTED_JSON))
    vectors += response(comms.TaskStateStoreResult, "answer to GetTaskStateStore; a plain string",
                        dict(value="cursor-0042"), variant="string")
    vectors += response(comms.TICount, "answer to GetTICount", dict(count=0))
    vectors += response(comms.TaskBreadcrumbsResult, "answer to GetTaskBreadcrumbs",
                        dict(breadcrumbs=[
                            {"task_id": "extract", "map_index": -1, "state": "success",
                             "operator": "PythonOperator", "duration": 1.5},
                            {"task_id": "load", "map_index": 2, "state": "failed",
                             "operator": "@task.stub", "duration": None},
                        ]))
    vectors += response(comms.TaskStatesResult, "answer to GetTaskStates",
                        dict(task_states={RUN_ID: {"extract": "success", "load_0": "failed", "load_1": None}}))
    vectors += response(comms.VariableResult, "answer to GetVariable (handler dumps exclude_unset)",
                        dict(key="region", value="eu-west-1 ✓"), dump_opts={"exclude_unset": True})
    vectors += response(comms.VariableResult, "answer to GetVariable; the variable holds null",
                        dict(key="empty", value=None), dump_opts={"exclude_unset": True}, variant="null")
    vectors += response(comms.VariableKeysResult, "answer to GetVariableKeys",
                        dict(keys=["etl_region", "etl_limit", ""], total_entries=70000))
    vectors += response(comms.XComCountResponse, "answer to GetXComCount", dict(len=3))
    vectors += response(comms.XComResult, "answer to GetXCom", dict(key="return_value", value=NESTED_JSON),
                        dump_opts={"exclude_unset": True})
    vectors += response(comms.XComResult, "answer to GetXCom; XCom missing", dict(key="absent", value=None),
                        dump_opts={"exclude_unset": True}, variant="missing")
    vectors += response(comms.XComResult, "answer to GetXCom; a float", dict(key="ratio", value=-1.0e-300),
                        dump_opts={"exclude_unset": True}, variant="float")
    vectors += response(comms.XComSequenceIndexResult, "answer to GetXComSequenceItem",
                        dict(root={"shard": 3, "path": "s3://x/3"}))
    vectors += response(comms.XComSequenceSliceResult, "answer to GetXComSequenceSlice",
                        dict(root=[1, "two", None, {"three": 3.0}, [4]]))
    vectors += response(comms.InactiveAssetsResult, "answer to ValidateInletsAndOutlets",
                        dict(inactive_assets=[gen.AssetProfile(name="orders", uri="s3://warehouse/orders", type="Asset"),
                                              gen.AssetProfile(name="orders_alias", type="AssetAlias"),
                                              gen.AssetProfile(uri="s3://x", type="AssetUriRef")]))
    vectors += response(comms.CreateHITLDetailPayload, "a ToTask member the 1.3.2 supervisor never sends", hitl_full)
    vectors += response(comms.HITLDetailRequestResult, "answer to CreateHITLDetailPayload", hitl_full)
    vectors += response(comms.OKResponse, "answer to DeleteVariable and the state-store writes", dict(ok=True))
    vectors += response(comms.OKResponse, "OKResponse false", dict(ok=False), variant="false")
    vectors += response(comms.PreviousDagRunResult, "answer to GetPreviousDagRun",
                        dict(dag_run=gen.DagRun(**_dag_run())))
    vectors.append(Vector("to_task", None, None, "the empty response [id, nil, nil] to writes and terminal messages",
                          slot="empty"))
    vectors.append(Vector("to_task", "OKResponse", "big_id", "a request id over 32 bits echoed back",
                          comms.OKResponse(ok=True), request_id=2**40 + 7))
    return vectors


def to_supervisor_vectors() -> list[Vector]:
    v: list[Vector] = []
    v += request(comms.AwaitInputTask, "terminal: wait for human input",
                 dict(next_method="resume_after_input", timeout=dt.timedelta(hours=2, seconds=1.5),
                      next_kwargs={"question": "ok?", "n": 1}, rendered_map_index="eu"))
    v += request(comms.ClearAssetStateStoreByName, "drop an asset's state store", dict(name="orders"))
    v += request(comms.ClearAssetStateStoreByUri, "drop an asset's state store", dict(uri="s3://warehouse/orders"))
    v += request(comms.ClearTaskStateStore, "drop this TI's state store", dict(ti_id=TI_ID))
    v += request(comms.DeferTask, "terminal: defer to a trigger",
                 dict(classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
                      next_method="execute_complete",
                      trigger_kwargs={"moment": "2025-01-01T01:00:00+00:00", "end_from_trigger": False},
                      trigger_timeout=dt.timedelta(seconds=90), queue="triggers",
                      next_kwargs={"attempt": 2}, rendered_map_index="batch 7"))
    v += request(comms.DeferTask, "terminal: defer with serialized kwargs text and a long timeout",
                 dict(classpath="my.Trigger", next_method="done", trigger_kwargs='{"__type": "dict", "__var": {}}',
                      trigger_timeout=dt.timedelta(days=3, microseconds=250)), variant="text_kwargs")
    v += request(comms.DeleteAssetStateStoreByName, "delete an asset state key", dict(name="orders", key="watermark"))
    v += request(comms.DeleteAssetStateStoreByUri, "delete an asset state key",
                 dict(uri="s3://warehouse/orders", key="watermark"))
    v += request(comms.DeleteTaskStateStore, "delete a TI state key", dict(ti_id=TI_ID, key="cursor"))
    v += request(comms.DeleteXCom, "clear a stale XCom",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID, map_index=-1))
    v += request(comms.GetAssetByName, "read an asset", dict(name="orders"))
    v += request(comms.GetAssetByUri, "read an asset", dict(uri="s3://warehouse/orders"))
    v += request(comms.GetAssetsByAlias, "resolve an alias", dict(alias_name="orders_alias"))
    v += request(comms.GetAssetEventByAsset, "read asset events",
                 dict(name="orders", uri=None, after=T96_PAST, before=T64, limit=10, ascending=False))
    v += request(comms.GetAssetEventByAsset, "read asset events by URI only", dict(name=None, uri="s3://x"),
                 variant="uri_only")
    v += request(comms.GetAssetEventByAssetAlias, "read alias events",
                 dict(alias_name="orders_alias", after=T32, before=T96_FUTURE, limit=1, ascending=True))
    v += request(comms.GetAssetStateStoreByName, "read an asset state key", dict(name="orders", key="watermark"))
    v += request(comms.GetAssetStateStoreByUri, "read an asset state key",
                 dict(uri="s3://warehouse/orders", key="watermark"))
    v += request(comms.GetConnection, "read a connection", dict(conn_id="warehouse_db"))
    v += request(comms.GetDagRun, "read a run", dict(dag_id=DAG_ID, run_id=RUN_ID))
    v += request(comms.GetDagRunState, "read a run's state", dict(dag_id=DAG_ID, run_id=RUN_ID))
    v += request(comms.GetDRCount, "count runs",
                 dict(dag_id=DAG_ID, logical_dates=[T32, T64, T96_PAST], run_ids=[RUN_ID, "manual__1"],
                      states=["success", "failed"]))
    v += request(comms.GetDag, "read a Dag", dict(dag_id=DAG_ID))
    v += request(comms.GetPrevSuccessfulDagRun, "previous successful run", dict(ti_id=TI_ID))
    v += request(comms.GetPreviousDagRun, "previous run", dict(dag_id=DAG_ID, logical_date=T64, state="success"))
    v += request(comms.GetPreviousTI, "previous TI",
                 dict(dag_id=DAG_ID, task_id=TASK_ID, logical_date=T_OFFSET, map_index=4,
                      state=gen.TaskInstanceState.UP_FOR_RETRY))
    v += request(comms.GetTaskRescheduleStartDate, "first reschedule start", dict(ti_id=TI_ID, try_number=3))
    v += request(comms.GetTaskStateStore, "read a TI state key", dict(ti_id=TI_ID, key="cursor"))
    v += request(comms.GetTICount, "count TIs",
                 dict(dag_id=DAG_ID, map_index=0, task_ids=["a", "b"], task_group_id="grp",
                      logical_dates=[T32], run_ids=[RUN_ID], states=["success", "skipped"]))
    v += request(comms.GetTaskBreadcrumbs, "read breadcrumbs", dict(dag_id=DAG_ID, run_id=RUN_ID))
    v += request(comms.GetTaskStates, "read TI states",
                 dict(dag_id=DAG_ID, map_index=-1, task_ids=["a"], task_group_id="grp",
                      logical_dates=[T96_EPOCH_EDGE], run_ids=[RUN_ID]))
    v += request(comms.GetVariable, "read a variable", dict(key="region"))
    v += [Vector("to_supervisor", "GetVariable", "traced", "read a variable from a traced runner",
                 comms.GetVariable(key="region"), carrier=TRACE_CARRIER)]
    v += [Vector("to_supervisor", "GetVariable", "big_id", "a request id over 32 bits",
                 comms.GetVariable(key="région ✓"), request_id=2**40 + 7)]
    v += request(comms.GetVariableKeys, "list variable keys", dict(prefix="etl_", limit=50, offset=100))
    v += request(comms.GetXCom, "read an XCom",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id="extract", map_index=2,
                      include_prior_dates=True))
    v += request(comms.GetXComCount, "count an XCom",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id="extract"))
    v += request(comms.GetXComSequenceItem, "one item of a mapped XCom",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id="extract", offset=-1))
    v += request(comms.GetXComSequenceSlice, "a slice of a mapped XCom",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id="extract",
                      start=None, stop=None, step=None, include_prior_dates=True))
    v += request(comms.GetXComSequenceSlice, "a slice with bounds",
                 dict(key="return_value", dag_id=DAG_ID, run_id=RUN_ID, task_id="extract",
                      start=-3, stop=2**40, step=2), variant="bounded")
    v += request(comms.PutVariable, "write a variable",
                 dict(key="etl_limit", value="5000", description="rows per batch"))
    v += request(comms.PutVariable, "write a null variable", dict(key="gone", value=None, description=None),
                 variant="nulls")
    v += request(comms.RescheduleTask, "terminal: reschedule",
                 dict(reschedule_date=T96_FUTURE, end_date=T64))
    v += request(comms.RetryTask, "terminal: retry",
                 dict(end_date=T64, rendered_map_index="eu", retry_delay_seconds=30.5,
                      retry_reason="upstream API answered 503"))
    v += request(comms.SetAssetStateStoreByName, "write an asset state key",
                 dict(name="orders", key="watermark", value=NESTED_JSON))
    v += request(comms.SetAssetStateStoreByUri, "write an asset state key",
                 dict(uri="s3://warehouse/orders", key="watermark", value="2025-01-01"))
    v += request(comms.SetRenderedFields, "record rendered template fields",
                 dict(rendered_fields={"sql": "SELECT 1", "params": {"a": [1, 2]}, "none": None}))
    v += request(comms.SetRenderedMapIndex, "label a mapped TI", dict(rendered_map_index="région 7 🚀"))
    v += request(comms.SetTaskStateStore, "write a TI state key",
                 dict(ti_id=TI_ID, key="cursor", value={"offset": 42}, expires_at=T64))
    v += request(comms.SetTaskStateStore, "write a TI state key without expiry",
                 dict(ti_id=TI_ID, key="cursor", value=None, expires_at=None), variant="no_expiry")
    v += request(comms.SetXCom, "push an XCom",
                 dict(key="return_value", value=NESTED_JSON, dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID,
                      map_index=3, dag_result=True, mapped_length=10))
    v += request(comms.SkipDownstreamTasks, "skip downstream tasks",
                 dict(tasks=["report", ("load", 2), ("load", -1)]))
    v += request(comms.SucceedTask, "terminal: success",
                 dict(end_date=T64,
                      task_outlets=[gen.AssetProfile(name="orders", uri="s3://warehouse/orders", type="Asset"),
                                    gen.AssetProfile(name="orders_alias", type="AssetAlias")],
                      outlet_events=[{"dest_asset_key": {"name": "orders", "uri": "s3://warehouse/orders"},
                                      "extra": {"rows": 1200}}],
                      rendered_map_index="eu"))
    v += request(comms.SucceedTask, "terminal: success with the empty lists Go and Java send",
                 dict(end_date=T32, task_outlets=[], outlet_events=[]), variant="empty_lists")
    v += request(comms.ValidateInletsAndOutlets, "check inlets and outlets", dict(ti_id=TI_ID))
    v += request(comms.TaskState, "terminal: failed/skipped/removed",
                 dict(state=gen.TaskInstanceState.FAILED, end_date=T96_EPOCH_EDGE, rendered_map_index="eu"))
    v += request(comms.TaskState, "terminal: skipped", dict(state=gen.TaskInstanceState.SKIPPED),
                 variant="skipped")
    v += request(comms.TaskState, "terminal: removed", dict(state=gen.TaskInstanceState.REMOVED),
                 variant="removed")
    v += request(comms.TriggerDagRun, "trigger a run",
                 dict(dag_id="report", run_id="triggered__1", logical_date=T_MIN, run_after=T_MAX,
                      conf={"source": DAG_ID, "n": [1, 2]}, reset_dag_run=True, partition_key="eu",
                      note="from orders"))
    v += request(comms.DeleteVariable, "delete a variable", dict(key="etl_limit"))
    v += request(comms.ResendLoggingFD, "ask for the log fd again (Unix sockets only)", dict())
    v += request(comms.CreateHITLDetailPayload, "ask a human",
                 dict(ti_id=TI_ID, options=["approve", "reject"], subject="Release?", body="Numbers look odd",
                      defaults=["reject"], multiple=False, params={"threshold": 0.5},
                      assigned_users=[gen.HITLUser(id="u-1", name="Ada")]))
    v += request(comms.UpdateHITLDetail, "answer a human-in-the-loop request (unhandled by 1.3.2)",
                 dict(ti_id=OTHER_TI_ID, chosen_options=["approve"], params_input={"threshold": 0.7}))
    v += request(comms.GetHITLDetailResponse, "read a human answer (unhandled by 1.3.2)", dict(ti_id=TI_ID))
    v += request(comms.MaskSecret, "mask a secret", dict(value={"password": "hunter2", "tokens": ["a", "b"]},
                                                         name="api_credentials"))
    return v


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def union_members(union: Any) -> list[str]:
    """Names of the models in a ``Annotated[A | B | ..., Field(discriminator=...)]`` union."""
    inner = typing.get_args(union)[0]
    return [member.__name__ for member in typing.get_args(inner)]


def encode(vector: Vector, request_id: int) -> bytes:
    if vector.direction == "to_supervisor":
        return runtime_frame(request_id, vector.msg, vector.carrier)
    if vector.slot == "body":
        return supervisor_frame(request_id, vector.msg, None, vector.dump_opts)
    if vector.slot == "error":
        return supervisor_frame(request_id, None, vector.msg, {})
    return supervisor_frame(request_id, None, None, {})


def entry(vector: Vector, request_id: int, frame: bytes) -> dict:
    length = int.from_bytes(frame[:4], "big")
    if length + 4 != len(frame):
        raise AssertionError(f"{vector.file}: prefix {length} does not match {len(frame)} bytes")
    value, kinds = walk(frame[4:])
    item = {
        "file": vector.file,
        "type": vector.type_name,
        "variant": vector.variant,
        "note": vector.note,
        "length": length,
        "msgpack": value,
        "wire_types": kinds,
        "id": value[0],
    }
    if value[0] != request_id:
        raise AssertionError(f"{vector.file}: id {value[0]} != {request_id}")
    if vector.msg is not None:
        # Keys the frame leaves out (dumped with `exclude_unset`) mean the model's default:
        # record those defaults so that a reader can tell what an absent key stands for.
        carried = value[1] if vector.slot == "body" else value[2]
        item["defaults"] = {
            key: pydantic_core.to_jsonable_python(info.get_default(call_default_factory=True))
            for key, info in ((f.alias or name, f) for name, f in type(vector.msg).model_fields.items())
            if key not in carried and not info.is_required()
        }
    if vector.direction == "to_task":
        item["slot"] = vector.slot
        item["body"] = value[1] if len(value) > 1 else None
        item["error"] = value[2] if len(value) > 2 else None
        carried = {"body": item["body"], "error": item["error"], "empty": None}[vector.slot]
        if vector.slot == "empty":
            if item["body"] is not None or item["error"] is not None:
                raise AssertionError(f"{vector.file}: not empty")
        elif not isinstance(carried, dict) or carried.get("type") != vector.type_name:
            raise AssertionError(f"{vector.file}: {vector.slot} slot does not hold a {vector.type_name}")
    else:
        item["body"] = value[1]
        item["context_carrier"] = value[2] if len(value) > 2 else None
        if item["body"].get("type") != vector.type_name:
            raise AssertionError(f"{vector.file}: body is not a {vector.type_name}")
    return item


def generate(out: Path) -> dict:
    directions = {"to_task": to_task_vectors(), "to_supervisor": to_supervisor_vectors()}
    members = {"ToTask": union_members(comms.ToTask), "ToSupervisor": union_members(comms.ToSupervisor)}
    for direction, union in (("to_task", "ToTask"), ("to_supervisor", "ToSupervisor")):
        covered = {v.type_name for v in directions[direction]}
        missing = [name for name in members[union] if name not in covered]
        if missing:
            raise SystemExit(f"gen_vectors: no {direction} vector for {', '.join(missing)}")
    manifest: dict[str, Any] = {
        "generator": "tests/python/gen_vectors.py",
        "packages": {
            name: metadata.version(name) for name in ("apache-airflow-task-sdk", "msgspec", "pydantic")
        },
        "schema_version": SCHEMA_VERSION,
        "union_members": members,
        "error_types": [error.value for error in ErrorType],
    }
    for direction, vectors in directions.items():
        folder = out / direction
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.bin"):
            stale.unlink()
        seen: set[str] = set()
        ids = itertools.count()
        entries = []
        for vector in vectors:
            if vector.file in seen:
                raise SystemExit(f"gen_vectors: two vectors named {vector.file}")
            seen.add(vector.file)
            request_id = vector.request_id if vector.request_id is not None else next(ids)
            frame = encode(vector, request_id)
            (out / vector.file).write_bytes(frame)
            entries.append(entry(vector, request_id, frame))
        manifest[direction] = entries
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    manifest = generate(args.out)
    print(
        f"gen_vectors: wrote {len(manifest['to_task'])} to_task and {len(manifest['to_supervisor'])} "
        f"to_supervisor frames to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
