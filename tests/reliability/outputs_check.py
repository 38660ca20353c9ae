"""Checks that a prefix holds either no outputs.pb, or one whose every byte of offloaded data
is present and exactly what :class:`tests.reliability.executors.BigOutputs` produced."""

from __future__ import annotations

import io
from typing import Any

from shim import idl
from shim.storage import default_storage, join
from tests.reliability import executors as rex

BIG = {"file_kb": int, "files": int, "parts": int}


def big_task() -> Any:
    from shim import DataFrame, Directory, File
    from tests.reliability.helpers import make_task

    return make_task(
        rex.BigOutputs,
        inputs=BIG,
        outputs={"f": File, "d": Directory, "df": DataFrame},
        name="reliability.big_outputs",
    )


def check_prefix(prefix: str, inputs: dict[str, int]) -> str:
    """``"none"`` when there is no outputs.pb, ``"complete"`` when there is one and all its
    data is complete; raises AssertionError when outputs.pb refers to missing/partial data."""
    storage = default_storage()
    url = join(prefix, "outputs.pb")
    if not storage.exists(url):
        return "none"
    lm = idl.LiteralMap()
    lm.ParseFromString(storage.get_bytes(url))  # a partial outputs.pb would not parse
    assert set(lm.literals) == {"f", "d", "df"}, sorted(lm.literals)
    f_uri = lm.literals["f"].scalar.blob.uri
    assert storage.get_bytes(f_uri) == rex.blob("file", inputs["file_kb"] * 1024), f_uri
    d_uri = lm.literals["d"].scalar.blob.uri
    names = sorted(u[len(d_uri.rstrip("/")) + 1 :] for u in storage.list(d_uri))
    expected = sorted(f"s{i % 4}/part-{i:04d}.bin" for i in range(inputs["files"]))
    assert names == expected, f"{d_uri}: {len(names)} of {len(expected)} files"
    for i in range(inputs["files"]):
        data = storage.get_bytes(join(d_uri, f"s{i % 4}/part-{i:04d}.bin"))
        assert data == rex.blob(f"tree{i}", 32 * 1024), f"{d_uri} part {i}"
    import pyarrow as pa
    import pyarrow.parquet as pq

    df_uri = lm.literals["df"].scalar.structured_dataset.uri
    parts = sorted(storage.list(df_uri))
    assert len(parts) == inputs["parts"], f"{df_uri}: {len(parts)} parquet files"
    tables = [pq.read_table(io.BytesIO(storage.get_bytes(p))) for p in parts]
    got = pa.concat_tables(tables)
    want = pa.concat_tables([rex.table(p, 2000) for p in range(inputs["parts"])])
    assert got.equals(want), df_uri
    return "complete"
