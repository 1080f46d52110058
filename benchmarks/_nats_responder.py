"""The responder of ``net_nats_seq``'s three-process floors: it answers every message on
``echo`` with one on ``reply``, on a blocking socket with no event loop at all
(``_nats_responder.py HOST PORT``, the ``blocking-3-process`` row), or in one plain trio
task on a trio stream (``... HOST PORT trio``, the ``trio-3-process`` row). It prints
``ready`` once subscribed."""

from __future__ import annotations

import socket
import sys

import trio

CONNECT = b'CONNECT {"verbose":false,"echo":false}\r\nSUB echo 1\r\nPING\r\n'


def main(host: str, port: int) -> None:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.recv(65536)  # INFO
    sock.sendall(CONNECT)
    data = b""
    while b"PONG" not in data:
        data += sock.recv(65536)
    print("ready", flush=True)
    data = b""
    while True:
        while b"x\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        data = b""
        sock.sendall(b"PUB reply 1\r\nx\r\n")


async def trio_main(host: str, port: int) -> None:
    stream = await trio.open_tcp_stream(host, port)
    await stream.receive_some(65536)  # INFO
    await stream.send_all(CONNECT)
    data = b""
    while b"PONG" not in data:
        data += await stream.receive_some(65536)
    print("ready", flush=True)
    data = b""
    while True:
        while b"x\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            data += chunk
        data = b""
        await stream.send_all(b"PUB reply 1\r\nx\r\n")


if __name__ == "__main__":
    if sys.argv[3:] == ["trio"]:
        trio.run(trio_main, sys.argv[1], int(sys.argv[2]))
    else:
        main(sys.argv[1], int(sys.argv[2]))
