"""Fuzzing the decoders with hypothesis: random and mutated bytes and literals reach only the
documented errors (ShimError and its subclasses, TypeMismatchError among them), never an
AttributeError, KeyError, IndexError, RecursionError, ... and never a hang."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim import DataFrame, Directory, File, idl
from shim.commands.inspect import NotAShimDocument, detect
from shim.errors import ShimError, StorageNotFoundError, UserError
from shim.runtime.entrypoint import _read_inputs
from shim.runtime.resolver import load_template
from shim.runtime.template import TaskTemplateModel
from shim.storage import Storage
from shim.types import TransferContext, interface_to_idl, python_type_of, to_python
from tests.reliability import executors as rex
from tests.reliability.helpers import make_task

FUZZ = settings(
    max_examples=int(os.environ.get("SHIM_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class LoopbackOnly(Storage):
    """Local paths as usual; any other URL is "not found" (fuzzed URLs never reach a network)."""

    def _remote(self, op, url, fn, *, cancel=None):
        from shim.errors import StorageNotFoundError

        raise StorageNotFoundError(f"fuzz: no remote storage ({url})")


STORAGE = LoopbackOnly(retries=1, deadline=0)


@dataclasses.dataclass
class Point:
    x: int
    label: str = ""


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


PY_TYPES = [
    int,
    float,
    str,
    bool,
    datetime.datetime,
    datetime.timedelta,
    list[int],
    list[list[str]],
    dict[str, int],
    dict[str, list[float]],
    int | None,
    int | str,
    dict,
    Point,
    Color,
    File,
    Directory,
    DataFrame,
    list[File],
    dict[str, Point],
]


def template_bytes() -> bytes:
    from shim.task.serialize import to_bytes
    from shim.task.template import SerializationContext

    task = make_task(
        rex.Echo,
        inputs={"a": int, "b": list[str], "c": Point | None},
        outputs={"a": int},
        name="fuzz.echo",
    )
    return to_bytes(task, SerializationContext())


GOOD_TEMPLATE = template_bytes()


def rejected(e: ShimError) -> None:
    """What a rejected document or literal must give: a specific error (a message) that is not
    recoverable (retrying the same bytes cannot help)."""
    assert str(e).strip(), repr(e)
    assert not e.recoverable, f"{type(e).__name__} ({e.code}) is recoverable: {e}"


def mutate(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del out[i:]
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[i : i + draw(st.integers(1, 16))]
    return bytes(out)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    return mutate(seed, draw)


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(GOOD_TEMPLATE)))
def test_template_decoding(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("t") / "task.pb"
    path.write_bytes(data)
    try:
        tt = load_template(str(path), STORAGE)
    except ShimError as e:
        rejected(e)
    else:
        # whatever parsed must be usable: the interface's types, the custom, the config
        _ = (tt.interface, tt.custom, tt.config, tt.max_inline_io_bytes, tt.id, tt.env)
        for lt in [*tt.interface.inputs.values(), *tt.interface.outputs.values()]:
            try:
                python_type_of(lt)
            except ShimError as e:
                rejected(e)


def _literal_map_bytes() -> bytes:
    from shim.types import python_to_literal_map

    ctx = TransferContext(storage=STORAGE, raw_output_prefix=None, scratch_dir=Path("/tmp"))
    values = {"a": 3, "b": ["x", "yy"], "c": Point(1, "p")}
    types = {"a": int, "b": list[str], "c": Point | None}
    return idl.serialize(python_to_literal_map(values, types, ctx, what="input"))


GOOD_INPUTS = _literal_map_bytes()


@FUZZ
@given(data=st.one_of(st.binary(max_size=1024), mutated(GOOD_INPUTS)))
def test_inputs_decoding(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("i")
    (tmp / "inputs.pb").write_bytes(data)
    tt = TaskTemplateModel.from_bytes(GOOD_TEMPLATE)
    ctx = TransferContext(storage=STORAGE, raw_output_prefix=str(tmp / "raw"), scratch_dir=tmp)
    try:
        values = _read_inputs(str(tmp / "inputs.pb"), tt, STORAGE, ctx)
    except ShimError as e:
        rejected(e)
    else:
        assert set(values) == {"a", "b", "c"}  # decoded inputs match the interface


DOCS = [GOOD_TEMPLATE, GOOD_INPUTS]


def test_the_fuzz_seeds_are_valid(tmp_path):
    """The fuzzers mutate documents that decode: they explore near a success path."""
    (tmp_path / "task.pb").write_bytes(GOOD_TEMPLATE)
    (tmp_path / "inputs.pb").write_bytes(GOOD_INPUTS)
    tt = load_template(str(tmp_path / "task.pb"), STORAGE)
    assert tt.id.name == "fuzz.echo"
    ctx = TransferContext(storage=STORAGE, raw_output_prefix=None, scratch_dir=tmp_path)
    values = _read_inputs(str(tmp_path / "inputs.pb"), tt, STORAGE, ctx)
    assert values["a"] == 3 and values["b"] == ["x", "yy"]
    assert detect(GOOD_TEMPLATE, "task.pb")[0] != detect(GOOD_INPUTS, "inputs.pb")[0]


@FUZZ
@given(
    data=st.one_of(st.binary(max_size=1024), mutated(GOOD_TEMPLATE), mutated(GOOD_INPUTS)),
    name=st.sampled_from(["task.pb", "inputs.pb", "outputs.pb", "error.pb", "x.bin", ""]),
)
def test_inspect_detect(data, name):
    from shim.commands.inspect import to_json

    try:
        _, msg = detect(data, name)
    except NotAShimDocument as e:
        assert str(e).strip()
    else:
        assert json.loads(json.dumps(to_json(msg))) == to_json(msg)  # printable as JSON


# --- random literals against random types ----------------------------------------------------

_text = st.text(max_size=12)
_uri = st.sampled_from(
    [
        "",
        "/nonexistent/x",
        "relative/path",
        "file:///nonexistent",
        "s3://bucket/key",
        "nosuch://x",
        "/",
        "\x00",
        "~",
    ]
)


def _primitive():
    return st.one_of(
        st.builds(lambda v: idl.Primitive(integer=v), st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda v: idl.Primitive(float_value=v), st.floats(allow_nan=True)),
        st.builds(lambda v: idl.Primitive(string_value=v), _text),
        st.builds(lambda v: idl.Primitive(boolean=v), st.booleans()),
        st.builds(_ts, st.integers(-(2**62), 2**62), st.integers(-(2**31), 2**31 - 1)),
        st.builds(_dur, st.integers(-(2**62), 2**62), st.integers(-(2**31), 2**31 - 1)),
        st.just(idl.Primitive()),
    )


def _ts(seconds, nanos):
    p = idl.Primitive()
    p.datetime.seconds, p.datetime.nanos = seconds, nanos
    return p


def _dur(seconds, nanos):
    p = idl.Primitive()
    p.duration.seconds, p.duration.nanos = seconds, nanos
    return p


def _scalar_literal():
    def prim(p):
        return idl.Literal(scalar=idl.Scalar(primitive=p))

    def binary(value, tag):
        return idl.Literal(scalar=idl.Scalar(binary=idl.Binary(value=value, tag=tag)))

    def blob(uri, dim):
        b = idl.Literal()
        b.scalar.blob.uri = uri
        b.scalar.blob.metadata.type.dimensionality = dim
        return b

    def sd(uri, fmt):
        d = idl.Literal()
        d.scalar.structured_dataset.uri = uri
        d.scalar.structured_dataset.metadata.structured_dataset_type.format = fmt
        return d

    def none():
        n = idl.Literal()
        n.scalar.none_type.SetInParent()
        return n

    def offloaded(uri):
        o = idl.Literal()
        o.offloaded_metadata.uri = uri
        return o

    import msgpack

    msgpacked = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats()
        | _text
        | st.binary(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3),
        max_leaves=8,
    ).map(lambda v: msgpack.packb(v, use_bin_type=True))
    return st.one_of(
        st.builds(prim, _primitive()),
        st.builds(
            binary,
            st.one_of(st.binary(max_size=64), msgpacked),
            st.sampled_from(["msgpack", "", "pickle"]),
        ),
        st.builds(blob, _uri, st.integers(0, 3)),
        st.builds(sd, _uri, st.sampled_from(["parquet", "", "csv"])),
        st.builds(none),
        st.builds(offloaded, _uri),
        st.just(idl.Literal()),
    )


def _literals():
    def coll(items):
        lit = idl.Literal()
        lit.collection.SetInParent()
        for i in items:
            lit.collection.literals.add().CopyFrom(i)
        return lit

    def mapping(items):
        lit = idl.Literal()
        lit.map.SetInParent()
        for k, v in items.items():
            lit.map.literals[k].CopyFrom(v)
        return lit

    def union(value, tag):
        lit = idl.Literal()
        lit.scalar.union.value.CopyFrom(value)
        lit.scalar.union.type.structure.tag = tag
        return lit

    return st.recursive(
        _scalar_literal(),
        lambda c: st.one_of(
            st.builds(coll, st.lists(c, max_size=3)),
            st.builds(mapping, st.dictionaries(_text, c, max_size=3)),
            st.builds(union, c, st.sampled_from(["int", "str", "none", "", "Python Dataclass"])),
        ),
        max_leaves=6,
    )


@FUZZ
@given(lit=_literals(), py_type=st.sampled_from(PY_TYPES))
def test_to_python_random_literals(tmp_path_factory, lit, py_type):
    tmp = tmp_path_factory.mktemp("l")
    ctx = TransferContext(storage=STORAGE, raw_output_prefix=str(tmp / "raw"), scratch_dir=tmp)
    try:
        to_python(lit, py_type, ctx, name="v")
    except ShimError as e:
        rejected(e)


@FUZZ
@given(
    lit=_literals(),
    types=st.dictionaries(
        st.sampled_from("abc"), st.sampled_from(PY_TYPES), min_size=1, max_size=2
    ),
)
def test_to_python_through_guessed_types(tmp_path_factory, lit, types):
    """The runtime decodes with python_type_of(LiteralType): the guessed types must hold too."""
    tmp = tmp_path_factory.mktemp("g")
    ctx = TransferContext(storage=STORAGE, raw_output_prefix=str(tmp / "raw"), scratch_dir=tmp)
    iface = interface_to_idl(types, {})
    for var in iface.inputs.variables.values():
        try:
            to_python(lit, python_type_of(var.type), ctx, name="v")
        except ShimError as e:
            rejected(e)


@pytest.mark.parametrize(
    ("url", "error", "code", "message"),
    [
        ("", StorageNotFoundError, "NotFound", "no such file: "),
        ("file://", StorageNotFoundError, "NotFound", "no such file: file://"),
        ("://x", StorageNotFoundError, "NotFound", "no such file: ://x"),  # a relative path
        ("a:b", StorageNotFoundError, "NotFound", "no such file: a:b"),  # a relative path
        ("\x00", UserError, "InvalidURL", "a path cannot hold a NUL byte"),
        ("s3://", UserError, "InvalidURL", "'s3://' names no bucket"),
        ("s3:///k", UserError, "InvalidURL", "'s3:///k' names no bucket"),
    ],
)
def test_storage_urls_of_odd_shapes(url, error, code, message, tmp_path, monkeypatch):
    """Odd URLs give a specific, non-recoverable ShimError that names them, never a crash or a
    network call (a bucket-less S3 URL is refused before s3fs is involved)."""
    monkeypatch.chdir(tmp_path)  # the relative paths resolve in an empty directory
    with pytest.raises(error) as ei:
        Storage(retries=1, deadline=0).get_bytes(url)
    assert ei.value.code == code
    assert message in str(ei.value)
    assert not ei.value.recoverable


def test_nul_byte_in_a_local_path_is_a_user_error(tmp_path):
    """Found by the fuzzer: an offloaded literal whose uri holds a NUL byte made ``open``
    raise a bare ValueError."""
    from shim.errors import UserError

    with pytest.raises(UserError, match="NUL") as e:
        Storage().get_bytes(f"{tmp_path}/a\x00b")
    assert e.value.code == "InvalidURL"
    lit = idl.Literal()
    lit.offloaded_metadata.uri = "\x00"
    ctx = TransferContext(storage=Storage(), raw_output_prefix=None, scratch_dir=tmp_path)
    with pytest.raises(ShimError):
        to_python(lit, int, ctx, name="v")
