"""TLS (trustme certificates, client certificates) and authentication (token,
user/password, nkey) against a real nats-server; wrong credentials fail with a typed
error at once, not a hang."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from nats_server import Launcher, nats_servers
from triomas._net.nats import NatsAuthorizationError, NatsConnectionError, open_nats

LIMIT = 10.0


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Launcher]:
    async with nats_servers(tmp_path) as launcher:
        yield launcher


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_cert(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def round_trip(url: str, **options: object) -> bytes:
    async with open_nats(url, **options) as nc:  # type: ignore[arg-type]
        nc.subscribe("echo", lambda m: nc.publish(m.reply or "", m.payload))
        await nc.flush()
        return (await nc.request("echo", b"secret", timeout=LIMIT)).payload


async def test_tls(servers: Launcher, ca: trustme.CA, server_cert: tuple[Path, Path]) -> None:
    server = await servers.start(tls=server_cert)
    context = client_context(ca)
    assert await round_trip(server.url, ssl_context=context) == b"secret"
    tls_url = server.url.replace("nats://", "tls://")
    assert await round_trip(tls_url, ssl_context=context) == b"secret"
    # The server requires TLS: without a context, the default one does not trust
    # the test CA.
    with pytest.raises(NatsConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await round_trip(server.url)
    # A certificate for another name.
    with pytest.raises(NatsConnectionError):
        await round_trip(server.url, ssl_context=context, tls_hostname="other.example")


async def test_tls_with_client_certificates(
    servers: Launcher, ca: trustme.CA, server_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = await servers.start(tls=server_cert, tls_verify=ca_file)
    context = client_context(ca)
    with pytest.raises(NatsConnectionError):
        await round_trip(server.url, ssl_context=context)
    ca.issue_cert("client@example.com").configure_cert(context)
    assert await round_trip(server.url, ssl_context=context) == b"secret"


async def test_tls_demanded_of_a_plain_server(servers: Launcher, ca: trustme.CA) -> None:
    server = await servers.start()
    with pytest.raises(NatsConnectionError, match="does not offer TLS"):
        await round_trip(server.url.replace("nats://", "tls://"), ssl_context=client_context(ca))


async def test_token(servers: Launcher) -> None:
    server = await servers.start(token="s3cret")
    assert await round_trip(server.url, token="s3cret") == b"secret"
    assert await round_trip(server.url.replace("//", "//s3cret@")) == b"secret"
    with trio.fail_after(LIMIT), pytest.raises(NatsAuthorizationError, match="Authorization"):
        await round_trip(server.url, token="wrong")
    with trio.fail_after(LIMIT), pytest.raises(NatsAuthorizationError):
        await round_trip(server.url)


async def test_user_password(servers: Launcher) -> None:
    server = await servers.start(user="alice", password="p@ss word")
    assert await round_trip(server.url, user="alice", password="p@ss word") == b"secret"
    assert await round_trip(server.url.replace("//", "//alice:p%40ss%20word@")) == b"secret"
    with trio.fail_after(LIMIT), pytest.raises(NatsAuthorizationError) as info:
        await round_trip(server.url, user="alice", password="nope")
    assert "Authorization Violation" in info.value.message


async def test_nkey(servers: Launcher) -> None:
    nkeys = pytest.importorskip("nkeys")
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    public = nkeys.from_seed(seed.encode()).public_key.decode()
    assert seed.startswith("SU")
    assert public.startswith("U")
    server = await servers.start(nkey=public)
    assert await round_trip(server.url, nkey_seed=seed) == b"secret"
    other = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    with trio.fail_after(LIMIT), pytest.raises(NatsAuthorizationError):
        await round_trip(server.url, nkey_seed=other)
    with pytest.raises(NatsAuthorizationError, match="not valid"):
        await round_trip(server.url, nkey_seed="SUnot-a-seed")
    with trio.fail_after(LIMIT), pytest.raises(NatsAuthorizationError):
        await round_trip(server.url)


async def test_tls_handshake_first(
    servers: Launcher, ca: trustme.CA, server_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tmp_path / "tls-first.conf"
    cert, key = server_cert
    config.write_text(
        f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n  handshake_first: true\n}}\n'
    )
    server = await servers.start(extra=["-c", str(config)])
    context = client_context(ca)
    assert await round_trip(server.url, ssl_context=context, tls_handshake_first=True) == b"secret"
    # A client waiting for a plaintext INFO gets none: the handshake times out.
    with pytest.raises(NatsConnectionError):
        await round_trip(server.url, ssl_context=context, connect_timeout=0.5)
