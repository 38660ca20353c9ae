"""The phases of one execution and the terminal events, shared by the entrypoint (which goes
through them), the supervisor (which follows them over a pipe) and the error classification
(which asks whether the executor's own code was running)."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where an execution is; the value is what travels on the supervisor's pipe."""

    START = "start"
    LOAD_TEMPLATE = "load-template"
    READ_INPUTS = "read-inputs"
    EXECUTE = "execute"
    WRITE_OUTPUTS = "write-outputs"
    DONE = "done"

    @property
    def user_code(self) -> bool:
        """Whether the executor's code runs in this phase (its failures are the task's)."""
        return self is Phase.EXECUTE

    @classmethod
    def parse(cls, name: str) -> Phase | None:
        """The phase named ``name``, or None for a name this version does not know."""
        try:
            return cls(name)
        except ValueError:
            return None


class Event(StrEnum):
    """Terminal events the worker reports to the supervisor (the phase does not change)."""

    ERROR_WRITTEN = "error-written"
    ERROR_UNWRITTEN = "error-unwritten"
