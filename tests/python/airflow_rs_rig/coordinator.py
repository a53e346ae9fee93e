"""A SubprocessCoordinator that runs a fixed command: the Rust bundle under test.

Configured through ``[sdk] coordinators`` like any coordinator, so the supervisor reaches it
by its own routing (``[sdk] queue_to_coordinator``), exactly as a deployment would.
"""

from __future__ import annotations

import attrs

from airflow.sdk.coordinators._subprocess import SubprocessCoordinator

SCHEMA_VERSION = "2026-06-16"

# Results of execute_task in this process, for the rig to report.
RESULTS: list = []


@attrs.define(kw_only=True)
class CommandCoordinator(SubprocessCoordinator):
    """Launches ``command`` (the supervisor appends ``--comm`` and ``--logs``)."""

    command: list[str]

    def _build_execute_task_command(self, *, what):
        return list(self.command), SCHEMA_VERSION

    def execute_task(self, **kwargs):
        result = super().execute_task(**kwargs)
        RESULTS.append(result)
        return result
