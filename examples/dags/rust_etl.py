"""Stub DAGs for the Rust example bundles.

Each DAG's Rust tasks are ``@task.stub`` placeholders on queue ``rust``; Airflow routes that
queue (``[sdk] queue_to_coordinator``) to the ``ExecutableCoordinator``, which finds the bundle
executable whose metadata lists the DAG id and runs the task in it. The downstream ``check``
task is plain Python: it reads the Rust ``load`` task's return value from XCom.

One ETL DAG per adapter's example bundle: ``etl_std``, ``etl_tokio``, ``etl_smol``; and one
DAG per bundle whose Rust task fails: ``etl_failure_<adapter>``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

RUST_QUEUE = "rust"
ADAPTERS = ("std", "tokio", "smol")


def etl_dag(adapter: str):
    @dag(
        dag_id=f"etl_{adapter}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["rust", adapter],
    )
    def etl():
        @task.stub(queue=RUST_QUEUE)
        def extract(): ...

        @task.stub(queue=RUST_QUEUE)
        def transform(): ...

        @task.stub(queue=RUST_QUEUE)
        def load(): ...

        @task
        def check(report: dict) -> int:
            # What the Rust `load` task returned, through XCom.
            assert report["table"].endswith(".region_totals"), report
            assert report["rows"] == 3, report
            assert report["total_cents"] > 0, report
            return report["rows"]

        loaded = load()
        extract() >> transform() >> loaded
        check(loaded)

    return etl()


def failure_dag(adapter: str):
    @dag(
        dag_id=f"etl_failure_{adapter}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["rust", adapter],
    )
    def etl_failure():
        @task.stub(queue=RUST_QUEUE, retries=0)
        def load(): ...

        load()

    return etl_failure()


for _adapter in ADAPTERS:
    globals()[f"etl_{_adapter}"] = etl_dag(_adapter)
    globals()[f"etl_failure_{_adapter}"] = failure_dag(_adapter)
