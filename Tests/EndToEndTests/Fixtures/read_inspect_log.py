"""Reads an Inspect eval log with inspect_ai's own reader and prints what it found as JSON."""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from inspect_ai.log import read_eval_log  # noqa: E402

log = read_eval_log(sys.argv[1])
samples = []
for sample in log.samples:
    samples.append({
        "id": sample.id,
        "epoch": sample.epoch,
        "messages": [{"role": m.role, "content": m.text, "tool_calls": [c.function for c in (getattr(m, "tool_calls", None) or [])]}
                     for m in sample.messages],
        "tool_events": [{"function": e.function, "arguments": e.arguments, "result": e.result}
                        for e in sample.events if e.event == "tool"],
        "model_events": sum(1 for e in sample.events if e.event == "model"),
        "approvals": [e.decision for e in sample.events if e.event == "approval"],
        "info_sources": sorted({e.source for e in sample.events if e.event == "info"}),
        "spans": [e.name for e in sample.events if e.event == "span_begin"],
        "scores": sorted(sample.scores or {}),
    })
print(json.dumps({"status": log.status, "task": log.eval.task, "model": log.eval.model, "run_id": log.eval.run_id, "samples": samples}))
