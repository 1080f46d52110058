"""``python -m triomas``: the ``triomas`` command (see ``triomas --help``)."""

from __future__ import annotations

from ._cli.main import main

if __name__ == "__main__":
    main()
