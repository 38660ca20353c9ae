"""Small executors that exercise each path of the runtime."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from shim import ShimTaskExecutor
from shim.errors import IgnoreOutputs, RecoverableError
from shim.runtime import current_context


class EchoExecutor(ShimTaskExecutor):
    """Returns its only input under the only output name."""

    def execute_from_model(self, tt, **inputs):
        (value,) = inputs.values()
        return value


class NoOpExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return None


class ThreeOutputsExecutor(ShimTaskExecutor):
    """Outputs a, b, c returned as a mapping in an order unlike the declaration."""

    def execute_from_model(self, tt, **inputs):
        return {"c": "third", "a": 1, "b": 2.5}


class Triple(NamedTuple):
    b: float
    c: str
    a: int


class NamedTupleExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return Triple(b=2.5, c="third", a=1)


class PlainTupleExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return (1, 2.5, "third")


class RaisesValueError(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise ValueError("bad value in user logic")


class FlakyError(RecoverableError):
    pass


class RaisesRecoverable(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise FlakyError("upstream service unavailable, try again")


class WrongOutputType(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "not an int"


class IgnoresOutputs(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise IgnoreOutputs()


class BigOutput(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return "x" * inputs["n"]


@dataclass
class PortConfig:
    host: str
    port: int
    ratio: float = 0.5


class TypedConfigExecutor(ShimTaskExecutor):
    """Returns the type and value of its typed config's port (ints must stay ints)."""

    config_type = PortConfig

    def execute_from_model(self, tt, **inputs):
        cfg = tt.task_config
        return {"port_type": type(cfg.port).__name__, "port": cfg.port}


class ContextExecutor(ShimTaskExecutor):
    """Reports what the execution context offers."""

    def execute_from_model(self, tt, **inputs):
        ctx = current_context()
        return f"{ctx.working_dir.is_dir()}|{bool(ctx.raw_output_prefix)}|{os.getpid()}"


class SleepExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        time.sleep(inputs.get("seconds", 30))
        return None


class SelfKillExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        os.kill(os.getpid(), signal.SIGKILL)
        return None


def anything(value: Any) -> Any:
    return value


class NeedsArgument(ShimTaskExecutor):
    """Cannot be constructed by the runtime (executors take no arguments)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def execute_from_model(self, tt, **inputs):
        return None


class EnvAfterSleep(ShimTaskExecutor):
    """Returns the value of SHIM_TEST_VAR read after a short sleep."""

    def execute_from_model(self, tt, **inputs):
        time.sleep(0.3)
        return os.environ.get("SHIM_TEST_VAR", "")


class InterruptsItself(ShimTaskExecutor):
    """Writes its working directory to the file named by input ``marker``, then gets a SIGINT
    (what Ctrl-C sends) while executing: in-process, that is the caller's own process."""

    def execute_from_model(self, tt, **inputs):
        with open(inputs["marker"], "w") as f:
            f.write(str(current_context().working_dir))
        signal.raise_signal(signal.SIGINT)
        time.sleep(30)
        return None


class MarksThenSleeps(ShimTaskExecutor):
    """Writes its pid to the file named by input ``marker``, then sleeps a minute."""

    def execute_from_model(self, tt, **inputs):
        with open(inputs["marker"] + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(inputs["marker"] + ".tmp", inputs["marker"])
        time.sleep(60)
        return None


class NameAsValue(ShimTaskExecutor):
    """Each output's value is its own name (declare them ``str``), returned by name."""

    def execute_from_model(self, tt, **inputs):
        return {name: name for name in tt.interface.outputs}
