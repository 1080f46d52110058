"""Agents for the accounting tests (``test_network_accounting``), also spawned in
child-process nodes by import path ``accounting_agents:Name``."""

from __future__ import annotations

from typing import IO

from triomas import Agent, message, on

PAD = b"x" * 1000
"""What makes an :class:`Item` about 1 KiB on the wire."""

LINE = 16
"""Bytes of one line a :class:`Recorder` writes: ``"%07d %07d\\n"`` (id, backlog)."""


@message(tag="acct.Item")
class Item:
    """One numbered message of a stream."""

    n: int
    pad: bytes


class Sink(Agent):
    """Appends the number of every :class:`Item` it handles to ``got`` (same process)."""

    def __init__(self, got: list[int]) -> None:
        self.got = got

    @on(Item)
    def item(self, msg: Item) -> None:
        self.got.append(msg.n)


class Recorder(Agent):
    """Records every :class:`Item` it handles durably: one line per message, appended
    and flushed to the OS before the next one, so that a SIGKILL loses none of them.

    Each line also holds the number of messages waiting behind it in the mailbox
    (read from the socket, not handled yet): what a SIGKILL loses at the receiver.
    """

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a")  # noqa: SIM115 (closed in teardown)

    @on(Item)
    def item(self, msg: Item) -> None:
        line = f"{msg.n:07d} {len(self.messages):07d}\n"
        assert len(line) == LINE
        self._file.write(line)
        self._file.flush()

    async def teardown(self) -> None:
        self._file.close()
