"""The operator's view of a running node: ``agents``, ``top``, ``send`` and ``stop``.

Each command opens a container with no address, which dials the node (see
docs/network.md, "A client without an address"), and talks to the node's ``node``
agent over the node's own transport, with the node's secret: no second server.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import trio

from .._agent.rpc import Proxy
from .._messages.codec import DEFAULT_CODEC
from .._messages.errors import AskTimeout, CalleeDown
from .._messages.message import message_class
from .._node import NODE_AGENT, load
from .._open import open_container
from .common import fail_cleanly, read_secret

T = TypeVar("T")

_timeout = click.option(
    "--timeout", default=5.0, show_default=True, help="seconds to wait for the node"
)
_secret = click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the node's shared secret (else env TRIOMAS_SECRET)",
)
_json = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


class _Reasons(logging.Handler):
    """Keeps the network's last word on why it gave up: the one line an operator needs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and args and "giving up on" in str(record.msg):
            self.last = str(args[-1])  # the reason, without who gave up on whom
        else:
            self.last = record.getMessage()


def _talk(
    address: str, secret_file: Path | None, timeout: float, body: Callable[[Any], Awaitable[T]]
) -> T:
    """Run ``body`` with the node at ``address``: a proxy of its ``node`` agent, or for
    ``send`` the client container itself (``body`` says which it takes)."""
    secret = read_secret(secret_file)
    network = logging.getLogger("triomas.network")
    dead = logging.getLogger("triomas.deadletters")
    reasons = _Reasons()
    quiet = network.getEffectiveLevel() >= logging.WARNING
    network.addHandler(reasons)
    silence = logging.NullHandler()
    if quiet:  # the reason goes into the one error line instead
        network.propagate = dead.propagate = False
        dead.addHandler(silence)  # else logging's last resort prints it anyway

    async def run() -> T:
        async with open_container(
            secret=secret, reconnect_timeout=timeout, handshake_timeout=timeout
        ) as client:
            try:
                return await body(client)
            except (CalleeDown, AskTimeout) as exc:
                why = reasons.last or str(exc)
                raise click.ClickException(
                    f"cannot reach {address}: {why} (is the node up, and the secret right?)"
                ) from None

    try:
        return fail_cleanly(lambda: trio.run(run))  # type: ignore[no-any-return]
    finally:
        network.removeHandler(reasons)
        dead.removeHandler(silence)
        network.propagate = dead.propagate = True


async def _node(client: Any, address: str, timeout: float) -> Proxy:
    # A little longer than the network's own patience (reconnect_timeout), so that a
    # refused handshake is reported with its reason rather than as a timeout.
    target = f"{address.rstrip('/')}/{NODE_AGENT}"
    proxy: Proxy = await client.connect(target, timeout=timeout + 1)
    return proxy


def _stats(address: str, secret_file: Path | None, timeout: float) -> dict[str, Any]:
    async def body(client: Any) -> dict[str, Any]:
        node = await _node(client, address, timeout)
        stats: dict[str, Any] = await node.stats()
        return stats

    return _talk(address, secret_file, timeout, body)


_COLUMNS = (
    "name",
    "cls",
    "state",
    "incarnation",
    "restarts",
    "mailbox",
    "received",
    "handled",
    "sent",
    "busy",
    "handled/s",
    "sent/s",
)
_HEADINGS = ("agent", "class", "state", "inc", "restarts", "mailbox", "in", "handled", "out")
_NUMBERS = frozenset(_COLUMNS[3:])


def _rates(stats: dict[str, Any], before: dict[str, Any] | None) -> None:
    """Give each agent of ``stats`` its messages handled and sent per second since
    ``before``, and its handler time as a share of that span (``busy``)."""
    was = {a["name"]: a for a in before["agents"]} if before else {}
    span = stats["time"] - before["time"] if before else 0.0
    for agent in stats["agents"]:
        old = was.get(agent["name"])
        for key, count in (("handled/s", "handled"), ("sent/s", "sent")):
            agent[key] = (
                f"{(agent[count] - old[count]) / span:,.1f}"
                if old is not None and span > 0
                else "-"
            )
        busy = agent["handler_time"]
        agent["busy"] = (
            "-"
            if busy is None
            else f"{(busy - old['handler_time']) / span:.0%}"
            if old is not None and span > 0
            else f"{busy:.3f}s"
        )


def _table(stats: dict[str, Any], before: dict[str, Any] | None = None) -> Any:
    from rich.table import Table  # the terminal's: loaded when a table is printed

    table = Table(title=f"{stats['address']}  t={stats['time']:.3f}")
    for key, heading in zip(_COLUMNS, _HEADINGS + _COLUMNS[len(_HEADINGS) :], strict=True):
        table.add_column(heading, justify="right" if key in _NUMBERS else "left")
    _rates(stats, before)
    for agent in stats["agents"]:
        table.add_row(*(str(agent[key]) for key in _COLUMNS))
    dead = ", ".join(f"{reason}: {n}" for reason, n in sorted(stats["dead_letters"].items()))
    table.caption = f"dead letters: {dead or 'none'}"
    return table


def _print_table(stats: dict[str, Any]) -> None:
    from rich.console import Console

    Console(width=120).print(_table(stats))


@click.command()
@click.argument("address", envvar="TRIOMAS_ADDRESS")
@_secret
@_timeout
@_json
def agents(address: str, secret_file: Path | None, timeout: float, as_json: bool) -> None:
    """List the agents of the node at ADDRESS: name, class, state, incarnation,
    restarts, mailbox depth, messages in, handled and out, and handler time."""
    stats = _stats(address, secret_file, timeout)
    if as_json:
        click.echo(json.dumps(stats["agents"], indent=2))
    else:
        _print_table(stats)


@click.command()
@click.argument("address", envvar="TRIOMAS_ADDRESS")
@_secret
@_timeout
@click.option("--interval", default=1.0, show_default=True, help="seconds between frames")
@click.option("--once", is_flag=True, help="print one frame and exit (for scripts)")
@_json
def top(
    address: str,
    secret_file: Path | None,
    timeout: float,
    interval: float,
    once: bool,
    as_json: bool,
) -> None:
    """A live table of the node's agents: mailbox depths, messages in, handled and out
    and their rates, the share of time in handlers (busy), restarts and dead letters."""
    if once or as_json:
        stats = _stats(address, secret_file, timeout)
        click.echo(json.dumps(stats, indent=2)) if as_json else _print_table(stats)
        return
    from rich.live import Live

    async def body(client: Any) -> None:
        node = await _node(client, address, timeout)
        before = await node.stats()
        with Live(_table(before), auto_refresh=False) as live:
            while True:
                await trio.sleep(interval)
                now = await node.stats()
                live.update(_table(now, before), refresh=True)
                before = now

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the live view
        _talk(address, secret_file, timeout, body)


@click.command()
@click.argument("target")
@click.argument("type_name", metavar="TYPE")
@click.argument("fields", metavar="JSON", default="{}")
@click.option("--ask", is_flag=True, help="wait for the answer and print it as JSON")
@_secret
@_timeout
def send(
    target: str,
    type_name: str,
    fields: str,
    ask: bool,
    secret_file: Path | None,
    timeout: float,
) -> None:
    """Send (or --ask) one message to TARGET (ADDRESS/agent). TYPE is a message tag of a
    class this process knows, or its import path (MODULE:CLASS); JSON holds its fields,
    structured by the codec."""
    try:
        cls = load(type_name) if ":" in type_name else message_class(type_name)
        values = json.loads(fields)
        msg = DEFAULT_CODEC.converter.structure(values, cls)
    except (LookupError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise click.UsageError(f"cannot make a {type_name} of {fields}: {exc}") from None
    address = target.rpartition("/")[0]

    async def body(client: Any) -> Any:
        if ask:
            return await client.ask(target, msg, timeout=timeout)
        client.send(target, msg)
        return None

    answer = _talk(address, secret_file, timeout, body)
    if ask:
        click.echo(json.dumps(DEFAULT_CODEC.converter.unstructure(answer), default=str))


@click.command()
@click.argument("address", envvar="TRIOMAS_ADDRESS")
@_secret
@_timeout
def stop(address: str, secret_file: Path | None, timeout: float) -> None:
    """Shut the node at ADDRESS down: its agents stop in order, then it exits 0."""

    async def body(client: Any) -> None:
        node = await _node(client, address, timeout)
        await node.shutdown()

    _talk(address, secret_file, timeout, body)
    click.echo(f"{address}: stopping")
