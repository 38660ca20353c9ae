"""Redaction of secrets in what the runtime prints and writes (shim.runtime.errordoc)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from shim.runtime.errordoc import classify
from shim.runtime.redaction import REDACTED, Redactor, redactor, secret_values
from shim.runtime.supervisor import TAIL_KEEP_BYTES, TAIL_LINE_BYTES, OutputTail

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "Dw==\n"
    "-----END PRIVATE KEY-----\n"
)
LINES = [ln for ln in PEM.splitlines() if ln]
TOKEN = r"tk.9*(a|b)+[x-z]{2}^$\d?.end-7f3c"


def clean(text: str, secret: str = PEM) -> bool:
    return not any(ln.strip() in text for ln in secret.splitlines() if len(ln.strip()) >= 4)


@pytest.mark.parametrize(
    "shown",
    [
        PEM,  # as is
        PEM.replace("\n", "\n    "),  # indented, as in a formatted traceback
        repr(PEM),  # its repr: newlines escaped
        json.dumps(PEM),  # JSON (a service-account file holds the key this way)
        quote(PEM, safe=""),  # in a URL
        repr(PEM.encode()),  # as bytes
        "\n".join(f"2024-01-01 INFO {ln}" for ln in LINES),  # a log prefixes every line
        LINES[2],  # one line alone
    ],
    ids=["plain", "indented", "repr", "json", "url", "bytes", "log-lines", "one-line"],
)
def test_every_form_of_a_multi_line_secret(shown):
    r = Redactor([PEM])
    out = r(f"failed: {shown} (end)")
    assert clean(out), out
    assert out.startswith("failed: ") and out.endswith(" (end)") and REDACTED in out


def test_regex_characters_are_literal():
    r = Redactor([TOKEN])
    assert r(f"token={TOKEN};") == f"token={REDACTED};"
    # the pattern is not interpreted: text its regex would match stays
    assert r("tk.9aab+[x-z]{2}") == "tk.9aab+[x-z]{2}"


def test_a_piece_cut_before_an_ellipsis_is_redacted():
    r = Redactor([TOKEN, PEM])
    assert r(f"key {TOKEN[:9]}...") == f"key {REDACTED}..."
    assert r(f"{LINES[1][:20]}\u2026 more") == f"{REDACTED}\u2026 more"
    # fewer than 4 characters of it before the cut: ordinary text, kept
    assert r("tk....") == "tk...."


def test_short_values_and_short_lines_are_not_redacted():
    """Values under 4 characters would blank out ordinary text; so would the short lines of a
    multi-line secret. Every line that is long enough goes."""
    r = Redactor(["abc", '{\n  "k": "s3cr3t-value",\n}'])
    assert r("abc and {}") == "abc and {}"
    assert r('"k": "s3cr3t-value",') == REDACTED


def test_one_pass_longest_first():
    r = Redactor(["redact", "a-redact-b"])
    assert r("x a-redact-b y redact") == f"x {REDACTED} y {REDACTED}"


def test_secret_values_from_env_and_files(tmp_path):
    d = tmp_path / "secrets" / "gcp"
    d.mkdir(parents=True)
    (d / "key").write_text(PEM)
    values = secret_values(
        {
            "_FSEC_DB_PASSWORD": "hunter22",
            "_FSEC_SHORT": "ab",
            "OTHER": "not-a-secret",
            "FLYTE_SECRETS_DEFAULT_DIR": str(tmp_path / "secrets"),
        }
    )
    assert "hunter22" in values and PEM in values
    assert "ab" not in values and "not-a-secret" not in values


def test_classify_redacts_before_indenting():
    """The message is indented after redaction: every line of the key is found."""
    try:
        try:
            raise ValueError(f"bad key\n{PEM}")
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as e:
        c = classify(e, phase="execute", redact=redactor({"_FSEC_GCP_KEY": PEM}))
    assert clean(c.message), c.message
    assert "RuntimeError: outer" in c.message and "ValueError: bad key" in c.message


def test_tail_keeps_lines_raw_then_redacts_then_cuts():
    """A line cut at the tail's limit: the secret across the cut is redacted first; the rest
    of an overlong line never starts a line of its own."""
    tail = OutputTail()
    tail.feed(b"x" * 490 + TOKEN.encode() + b" tail\n")
    tail.feed(b"y" * (TAIL_KEEP_BYTES + 100))
    tail.feed(TOKEN[5:].encode() + b"\nnext line\n")
    tail.close()
    lines = tail.render(Redactor([TOKEN]))
    assert lines[0] == "x" * 490 + REDACTED + "..."  # redacted first, then cut at 500
    assert all(TOKEN[:4] not in ln for ln in lines)
    assert len(lines) == 3 and lines[2] == "next line"
    assert lines[1].startswith("y") and len(lines[1]) == TAIL_LINE_BYTES + 3
