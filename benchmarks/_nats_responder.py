"""The responder of ``net_nats_seq``'s ``blocking-3-process`` row: a blocking socket that
answers every message on ``echo`` with one on ``reply``, no event loop at all. Run as
``_nats_responder.py HOST PORT``; prints ``ready`` once subscribed."""

from __future__ import annotations

import socket
import sys


def main(host: str, port: int) -> None:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.recv(65536)  # INFO
    sock.sendall(b'CONNECT {"verbose":false,"echo":false}\r\nSUB echo 1\r\nPING\r\n')
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


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
