"""The same workloads on the peers, where they are installed: MASlite, Pykka and MASPY.

MASlite (a batch scheduler: every agent's ``update()`` runs once per round, mail is
distributed between rounds) is the reference for the virtual-time workloads.
Pykka (one thread per actor) is the reference for the live ones. aiomas (RPC on
asyncio) is the reference for the network ones, with mango beside it; their workloads
are in ``_aiomas_bench.py`` and ``_mango_bench.py``, as their callees run in a child
process (``AIOMAS_MISSING`` and ``MANGO_MISSING`` there say why one cannot run).
MASPY (BDI agents on threads; PyPI ``maspy-ml``, Python >= 3.12) is the reference for
the BDI tell ring, run by ``_maspy_ring.py`` in a fresh process per repetition; where it
does not import, ``MASPY_MISSING`` says why and only its published figures are quoted.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from _harness import Sample, clock
from _messages import Go, Item, Ping

try:
    import maslite
except ImportError:  # pragma: no cover - optional peer
    maslite = None

try:
    import pykka
except ImportError:  # pragma: no cover - optional peer
    pykka = None

HAVE_MASLITE = maslite is not None
HAVE_PYKKA = pykka is not None


def _maspy_missing() -> str | None:
    """Why MASPY cannot be benchmarked here, or None if it imports.

    MASPY is published on PyPI as ``maspy-ml`` (the ``maspy`` name there is an unrelated
    proteomics library) and needs Python >= 3.12. Importing it pulls in pandas, so it is
    only tried on such a Python.
    """
    if sys.version_info < (3, 12):
        return f"MASPY needs Python >= 3.12, this is {sys.version.split()[0]}"
    try:
        from maspy import Admin, pl  # noqa: F401
    except Exception as exc:
        return f"import maspy failed: {type(exc).__name__}: {exc} (pip install maspy-ml)"
    return None


MASPY_MISSING = _maspy_missing()
HAVE_MASPY = MASPY_MISSING is None

MASPY_PUBLISHED = {10: 6_000.0, 1000: 1_000.0}
"""MASPY's tell throughput as released, in messages per second, by number of agents:
published figures (the BDI spec, shared/specs/bdi-kqml.md), not measured here."""


def _quiet_logger() -> logging.Logger:
    # MASlite logs every add() at DEBUG on stderr unless it is given a logger.
    logger = logging.getLogger("benchmarks.maslite")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return logger


# ---- MASlite ----------------------------------------------------------------------------

if maslite is not None:

    class MBall(maslite.AgentMessage):
        def __init__(self, sender: Any, receiver: Any, n: int) -> None:
            super().__init__(sender=sender, receiver=receiver)
            self.n = n

    class MItem(maslite.AgentMessage):
        def __init__(self, sender: Any, receiver: Any, n: int) -> None:
            super().__init__(sender=sender, receiver=receiver)
            self.n = n

    class MGo(maslite.AgentMessage):
        pass

    class MBouncer(maslite.Agent):
        def __init__(self, hops: int, peer: Any = None) -> None:
            super().__init__()
            self.hops = hops
            self.peer = peer
            self.seen = 0

        def setup(self) -> None:
            if self.peer is not None:
                self.send(MBall(self.uuid, self.peer, 1))

        def update(self) -> None:
            while self.messages:
                msg = self.receive()
                self.seen += 1
                if msg.n < self.hops:
                    self.send(MBall(self.uuid, msg.sender, msg.n + 1))

    class MSink(maslite.Agent):
        def __init__(self) -> None:
            super().__init__()
            self.seen = 0

        def update(self) -> None:
            while self.messages:
                self.receive()
                self.seen += 1

    class MSender(maslite.Agent):
        def __init__(self, targets: list[Any], per_receiver: int) -> None:
            super().__init__()
            self.targets = targets
            self.per_receiver = per_receiver

        def update(self) -> None:
            while self.messages:
                self.receive()
                me = self.uuid
                send = self.send
                targets = self.targets
                for j in range(self.per_receiver):
                    for uuid in targets:
                        send(MItem(me, uuid, j))


def maslite_pingpong(hops: int) -> Sample:
    """Two MASlite agents bounce one message ``hops`` times; ``run(pause_if_idle=True)``."""
    assert maslite is not None
    scheduler = maslite.Scheduler(logger=_quiet_logger(), real_time=False)
    start = clock()
    b = MBouncer(hops)
    scheduler.add(b)
    a = MBouncer(hops, b.uuid)
    scheduler.add(a)
    scheduler.run(pause_if_idle=True)
    elapsed = clock() - start
    if a.seen + b.seen != hops:
        raise AssertionError("lost balls")
    return Sample(hops, elapsed)


def maslite_fanout(receivers: int, per_receiver: int) -> Sample:
    """1 sender → ``receivers`` MASlite agents x ``per_receiver`` messages, until idle."""
    assert maslite is not None
    scheduler = maslite.Scheduler(logger=_quiet_logger(), real_time=False)
    sinks = [MSink() for _ in range(receivers)]
    for sink in sinks:
        scheduler.add(sink)
    sender = MSender([s.uuid for s in sinks], per_receiver)
    scheduler.add(sender)
    scheduler.run(pause_if_idle=True)
    start = clock()
    sender.inbox.append(MGo(None, sender.uuid))
    scheduler.run(pause_if_idle=True)
    elapsed = clock() - start
    total = receivers * per_receiver
    if sum(s.seen for s in sinks) != total:
        raise AssertionError("lost messages")
    return Sample(total, elapsed)


# ---- Pykka ------------------------------------------------------------------------------

if pykka is not None:

    class PPonger(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message.n + 1

    class PAsker(pykka.ThreadingActor):
        def __init__(self, peer: Any) -> None:
            super().__init__()
            self.peer = peer

        def on_receive(self, message: Any) -> Any:
            peer = self.peer
            start = clock()
            for i in range(message.n):
                if peer.ask(Ping(i)) != i + 1:
                    raise AssertionError("wrong reply")
            return clock() - start

    class PSink(pykka.ThreadingActor):
        def __init__(self, per_receiver: int, countdown: list[int], lock: Any, done: Any) -> None:
            super().__init__()
            self.left = per_receiver
            self.countdown = countdown
            self.lock = lock
            self.done = done

        def on_receive(self, message: Any) -> Any:
            self.left -= 1
            if self.left == 0:
                with self.lock:
                    self.countdown[0] -= 1
                    if self.countdown[0] == 0:
                        self.done.set()

    class PSender(pykka.ThreadingActor):
        def __init__(self, targets: list[Any], per_receiver: int) -> None:
            super().__init__()
            self.targets = targets
            self.per_receiver = per_receiver

        def on_receive(self, message: Any) -> Any:
            targets = self.targets
            for j in range(self.per_receiver):
                for ref in targets:
                    ref.tell(Item(j))


def pykka_ask(round_trips: int) -> Sample:
    """One Pykka actor asks another ``round_trips`` times in a row (blocking ``ask``)."""
    assert pykka is not None
    try:
        ponger = PPonger.start()
        asker = PAsker.start(ponger)
        elapsed = asker.ask(Go(round_trips))
    finally:
        pykka.ActorRegistry.stop_all()
    return Sample(round_trips, elapsed)


def pykka_fanout(receivers: int, per_receiver: int) -> Sample:
    """1 sender actor tells ``receivers`` Pykka actors (threads) ``per_receiver`` times each."""
    assert pykka is not None
    countdown = [receivers]
    lock = threading.Lock()
    done = threading.Event()
    try:
        sinks = [PSink.start(per_receiver, countdown, lock, done) for _ in range(receivers)]
        sender = PSender.start(sinks, per_receiver)
        start = clock()
        sender.tell(Go(0))
        if not done.wait(timeout=300):
            raise AssertionError("the fan-out did not finish")
        elapsed = clock() - start
    finally:
        pykka.ActorRegistry.stop_all()
    return Sample(receivers * per_receiver, elapsed)


# ---- MASPY ------------------------------------------------------------------------------


def maspy_tell_ring(agents: int, total: int) -> Sample:
    """The BDI tell ring on MASPY (``_maspy_ring.py``), in a fresh process.

    ``agents`` tokens of ``total // agents`` hops; the clock (in the child) runs from the
    first plan to the last, so the start of its threads and its shutdown are not timed.
    """
    hops = total // agents
    script = Path(__file__).resolve().with_name("_maspy_ring.py")
    cmd = [sys.executable, str(script), str(agents), str(hops)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = (lines[-1] if lines else "") + proc.stderr.strip()[-500:]
        raise RuntimeError(f"_maspy_ring.py {agents} {hops} failed: {why}")
    result = json.loads(lines[-1])
    return Sample(result["messages"], result["seconds"])
