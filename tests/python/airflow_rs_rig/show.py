"""Prints a rig result (JSON file) for humans: final state, Execution API calls, task log."""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    with open(path) as f:
        result = json.load(f)
    print(f"final state : {result['final_state']}   (bundle exit code {result['exit_code']}, {result['duration']:.2f} s under the supervisor)")
    print("Execution API calls made by the supervisor:")
    for call in result["calls"]:
        body = "" if call["body"] is None else " " + json.dumps(call["body"])[:100]
        print(f"  {call['method']:6} {call['path']}{body}")
    print("task log (as the Airflow UI shows it):")
    for line in result["logs"]:
        extra = {k: v for k, v in line.items() if k not in ("timestamp", "level", "event", "logger")}
        print(f"  {line.get('timestamp', '')[11:23]} {line.get('level', ''):8} {line.get('logger', ''):18} {line.get('event', '')}  {json.dumps(extra) if extra else ''}")
    return 0 if result["final_state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
