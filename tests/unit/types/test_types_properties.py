"""Property-based round trips: value -> literal -> bytes -> literal -> value."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim import idl
from shim.types import TransferContext, literal_type_of, python_type_of, to_literal, to_python

CTX = TransferContext(storage=None)  # no offloaded data in these tests
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False)
texts = st.text(max_size=20)
datetimes = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
)
timedeltas = st.timedeltas(
    min_value=dt.timedelta(days=-(10**6)), max_value=dt.timedelta(days=10**6)
)
# inside dataclasses a timedelta is float seconds (as in flytekit): exact to the microsecond
# only while |seconds| * 1e6 < 2**53, about 285 years
small_timedeltas = st.timedeltas(
    min_value=dt.timedelta(days=-(10**4)), max_value=dt.timedelta(days=10**4)
)


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"
    WEIRD = "we ird/ö"


@dataclass
class Leaf:
    n: int
    tags: list[str]


@dataclass
class Tree:
    name: str
    weight: float
    mood: Mood
    leaves: list[Leaf]
    index: dict[str, Leaf]
    when: dt.datetime
    took: dt.timedelta
    parent: str | None = None
    either: int | str = 0
    extra: dict = field(default_factory=dict)


def roundtrip(value, py):
    lit = to_literal(value, py, CTX, name="v")
    parsed = idl.Literal()
    parsed.ParseFromString(idl.serialize(lit))
    assert idl.serialize(parsed) == idl.serialize(lit)
    # the guessed type (what the runtime uses) decodes the same bytes too
    to_python(parsed, python_type_of(literal_type_of(py)), CTX, name="v")
    return to_python(parsed, py, CTX, name="v")


@SETTINGS
@given(ints)
def test_int(v):
    assert roundtrip(v, int) == v


@SETTINGS
@given(floats)
def test_float(v):
    back = roundtrip(v, float)
    assert back == v and math.copysign(1, back) == math.copysign(1, v)


@SETTINGS
@given(texts)
def test_str(v):
    assert roundtrip(v, str) == v


@SETTINGS
@given(st.booleans())
def test_bool(v):
    assert roundtrip(v, bool) is v


@SETTINGS
@given(datetimes)
def test_datetime(v):
    assert roundtrip(v, dt.datetime) == v


@SETTINGS
@given(timedeltas)
def test_timedelta(v):
    assert roundtrip(v, dt.timedelta) == v


@SETTINGS
@given(
    st.dictionaries(
        texts, st.lists(st.dictionaries(texts, ints, max_size=3), max_size=3), max_size=3
    )
)
def test_nested_containers(v):
    assert roundtrip(v, dict[str, list[dict[str, int]]]) == v


@SETTINGS
@given(st.none() | ints)
def test_optional(v):
    assert roundtrip(v, int | None) == v


@SETTINGS
@given(st.one_of(ints, texts, st.lists(floats, max_size=4), st.none()))
def test_union(v):
    back = roundtrip(v, int | str | list[float] | None)
    assert back == v and type(back) is type(v)


@SETTINGS
@given(st.sampled_from(Mood))
def test_enum(v):
    assert roundtrip(v, Mood) is v


json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(st.dictionaries(texts, json_values, max_size=4))
def test_untyped_dict(v):
    assert roundtrip(v, dict) == v


leaves = st.builds(Leaf, n=ints, tags=st.lists(texts, max_size=3))
trees = st.builds(
    Tree,
    name=texts,
    weight=floats,
    mood=st.sampled_from(Mood),
    leaves=st.lists(leaves, max_size=3),
    index=st.dictionaries(texts, leaves, max_size=2),
    when=datetimes,
    took=small_timedeltas,
    parent=st.none() | texts,
    either=ints | texts,
    extra=st.dictionaries(texts, json_values, max_size=2),
)


@SETTINGS
@given(trees)
def test_dataclass(v):
    assert roundtrip(v, Tree) == v


@SETTINGS
@given(st.none() | trees)
def test_optional_dataclass(v):
    assert roundtrip(v, Tree | None) == v
