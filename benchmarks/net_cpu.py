"""CPU time per round trip on each side of an ask across processes, over TCP on loopback.
Standalone: not part of ``run.py``.

Usage::

    python benchmarks/net_cpu.py [--requests 20000] [--reps 3] [--only triomas-ask,...] [--json]

Where does the time of one ask go, in the process that asks and in the one that answers,
beside a raw trio client that coalesces its writes and beside aiomas on asyncio? On a
busy 2-core machine the round trips per second of ``net_seq_tcp`` and
``net_inflight_tcp`` move by 10-30 % from run to run; the CPU spent per round trip moves
less, since time spent waiting for a CPU is not counted (what a busy machine does to
caches and wake-ups still is). This script runs the workloads of those two benchmarks
(the same functions, ``_net_raw.py``, ``_net_bench.py``, ``_aiomas_bench.py``,
``_mango_bench.py``) and reads, over the timed part only, this process's CPU time
(``resource.getrusage``, user and system) and the callee's
(``psutil.Process(pid).cpu_times()`` of the child, before and after).

Shapes: ``sequential`` (one request at a time) and ``inflight`` (100 tasks asking in a
loop on one connection). Implementations: ``raw-trio`` (send a frame, read the reply;
sequential only), ``raw-trio-rpc-coalesced`` (a reader task wakes each requester by id,
a writer task sends all that queued with one ``send_all``; one requester when
sequential), ``triomas-ask`` (``container.ask`` to an agent in a node from
``spawn_container``), ``aiomas-msgpack`` and ``aiomas-json`` (aiomas RPC with either
codec), ``mango`` (tracked messages between two mango agents). Each repetition starts a
fresh child; repetitions are interleaved across implementations, and the best of
``--reps`` by throughput is reported with that repetition's CPU figures. The child's
figures come in the kernel's clock ticks (10 ms on Linux): ``callee_tick_us`` says what
one tick is per round trip, so keep the timed part long enough. On each side the sum of
user and system time is what the process ran; Linux splits it between the two in the
proportion of sampled ticks, so the split is an estimate.

One JSON line per (implementation, shape), then a table (only the JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

import _aiomas_bench as aiomas_bench
import _mango_bench as mango_bench
import _net_bench as net
import _net_raw as raw
import psutil
from _harness import Probe, Sample

WARMUP = 500  # as run.py's NET_WARMUP
IN_FLIGHT = 100  # as run.py's NET_IN_FLIGHT

Run = Callable[[int, Probe], Sample]
"""One repetition of ``requests`` round trips, with the probe to bracket the timed part."""


def implementations() -> dict[str, dict[str, Run]]:
    """Each implementation's workloads by shape."""
    impls: dict[str, dict[str, Run]] = {
        "raw-trio": {
            "sequential": lambda n, p: raw.raw_sequential("tcp", n, WARMUP, probe=p),
        },
        "raw-trio-rpc-coalesced": {
            "sequential": lambda n, p: raw.raw_in_flight("tcp", n, 1, WARMUP, "coalesced", probe=p),
            "inflight": lambda n, p: raw.raw_in_flight(
                "tcp", n, IN_FLIGHT, WARMUP, "coalesced", probe=p
            ),
        },
        "triomas-ask": {
            "sequential": lambda n, p: net.ask_sequential("tcp", n, WARMUP, probe=p),
            "inflight": lambda n, p: net.ask_in_flight("tcp", n, IN_FLIGHT, WARMUP, probe=p),
        },
    }
    for impl, codec in (("aiomas-msgpack", "MsgPack"), ("aiomas-json", "JSON")):
        impls[impl] = {
            "sequential": lambda n, p, c=codec: aiomas_bench.aiomas_sequential(
                c, n, WARMUP, probe=p
            ),
            "inflight": lambda n, p, c=codec: aiomas_bench.aiomas_in_flight(
                c, n, IN_FLIGHT, WARMUP, probe=p
            ),
        }
    impls["mango"] = {
        "sequential": lambda n, p: mango_bench.mango_sequential(n, WARMUP, probe=p),
        "inflight": lambda n, p: mango_bench.mango_in_flight(n, IN_FLIGHT, WARMUP, probe=p),
    }
    return impls


def missing(impl: str) -> str | None:
    """Why ``impl`` cannot run here (its peer library is not installed), or None."""
    if impl.startswith("aiomas"):
        return aiomas_bench.AIOMAS_MISSING
    if impl == "mango":
        return mango_bench.MANGO_MISSING
    return None


class CpuProbe:
    """A :data:`Probe` that keeps the CPU seconds (user, system) of both processes over
    the timed part: ``caller`` (this process) and ``callee`` (the child by its pid)."""

    def __init__(self) -> None:
        self.caller: tuple[float, float] | None = None
        self.callee: tuple[float, float] | None = None

    def __call__(self, pid: int) -> Callable[[], None]:
        child = psutil.Process(pid)
        child0 = child.cpu_times()
        self0 = resource.getrusage(resource.RUSAGE_SELF)

        def done() -> None:
            self1 = resource.getrusage(resource.RUSAGE_SELF)
            child1 = child.cpu_times()
            self.caller = (self1.ru_utime - self0.ru_utime, self1.ru_stime - self0.ru_stime)
            self.callee = (child1.user - child0.user, child1.system - child0.system)

        return done


def run_all(
    impls: dict[str, dict[str, Run]], requests: int, reps: int
) -> tuple[dict[tuple[str, str], list[tuple[Sample, CpuProbe]]], dict[tuple[str, str], str]]:
    """Every (implementation, shape), ``reps`` rounds interleaved; the samples of each,
    and the error of each that failed (it is not run again)."""
    results: dict[tuple[str, str], list[tuple[Sample, CpuProbe]]] = {}
    errors: dict[tuple[str, str], str] = {}
    for rep in range(reps):
        for impl, shapes in impls.items():
            for shape, run in shapes.items():
                if (impl, shape) in errors:
                    continue
                print(f"rep {rep + 1}/{reps}: {impl} {shape}", file=sys.stderr, flush=True)
                gc.collect()
                probe = CpuProbe()
                try:
                    sample = run(requests, probe)
                    if probe.caller is None:
                        raise RuntimeError("the workload never called its probe")
                except Exception as exc:
                    errors[impl, shape] = f"{type(exc).__name__}: {exc}"
                    continue
                results.setdefault((impl, shape), []).append((sample, probe))
    return results, errors


def summary(impl: str, shape: str, samples: list[tuple[Sample, CpuProbe]]) -> dict[str, Any]:
    """The row of the best repetition by throughput, with that repetition's CPU."""
    best, probe = max(samples, key=lambda s: s[0].rate)
    assert probe.caller is not None
    assert probe.callee is not None
    per = 1e6 / best.ops  # µs per round trip, from seconds over the timed part

    def us(seconds: float) -> float:
        return round(seconds * per, 2)

    caller, callee = sum(probe.caller), sum(probe.callee)
    return {
        "impl": impl,
        "shape": shape,
        "round_trips": best.ops,
        "round_trips_per_s": round(best.rate),
        "caller_cpu_us": us(caller),
        "caller_user_us": us(probe.caller[0]),
        "caller_sys_us": us(probe.caller[1]),
        "callee_cpu_us": us(callee),
        "callee_user_us": us(probe.callee[0]),
        "callee_sys_us": us(probe.callee[1]),
        "callee_tick_us": us(1 / os.sysconf("SC_CLK_TCK")),
        "seconds": round(best.seconds, 4),
        "reps_round_trips_per_s": [round(s.rate) for s, _ in samples],
    }


def table(rows: list[dict[str, Any]], loads: tuple[float, float]) -> str:
    head = (
        f"{'impl':24}{'shape':12}{'rt/s':>9}  {'caller us (usr+sys)':>21}"
        f"  {'callee us (usr+sys)':>21}  {'both':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "round_trips_per_s" not in r:
            lines.append(f"{r['impl']:24}{r['shape']:12}  {r.get('error') or r.get('skipped')}")
            continue
        caller = f"{r['caller_cpu_us']:.1f} ({r['caller_user_us']:.1f}+{r['caller_sys_us']:.1f})"
        callee = f"{r['callee_cpu_us']:.1f} ({r['callee_user_us']:.1f}+{r['callee_sys_us']:.1f})"
        both = r["caller_cpu_us"] + r["callee_cpu_us"]
        lines.append(
            f"{r['impl']:24}{r['shape']:12}{r['round_trips_per_s']:>9,}  {caller:>21}"
            f"  {callee:>21}  {both:>6.1f}"
        )
    lines.append(
        f"best of the repetitions by rt/s; CPU us per round trip over the timed part; "
        f"load average {loads[0]:.2f} at the start, {loads[1]:.2f} at the end, "
        f"{os.cpu_count()} CPUs"
    )
    return "\n".join(lines)


def main() -> None:
    impls = implementations()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="round trips timed")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the best is kept)")
    parser.add_argument("--only", help=f"comma-separated, of: {','.join(impls)}")
    parser.add_argument("--json", action="store_true", help="only the JSON lines")
    args = parser.parse_args()
    if args.requests < IN_FLIGHT:
        parser.error(f"--requests: at least {IN_FLIGHT} (the tasks in flight)")
    if args.only:
        wanted = args.only.split(",")
        unknown = [name for name in wanted if name not in impls]
        if unknown:
            parser.error(f"--only: unknown {','.join(unknown)} (known: {','.join(impls)})")
        impls = {name: impls[name] for name in wanted}
    skipped = {impl: why for impl in impls if (why := missing(impl)) is not None}
    runnable = {impl: shapes for impl, shapes in impls.items() if impl not in skipped}
    load0 = os.getloadavg()[0]
    results, errors = run_all(runnable, args.requests, args.reps)
    loads = (load0, os.getloadavg()[0])
    rows: list[dict[str, Any]] = []
    for impl, shapes in impls.items():
        for shape in shapes:
            if impl in skipped:
                row: dict[str, Any] = {"impl": impl, "shape": shape, "skipped": skipped[impl]}
            elif (impl, shape) in errors:
                row = {"impl": impl, "shape": shape, "error": errors[impl, shape]}
            else:
                row = summary(impl, shape, results[impl, shape])
            rows.append({**row, "loadavg_1min": [round(x, 2) for x in loads]})
            print(json.dumps(rows[-1]), flush=True)
    if not args.json:
        print()
        print(table(rows, loads))
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
