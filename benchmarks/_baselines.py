"""Baselines without an actor runtime: raw trio channels and a plain deque loop."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from _harness import Sample, clock
from _messages import Item, Ping


def trio_pingpong(round_trips: int, buffer: float, *, awaiting: bool = False) -> Sample:
    """Two tasks, two memory channels: send a Ping, wait for the answer, repeat.

    With ``awaiting``, the responder awaits ``trio.lowlevel.checkpoint()`` before it
    answers: the baseline of an ask to an agent whose async handler awaits once.
    """

    async def main() -> Sample:
        to_ponger, ponger_inbox = trio.open_memory_channel[Ping](buffer)
        to_pinger, pinger_inbox = trio.open_memory_channel[int](buffer)
        checkpoint = trio.lowlevel.checkpoint

        async def ponger() -> None:
            async for msg in ponger_inbox:
                await to_pinger.send(msg.n + 1)

        async def awaiting_ponger() -> None:
            async for msg in ponger_inbox:
                await checkpoint()
                await to_pinger.send(msg.n + 1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(awaiting_ponger if awaiting else ponger)
            await trio.testing.wait_all_tasks_blocked()
            start = clock()
            for i in range(round_trips):
                await to_ponger.send(Ping(i))
                if await pinger_inbox.receive() != i + 1:
                    raise AssertionError("wrong reply")
            elapsed = clock() - start
            nursery.cancel_scope.cancel()
        return Sample(round_trips, elapsed)

    return trio.run(main)


def trio_fanout(receivers: int, per_receiver: int) -> Sample:
    """One sender task ``send_nowait``s to ``receivers`` tasks, each with its own channel.

    Messages go round-robin (one to every receiver, ``per_receiver`` times); the
    clock stops when the last receiver has handled its last message.
    """
    total = receivers * per_receiver

    async def main() -> Sample:
        done = trio.Event()
        handled = 0

        async def receiver(inbox: trio.MemoryReceiveChannel[Item]) -> None:
            nonlocal handled
            async for _ in inbox:
                handled += 1
                if handled == total:
                    done.set()

        async with trio.open_nursery() as nursery:
            outboxes = []
            for _ in range(receivers):
                tx, rx = trio.open_memory_channel[Item](math.inf)
                outboxes.append(tx)
                nursery.start_soon(receiver, rx)
            await trio.testing.wait_all_tasks_blocked()
            start = clock()
            for j in range(per_receiver):
                for tx in outboxes:
                    tx.send_nowait(Item(j))
            await done.wait()
            elapsed = clock() - start
            nursery.cancel_scope.cancel()
        if handled != total:
            raise AssertionError(f"handled {handled} of {total}")
        return Sample(total, elapsed)

    return trio.run(main)


def deque_dispatch(messages: int) -> Sample:
    """The floor of any mailbox: build a message, append it, popleft it, look up and call."""
    handled = 0

    def on_item(msg: Item) -> None:
        nonlocal handled
        handled += 1

    handlers: dict[type, Callable[[Any], None]] = {Item: on_item}
    mailbox: deque[Item] = deque()
    start = clock()
    for i in range(messages):
        mailbox.append(Item(i))
        while mailbox:
            msg = mailbox.popleft()
            handlers[type(msg)](msg)
    elapsed = clock() - start
    if handled != messages:
        raise AssertionError("lost messages")
    return Sample(messages, elapsed)


def deque_dispatch_batched(messages: int, batch: int = 100) -> Sample:
    """The same with the mailbox filled ``batch`` messages at a time, then drained."""
    handled = 0

    def on_item(msg: Item) -> None:
        nonlocal handled
        handled += 1

    handlers: dict[type, Callable[[Any], None]] = {Item: on_item}
    mailbox: deque[Item] = deque()
    start = clock()
    for i in range(0, messages, batch):
        for j in range(i, min(i + batch, messages)):
            mailbox.append(Item(j))
        while mailbox:
            msg = mailbox.popleft()
            handlers[type(msg)](msg)
    elapsed = clock() - start
    if handled != messages:
        raise AssertionError("lost messages")
    return Sample(messages, elapsed)


def deque_fanout(receivers: int, per_receiver: int, entry: str) -> Sample:
    """The floor of a fan-out with no runtime at all: a deque per receiver, filled
    round-robin like :func:`trio_fanout`'s channels, then drained with a lookup and call.

    ``entry`` is what a message costs in the deque: ``"bare"`` the message alone
    (nobody knows who sent it when), ``"tuple"`` a ``(message, sender, time)``
    tuple, ``"three"`` those three as separate entries (no object per message).
    """
    handled = 0

    def on_item(msg: Item) -> None:
        nonlocal handled
        handled += 1

    handlers: dict[type, Callable[[Any], None]] = {Item: on_item}
    boxes: list[deque[Any]] = [deque() for _ in range(receivers)]
    sender = object()
    start = clock()
    if entry == "bare":
        for j in range(per_receiver):
            for box in boxes:
                box.append(Item(j))
        for box in boxes:
            while box:
                msg = box.popleft()
                handlers[type(msg)](msg)
    elif entry == "tuple":
        for j in range(per_receiver):
            for box in boxes:
                box.append((Item(j), sender, clock()))
        for box in boxes:
            while box:
                msg = box.popleft()[0]
                handlers[type(msg)](msg)
    elif entry == "three":
        for j in range(per_receiver):
            for box in boxes:
                box.append(Item(j))
                box.append(sender)
                box.append(clock())
        for box in boxes:
            pop = box.popleft
            while box:
                msg = pop()
                pop()
                pop()
                handlers[type(msg)](msg)
    else:
        raise ValueError(f"unknown entry kind {entry!r}")
    elapsed = clock() - start
    if handled != receivers * per_receiver:
        raise AssertionError("lost messages")
    return Sample(handled, elapsed)
