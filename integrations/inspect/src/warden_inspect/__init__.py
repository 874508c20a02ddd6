"""Warden sandboxes for Inspect: `sandbox="warden"`, scenario mode, and `warden_verdicts()`."""

from ._client import WardenError
from ._config import WardenSandboxConfig
from ._sandbox import WardenSandboxEnvironment
from ._scorer import VERDICTS, warden_verdicts
from ._solver import warden_scenario_prompt

__all__ = [
    "VERDICTS",
    "WardenError",
    "WardenSandboxConfig",
    "WardenSandboxEnvironment",
    "warden_scenario_prompt",
    "warden_verdicts",
]
