import base64
from pathlib import Path
from typing import Any, Literal, Union, overload

from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUserUnsupportedError,
    sandboxenv,
)
from pydantic import BaseModel
from typing_extensions import override

from ._client import WardenError, call, socket_path, with_data
from ._config import WardenSandboxConfig


@sandboxenv(name="warden")
class WardenSandboxEnvironment(SandboxEnvironment):
    """An Inspect sample's sandbox in wardend: every operation runs inside a Warden sandbox, with
    its rights, and is recorded in Warden's audit log with the task and sample ids.

    Inspect calls its model itself: those calls do not pass Warden's model gateway, so the
    audit log holds the sandbox's operations, not the model's turns.
    """

    def __init__(self, socket: str, opened: dict[str, Any]) -> None:
        super().__init__()
        self.socket = socket
        self.sandbox_id: str = opened["sandbox"]
        self.mode: str = opened["mode"]
        self.run_id: str = opened["run_id"]
        self.workdir: str = opened["workdir"]
        self.agent: str | None = opened.get("agent")
        self.scenario: str | None = opened.get("scenario")
        self.system_prompt: str | None = opened.get("system_prompt")
        """Scenario mode: the agent's system prompt in the scenario."""
        self.start_messages: list[dict[str, str]] = opened.get("messages", [])
        """Scenario mode: what the scenario tells the agent at the start ({voice, text});
        `warden_scenario_prompt()` gives them to the model."""
        self.result: dict[str, Any] | None = None
        """Scenario mode: the run's outcome once closed (`finish()`)."""

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def config_files(cls) -> list[str]:
        return []

    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return WardenSandboxConfig(**config)

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        await call(socket_path(_config(config).socket), "status", {})

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        settings = _config(config)
        socket = socket_path(settings.socket)
        params: dict[str, Any] = {"inspect": _sample_ids(task_name)}
        model = _model_name()
        if model:
            params["model"] = model
        if settings.scenario:
            path = Path(settings.scenario)
            params.update(scenario_text=path.read_text(encoding="utf-8"), scenario_path=str(path.resolve()))
            if settings.agent:
                params["agent"] = settings.agent
            if settings.cell:
                params["cell"] = dict(settings.cell)
            if settings.peer_model:
                params["peer_model"] = settings.peer_model
        elif settings.policy:
            params["policy"] = settings.policy
        opened = await call(socket, "sandbox.open", params)
        _remember(opened)
        return {"default": cls(socket, opened)}

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        for environment in environments.values():
            sandbox = environment.as_type(WardenSandboxEnvironment)
            if sandbox.result is None:
                await sandbox.finish("sample interrupted" if interrupted else "sample finished")

    async def finish(self, reason: str = "sample finished") -> dict[str, Any]:
        """Closes the sandbox (once). In scenario mode this ends the agent, the run is judged,
        and the result holds its verdicts (`verdicts`), `evidence` and how the agent `ended`."""
        if self.result is None:
            self.result = await call(self.socket, "sandbox.close", {"sandbox": self.sandbox_id, "reason": reason})
        return self.result

    # -- operations --------------------------------------------------------------------------

    @override
    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        self._check_open()
        params: dict[str, Any] = {
            "sandbox": self.sandbox_id,
            "argv": list(cmd),
            "env": dict(env or {}),
            "max_output": SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE,
        }
        if cwd is not None:
            params["cwd"] = cwd
        if user is not None:
            params["user"] = user
        if timeout is not None:
            params["timeout"] = timeout
        data = input.encode("utf-8") if isinstance(input, str) else input
        params = await with_data(self.socket, self.sandbox_id, params, "input", data)
        reply = await call(self.socket, "sandbox.exec", params)
        error = reply.get("error")
        if error == "user_unsupported":
            raise SandboxUserUnsupportedError(reply["message"])
        if error == "permission_denied":
            raise PermissionError(reply["message"])
        if error == "not_found":
            return ExecResult(success=False, returncode=127, stdout="", stderr=reply["message"] + "\n")
        if error == "sandbox_ended":
            # The agent's sandbox has ended (the scenario shut it down, or its command channel is
            # gone): its commands fail as on a machine that is gone.
            return ExecResult(success=False, returncode=137, stdout="", stderr=reply["message"] + "\n")
        if error:
            raise RuntimeError(f"wardend: exec {cmd[:1]}: {reply['message']}")
        if reply["timed_out"]:
            raise TimeoutError(f"Command timed out after {timeout} seconds in Warden sandbox {self.sandbox_id}")
        stdout = base64.b64decode(reply["stdout"]).decode("utf-8", errors="replace")
        stderr = base64.b64decode(reply["stderr"]).decode("utf-8", errors="replace")
        code = reply["exit_code"]
        return ExecResult(success=code == 0, returncode=code, stdout=stdout, stderr=stderr)

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        self._check_open()
        data = contents.encode("utf-8") if isinstance(contents, str) else contents
        params = await with_data(self.socket, self.sandbox_id, {"sandbox": self.sandbox_id, "path": file}, "data", data)
        reply = await call(self.socket, "sandbox.write_file", params)
        _raise_file_error(reply, file)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> Union[str, bytes]:
        self._check_open()
        limit = SandboxEnvironmentLimits.MAX_READ_FILE_SIZE
        reply = await call(self.socket, "sandbox.read_file", {"sandbox": self.sandbox_id, "path": file, "max_bytes": limit})
        if reply.get("error") == "too_large":
            raise OutputLimitExceededError(
                limit_str=SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, truncated_output=None
            )
        _raise_file_error(reply, file)
        data = base64.b64decode(reply["data"])
        return data.decode("utf-8") if text else data

    def default_polling_interval(self) -> float:
        return 0.2

    def _check_open(self) -> None:
        if self.result is not None:
            raise RuntimeError(f"Warden sandbox {self.sandbox_id} is closed (its run has been judged)")


def _raise_file_error(reply: dict[str, Any], file: str) -> None:
    error = reply.get("error")
    if not error:
        return
    message = f"{reply.get('message', error)} ({file})"
    if error == "not_found":
        raise FileNotFoundError(message)
    if error == "is_directory":
        raise IsADirectoryError(message)
    if error == "permission_denied":
        raise PermissionError(message)
    raise RuntimeError(f"wardend: {message}")


def _remember(opened: dict[str, Any]) -> None:
    """The Warden sandbox and run behind the sample, in its store (so in the eval log)."""
    from inspect_ai.util import store

    try:
        store().set("warden_sandbox", opened["sandbox"])
        store().set("warden_run_id", opened["run_id"])
    except Exception:  # noqa: BLE001 - outside a sample (a bare self-check) there is no store
        pass


def _config(config: SandboxEnvironmentConfigType | None) -> WardenSandboxConfig:
    if config is None:
        return WardenSandboxConfig()
    if isinstance(config, WardenSandboxConfig):
        return config
    if isinstance(config, str):
        # A file path: a scenario.
        return WardenSandboxConfig(scenario=config)
    if isinstance(config, BaseModel):
        return WardenSandboxConfig(**config.model_dump())
    if isinstance(config, dict):
        return WardenSandboxConfig(**config)
    raise ValueError(f"warden sandbox: unsupported config {config!r} (use WardenSandboxConfig or a scenario file path)")


def _sample_ids(task_name: str) -> dict[str, Any]:
    """The running sample's task, id and epoch, for the audit log."""
    from inspect_ai.log._samples import sample_active

    active = sample_active()
    if active is None:
        # Opened outside an eval (a conformance check run by hand): no sample to name.
        return {"task": task_name, "sample_id": "none", "epoch": None}
    sample_id = active.sample.id
    return {
        "task": active.task or task_name,
        "sample_id": sample_id if isinstance(sample_id, (int, str)) else str(sample_id),
        "epoch": active.epoch,
    }


def _model_name() -> str | None:
    from inspect_ai.log._samples import sample_active

    active = sample_active()
    return str(active.model) if active is not None and active.model else None
