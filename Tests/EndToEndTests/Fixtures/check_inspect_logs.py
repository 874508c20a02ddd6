"""Reads Warden's exported Inspect logs with inspect_ai's own API and prints what it found as
JSON: each file read in full and header-only, and what list_eval_logs finds in a directory.

    check_inspect_logs.py DIR FILE...
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from inspect_ai.log import list_eval_logs, read_eval_log  # noqa: E402

directory, files = sys.argv[1], sys.argv[2:]
result = {"listed": sorted(info.name.rsplit("/", 1)[-1] for info in list_eval_logs(directory)), "logs": {}}
for path in files:
    header = read_eval_log(path, header_only=True)
    full = read_eval_log(path)
    result["logs"][path] = {
        "header_status": header.status,
        "header_samples": None if header.samples is None else len(header.samples),
        "task": full.eval.task,
        "results": {score.name: {"mean": score.metrics["mean"].value, "stderr": score.metrics["stderr"].value}
                    for score in (header.results.scores if header.results else [])},
        "samples": [{
            "id": sample.id,
            "metadata": sample.metadata,
            "scores": {name: {"value": score.value, "explanation": score.explanation} for name, score in (sample.scores or {}).items()},
            "messages": len(sample.messages),
            "tool_events": sum(1 for event in sample.events if event.event == "tool"),
        } for sample in full.samples],
    }
print(json.dumps(result))
