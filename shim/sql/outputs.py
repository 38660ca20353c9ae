"""The ``results`` output every SQL task declares (authoring side)."""

from __future__ import annotations

import typing
from typing import Any

from shim.types.dataframe import DataFrame

__all__ = ["results_type"]


def results_type(output_schema_type: Any) -> Any:
    """The Python type of a SQL task's ``results`` output from its ``output_schema_type``:
    ``None`` -> ``DataFrame``; a dict of column types -> ``DataFrame[{...}]``; ``DataFrame``
    or ``Annotated[DataFrame, ...]`` as it is. Anything else raises :class:`ValueError`."""
    if output_schema_type is None:
        return DataFrame
    if isinstance(output_schema_type, dict):
        return DataFrame[output_schema_type]
    origin = typing.get_origin(output_schema_type)
    if output_schema_type is DataFrame or (
        origin is typing.Annotated and typing.get_args(output_schema_type)[0] is DataFrame
    ):
        return output_schema_type
    raise ValueError(
        f"output_schema_type must be DataFrame, DataFrame[{{column: type}}] or a dict of column "
        f"types, got {output_schema_type!r}"
    )
