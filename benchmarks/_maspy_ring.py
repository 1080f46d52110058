"""The BDI tell ring on MASPY, one run per process: ``python _maspy_ring.py AGENTS HOPS``.

The same workload as ``_bdi_bench.tell_ring``: ``AGENTS`` agents in a ring, each starts
one token (its initial belief ``token(1)``), and the plan for ``gain token(h)`` tells the
next agent ``token(h + 1)`` until ``HOPS`` hops: ``AGENTS * HOPS`` plans run. MASPY's
``Admin`` is a process-wide singleton that keeps every agent it ever made, and each
agent owns threads (a cycle thread and two pools), so every repetition runs in a fresh
process. The clock runs from the first plan to the last. The last line on stdout (after
whatever MASPY printed there) is one JSON object: ``messages`` (plans run) and ``seconds``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from maspy import Admin, Agent, Belief, gain, pl, tell
from maspy import Any as AnyValue


class _Tally:
    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.lock = threading.Lock()
        self.start: float | None = None
        self.end: float | None = None

    def one(self) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.start is None:
                self.start = now
            self.count += 1
            last = self.count == self.total
        if last:
            self.end = time.perf_counter()
            Admin().stop_system()


class Ring(Agent):
    def __init__(self, hops: int, after: str, tally: _Tally) -> None:
        super().__init__("Ring", beliefs=Belief("token", 1))
        self.hops = hops
        self.after = after
        self.tally = tally

    @pl(gain, Belief("token", AnyValue))
    def token(self, src: Any, h: int) -> None:
        self.tally.one()
        if h < self.hops:
            self.send(self.after, tell, Belief("token", h + 1))


def main() -> int:
    agents, hops = int(sys.argv[1]), int(sys.argv[2])
    tally = _Tally(agents * hops)
    admin = Admin()
    for k in range(agents):
        Ring(hops, f"Ring_{(k + 1) % agents + 1}", tally)
    admin.start_system()  # returns once every agent has stopped (it polls every second)
    if tally.start is None or tally.end is None or tally.count != tally.total:
        print(json.dumps({"error": f"{tally.count} of {tally.total} plans ran"}), flush=True)
        return 1
    seconds = tally.end - tally.start
    print(json.dumps({"messages": tally.total, "seconds": seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
