"""The shimkit side of the type cases: one per row of WIRE.md section 3.

``fk_scripts/fk_types.py`` defines the same cases with flytekit's types. A case's value
travels as JSON (``to_json``) to the other process, which builds its own typed value from it.
"""

from __future__ import annotations

import datetime
import enum
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from shim.types import DataFrame, Directory, File


@dataclass
class Inner:
    x: int
    tags: list[str]


@dataclass
class Record:
    name: str
    count: int
    ratio: float
    inner: Inner
    scores: dict[str, float]
    note: Optional[str] = None  # noqa: UP045 - the same spelling as the flytekit side


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


UTC = datetime.UTC

#: case -> the value as JSON (both sides build their typed values from it)
VALUES: dict[str, Any] = {
    "int": -(2**40) + 7,
    "float": 3.25,
    "str": 'héllo, wörld ✓ "quoted" {{ .inputs.x }}',
    "bool": True,
    "datetime": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC).isoformat(),
    "timedelta": [1, 3661, 500],
    "list": [3, 1, 2, -5],
    "dict": {"a": 1.5, "b": -2.0, "ü": 0.0},
    "untyped_dict": {"a": 1, "b": [1, 2.5, "x"], "c": {"d": "x", "e": None}, "f": True},
    "dataclass": {
        "name": "rec",
        "count": 3,
        "ratio": 0.75,
        "inner": {"x": 9, "tags": ["p", "q"]},
        "scores": {"s1": 1.0, "s2": 2.5},
        "note": "n",
    },
    "optional_value": 7,
    "optional_none": None,
    "union": "seven",
    "enum": "green",
    "file": {"name": "greeting.txt", "content": "hello from the other side\nline 2\n"},
    "directory": {"files": {"a.txt": "A", "sub/b.txt": "B b", "sub/deeper/c.csv": "1,2\n"}},
    "dataframe": {
        "columns": {
            "id": [1, 2, 3],
            "name": ["x", "y", "z"],
            "score": [0.5, 1.5, -2.25],
            "ok": [True, False, True],
        }
    },
}


def _record(j: dict) -> Record:
    j = dict(j)
    j["inner"] = Inner(**j["inner"])
    return Record(**j)


def _write_file(j: dict, tmp: Path) -> File:
    p = tmp / "shim-file-src" / j["name"]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(j["content"])
    return File(str(p))


def _file_json(v: File) -> dict:
    with v.open("rb") as f:
        content = f.read().decode()
    return {"name": v.uri.rstrip("/").rsplit("/", 1)[-1], "content": content}


def _write_dir(j: dict, tmp: Path) -> Directory:
    root = tmp / "shim-dir-src"
    for rel, text in j["files"].items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Directory(str(root))


def _dir_json(v: Directory) -> dict:
    root = v.download()
    return {"files": {p.relative_to(root).as_posix(): p.read_text() for p in v.files()}}


def _df(j: dict, tmp: Path) -> DataFrame:
    import pyarrow as pa

    return DataFrame.from_arrow(pa.table(j["columns"]))


def _cell(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _df_json(v: DataFrame) -> dict:
    return {"columns": {k: [_cell(x) for x in col] for k, col in v.to_arrow().to_pydict().items()}}


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


@dataclass(frozen=True)
class Case:
    py_type: Any
    from_json: Any  # (json, tmp_path) -> value
    to_json: Any  # value -> json
    equal: Any = _same  # typed equality of decoded and expected values (None: json only)


def _plain(j: Any, tmp: Path) -> Any:
    return j


def _ident(v: Any) -> Any:
    return v


CASES: dict[str, Case] = {
    "int": Case(int, _plain, _ident),
    "float": Case(float, _plain, _ident),
    "str": Case(str, _plain, _ident),
    "bool": Case(bool, _plain, _ident),
    "datetime": Case(
        datetime.datetime,
        lambda j, t: datetime.datetime.fromisoformat(j),
        lambda v: v.isoformat(),
    ),
    "timedelta": Case(
        datetime.timedelta,
        lambda j, t: datetime.timedelta(days=j[0], seconds=j[1], microseconds=j[2]),
        lambda v: [v.days, v.seconds, v.microseconds],
    ),
    "list": Case(list[int], _plain, _ident),
    "dict": Case(dict[str, float], _plain, _ident),
    "untyped_dict": Case(dict, _plain, _ident),
    "dataclass": Case(Record, lambda j, t: _record(j), asdict),
    "optional_value": Case(Optional[int], _plain, _ident),  # noqa: UP045
    "optional_none": Case(Optional[int], _plain, _ident),  # noqa: UP045
    "union": Case(Union[int, str], _plain, _ident),  # noqa: UP007
    "enum": Case(Color, lambda j, t: Color(j), lambda v: v.value, lambda a, b: a is b),
    "file": Case(File, _write_file, _file_json, None),
    "directory": Case(Directory, _write_dir, _dir_json, None),
    "dataframe": Case(DataFrame, _df, _df_json, None),
}

#: the WIRE.md section 3 row each case stands for
ROWS = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "datetime": "datetime",
    "timedelta": "timedelta",
    "list": "list[T]",
    "dict": "dict[str, T]",
    "untyped_dict": "untyped dict",
    "dataclass": "dataclass",
    "optional_value": "Optional[T]",
    "optional_none": "Optional[T] (None)",
    "union": "Union",
    "enum": "Enum",
    "file": "file",
    "directory": "directory",
    "dataframe": "dataframe",
}
assert set(ROWS) == set(CASES) == set(VALUES)
