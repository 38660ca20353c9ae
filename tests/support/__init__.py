"""Executors and tasks used by the tests (importable by path, also from subprocesses)."""
