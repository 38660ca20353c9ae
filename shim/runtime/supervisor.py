"""Supervised execution (placeholder until the supervisor lands): runs in this process."""

from __future__ import annotations


def supervise_execute(argv: list[str]) -> int:
    from shim.runtime.args import parse_execute_args
    from shim.runtime.entrypoint import run

    return run(parse_execute_args(argv), handle_sigterm=True)
