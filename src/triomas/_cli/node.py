"""``triomas node``: a container as a service, until SIGTERM or SIGINT."""

from __future__ import annotations

import ssl
from pathlib import Path

import click
import trio

from .._node import allow_from_env, run_node
from .common import fail_cleanly, read_secret


def _tls(
    cert: Path | None, key: Path | None, ca: Path | None
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """The server and client TLS contexts of ``--tls-cert/--tls-key/--tls-ca``, if given."""
    if cert is None and key is None and ca is None:
        return None, None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=ca)
    client.load_cert_chain(cert, key)
    if ca is not None:
        server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: peers show a cert of this CA
    return server, client


@click.command()
@click.option(
    "--address",
    envvar="TRIOMAS_ADDRESS",
    default="tcp://127.0.0.1:0",
    show_default=True,
    help="where to listen (env TRIOMAS_ADDRESS)",
)
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="NAME=MODULE:CLASS",
    help="an agent to start at once, by import path; repeatable",
)
@click.option(
    "--allow",
    multiple=True,
    metavar="MODULE[:CLASS]",
    help="an agent class (or module of them) peers may start here; repeatable",
)
@click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file holding the shared secret peers must prove (else env TRIOMAS_SECRET)",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the CA peers' certificates must come from (mutual TLS)",
)
@click.option("--codec", metavar="MODULE:NAME", help="a triomas.Codec with your hooks")
@click.option(
    "--nats",
    metavar="URL",
    help="join the NATS cluster of this server (nats://host:4222) instead of --address",
)
@click.option("--name", help="the container's name in the NATS cluster (default: random)")
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="seconds between liveness beats; peers silent for 3 are declared down",
)
@click.option(
    "--watch-stdin",
    is_flag=True,
    help="stop when stdin closes (how a spawning parent's death is noticed)",
)
def node(
    address: str,
    agents: tuple[str, ...],
    allow: tuple[str, ...],
    secret_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    codec: str | None,
    nats: str | None,
    name: str | None,
    heartbeat: float,
    watch_stdin: bool,
) -> None:
    """Run a container as a service until SIGTERM or SIGINT (a second one forces the
    stop). It prints `triomas-node ADDRESS` once it listens; its `node` agent answers
    `triomas agents`, `top`, `send` and `stop`, behind the node's secret and TLS."""
    start: list[tuple[str, str]] = []
    for entry in agents:
        agent, sep, path = entry.partition("=")
        if not sep or not agent or not path:
            raise click.BadParameter(f"{entry!r} is not NAME=MODULE:CLASS", param_hint="--agent")
        start.append((agent, path))
    ssl_server, ssl_client = _tls(tls_cert, tls_key, tls_ca)
    secret = read_secret(secret_file)
    allowed = [*allow_from_env(), *allow, *(path for _, path in start)]
    if name is not None and nats is None and not address.startswith("nats://"):
        raise click.UsageError("--name is the container's name in a NATS cluster: give --nats")
    fail_cleanly(
        lambda: trio.run(
            lambda: run_node(
                nats if nats is not None else address,
                secret,
                codec,
                watch_stdin,
                allowed,
                start=start,
                ssl_server=ssl_server,
                ssl_client=ssl_client,
                name=name,
                heartbeat=heartbeat,
            )
        )
    )
