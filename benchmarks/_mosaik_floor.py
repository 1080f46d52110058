"""The floor of the mosaik benchmark's ``cmd`` simulators: the same running sum, answered
by a blocking socket loop with no event loop and no framework at all (one ``recv`` and
one ``sendall`` per call). Run by mosaik's ``cmd`` starter: ``_mosaik_floor.py HOST:PORT``.
Only what the benchmark's World calls is answered."""

from __future__ import annotations

import json
import socket
import struct
import sys
from typing import Any

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Summer": {"public": True, "params": [], "attrs": ["x", "total"]}},
}


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def main(addr: str) -> None:
    host, _, port = addr.rpartition(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    totals: dict[str, float] = {}
    step_size = 1
    while True:
        try:
            (size,) = struct.unpack("!I", _read(sock, 4))
            _, msg_id, (func, args, kwargs) = json.loads(_read(sock, size))
        except EOFError:
            return
        result: Any = None
        if func == "init":
            step_size = kwargs.get("step_size", 1)
            result = META
        elif func == "create":
            eids = [f"Summer_{n}" for n in range(len(totals), len(totals) + args[0])]
            totals.update(dict.fromkeys(eids, 0.0))
            result = [{"eid": eid, "type": args[1]} for eid in eids]
        elif func == "step":
            for eid, attrs in args[1].items():
                totals[eid] += sum(attrs.get("x", {}).values())
            result = args[0] + step_size
        elif func == "get_data":
            result = {eid: {"total": totals[eid]} for eid in args[0]}
        elif func == "stop":
            return
        data = json.dumps([1, msg_id, result]).encode()
        sock.sendall(struct.pack("!I", len(data)) + data)


if __name__ == "__main__":
    main(sys.argv[1])
