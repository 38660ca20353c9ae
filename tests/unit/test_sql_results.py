"""shim.sql.results: arrays built from their buffers equal pa.array's, value by value, and
import no pandas; unique names; the row-group writer."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shim.sql import results
from shim.sql.results import RowGroupWriter, _from_buffers, unique_names

UTC = dt.UTC
KOLKATA = ZoneInfo("Asia/Kolkata")
PARIS = ZoneInfo("Europe/Paris")
INTERVAL = pa.struct([("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())])

#: (Arrow type, values): every type the buffers path builds, with NULLs and edge values
CASES = [
    (pa.bool_(), [True, False, None, True, True, False, False, True, None]),
    (pa.int8(), [-128, 127, None, 0]),
    (pa.int16(), [-32768, 32767, None]),
    (pa.int32(), [-(2**31), 2**31 - 1, None, 7]),
    (pa.int64(), [-(2**63), 2**63 - 1, None, 0]),
    (pa.uint8(), [0, 255, None]),
    (pa.float32(), [1.5, None, float("inf"), -0.0, 0.1]),
    (pa.float64(), [0.1, None, float("-inf"), 1e308, 5e-324, 3]),
    (pa.string(), ["a", "", None, "héllo", "中文", "\U0001f600", "x" * 1000]),
    (pa.string(), ["ascii", "only", ""]),
    (pa.string(), [None, None]),
    (pa.binary(), [b"\x00\xff", b"", None, b"abc"]),
    (pa.date32(), [dt.date(1970, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), None]),
    (pa.time64("us"), [dt.time(0, 0), dt.time(23, 59, 59, 999999), None, dt.time(12, 0, 0, 1)]),
    (
        pa.timestamp("us"),
        [
            dt.datetime(1970, 1, 1),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
            dt.datetime(1, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            None,
        ],
    ),
    # aware values for a zone-less column: their UTC wall time, as pa.array does
    (pa.timestamp("us"), [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=KOLKATA), None]),
    # one UTC zone (a UTC session: the fast path), a fixed offset, a zone with DST
    (
        pa.timestamp("us", tz="UTC"),
        [
            dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("Etc/UTC")),
            None,
            dt.datetime(1900, 1, 1, tzinfo=ZoneInfo("Etc/UTC")),
        ],
    ),
    (
        pa.timestamp("us", tz="UTC"),
        [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30)))],
    ),
    (
        pa.timestamp("us", tz="UTC"),
        [
            dt.datetime(2024, 3, 31, 1, 59, tzinfo=PARIS),
            dt.datetime(2024, 3, 31, 3, 1, tzinfo=PARIS),
            dt.datetime(1850, 1, 1, tzinfo=PARIS),
            None,
        ],
    ),
    # mixed zones in one chunk: each value by its own offset
    (
        pa.timestamp("us", tz="UTC"),
        [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=KOLKATA)],
    ),
    (pa.list_(pa.int32()), [[1, None, 3], [], None, [4]]),
    (pa.list_(pa.string()), [["", None, "z"], None, ["é"]]),
    (pa.list_(pa.timestamp("us", tz="UTC")), [[dt.datetime(2024, 1, 1, tzinfo=UTC), None]]),
    (
        INTERVAL,
        [
            {"months": 14, "days": -3, "microseconds": 14_706_700_000},
            None,
            {"months": 0, "days": 0, "microseconds": -1},
        ],
    ),
    (pa.list_(INTERVAL), [[{"months": 1, "days": 0, "microseconds": 0}, None], None]),
]


@pytest.mark.parametrize("type_, values", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_arrays_from_buffers_equal_pa_array(type_, values):
    built = _from_buffers(values, type_)
    assert built is not None
    built.validate(full=True)
    expected = pa.array(values, type=type_)
    assert built.equals(expected), (built, expected)
    assert built.null_count == expected.null_count


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 2000, 2001])
def test_validity_bitmaps_of_every_length(n):
    values = [None if i % 3 == 1 else i for i in range(n)]
    built = _from_buffers(values, pa.int64())
    built.validate(full=True)
    assert built.to_pylist() == values


@pytest.mark.parametrize(
    "type_, values",
    [
        (pa.int16(), [40000]),  # out of range
        (pa.int64(), ["1"]),  # not a number
        (pa.string(), [1]),  # not a str
        (pa.list_(pa.int32()), [[[1, 2], [3, 4]]]),  # two dimensions
    ],
)
def test_values_that_do_not_fit_fail_as_pa_array_does(type_, values):
    with pytest.raises((TypeError, ValueError, OverflowError, pa.ArrowException)):
        _from_buffers(values, type_)
    with pytest.raises((TypeError, ValueError, OverflowError, pa.ArrowException)):
        pa.array(values, type=type_)


def test_types_it_does_not_build_fall_back_to_pa_array():
    from decimal import Decimal

    assert _from_buffers([Decimal("1.5")], pa.decimal128(4, 1)) is None
    got = results.array_from_values([Decimal("1.5"), None], pa.decimal128(4, 1))
    assert got.to_pylist() == [Decimal("1.5"), None]


def test_no_pandas_import_when_it_is_installed():
    """In a fresh process where pandas is installed (a dev dependency), building every kind
    of array leaves pandas unimported; pa.array would import it."""
    code = textwrap.dedent(
        """
        import importlib.util, sys
        assert importlib.util.find_spec("pandas") is not None, "pandas is a dev dependency"
        from tests.unit.test_sql_results import CASES
        from shim.sql.results import array_from_values
        for type_, values in CASES:
            array_from_values(values, type_)
        assert "pandas" not in sys.modules, "pandas was imported"
        import pyarrow as pa
        pa.array([1])
        assert "pandas" in sys.modules, "pa.array no longer imports pandas: drop the workaround"
        """
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr


def test_unique_names():
    assert unique_names(["id", "id", "id_1", "x", "id"]) == ["id", "id_2", "id_1", "x", "id_3"]


def test_row_group_writer(tmp_path):
    schema = pa.schema([("a", pa.int64())])
    w = RowGroupWriter(tmp_path / "f", batch_rows=3, memory_pool=pa.system_memory_pool())
    for i in range(4):
        w.add(pa.RecordBatch.from_arrays([pa.array([i, i])], schema=schema))
    assert w.started
    assert w.close(schema) == 8
    f = pq.ParquetFile(tmp_path / "f")
    assert [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)] == [4, 4]
    assert f.read().column("a").to_pylist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_row_group_writer_without_rows_and_aborted(tmp_path):
    schema = pa.schema([("a", pa.string())])
    empty = RowGroupWriter(tmp_path / "empty", batch_rows=10)
    assert empty.close(schema) == 0
    assert pq.read_table(tmp_path / "empty").schema == schema
    w = RowGroupWriter(tmp_path / "gone", batch_rows=1)
    w.add(pa.RecordBatch.from_arrays([pa.array(["x"])], schema=schema))
    w.abort()
    assert not (tmp_path / "gone").exists()
