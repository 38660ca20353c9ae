"""A plugin that only adds settings to the template's ``custom`` (like flyte-sdk's EchoConfig).

    env = TaskEnvironment(name="greetings", plugin_config=EchoConfig(message="hello"))

    @env.task
    def greet(name: str) -> str:
        return f"hi {name}"

Every task of ``env`` is an :class:`EchoTask`: its template's ``type`` is ``"echo"`` and its
``custom`` is ``{"message": "hello", "repeat": 1}``, which a platform plugin reads. The
function itself runs unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shim.extend import AsyncFunctionTaskTemplate, SerializationContext, TaskPluginRegistry


@dataclass(frozen=True)
class EchoConfig:
    """What the platform's "echo" plugin needs to know."""

    message: str
    repeat: int = 1


@dataclass(eq=False, kw_only=True)
class EchoTask(AsyncFunctionTaskTemplate):
    task_type: str = "echo"
    plugin_config: EchoConfig

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return asdict(self.plugin_config)


TaskPluginRegistry.register(EchoConfig, EchoTask)
