"""Test rig: runs a Rust bundle under the real apache-airflow-task-sdk supervisor.

``python -m airflow_rs_rig < scenario.json`` prints a JSON result. See ``run.py``.
"""
