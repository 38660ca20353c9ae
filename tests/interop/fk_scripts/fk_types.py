"""(flytekit venv) One Python type per row of WIRE.md section 3, through flytekit's TypeEngine.

usage:
  fk_types.py decode LITERALS_PB CASES_JSON   decode each literal named like its case with
      TypeEngine.to_python_value into the case's flytekit type, compare with the expected
      value; prints {case: {"ok", "got", "expected", "type"}}
  fk_types.py encode LITERALS_PB CASES_JSON RAW_PREFIX   encode each case's value with
      TypeEngine.to_literal (offloaded data under RAW_PREFIX); writes the LiteralMap;
      prints {case: {"literal_type": hex}}
  fk_types.py types CASES_JSON   prints {case: hex of TypeEngine.to_literal_type(case type)}

CASES_JSON maps case names to their value as JSON (the form ``to_json`` below returns).
"""

import datetime
import enum
import json
import math
import os
import sys
import tempfile
import typing
from dataclasses import asdict, dataclass

import pandas as pd
from _fk import emit, flyte_context, read_literal_map, write_literal_map
from flytekit.core.type_engine import TypeEngine
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


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
    note: str | None = None


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


def _same(a, b):
    return a == b and type(a) is type(b)


def _record(j):
    j = dict(j)
    j["inner"] = Inner(**j["inner"])
    return Record(**j)


def _td(j):
    return datetime.timedelta(days=j[0], seconds=j[1], microseconds=j[2])


def _td_json(v):
    return [v.days, v.seconds, v.microseconds]


def _write_file(j):
    d = tempfile.mkdtemp(prefix="fk-file-")
    p = os.path.join(d, j["name"])
    with open(p, "w") as f:
        f.write(j["content"])
    return FlyteFile(p)


def _file_json(v):
    with open(v) as f:
        return {"name": os.path.basename(v.remote_source or v.path), "content": f.read()}


def _write_dir(j):
    d = tempfile.mkdtemp(prefix="fk-dir-")
    for rel, text in j["files"].items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return FlyteDirectory(d)


def _dir_json(v):
    root = v.download()
    files = {}
    for base, _, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            with open(p) as f:
                files[os.path.relpath(p, root).replace(os.sep, "/")] = f.read()
    return {"files": files}


def _cell(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _df_json(df):
    return {"columns": {str(c): [_cell(x) for x in df[c]] for c in df.columns}}


def _dt(j):
    return datetime.datetime.fromisoformat(j)


def _ident(j):
    return j


# case -> (flytekit type, json -> value, value -> json, typed equality or None)
CASES = {
    "int": (int, _ident, _ident, _same),
    "float": (float, _ident, _ident, _same),
    "str": (str, _ident, _ident, _same),
    "bool": (bool, _ident, _ident, _same),
    "datetime": (datetime.datetime, _dt, lambda v: v.isoformat(), _same),
    "timedelta": (datetime.timedelta, _td, _td_json, _same),
    "list": (list[int], _ident, _ident, _same),
    "dict": (dict[str, float], _ident, _ident, _same),
    "untyped_dict": (dict, _ident, _ident, _same),
    "dataclass": (Record, _record, asdict, _same),
    "optional_value": (typing.Optional[int], _ident, _ident, _same),  # noqa: UP045
    "optional_none": (typing.Optional[int], _ident, _ident, _same),  # noqa: UP045
    "union": (typing.Union[int, str], _ident, _ident, _same),  # noqa: UP007
    "enum": (Color, Color, lambda v: v.value, lambda a, b: a is b),
    "file": (FlyteFile, _write_file, _file_json, None),
    "directory": (FlyteDirectory, _write_dir, _dir_json, None),
    "dataframe": (pd.DataFrame, lambda j: pd.DataFrame(j["columns"]), _df_json, None),
}


#: flytekit's spelling of shimkit's type where the decoding type differs: shimkit's DataFrame
#: always declares its storage format, parquet (flytekit's bare pd.DataFrame leaves it empty)
LITERAL_TYPES = {"dataframe": typing.Annotated[pd.DataFrame, "parquet"]}


def literal_type_hex(case):
    py_type = LITERAL_TYPES.get(case, CASES[case][0])
    return (
        TypeEngine.to_literal_type(py_type)
        .to_flyte_idl()
        .SerializeToString(deterministic=True)
        .hex()
    )


def decode(path, cases):
    lm = read_literal_map(path)
    out = {}
    with flyte_context() as ctx:
        for case, expected_json in cases.items():
            py_type, from_json, to_json, equal = CASES[case]
            value = TypeEngine.to_python_value(ctx, lm.literals[case], py_type)
            got = to_json(value)
            ok = got == expected_json
            if equal is not None:
                ok = ok and equal(value, from_json(expected_json))
            out[case] = {
                "ok": ok,
                "got": got,
                "expected": expected_json,
                "type": type(value).__name__,
            }
    emit(out)


def encode(path, cases, raw):
    literals = {}
    out = {}
    with flyte_context(raw) as ctx:
        for case, j in cases.items():
            py_type, from_json, _, _ = CASES[case]
            lt = TypeEngine.to_literal_type(py_type)
            literals[case] = TypeEngine.to_literal(ctx, from_json(j), py_type, lt)
            out[case] = {"literal_type": literal_type_hex(case)}
    write_literal_map(path, literals)
    emit(out)


def main():
    mode = sys.argv[1]
    if mode == "decode":
        decode(sys.argv[2], json.loads(sys.argv[3]))
    elif mode == "encode":
        encode(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])
    elif mode == "types":
        emit({case: literal_type_hex(case) for case in json.loads(sys.argv[2])})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
