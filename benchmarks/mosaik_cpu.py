"""A mosaik simulator's own cost per step, with mosaik itself taken out: a blocking
socket stands in for mosaik and makes the calls of the ``mosaik_world`` World (``step``
with one input, then ``get_data``) to the simulator in a child process, started as
mosaik's ``cmd`` starter would. Standalone: not part of ``run.py``; needs the mosaik
extra only for the ``mosaik-api-v3`` simulator.

Usage::

    python benchmarks/mosaik_cpu.py [--steps 5000] [--reps 3] [--only triomas,mosaik-api-v3,floor]

Per step: the wall time of the two calls as this side sees them, and the child's CPU
time (psutil, user and system). In a real World mosaik's own scheduling is most of a
step (docs/mosaik.md); this is the part the simulator can change.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
COMMANDS = {
    "triomas": ["-m", "triomas", "mosaik", "_mosaik_peer:summing"],
    "mosaik-api-v3": [str(HERE / "_mosaik_peer.py")],
    "floor": [str(HERE / "_mosaik_floor.py")],
}


class FakeMosaik:
    """mosaik's end of one simulator's connection, on a blocking socket."""

    def __init__(self, impl: str) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        host, port = self.listener.getsockname()[:2]
        addr = f"{host}:{port}"
        path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
        self.child = subprocess.Popen(
            [sys.executable, *COMMANDS[impl], addr],
            env={**os.environ, "PYTHONPATH": path},
            stderr=subprocess.DEVNULL,
        )
        self.conn, _ = self.listener.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.conn.makefile("rb")
        self.last_id = 0

    def call(self, func: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        self.last_id += 1
        data = json.dumps([0, self.last_id, [func, args, kwargs or {}]]).encode()
        self.conn.sendall(struct.pack("!I", len(data)) + data)
        (size,) = struct.unpack("!I", self.reader.read(4))
        kind, msg_id, content = json.loads(self.reader.read(size))
        if kind != 1 or msg_id != self.last_id:
            raise AssertionError(f"{func}: {content!r}")
        return content

    def close(self) -> None:
        self.last_id += 1
        data = json.dumps([0, self.last_id, ["stop", [], {}]]).encode()
        self.conn.sendall(struct.pack("!I", len(data)) + data)
        self.child.wait(10)
        self.conn.close()
        self.listener.close()


def measure(impl: str, steps: int, reps: int) -> list[dict[str, Any]]:
    """``reps`` runs of ``steps`` steps against one child of ``impl``."""
    mosaik = FakeMosaik(impl)
    try:
        mosaik.call("init", ["Sim"], {"time_resolution": 1.0, "step_size": 1})
        [entity] = mosaik.call("create", [1, "Summer"])
        eid = entity["eid"]
        mosaik.call("setup_done", [])
        child = psutil.Process(mosaik.child.pid)
        rows = []
        for rep in range(reps):
            before, start = child.cpu_times(), time.perf_counter()
            for t in range(rep * steps, (rep + 1) * steps):
                inputs = {eid: {"x": {"Input-0.f": float(t % 7)}}}
                if mosaik.call("step", [t, inputs, 10**9]) != t + 1:
                    raise AssertionError("a wrong next step")
                mosaik.call("get_data", [{eid: ["total"]}])
            elapsed, after = time.perf_counter() - start, child.cpu_times()
            rows.append(
                {
                    "impl": impl,
                    "wall_us_per_step": round(elapsed / steps * 1e6, 1),
                    "child_user_us": round((after.user - before.user) / steps * 1e6, 1),
                    "child_system_us": round((after.system - before.system) / steps * 1e6, 1),
                }
            )
        return rows
    finally:
        mosaik.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default=",".join(COMMANDS))
    args = parser.parse_args()
    for impl in args.only.split(","):
        for row in measure(impl, args.steps, args.reps):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
