"""The Python side of `scripts/bench`: the same tasks as the Rust example bundles'
`bench_small` and `bench_round_trips`, run by Airflow's own Python task runner (the default
`_PythonCoordinator` path of `supervise_task`) from the "dags-folder" DAG bundle.
"""

from __future__ import annotations

import time

from airflow.sdk import DAG, Variable, task

with DAG(dag_id="bench_python", schedule=None):

    @task
    def bench_small():
        """Reads a variable; its value is pushed as XCom `return_value`."""
        return Variable.get("bench_value")

    @task
    def bench_round_trips():
        """Times `bench_requests` requests, one at a time, two ways: the raw GetVariable round
        trip through the runtime's comms (the frames the Rust task sends), and `Variable.get`,
        what a task author calls (GetVariable plus the MaskSecret it sends for the value)."""
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import GetVariable, VariableResult

        n = int(Variable.get("bench_requests"))
        comms = task_runner.SUPERVISOR_COMMS
        send = []
        for _ in range(n):
            start = time.perf_counter_ns()
            answer = comms.send(GetVariable(key="bench_value"))
            send.append(time.perf_counter_ns() - start)
            if not isinstance(answer, VariableResult):
                raise RuntimeError(f"unexpected answer {answer!r}")
        variable_get = []
        for _ in range(n):
            start = time.perf_counter_ns()
            Variable.get("bench_value")
            variable_get.append(time.perf_counter_ns() - start)
        return {"send": send, "variable_get": variable_get}

    bench_small()
    bench_round_trips()
