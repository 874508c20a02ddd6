"""Runs Inspect's own sandbox conformance checks (inspect_ai.util._sandbox.self_check) against a
`warden` sandbox found through Inspect's registry (so through the package's entry point), and
prints {"provider": ..., "sandbox": ..., "results": {check: "pass" | "ErrorType: message"}}."""

import json
import sys

import anyio

import inspect_ai.util._sandbox.self_check as checks
from inspect_ai.util._sandbox.registry import registry_find_sandboxenv


async def main() -> None:
    environment_type = registry_find_sandboxenv("warden")
    task = "warden_self_check"
    await environment_type.task_init(task, None)
    environments = await environment_type.sample_init(task, None, {})
    sandbox = environments["default"]
    results = {}
    try:
        for name in checks.__all__:
            try:
                with anyio.fail_after(120):
                    await getattr(checks, name)(sandbox)
                results[name] = "pass"
            except BaseException as ex:  # noqa: BLE001 - every failure is reported, by name
                results[name] = f"{type(ex).__name__}: {str(ex)[:300]}"
    finally:
        await environment_type.sample_cleanup(task, None, environments, False)
    print(json.dumps({"provider": f"{environment_type.__module__}.{environment_type.__name__}",
                      "sandbox": sandbox.sandbox_id, "results": results}))


anyio.run(main)
sys.exit(0)
