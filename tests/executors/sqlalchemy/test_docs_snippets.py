"""The SQLAlchemyTask snippets of README.md, docs/sqlalchemy.md and the executor's README run as
written against the test server, which plays ``db.example.com``: a ``shop`` database reached
as the role ``reader`` with the password of the secret ``shopdb``/``password``
(``_FSEC_SHOPDB_PASSWORD``), holding an ``orders`` table. Only the URL's host and port, and
``sslmode`` (the throwaway server has no certificate), are replaced."""

from __future__ import annotations

import datetime as dt
import re
import runpy
from pathlib import Path

import pytest

from shim import DataFrame

REPO = Path(__file__).resolve().parents[3]
DOCS = {
    "README.md": REPO / "README.md",
    "docs/sqlalchemy.md": REPO / "docs" / "sqlalchemy.md",
    "executors/sqlalchemy/README.md": REPO / "executors" / "sqlalchemy" / "README.md",
}
HOST = "db.example.com:5432"


def sqlalchemy_snippets(text: str) -> list[str]:
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    return [b for b in blocks if "SQLAlchemyTask(" in b]


@pytest.fixture(scope="module")
def shop(postgres):
    postgres.psql(
        "DO $$ BEGIN CREATE ROLE reader LOGIN PASSWORD "
        f"'{postgres.password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        database="postgres",
    )
    if not postgres.psql("SELECT 1 FROM pg_database WHERE datname = 'shop'", database="postgres"):
        postgres.psql("CREATE DATABASE shop OWNER shim_test", database="postgres")
    postgres.psql(
        "DROP TABLE IF EXISTS orders; "
        "CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric(10,2), "
        "placed_at timestamptz, status text); "
        "INSERT INTO orders VALUES "
        "(1, 'ann', 12.50, '2023-12-31 10:00+00', 'paid'), "
        "(2, 'bob', 99.99, '2024-02-01 10:00+00', 'shipped'), "
        "(3, 'cy', 5.00, '2024-03-01 10:00+00', 'cancelled'), "
        "(4, 'di', 250.00, '2024-04-01 10:00+00', 'paid'); "
        "GRANT SELECT ON orders TO reader",
        database="shop",
        user="shim_test",
    )
    return postgres


@pytest.mark.parametrize("doc", list(DOCS))
def test_sqlalchemy_snippets_run_as_written(doc, shop, tmp_path, monkeypatch, capsys):
    snippets = sqlalchemy_snippets(DOCS[doc].read_text())
    assert snippets, f"{doc} has no SQLAlchemyTask snippet"
    monkeypatch.setenv("_FSEC_SHOPDB_PASSWORD", shop.password)
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    for i, code in enumerate(snippets):
        assert HOST in code, code
        code = code.replace(HOST, f"127.0.0.1:{shop.port}").replace('"require"', '"disable"')
        path = tmp_path / f"snippet_{i}.py"
        path.write_text(code)
        names = runpy.run_path(str(path), run_name="snippet")
        tasks = {k: v for k, v in names.items() if type(v).__name__ == "SQLAlchemyTask"}
        assert len(tasks) == 1, tasks
        ((name, task),) = tasks.items()
        if name == "recent_orders":  # docs/sqlalchemy.md calls it itself and prints the rows
            printed = capsys.readouterr().out
            assert "bob" in printed and "di" in printed and "ann" not in printed, printed
            continue
        inputs = {"min": 50.0} if name == "big_orders" else {"since": dt.datetime(2024, 1, 1)}
        result = task(**inputs)
        assert isinstance(result, DataFrame)
        assert sorted(result.to_arrow().column("id").to_pylist()) == (
            [2, 4] if name == "big_orders" else [2, 3, 4]
        )
