from typing import Any

from pydantic import BaseModel, field_validator


class WardenSandboxConfig(BaseModel, frozen=True):
    """How to open a Warden sandbox for each Inspect sample.

    With no `scenario`, a bare sandbox of the sandbox policy `policy` (a name in wardend's
    policies directory, `policies/sandbox/NAME.yaml`; default `default`). With `scenario` (a
    scenario file), a run of that scenario whose agent `agent` (default: its first agent; it
    must have the bash tool) is the one Inspect drives.
    """

    policy: str | None = None
    scenario: str | None = None
    agent: str | None = None
    cell: tuple[tuple[str, str], ...] = ()
    """The scenario cell, `{axis: value}` (kept as pairs, so the config stays hashable as
    Inspect needs); missing axes take their first value."""
    peer_model: str | None = None
    """A Warden model (e.g. `scripted/compliant`) for the scenario's other agents without one."""
    socket: str | None = None
    """wardend's control socket (default: `WARDEN_SOCKET`, else /run/warden/control.sock)."""

    @field_validator("cell", mode="before")
    @classmethod
    def _cell_pairs(cls, value: Any) -> Any:
        return tuple(sorted(value.items())) if isinstance(value, dict) else value
