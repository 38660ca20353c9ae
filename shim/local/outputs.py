"""The value a local call returns for a task with several outputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

_NAMES = "_Outputs__names"


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class Outputs(tuple):
    """The outputs of one run, in declaration order, for any legal output names.

    - ``out.name`` for an output whose name is an attribute name (``getattr(out, "class")`` for
      a keyword); an output's name takes precedence over the methods below, as a namedtuple
      field does;
    - ``out["name"]`` for every name, ``out[0]`` / ``out[1:]`` by position;
    - iteration and unpacking in declaration order (``a, b = task()``), ``len(out)``;
    - equal to the tuple of its values (``out == (1, "x")``); hashable when the values are;
    - ``Outputs.names(out)`` / ``Outputs.as_dict(out)`` always work, even when an output is
      called ``names``; ``out._fields`` and ``out._asdict()`` as on a namedtuple.
    """

    def __new__(cls, names: Iterable[str], values: Iterable[Any]) -> Outputs:
        names = tuple(names)
        values = tuple(values)
        if len(names) != len(values):
            raise ValueError(f"{len(names)} output names for {len(values)} values")
        if len(set(names)) != len(names):
            raise ValueError(f"output names repeat: {list(names)}")
        self = super().__new__(cls, values)
        object.__setattr__(self, _NAMES, names)
        return self

    def __getattribute__(self, attr: str) -> Any:
        if not _is_dunder(attr):
            names = object.__getattribute__(self, _NAMES)
            if attr in names:
                return tuple.__getitem__(self, names.index(attr))
        return object.__getattribute__(self, attr)

    def __getattr__(self, attr: str) -> Any:
        names = object.__getattribute__(self, _NAMES)
        raise AttributeError(f"no output {attr!r}; the outputs are {list(names)}")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("outputs are read-only")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError("outputs are read-only")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            names = object.__getattribute__(self, _NAMES)
            try:
                return tuple.__getitem__(self, names.index(key))
            except ValueError:
                raise KeyError(f"no output {key!r}; the outputs are {list(names)}") from None
        return tuple.__getitem__(self, key)

    def __repr__(self) -> str:
        names = object.__getattribute__(self, _NAMES)
        parts = []
        for n, v in zip(names, tuple.__iter__(self), strict=True):
            label = n if n.isidentifier() else repr(n)
            parts.append(f"{label}={v!r}")
        return f"Outputs({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Outputs, (object.__getattribute__(self, _NAMES), tuple(self)))

    def __copy__(self) -> Outputs:
        return self

    def __deepcopy__(self, memo: dict) -> Outputs:
        import copy

        return Outputs(object.__getattribute__(self, _NAMES), copy.deepcopy(tuple(self), memo))

    def __dir__(self) -> list[str]:
        names = object.__getattribute__(self, _NAMES)
        return sorted(set(super().__dir__()) | {n for n in names if n.isidentifier()})

    # --- names and mapping form (reach them through the class when an output shadows them) --

    def names(self) -> tuple[str, ...]:
        """The output names in declaration order."""
        return object.__getattribute__(self, _NAMES)

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}`` in declaration order."""
        return dict(zip(object.__getattribute__(self, _NAMES), tuple.__iter__(self), strict=True))

    @property
    def _fields(self) -> tuple[str, ...]:
        return object.__getattribute__(self, _NAMES)

    def _asdict(self) -> dict[str, Any]:
        return Outputs.as_dict(self)


def make_outputs(names: Sequence[str], values: dict[str, Any]) -> Any:
    """What a local call returns: ``None`` for no outputs, the value for one, else
    :class:`Outputs` in declaration order."""
    if not names:
        return None
    if len(names) == 1:
        return values[names[0]]
    return Outputs(names, (values[n] for n in names))
