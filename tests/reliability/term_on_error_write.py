"""``python term_on_error_write.py ARGS...``: ``shim execute ARGS`` in a process whose storage
sends SIGTERM to its own process the moment it starts writing an error document (error.pb),
as a pod deletion landing at the worst time would. Used by test_sigterm.py."""

from __future__ import annotations

import os
import signal
import sys

import shim.storage
from shim.cli import main
from shim.storage import Storage


class TermOnErrorWrite(Storage):
    def put_bytes(self, url, data):
        if os.path.basename(str(url)).startswith("error"):
            os.kill(os.getpid(), signal.SIGTERM)
        super().put_bytes(url, data)


if __name__ == "__main__":
    shim.storage._default = TermOnErrorWrite()  # what default_storage() returns from now on
    main(["execute", *sys.argv[1:]])
