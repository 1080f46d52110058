"""The ``triomas`` command group (``python -m triomas`` runs the same)."""

from __future__ import annotations

import click

from .common import LOG_FORMATS, setup_logging
from .control import agents, send, stop, top
from .mosaik import mosaik
from .node import node
from .program import run
from .trace import trace


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    envvar="TRIOMAS_LOG",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="the level of the log lines on stderr (env TRIOMAS_LOG)",
)
@click.option(
    "--log-format",
    default="console",
    show_default=True,
    type=click.Choice(LOG_FORMATS),
    help="console lines, or one JSON object per line",
)
def cli(log_level: str, log_format: str) -> None:
    """triomas: run agent containers as services, look into them, control them."""
    setup_logging(log_level, log_format)


for command in (node, run, agents, send, top, trace, stop, mosaik):
    cli.add_command(command)


def main() -> None:
    """The console script's entry point."""
    cli.main(prog_name="triomas")
