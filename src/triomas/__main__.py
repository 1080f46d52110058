"""``python -m triomas node --address tcp://127.0.0.1:0``: a container in its own process.

It prints ``triomas-node <address>`` once it listens, and runs until its ``node``
agent is told to shut down, it gets SIGTERM or SIGINT, or (with ``--watch-stdin``)
its stdin closes. The shared secret comes from the environment (``TRIOMAS_SECRET``);
the agent classes peers may start, from ``--allow`` and ``TRIOMAS_ALLOW``.
"""

from __future__ import annotations

import argparse
import logging

import trio

from ._node import allow_from_env, run_node, secret_from_env


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m triomas")
    commands = parser.add_subparsers(dest="command", required=True)
    node = commands.add_parser("node", help="run a container that others can spawn agents in")
    node.add_argument("--address", default="tcp://127.0.0.1:0", help="where to listen")
    node.add_argument("--codec", help="import path of a triomas.Codec with your hooks")
    node.add_argument(
        "--watch-stdin",
        action="store_true",
        help="stop when stdin closes (how a spawning parent's death is noticed)",
    )
    node.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE[:CLASS]",
        help="an agent class (or a whole module of them) peers may start here; repeatable",
    )
    node.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    allow = [*allow_from_env(), *args.allow]
    trio.run(run_node, args.address, secret_from_env(), args.codec, args.watch_stdin, allow)


if __name__ == "__main__":
    main()
