"""DataFrame: parquet layout, column types, streaming writes and reads, lazy imports."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import DataFrame, literal_type_of, python_type_of, to_literal, to_python
from shim.types.dataframe import arrow_literal_type

S = idl.SimpleType
ROOT = Path(__file__).resolve().parents[3]


def table() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, None, 2.5]})


def col_types(lit: idl.Literal) -> dict[str, idl.LiteralType]:
    sdt = lit.scalar.structured_dataset.metadata.structured_dataset_type
    return {c.name: c.literal_type for c in sdt.columns}


def test_literal_types():
    lt = literal_type_of(DataFrame)
    assert lt == idl.LiteralType(
        structured_dataset_type=idl.StructuredDatasetType(format="parquet")
    )
    typed = DataFrame[{"a": int, "b": str}]
    assert typing.get_origin(typed) is typing.Annotated
    sdt = literal_type_of(typed).structured_dataset_type
    assert [(c.name, c.literal_type.simple) for c in sdt.columns] == [
        ("a", S.INTEGER),
        ("b", S.STRING),
    ]
    assert python_type_of(lt) is DataFrame
    assert python_type_of(literal_type_of(typed)) == typed


def test_table_round_trip(ctx):
    lit = to_literal(table(), DataFrame, ctx)
    sd = lit.scalar.structured_dataset
    assert sd.metadata.structured_dataset_type.format == "parquet"
    assert col_types(lit) == {
        "a": idl.LiteralType(simple=S.INTEGER),
        "b": idl.LiteralType(simple=S.STRING),
        "c": idl.LiteralType(simple=S.FLOAT),
    }
    assert sd.uri.startswith(ctx.raw_output_prefix + "/")
    assert sorted(p.name for p in Path(sd.uri).iterdir()) == ["00000"]
    df = to_python(lit, DataFrame, ctx)
    assert isinstance(df, DataFrame) and df.uri == sd.uri
    assert df.to_arrow().equals(table())
    assert df.schema.names == ["a", "b", "c"]
    assert df.columns == {"a": int, "b": str, "c": float}
    pd.testing.assert_frame_equal(df.to_pandas(), table().to_pandas())


def test_pandas_and_handles(ctx):
    frame = pd.DataFrame({"n": [1, 2], "s": ["a", "b"]}, index=[10, 11])
    lit = to_literal(frame, DataFrame, ctx)
    got = to_python(lit, DataFrame, ctx).to_pandas()
    assert list(got.columns) == ["n", "s"] and got["n"].tolist() == [1, 2]
    handle = DataFrame.from_pandas(frame)
    assert to_python(to_literal(handle, DataFrame, ctx), DataFrame, ctx).to_arrow().num_rows == 2
    assert DataFrame.from_arrow(table()).to_arrow().equals(table())


def test_record_batch_reader_is_streamed(ctx):
    big = pa.table({"n": pa.array(range(150_000), pa.int64())})
    seen = []

    def batches():
        for b in big.to_batches(max_chunksize=10_000):
            seen.append(b.num_rows)
            yield b

    reader = pa.RecordBatchReader.from_batches(big.schema, batches())
    lit = to_literal(reader, DataFrame, ctx)
    path = Path(lit.scalar.structured_dataset.uri) / "00000"
    meta = pq.ParquetFile(path).metadata
    assert sum(seen) == 150_000
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [70_000] * 2 + [
        10_000
    ]
    df = to_python(lit, DataFrame, ctx)
    sizes = [b.num_rows for b in df.iter_batches(batch_size=50_000)]
    assert max(sizes) <= 50_000 and sum(sizes) == 150_000
    assert df.to_arrow().equals(big)


def test_reader_handle_can_be_read_after_encoding(ctx):
    handle = DataFrame.from_arrow(
        pa.RecordBatchReader.from_batches(table().schema, table().to_batches())
    )
    lit = to_literal(handle, DataFrame, ctx)
    assert handle.to_arrow().equals(table())
    assert to_literal(handle, DataFrame, ctx).scalar.structured_dataset.uri != (
        lit.scalar.structured_dataset.uri
    )


def test_empty_reader(ctx):
    schema = pa.schema([("a", pa.int64())])
    lit = to_literal(pa.RecordBatchReader.from_batches(schema, iter([])), DataFrame, ctx)
    df = to_python(lit, DataFrame, ctx)
    assert df.schema == schema and df.to_arrow().num_rows == 0


def test_iter_batches_over_several_files(ctx, tmp_path):
    d = tmp_path / "multi"
    d.mkdir()
    pq.write_table(table(), d / "00000")
    pq.write_table(table(), d / "00001")
    (d / "_SUCCESS").write_text("")
    df = DataFrame(d)
    assert sum(b.num_rows for b in df.iter_batches(batch_size=2)) == 6
    assert [b.num_rows for b in df.iter_batches(batch_size=2)] == [2, 1, 2, 1]
    assert df.to_arrow().num_rows == 6
    lit = to_literal(df, DataFrame, ctx)
    up = Path(lit.scalar.structured_dataset.uri)
    assert sorted(p.name for p in up.iterdir()) == ["00000", "00001", "_SUCCESS"]


def test_single_parquet_file_handle(ctx, tmp_path):
    f = tmp_path / "one.parquet"
    pq.write_table(table(), f)
    assert DataFrame(f).to_arrow().equals(table())
    lit = to_literal(DataFrame(f), DataFrame, ctx)
    assert (Path(lit.scalar.structured_dataset.uri) / "00000").is_file()


def test_deferred_upload(ctx):
    ctx.defer_uploads = True
    lit = to_literal(table(), DataFrame, ctx)
    uri = lit.scalar.structured_dataset.uri
    assert not Path(uri).exists() and len(ctx.pending) == 1 and ctx.pending[0].is_dir
    ctx.flush()
    assert to_python(lit, DataFrame, ctx).to_arrow().equals(table())


def test_remote_round_trip_and_reuse(remote_ctx):
    lit = to_literal(table(), DataFrame, remote_ctx)
    uri = lit.scalar.structured_dataset.uri
    assert uri.startswith("memory://")
    df = to_python(lit, DataFrame, remote_ctx)
    assert df.to_arrow().equals(table())  # downloaded into scratch on first use
    assert Path(df._local).is_relative_to(remote_ctx.scratch_dir)
    again = to_literal(df, DataFrame, remote_ctx)
    assert again == lit  # same uri and columns, no copy
    assert to_literal(DataFrame("s3://b/prefix"), DataFrame[{"a": int}], remote_ctx) == (
        _sd("s3://b/prefix", [("a", S.INTEGER)])
    )


def test_download_gives_the_local_parquet(remote_ctx, tmp_path):
    lit = to_literal(table(), DataFrame, remote_ctx)
    df = to_python(lit, DataFrame, remote_ctx)
    local = df.download()  # remote: fetched into scratch, once
    assert local.is_relative_to(remote_ctx.scratch_dir) and df.download() == local
    assert pq.read_table(local).equals(table())
    f = tmp_path / "one.parquet"
    pq.write_table(table(), f)
    assert DataFrame(f).download() == f  # local: where it is, no copy
    with pytest.raises(ValueError, match="no uri"):
        DataFrame.from_arrow(table()).download()


def _sd(uri, cols):
    columns = [
        idl.StructuredDatasetType.DatasetColumn(name=n, literal_type=idl.LiteralType(simple=s))
        for n, s in cols
    ]
    sdt = idl.StructuredDatasetType(columns=columns, format="parquet")
    meta = idl.StructuredDatasetMetadata(structured_dataset_type=sdt)
    return idl.Literal(
        scalar=idl.Scalar(structured_dataset=idl.StructuredDataset(uri=uri, metadata=meta))
    )


def test_declared_columns_are_checked(ctx):
    to_literal(table(), DataFrame[{"a": int}], ctx)
    with pytest.raises(TypeMismatchError) as e:
        to_literal(table(), DataFrame[{"a": int, "zzz": str}], ctx, name="results")
    assert "'results'" in str(e.value) and "zzz" in str(e.value)


def test_decoding_keeps_declared_columns(ctx):
    lit = to_literal(table(), DataFrame, ctx)
    df = to_python(lit, DataFrame[{"a": int}], ctx)
    assert df.columns == {"a": int}


def test_not_a_dataframe(ctx):
    with pytest.raises(TypeMismatchError, match="'df': expected DataFrame, got list"):
        to_literal([1, 2], DataFrame, ctx, name="df")
    with pytest.raises(TypeMismatchError):
        to_python(to_literal(1, int, ctx), DataFrame, ctx)
    csv = _sd("s3://b/x", [])
    csv.scalar.structured_dataset.metadata.structured_dataset_type.format = "csv"
    with pytest.raises(TypeMismatchError, match="only parquet"):
        to_python(csv, DataFrame, ctx)


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.int8(), idl.LiteralType(simple=S.INTEGER)),
        (pa.uint64(), idl.LiteralType(simple=S.INTEGER)),
        (pa.float32(), idl.LiteralType(simple=S.FLOAT)),
        (pa.string(), idl.LiteralType(simple=S.STRING)),
        (pa.large_string(), idl.LiteralType(simple=S.STRING)),
        (pa.bool_(), idl.LiteralType(simple=S.BOOLEAN)),
        (pa.timestamp("us", tz="UTC"), idl.LiteralType(simple=S.DATETIME)),
        (pa.date32(), idl.LiteralType(simple=S.DATETIME)),
        (pa.duration("ms"), idl.LiteralType(simple=S.DURATION)),
        (pa.binary(), idl.LiteralType(simple=S.BINARY)),
        (pa.null(), idl.LiteralType(simple=S.NONE)),
        (pa.struct([("k", pa.int64())]), idl.LiteralType(simple=S.STRUCT)),
        (pa.dictionary(pa.int32(), pa.string()), idl.LiteralType(simple=S.STRING)),
        (pa.list_(pa.int64()), idl.LiteralType(collection_type=idl.LiteralType(simple=S.INTEGER))),
        (
            pa.map_(pa.string(), pa.float64()),
            idl.LiteralType(map_value_type=idl.LiteralType(simple=S.FLOAT)),
        ),
        (pa.time64("us"), None),
        (pa.map_(pa.int32(), pa.int32()), None),
    ],
)
def test_arrow_column_types(arrow_type, expected):
    assert arrow_literal_type(arrow_type) == expected


def test_import_is_lean():
    code = (
        "import sys, shim.types; "
        "bad = [m for m in ('pyarrow', 'pandas', 'fsspec', 'numpy') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
