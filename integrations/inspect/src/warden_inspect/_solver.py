from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import sandbox

from ._sandbox import WardenSandboxEnvironment


@solver
def warden_scenario_prompt() -> Solver:
    """Gives the model what the scenario gives its agent at the start: the agent's system prompt
    and the start injections' messages (scenario mode). Later message injections are not
    delivered to an Inspect-driven model; world-side injections (deletes, shutdowns) happen."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        env = sandbox().as_type(WardenSandboxEnvironment)
        if env.system_prompt:
            state.messages.insert(0, ChatMessageSystem(content=env.system_prompt))
        for message in env.start_messages:
            state.messages.append(ChatMessageUser(content=message["text"]))
        return state

    return solve
