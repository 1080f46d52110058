"""Timing and reporting helpers shared by the benchmark modules.

Every workload function runs one repetition and returns a :class:`Sample`: how
many operations it did and how long the measured part took (set-up such as
spawning the agents of a fan-out is not timed unless the workload says so).
:func:`measure` runs a group of workloads side by side, interleaving their
repetitions so that a slow spell of the machine hits every implementation alike,
and keeps the best repetition (and the median, for reference).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

clock = time.perf_counter

Probe = Callable[[int], Callable[[], None]]
"""The optional ``probe`` of the network workloads: called with the callee process's
pid just before the clock starts; what it returns is called just after the clock stops
(``net_cpu.py`` reads both processes' CPU times with it)."""


def _nothing() -> None:
    pass


def probe_start(probe: Probe | None, pid: int) -> Callable[[], None]:
    """Call ``probe`` (if any) with ``pid``; return what to call once the clock stops."""
    return _nothing if probe is None else probe(pid)


@dataclass
class Sample:
    """One repetition: ``ops`` operations in ``seconds`` (plus free-form extras)."""

    ops: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Workload:
    """A named implementation of one benchmark."""

    bench: str
    impl: str
    unit: str
    run: Callable[[], Sample]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """The summary of one workload over its repetitions."""

    bench: str
    impl: str
    best: float
    median: float
    row: dict[str, Any]


class Reporter:
    """Prints one JSON object per line and remembers the outcomes for the targets.

    With ``only`` (benchmark names), :meth:`target` drops the targets of other benchmarks.
    """

    def __init__(self, only: set[str] | None = None) -> None:
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.errors = 0
        self.met: list[bool | None] = []
        self.only = only

    def emit(self, row: dict[str, Any]) -> None:
        print(json.dumps(row, sort_keys=False), flush=True)

    def target(self, row: dict[str, Any]) -> None:
        if self.only is not None and row["bench"] not in self.only:
            return
        self.met.append(row.get("met"))
        self.emit(row)

    def record(self, bench: str, impl: str, row: dict[str, Any]) -> None:
        self.rows[bench, impl] = row
        self.emit(row)

    def error(self, bench: str, impl: str, exc: BaseException) -> None:
        self.errors += 1
        self.emit({"bench": bench, "impl": impl, "error": f"{type(exc).__name__}: {exc}"})

    def rate(self, bench: str, impl: str) -> float | None:
        outcome = self.outcomes.get((bench, impl))
        return None if outcome is None else outcome.best


def _rnd(value: float) -> float:
    return float(f"{value:.4g}")


def measure(
    reporter: Reporter, workloads: list[Workload], reps: int, *, warmup: bool = True
) -> None:
    """Run ``workloads`` side by side, ``reps`` rounds, and print one row for each.

    A warm-up repetition of each (not counted) comes first, unless ``warmup`` is false
    (for workloads whose one repetition takes many seconds). Garbage is collected
    before every repetition; the collector stays enabled while it runs.
    """
    samples: dict[int, list[Sample]] = {i: [] for i in range(len(workloads))}
    failed: set[int] = set()
    for rep in range(0 if warmup else 1, reps + 1):  # repetition 0 is the warm-up
        for i, workload in enumerate(workloads):
            if i in failed:
                continue
            gc.collect()
            try:
                sample = workload.run()
            except Exception as exc:
                failed.add(i)
                reporter.error(workload.bench, workload.impl, exc)
                continue
            if rep > 0:
                samples[i].append(sample)
    for i, workload in enumerate(workloads):
        if i in failed or not samples[i]:
            continue
        rates = [s.rate for s in samples[i]]
        best_index = max(range(len(rates)), key=rates.__getitem__)
        best = samples[i][best_index]
        median = statistics.median(rates)
        row: dict[str, Any] = {
            "bench": workload.bench,
            "impl": workload.impl,
            "unit": workload.unit,
            "ops_per_s": _rnd(best.rate),
            "median_ops_per_s": _rnd(median),
            "stat": f"best of {len(rates)} ({'after 1 warm-up' if warmup else 'no warm-up'})",
            "ops": best.ops,
            "seconds": _rnd(best.seconds),
            **workload.params,
            **best.extra,
            "reps_ops_per_s": [_rnd(r) for r in rates],
        }
        reporter.outcomes[workload.bench, workload.impl] = Outcome(
            workload.bench, workload.impl, best.rate, median, row
        )
        reporter.record(workload.bench, workload.impl, row)


def stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
