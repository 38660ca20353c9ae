"""WIRE.md section 3, both ways: every row's literal crosses between shimkit and flytekit.

shimkit -> flytekit: shimkit encodes each case into a LiteralMap file (offloaded data under a
local raw prefix); a flytekit process decodes every literal with ``TypeEngine.to_python_value``
into flytekit's type for the row and compares it with the expected value it rebuilt from JSON.
flytekit -> shimkit: a flytekit process encodes each case with ``TypeEngine.to_literal``;
shimkit decodes the file and compares. Each case is one test per direction; the exchange runs
once per direction (one flytekit process each) to keep the suite fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shim import idl
from shim.storage import default_storage
from shim.types import TransferContext, literal_type_of, to_literal, to_python
from tests.interop.cases import CASES, ROWS, VALUES

pytestmark = pytest.mark.interop

NAMES = list(CASES)


def _ctx(tmp: Path, raw: Path | None = None) -> TransferContext:
    scratch = tmp / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return TransferContext(
        storage=default_storage(),
        raw_output_prefix=str(raw) if raw else None,
        scratch_dir=scratch,
    )


@pytest.fixture(scope="module")
def shim_written(fk, tmp_path_factory) -> tuple[dict, dict]:
    """shimkit writes every case; flytekit decodes them in another process."""
    tmp = tmp_path_factory.mktemp("shim-to-fk")
    raw = tmp / "raw"
    ctx = _ctx(tmp, raw)
    lm = idl.LiteralMap()
    for name, case in CASES.items():
        value = case.from_json(VALUES[name], tmp)
        lm.literals[name].CopyFrom(to_literal(value, case.py_type, ctx, name=name))
    path = tmp / "literals.pb"
    path.write_bytes(idl.serialize(lm))
    decoded = fk.json("fk_types.py", "decode", path, json.dumps(VALUES))
    return decoded, {n: lm.literals[n] for n in NAMES}


@pytest.fixture(scope="module")
def flytekit_written(fk, tmp_path_factory) -> tuple[idl.LiteralMap, dict, Path]:
    """flytekit writes every case in its process; shimkit decodes the file."""
    tmp = tmp_path_factory.mktemp("fk-to-shim")
    path = tmp / "literals.pb"
    raw = tmp / "raw"
    raw.mkdir()
    info = fk.json("fk_types.py", "encode", path, json.dumps(VALUES), raw)
    lm = idl.LiteralMap()
    lm.ParseFromString(path.read_bytes())
    return lm, info, tmp


@pytest.mark.parametrize("case", NAMES)
def test_shimkit_literal_decodes_in_flytekit(case, shim_written):
    decoded, literals = shim_written
    result = decoded[case]
    assert result["ok"], f"{ROWS[case]}: flytekit decoded {result} from {literals[case]}"
    assert result["got"] == VALUES[case]


@pytest.mark.parametrize("case", NAMES)
def test_flytekit_literal_decodes_in_shimkit(case, flytekit_written):
    lm, _, tmp = flytekit_written
    spec = CASES[case]
    assert case in lm.literals, f"flytekit wrote no literal for {case}"
    value = to_python(lm.literals[case], spec.py_type, _ctx(tmp), name=case)
    expected = spec.from_json(VALUES[case], tmp / "expected")
    assert spec.to_json(value) == VALUES[case], f"{ROWS[case]}: {lm.literals[case]}"
    if spec.equal is not None:
        assert spec.equal(value, expected), f"{ROWS[case]}: {value!r} != {expected!r}"


@pytest.mark.parametrize("case", NAMES)
def test_literal_types_are_identical(case, flytekit_written):
    """The LiteralType flytekit derives for the row's type is byte-identical to shimkit's."""
    _, info, _ = flytekit_written
    ours = idl.serialize(literal_type_of(CASES[case].py_type))
    theirs = bytes.fromhex(info[case]["literal_type"])
    if ours != theirs:
        a, b = idl.LiteralType(), idl.LiteralType()
        a.ParseFromString(ours)
        b.ParseFromString(theirs)
        assert a == b, f"{ROWS[case]}:\nshimkit:  {a}\nflytekit: {b}"
