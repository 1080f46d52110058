"""What every ``triomas`` command shares: logging, the secret, and failing cleanly
(exit status 1 with one line on stderr, not a traceback; 2 on a usage error)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .._messages.errors import TriomasError

LOG_FORMATS = ("console", "json")


class JsonLines(logging.Formatter):
    """One JSON object per log record: time, level, logger, message, and the record's
    ``agent``, ``container`` and ``clock`` extra fields when it has them."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for extra in ("agent", "container", "clock"):
            if hasattr(record, extra):
                line[extra] = getattr(record, extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str, fmt: str) -> None:
    """Log to stderr at ``level`` in ``fmt``: the command's own process, so it may."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def read_secret(secret_file: Path | None) -> str | None:
    """The shared secret: from ``--secret-file``, else ``TRIOMAS_SECRET``, else none."""
    if secret_file is not None:
        return secret_file.read_text(encoding="utf-8").strip()
    return os.environ.get("TRIOMAS_SECRET") or None


def fail_cleanly(run: Callable[[], Any]) -> Any:
    """Run a command's body; a triomas or OS error is one line on stderr and exit 1."""
    try:
        return run()
    except (TriomasError, OSError, ValueError, LookupError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
