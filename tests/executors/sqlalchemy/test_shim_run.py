"""Every failure class of the SQLAlchemy task through ``shim run`` (the in-process runner),
as a user meets it: see tests/executors/sqlalchemy/user_cli.py."""

from __future__ import annotations

import pytest

from tests.executors.sqlalchemy.user_cli import CASES, prepare, run_case


@pytest.fixture(scope="module")
def module(postgres, tmp_path_factory):
    return prepare(postgres, tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize("case", CASES, ids=[c.task for c in CASES])
def test_failure_through_shim_run(postgres, module, tmp_path, case):
    run_case(case, postgres, module, tmp_path / "store", runner="inprocess")
