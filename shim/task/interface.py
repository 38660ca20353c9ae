"""The Python-side interface of a task: ordered input and output types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def kwtypes(**types: Any) -> dict[str, Any]:
    """``kwtypes(limit=int, name=str)`` -> an ordered ``{name: type}`` mapping."""
    return dict(types)


@dataclass(frozen=True)
class NativeInterface:
    """Inputs and outputs as ``{name: python type}``, in declaration order.

    ``defaults`` holds the default values of inputs that have one (function tasks).
    """

    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def to_idl(self) -> Any:
        from shim.types import interface_to_idl

        return interface_to_idl(self.inputs, self.outputs)
