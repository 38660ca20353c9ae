"""Where a local run stages its template, inputs and outputs; how container args are rendered."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

from shim import envconf

_VAR = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def render_args(args: list[str], values: dict[str, str]) -> list[str]:
    """Substitute ``{{.name}}`` in ``args`` as the Flyte backend does.

    Names match case-insensitively, with optional spaces inside the braces (``{{ .Input }}``).
    Unknown names are left untouched (the entrypoint treats them as absent); so are
    placeholders with dots such as the SQL templates' ``{{ .inputs.x }}``.
    """
    lookup = {k.lower(): v for k, v in values.items()}

    def sub(m: re.Match) -> str:
        return lookup.get(m.group(1).lower(), m.group(0))

    return [_VAR.sub(sub, a) for a in args]


def default_store_root() -> str:
    """``SHIM_LOCAL_STORE``, else ``<tmp>/shimkit-runs``: local runs keep their outputs there."""
    return envconf.text("SHIM_LOCAL_STORE") or os.path.join(tempfile.gettempdir(), "shimkit-runs")


@dataclass(frozen=True)
class Stage:
    """The URLs of one local run under ``base`` (any storage URL); the run's directory is
    created by :class:`shim.local.runs.RunStore`."""

    base: str

    def _j(self, *parts: str) -> str:
        from shim.storage import join

        return join(self.base, *parts)

    @property
    def template(self) -> str:
        return self._j("task.pb")

    @property
    def inputs(self) -> str:
        return self._j("inputs.pb")

    @property
    def input_data(self) -> str:
        return self._j("input-data")

    @property
    def outputs(self) -> str:
        return self._j("outputs")

    @property
    def raw(self) -> str:
        return self._j("raw")

    @property
    def checkpoint(self) -> str:
        return self._j("checkpoint")

    def values(self) -> dict[str, str]:
        """The values of the backend's template variables for this run."""
        return {
            "input": self.inputs,
            "outputPrefix": self.outputs,
            "rawOutputDataPrefix": self.raw,
            "taskTemplatePath": self.template,
            "checkpointOutputPrefix": self.checkpoint,
            "prevCheckpointPrefix": '""',
        }
