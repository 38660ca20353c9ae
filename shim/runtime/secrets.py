"""Secrets, resolved as Flyte injects them: an environment variable, else a mounted file."""

from __future__ import annotations

import os
from pathlib import Path

from shim import envconf
from shim.errors import UserError


class SecretNotFoundError(UserError):
    """A requested secret is neither in the environment nor in the secrets directory."""

    code = "SecretNotFound"


class Secrets:
    """Reads ``_FSEC_<GROUP>_<KEY>`` (upper case), else ``<secrets dir>/<group>/<key>``.

    The directory is ``FLYTE_SECRETS_DEFAULT_DIR`` (default ``/etc/secrets``); the prefix is
    ``FLYTE_SECRETS_ENV_PREFIX`` (default ``_FSEC_``). Values are never logged; error messages
    name only where they were looked for.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def env_var(self, group: str, key: str | None = None) -> str:
        prefix = envconf.text("FLYTE_SECRETS_ENV_PREFIX", "_FSEC_", environ=self._env)
        name = f"{prefix}{group}" + (f"_{key}" if key else "")
        return name.upper()

    def file_path(self, group: str, key: str | None = None) -> Path:
        base = Path(envconf.text("FLYTE_SECRETS_DEFAULT_DIR", "/etc/secrets", environ=self._env))
        return base / group.lower() / key.lower() if key else base / group.lower()

    def get(self, group: str, key: str | None = None) -> str:
        """The secret's value; raises :class:`SecretNotFoundError` if it is nowhere."""
        var = self.env_var(group, key)
        if var in self._env:
            return self._env[var]
        path = self.file_path(group, key)
        try:
            return path.read_text().strip("\n")
        except OSError:
            raise SecretNotFoundError(
                f"secret group={group!r} key={key!r} not found: neither environment variable "
                f"{var} nor file {path} exists; declare it in the task's secrets and make sure "
                "the platform injects it"
            ) from None
