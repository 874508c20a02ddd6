# Inspect loads this module through the `inspect_ai` entry point; importing it registers the
# `warden` sandbox environment and the `warden_verdicts` scorer.
from ._sandbox import WardenSandboxEnvironment  # noqa: F401
from ._scorer import warden_verdicts  # noqa: F401
from ._solver import warden_scenario_prompt  # noqa: F401
