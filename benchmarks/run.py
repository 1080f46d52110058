"""triomas benchmarks, side by side with raw trio baselines and the peers (MASlite, Pykka, SimPy,
aiomas, mango).

Usage::

    python benchmarks/run.py            # the full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # smaller sizes, fewer repetitions (~45 s)
    python benchmarks/run.py --only live_pingpong,virtual_pingpong
    python benchmarks/run.py --only restart_cost,supervised_ask   # the supervision ones
    python benchmarks/run.py --only net_codec,net_seq_tcp,net_inflight_tcp   # network (also _unix)
    python benchmarks/run.py --only net_seq_tcp,net_inflight_tcp   # beside aiomas and mango
    python benchmarks/run.py --only net_nats_seq,net_nats_tells   # through a NATS server
    python benchmarks/run.py --only bdi_tell_10,bdi_tell_100,bdi_tell_1000   # BDI agents
    python benchmarks/run.py --profile net_seq_tcp/triomas-ask   # this process's side only
    python benchmarks/run.py --profile virtual_pingpong/triomas   # cProfile one repetition

The simulation benchmarks (beside SimPy, MASlite and a heapq loop, all in
virtual time; about 3 minutes of the full run)::

    python benchmarks/run.py --only sim_random_sleep,sim_alarms,sim_fixed_sleep   # timers
    python benchmarks/run.py --only sim_fanout,sim_100k_sends,sim_100k_ticks   # many agents
    python benchmarks/run.py --only spawn_1m,run_until_idle_100k   # 1M agents, idle runs
    python benchmarks/run.py --only virtual_main_loop   # a send and a run from main, as in a test
    python benchmarks/run.py --profile sim_random_sleep/triomas

A mosaik World of 1 000 steps, the triomas simulator against the same one written on
mosaik_api_v3, each in a child process and in mosaik's own (with the ``mosaik`` extra)::

    python benchmarks/run.py --only mosaik_world

Output: one JSON object per line on stdout. First a ``meta`` line (machine and
settings), then one line per workload and implementation (best repetition, with
the median and every repetition), then one ``target`` line per target with the
ratio measured in this run and whether the target is met (with ``--only``, the
targets of the benchmarks that ran), with ``ratio`` lines beside some (diagnostic
ratios, not targets, among them ratios to MASPY's published figures, which are not
measured side by side) and a ``skipped`` line for a peer that cannot run here (aiomas or
mango not installed; MASPY on Python < 3.12). The ``net_*`` benchmarks start a child
process per repetition (a triomas node, the raw server of ``_net_raw.py``, an aiomas RPC
server of ``_aiomas_bench.py`` or a mango container of ``_mango_bench.py``), and so does
MASPY in the ``bdi_tell_*`` ones, and ``spawn_100k`` and ``spawn_1m`` one per run
(``_spawn.py``).
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import _aiomas_bench as aiomas_bench
import _baselines as base
import _bdi_bench as bdi
import _mango_bench as mango_bench
import _mosaik_bench as mb
import _nats_bench as nats_bench
import _net_bench as net
import _net_raw as raw
import _peers as peers
import _sim_bench as sim
import _sim_peers as simpeers
import _triomas_bench as tm
from _harness import Reporter, Workload, measure, stderr


@dataclass(frozen=True)
class Sizes:
    reps: int
    heavy_reps: int
    spawn_reps: int
    round_trips: int
    deque_messages: int
    fan_receivers: int
    fan_per_receiver: int
    pykka_round_trips: int
    pykka_fan_receivers: int
    pykka_fan_per_receiver: int
    hops: int
    many_agents: int
    many_hops: int
    spawn_agents: int
    crashes: int
    net_reps: int
    codec_messages: int
    net_round_trips: int
    net_requests: int
    nats_messages: int
    bdi_messages: int
    maspy_messages: int
    sim_reps: int
    sim_heavy_reps: int
    sim_agents: int
    sim_sleeps: int
    sim_big_agents: int
    sim_big_sends: int
    sim_big_ticks: int
    sim_spawn_agents: int
    sim_idle_agents: int
    sim_idle_calls: int
    mosaik_steps: int
    mosaik_reps: int


FULL = Sizes(
    reps=5,
    heavy_reps=2,
    spawn_reps=3,
    round_trips=20_000,
    deque_messages=1_000_000,
    fan_receivers=1000,
    fan_per_receiver=100,
    pykka_round_trips=5_000,
    pykka_fan_receivers=1000,
    pykka_fan_per_receiver=100,
    hops=200_000,
    many_agents=1000,
    many_hops=10,
    spawn_agents=100_000,
    crashes=10_000,
    net_reps=3,
    codec_messages=100_000,
    net_round_trips=5_000,
    net_requests=10_000,
    nats_messages=200_000,
    bdi_messages=50_000,
    maspy_messages=10_000,
    sim_reps=2,
    sim_heavy_reps=1,
    sim_agents=1000,
    sim_sleeps=100,
    sim_big_agents=100_000,
    sim_big_sends=10,
    sim_big_ticks=10,
    sim_spawn_agents=1_000_000,
    sim_idle_agents=100_000,
    sim_idle_calls=200,
    mosaik_steps=1000,
    mosaik_reps=5,
)

QUICK = Sizes(
    reps=2,
    heavy_reps=1,
    spawn_reps=1,
    round_trips=5_000,
    deque_messages=200_000,
    fan_receivers=1000,
    fan_per_receiver=20,
    pykka_round_trips=1_000,
    pykka_fan_receivers=200,
    pykka_fan_per_receiver=50,
    hops=50_000,
    many_agents=1000,
    many_hops=10,
    spawn_agents=20_000,
    crashes=2_000,
    net_reps=1,
    codec_messages=20_000,
    net_round_trips=2_000,
    net_requests=5_000,
    nats_messages=20_000,
    bdi_messages=10_000,
    maspy_messages=4_000,
    sim_reps=1,
    sim_heavy_reps=1,
    sim_agents=1000,
    sim_sleeps=20,
    sim_big_agents=10_000,
    sim_big_sends=10,
    sim_big_ticks=10,
    sim_spawn_agents=100_000,
    sim_idle_agents=100_000,
    sim_idle_calls=50,
    mosaik_steps=1000,
    mosaik_reps=2,
)

SPAWN_TARGET_AGENTS = 100_000
NET_IN_FLIGHT = 100
NET_WARMUP = 500
"""Untimed round trips on a fresh connection before the clock starts."""
SIM_SPAWN_TARGET_AGENTS = 1_000_000
SIM_NO_WARMUP = {"sim_100k_sends", "sim_100k_ticks"}
"""Benchmarks measured without a warm-up repetition: one repetition takes many seconds."""
BDI_AGENTS = (10, 100, 1000)
"""The sizes of the BDI tell ring: one benchmark, ``bdi_tell_N``, per number of agents."""


def groups(s: Sizes) -> dict[str, tuple[int, list[Workload]]]:
    """Every benchmark: its repetitions and its implementations, run side by side."""
    rt = s.round_trips
    rt_unit = "round_trips_per_s"
    fan = {"receivers": s.fan_receivers, "per_receiver": s.fan_per_receiver}
    pykka_fan = {"receivers": s.pykka_fan_receivers, "per_receiver": s.pykka_fan_per_receiver}
    live_pingpong = [
        Workload(
            "live_pingpong",
            "trio-channel",
            rt_unit,
            partial(base.trio_pingpong, rt, float("inf")),
            {"round_trips": rt, "buffer": "inf"},
        ),
        Workload(
            "live_pingpong",
            "trio-channel-unbuffered",
            rt_unit,
            partial(base.trio_pingpong, rt, 0),
            {"round_trips": rt, "buffer": 0},
        ),
        Workload(
            "live_pingpong",
            "trio-channel-awaiting",
            rt_unit,
            partial(base.trio_pingpong, rt, float("inf"), awaiting=True),
            {
                "round_trips": rt,
                "buffer": "inf",
                "how": "the responder awaits trio.lowlevel.checkpoint() before it answers",
            },
        ),
        Workload(
            "live_pingpong",
            "triomas-ask",
            rt_unit,
            partial(tm.live_ask, rt),
            {"round_trips": rt, "how": "agent asks agent in its setup"},
        ),
        Workload(
            "live_pingpong",
            "triomas-ask-by-name",
            rt_unit,
            partial(tm.live_ask, rt, by_name=True),
            {"round_trips": rt, "how": "the same, the asker holds the callee's name"},
        ),
        Workload(
            "live_pingpong",
            "triomas-ask-async-handler",
            rt_unit,
            partial(tm.live_ask, rt, tm.AsyncPonger),
            {"round_trips": rt, "how": "the same, the callee's async handler awaits a checkpoint"},
        ),
        Workload(
            "live_pingpong",
            "triomas-ask-outside",
            rt_unit,
            partial(tm.live_ask_outside, rt),
            {"round_trips": rt, "how": "await container.ask() from trio code"},
        ),
        Workload(
            "live_pingpong",
            "triomas-tell",
            rt_unit,
            partial(_half, tm.live_tell_pingpong, 2 * rt),
            {"round_trips": rt, "how": "two agents bounce a Ball with send()"},
        ),
    ]
    pykka_rows = []
    if peers.HAVE_PYKKA:
        live_pingpong.append(
            Workload(
                "live_pingpong",
                "pykka-ask",
                rt_unit,
                partial(peers.pykka_ask, s.pykka_round_trips),
                {"round_trips": s.pykka_round_trips, "how": "actor asks actor (threads)"},
            )
        )
        pykka_rows.append(
            Workload(
                "live_fanout",
                "pykka",
                "msgs_per_s",
                partial(peers.pykka_fanout, s.pykka_fan_receivers, s.pykka_fan_per_receiver),
                pykka_fan,
            )
        )
    live_fanout = [
        Workload(
            "live_fanout",
            "trio-tasks",
            "msgs_per_s",
            partial(base.trio_fanout, s.fan_receivers, s.fan_per_receiver),
            fan,
        ),
        Workload(
            "live_fanout",
            "triomas",
            "msgs_per_s",
            partial(tm.fanout, s.fan_receivers, s.fan_per_receiver, False),
            fan,
        ),
        *(
            Workload(
                "live_fanout",
                f"triomas-{row}",
                "msgs_per_s",
                partial(tm.fanout, s.fan_receivers, s.fan_per_receiver, False, variant),
                {**fan, "how": how},
            )
            for row, variant, how in (
                ("by-name", "name", "the sender agent holds the receivers' names"),
                ("from-outside", "outside", "Container.send from the main task, by reference"),
                (
                    "from-outside-by-name",
                    "outside-name",
                    "Container.send from the main task, by name",
                ),
            )
        ),
        *(
            Workload(
                "live_fanout",
                f"floor-deque-{entry}",
                "msgs_per_s",
                partial(base.deque_fanout, s.fan_receivers, s.fan_per_receiver, entry),
                {**fan, "how": how},
            )
            for entry, how in (
                ("bare", "no runtime: a deque per receiver holding the bare messages"),
                ("tuple", "no runtime: a deque per receiver, a (msg, sender, time) tuple each"),
                ("three", "no runtime: a deque per receiver, msg, sender and time as 3 entries"),
            )
        ),
    ]
    batch_fanout = [
        Workload(
            "batch_fanout",
            "triomas-virtual",
            "msgs_per_s",
            partial(tm.fanout, s.fan_receivers, s.fan_per_receiver, True),
            fan,
        )
    ]
    if peers.HAVE_MASLITE:
        batch_fanout.append(
            Workload(
                "batch_fanout",
                "maslite",
                "msgs_per_s",
                partial(peers.maslite_fanout, s.fan_receivers, s.fan_per_receiver),
                fan,
            )
        )
    hops = {"hops": s.hops}
    virtual_pingpong = [
        Workload(
            "virtual_pingpong",
            "triomas",
            "msgs_per_s",
            partial(tm.virtual_pingpong, s.hops),
            {**hops, "how": "@on handlers (sync), VirtualClock"},
        ),
        Workload(
            "virtual_pingpong",
            "triomas-update",
            "msgs_per_s",
            partial(tm.virtual_pingpong_update, s.hops),
            {**hops, "how": "custom sync update() draining self.messages, VirtualClock"},
        ),
    ]
    if peers.HAVE_MASLITE:
        virtual_pingpong.append(
            Workload(
                "virtual_pingpong",
                "maslite",
                "msgs_per_s",
                partial(peers.maslite_pingpong, s.hops),
                {**hops, "how": "Scheduler(real_time=False).run(pause_if_idle=True)"},
            )
        )
    many = [
        Workload(
            "virtual_1000x10",
            "triomas",
            "msgs_per_s",
            partial(tm.virtual_many_pairs, s.many_agents, s.many_hops),
            {
                "agents": s.many_agents,
                "hops_per_agent": s.many_hops,
                "timed": "open container + spawn + run_until_idle + close",
            },
        )
    ]
    dispatch = [
        Workload(
            "dispatch_floor",
            "deque",
            "msgs_per_s",
            partial(base.deque_dispatch, s.deque_messages),
            {"how": "make msg, append, popleft, handler dict lookup, call"},
        ),
        Workload(
            "dispatch_floor",
            "deque-batched",
            "msgs_per_s",
            partial(base.deque_dispatch_batched, s.deque_messages),
            {"how": "the same, 100 appends then drain"},
        ),
    ]
    supervised_ask = [
        Workload(
            "supervised_ask",
            "triomas-ask",
            rt_unit,
            partial(tm.live_ask, rt),
            {"round_trips": rt, "how": "as in live_pingpong: the callee spawned directly"},
        ),
        Workload(
            "supervised_ask",
            "triomas-ask-supervised",
            rt_unit,
            partial(tm.live_ask, rt, supervised=True),
            {"round_trips": rt, "how": "the same, the callee the one child of a Supervisor"},
        ),
    ]
    cr = s.crashes
    cycles = {"crashes": cr, "child": "permanent, of a Supervisor(max_restarts=10**9)"}
    restart_cost = [
        Workload(
            "restart_cost",
            "triomas-ask",
            rt_unit,
            partial(tm.supervised_ask_outside, rt),
            {"round_trips": rt, "how": "await container.ask() to the same child, no crash"},
        ),
        Workload(
            "restart_cost",
            "triomas-ask-crash",
            "cycles_per_s",
            partial(tm.restart_cycles, cr, "ask"),
            {**cycles, "how": "await container.ask(), the handler raises, CalleeDown caught"},
        ),
        Workload(
            "restart_cost",
            "triomas-ask-crash-logged",
            "cycles_per_s",
            partial(tm.restart_cycles, cr, "ask", logged=True),
            {**cycles, "how": "the same, the crash logged with its traceback to os.devnull"},
        ),
        Workload(
            "restart_cost",
            "triomas-send-crash",
            "cycles_per_s",
            partial(tm.restart_cycles, cr, "send"),
            {**cycles, "how": "send() every Crash at once, then run_until_idle()"},
        ),
        Workload(
            "restart_cost",
            "triomas-virtual-ask-crash",
            "cycles_per_s",
            partial(tm.restart_cycles, cr, "ask", virtual=True),
            {**cycles, "how": "as triomas-ask-crash, VirtualClock"},
        ),
        Workload(
            "restart_cost",
            "triomas-virtual-send-crash",
            "cycles_per_s",
            partial(tm.restart_cycles, cr, "send", virtual=True),
            {**cycles, "how": "as triomas-send-crash, VirtualClock"},
        ),
    ]
    return {
        "live_pingpong": (s.reps, live_pingpong),
        "dispatch_floor": (s.reps, dispatch),
        "live_fanout": (s.reps, live_fanout),
        "live_fanout_pykka": (s.heavy_reps, pykka_rows),
        "batch_fanout": (s.reps, batch_fanout),
        "virtual_pingpong": (s.reps, virtual_pingpong),
        "virtual_1000x10": (s.reps, many),
        "supervised_ask": (s.reps, supervised_ask),
        "restart_cost": (s.reps, restart_cost),
        **sim_groups(s),
        **bdi_groups(s),
        **net_groups(s),
        **mb.mosaik_groups(s.mosaik_steps, s.mosaik_reps),
    }


def sim_groups(s: Sizes) -> dict[str, tuple[int, list[Workload]]]:
    """The simulation benchmarks: timers with 1000 agents beside SimPy, MASlite
    and a heapq loop; 100 000 agents beside MASlite; the cost of an idle run."""
    groups: dict[str, tuple[int, list[Workload]]] = {}
    n, k = s.sim_agents, s.sim_sleeps
    timers = {"agents": n, "per_agent": k, "events": n * k}
    for bench, fixed in (("sim_random_sleep", False), ("sim_fixed_sleep", True)):
        delays = simpeers.sim_delays(n, k, fixed)
        params = {
            **timers,
            "delays": "1.0" if fixed else f"uniform(0.001, 1.0), random.Random({simpeers.SEED})",
        }
        rows = [
            Workload(
                bench,
                "triomas",
                "events_per_s",
                partial(sim.sleeps, delays),
                {**params, "how": "an agent per row, its setup() loops await self.sleep(d)"},
            ),
            Workload(
                bench,
                "heapq-floor",
                "events_per_s",
                partial(simpeers.heapq_sleeps, delays),
                {**params, "how": "no runtime: a heap of (time, seq, generator), gen.send()"},
            ),
        ]
        if simpeers.HAVE_SIMPY:
            rows.append(
                Workload(
                    bench,
                    "simpy",
                    "events_per_s",
                    partial(simpeers.simpy_sleeps, delays),
                    {**params, "how": "a process per row, yield env.timeout(d); env.run()"},
                )
            )
        if simpeers.HAVE_MASLITE:
            rows.append(
                Workload(
                    bench,
                    "maslite",
                    "events_per_s",
                    partial(simpeers.maslite_sleeps, delays),
                    {**params, "how": "an agent per row re-arms set_alarm(d, msg) in update()"},
                )
            )
        groups[bench] = (s.sim_reps if not fixed else s.reps, rows)
    delays = simpeers.sim_delays(n, k, False)
    alarm_params = {**timers, "delays": f"as sim_random_sleep (random.Random({simpeers.SEED}))"}
    alarms = [
        Workload(
            "sim_alarms",
            "triomas",
            "events_per_s",
            partial(sim.alarms, delays),
            {**alarm_params, "how": "set_alarm(msg, after=d) re-armed in a sync @on handler"},
        )
    ]
    if simpeers.HAVE_SIMPY:
        alarms.append(
            Workload(
                "sim_alarms",
                "simpy",
                "events_per_s",
                partial(simpeers.simpy_sleeps, delays),
                {**alarm_params, "how": "as in sim_random_sleep: yield env.timeout(d)"},
            )
        )
    if simpeers.HAVE_MASLITE:
        alarms.append(
            Workload(
                "sim_alarms",
                "maslite",
                "events_per_s",
                partial(simpeers.maslite_sleeps, delays),
                {**alarm_params, "how": "set_alarm(d, msg) re-armed in update()"},
            )
        )
    groups["sim_alarms"] = (s.sim_reps, alarms)
    fan = {"receivers": s.fan_receivers, "per_receiver": s.fan_per_receiver}
    fanout = [
        Workload(
            "sim_fanout",
            "triomas",
            "msgs_per_s",
            partial(tm.fanout, s.fan_receivers, s.fan_per_receiver, True),
            {**fan, "how": "as batch_fanout/triomas-virtual"},
        )
    ]
    if simpeers.HAVE_MASLITE:
        fanout.append(
            Workload(
                "sim_fanout",
                "maslite",
                "msgs_per_s",
                partial(peers.maslite_fanout, s.fan_receivers, s.fan_per_receiver),
                {**fan, "how": "as batch_fanout/maslite"},
            )
        )
    groups["sim_fanout"] = (s.reps, fanout)
    big, sends, ticks = s.sim_big_agents, s.sim_big_sends, s.sim_big_ticks
    many = {"agents": big, "timed": "run until idle (spawning/adding the agents is not)"}
    send_params = {**many, "sends_per_agent": sends, "messages": big * sends}
    tick_params = {**many, "ticks_per_agent": ticks, "messages": big * ticks}
    for bench, unit, params, tm_fn, ml_fn, tm_how, ml_how in (
        (
            "sim_100k_sends",
            "msgs_per_s",
            send_params,
            partial(sim.random_sends, big, sends),
            partial(simpeers.maslite_sends, big, sends),
            "setup() sends to random other agents, an @on handler counts",
            "the first update() sends, later ones count",
        ),
        (
            "sim_100k_ticks",
            "ticks_per_s",
            tick_params,
            partial(sim.ticks, big, ticks),
            partial(simpeers.maslite_ticks, big, ticks),
            "set_alarm(after=1.0) re-armed in a sync @on handler, which sends one "
            "message to a random other agent; an @on handler counts those",
            "set_alarm(1.0, msg) re-armed in update(), which sends one message to a "
            "random other agent and counts those it gets",
        ),
    ):
        rows = [Workload(bench, "triomas", unit, tm_fn, {**params, "how": tm_how})]
        if simpeers.HAVE_MASLITE:
            rows.append(Workload(bench, "maslite", unit, ml_fn, {**params, "how": ml_how}))
        groups[bench] = (s.sim_heavy_reps, rows)
    calls = s.sim_idle_calls
    groups["run_until_idle_100k"] = (
        s.sim_reps,
        [
            Workload(
                "run_until_idle_100k",
                impl,
                "calls_per_s",
                partial(sim.idle_runs, agents, calls),
                {
                    "agents": agents,
                    "calls": calls,
                    "how": "await c.run_until_idle() in a loop, every agent idle",
                },
            )
            for impl, agents in (("triomas-1", 1), ("triomas-100k", s.sim_idle_agents))
        ],
    )
    loops = s.sim_idle_calls * 50
    groups["virtual_main_loop"] = (
        s.sim_reps,
        [
            Workload(
                "virtual_main_loop",
                "triomas",
                "rounds_per_s",
                partial(sim.main_loop, loops),
                {"rounds": loops, "how": "c.send(ref, msg); await c.run_until_idle()"},
            ),
            Workload(
                "virtual_main_loop",
                "trio-wait-all-tasks-blocked",
                "rounds_per_s",
                partial(sim.trio_main_loop, loops),
                {
                    "rounds": loops,
                    "how": "channel.send_nowait(msg); await trio.testing.wait_all_tasks_blocked()",
                },
            ),
        ],
    )
    return groups


def bdi_groups(s: Sizes) -> dict[str, tuple[int, list[Workload]]]:
    """The BDI tell ring with 10, 100 and 1000 agents; MASPY (threads, a fresh process per
    repetition) in a group of its own with fewer repetitions and messages, like Pykka's."""
    groups: dict[str, tuple[int, list[Workload]]] = {}
    how = "each agent starts a token; agents x hops tells in all, round a ring"
    for n in BDI_AGENTS:
        bench = f"bdi_tell_{n}"
        total = s.bdi_messages
        ring = {"agents": n, "hops": total // n, "messages": n * (total // n), "how": how}
        groups[bench] = (
            s.reps,
            [
                Workload(
                    bench,
                    "triomas-agent",
                    "msgs_per_s",
                    partial(bdi.tell_ring, n, total, False),
                    {**ring, "handler": "@on(Tell) of a plain Agent sends the next Tell"},
                ),
                Workload(
                    bench,
                    "triomas-bdi",
                    "msgs_per_s",
                    partial(bdi.tell_ring, n, total, True),
                    {
                        **ring,
                        "handler": "BDIAgent: the belief's gain event runs "
                        "@plan(gain, Belief('token', Any)), which tells the next",
                    },
                ),
            ],
        )
        if peers.HAVE_MASPY:
            mtotal = s.maspy_messages
            groups[f"{bench}_maspy"] = (
                s.heavy_reps,
                [
                    Workload(
                        bench,
                        "maspy",
                        "msgs_per_s",
                        partial(peers.maspy_tell_ring, n, mtotal),
                        {
                            "agents": n,
                            "hops": mtotal // n,
                            "messages": n * (mtotal // n),
                            "how": how + "; the first hop is each agent's initial belief",
                            "handler": "@pl(gain, Belief('token', Any)) sends the next tell",
                            "timed": "first plan to last, in a fresh process",
                        },
                    )
                ],
            )
    return groups


def net_groups(s: Sizes) -> dict[str, tuple[int, list[Workload]]]:
    """The network benchmarks: the codec, and round trips to another process (a fresh
    child process every repetition, started before the clock starts)."""
    codec = [
        Workload(
            "net_codec",
            "naive-cattrs-msgpack",
            "msgs_per_s",
            partial(net.naive_roundtrip, s.codec_messages),
            {
                "messages": s.codec_messages,
                "how": "converter.unstructure, msgpack.packb, unpackb, converter.structure",
            },
        ),
        Workload(
            "net_codec",
            "triomas-codec",
            "msgs_per_s",
            partial(net.codec_roundtrip, s.codec_messages),
            {
                "messages": s.codec_messages,
                "how": "dumps, loads (the flat [tag, *fields] array the wire carries)",
            },
        ),
    ]
    groups: dict[str, tuple[int, list[Workload]]] = {"net_codec": (s.reps, codec)}
    rt, req, warm = s.net_round_trips, s.net_requests, NET_WARMUP
    peer_seq, peer_flight = net_peer_rows(s)
    for scheme in ("tcp", "unix"):
        seq = {"round_trips": rt, "transport": scheme}
        groups[f"net_seq_{scheme}"] = (
            s.net_reps,
            [
                Workload(
                    f"net_seq_{scheme}",
                    "raw-trio",
                    "round_trips_per_s",
                    partial(raw.raw_sequential, scheme, rt, warm),
                    {**seq, "how": "send_all a frame [id, n], read the reply frame, repeat"},
                ),
                Workload(
                    f"net_seq_{scheme}",
                    "triomas-ask",
                    "round_trips_per_s",
                    partial(net.ask_sequential, scheme, rt, warm),
                    {**seq, "how": "await container.ask() in a loop, to an agent in a node"},
                ),
                Workload(
                    f"net_seq_{scheme}",
                    "triomas-ask-no-heartbeat",
                    "round_trips_per_s",
                    partial(net.ask_sequential, scheme, rt, warm, None),
                    {**seq, "how": "the same, this side opened with heartbeat=None"},
                ),
                Workload(
                    f"net_seq_{scheme}",
                    "triomas-ask-heartbeat-20ms",
                    "round_trips_per_s",
                    partial(net.ask_sequential, scheme, rt, warm, 0.02),
                    {**seq, "how": "the same, this side ticking every 20 ms (250 x the default)"},
                ),
                Workload(
                    f"net_seq_{scheme}",
                    "raw-trio-rpc-1",
                    "round_trips_per_s",
                    partial(raw.raw_in_flight, scheme, rt, 1, warm, "locked"),
                    {
                        **seq,
                        "how": "one requester on a connection with a reader task that wakes "
                        "it by id (the raw RPC client of net_inflight, 1 in flight)",
                    },
                ),
                *(peer_seq if scheme == "tcp" else []),
            ],
        )
        flight = {"requests": req, "in_flight": NET_IN_FLIGHT, "transport": scheme}
        rpc = "requester tasks on one connection, a reader task wakes each by id"
        groups[f"net_inflight_{scheme}"] = (
            s.net_reps,
            [
                Workload(
                    f"net_inflight_{scheme}",
                    "raw-trio-rpc",
                    "round_trips_per_s",
                    partial(raw.raw_in_flight, scheme, req, NET_IN_FLIGHT, warm, "channel"),
                    {**flight, "how": f"{rpc}; a writer task, one send_all per frame"},
                ),
                Workload(
                    f"net_inflight_{scheme}",
                    "raw-trio-rpc-locked",
                    "round_trips_per_s",
                    partial(raw.raw_in_flight, scheme, req, NET_IN_FLIGHT, warm, "locked"),
                    {**flight, "how": f"{rpc}; each sends its frame holding a trio.Lock"},
                ),
                Workload(
                    f"net_inflight_{scheme}",
                    "raw-trio-rpc-coalesced",
                    "round_trips_per_s",
                    partial(raw.raw_in_flight, scheme, req, NET_IN_FLIGHT, warm, "coalesced"),
                    {**flight, "how": f"{rpc}; a writer task sends all queued frames at once"},
                ),
                Workload(
                    f"net_inflight_{scheme}",
                    "triomas-ask",
                    "round_trips_per_s",
                    partial(net.ask_in_flight, scheme, req, NET_IN_FLIGHT, warm),
                    {**flight, "how": "trio tasks, each await container.ask() in a loop"},
                ),
                *(peer_flight if scheme == "tcp" else []),
            ],
        )
    if nats_bench.NATS_MISSING is None:
        seq = {"round_trips": rt, "server": "one nats-server on loopback"}
        tells = {"messages": s.nats_messages, "server": "one nats-server on loopback"}
        peer = [] if nats_bench.NATS_PY_MISSING else ["nats-py"]
        groups["net_nats_seq"] = (
            s.net_reps,
            [
                Workload(
                    "net_nats_seq",
                    "raw-trio-tcp",
                    "round_trips_per_s",
                    partial(raw.raw_sequential, "tcp", rt, warm),
                    {**seq, "how": "the raw trio TCP round trip of net_seq_tcp, no server"},
                ),
                Workload(
                    "net_nats_seq",
                    "raw-floor",
                    "round_trips_per_s",
                    partial(nats_bench.raw_floor, rt, warm),
                    {**seq, "how": "PUB, read MSG, PUB the reply, read it: one trio task"},
                ),
                Workload(
                    "net_nats_seq",
                    "blocking-3-process",
                    "round_trips_per_s",
                    partial(nats_bench.blocking_floor, rt, warm),
                    {
                        **seq,
                        "how": "blocking sockets, no event loop: an asker here, a responder in "
                        "a child process (the three processes of triomas-ask)",
                    },
                ),
                Workload(
                    "net_nats_seq",
                    "trio-3-process",
                    "round_trips_per_s",
                    partial(nats_bench.trio_floor, rt, warm),
                    {
                        **seq,
                        "how": "one plain trio task on a trio stream each side, no runtime: an "
                        "asker here, a responder in a child process",
                    },
                ),
                Workload(
                    "net_nats_seq",
                    "triomas-ask",
                    "round_trips_per_s",
                    partial(nats_bench.triomas_ask, rt, warm),
                    {**seq, "how": "await container.ask() in a loop to an agent in a node"},
                ),
                *[
                    Workload(
                        "net_nats_seq",
                        name,
                        "round_trips_per_s",
                        partial(nats_bench.nats_py_request, rt, warm),
                        {**seq, "how": "asyncio: await nc.request() to a responder in-process"},
                    )
                    for name in peer
                ],
            ],
        )
        groups["net_nats_tells"] = (
            s.net_reps,
            [
                Workload(
                    "net_nats_tells",
                    "triomas-tell",
                    "msgs_per_s",
                    partial(nats_bench.triomas_tells, s.nats_messages, warm),
                    {**tells, "how": "container.send() to an agent in a node, then one ask"},
                ),
                *[
                    Workload(
                        "net_nats_tells",
                        name,
                        "msgs_per_s",
                        partial(nats_bench.nats_py_publish, s.nats_messages, warm),
                        {**tells, "how": "asyncio: nc.publish() to a subscriber in-process"},
                    )
                    for name in peer
                ],
            ],
        )
    return groups


def net_peer_rows(s: Sizes) -> tuple[list[Workload], list[Workload]]:
    """The asyncio peers of ``net_seq_tcp`` and ``net_inflight_tcp``, where installed:
    aiomas RPC with its MsgPack and its JSON codec, and mango agents (its default JSON
    codec); each callee in a child process, the caller in this one on asyncio."""
    rt, req, warm = s.net_round_trips, s.net_requests, NET_WARMUP
    seq = {"round_trips": rt, "transport": "tcp"}
    flight = {"requests": req, "in_flight": NET_IN_FLIGHT, "transport": "tcp"}
    seq_rows: list[Workload] = []
    flight_rows: list[Workload] = []
    if aiomas_bench.AIOMAS_MISSING is None:
        rpc = "aiomas.rpc: await remote.ping(n) to an @expose'd method in a child process"
        for impl, codec in (("aiomas-msgpack", "MsgPack"), ("aiomas-json", "JSON")):
            about = {"codec": f"aiomas.codecs.{codec}"}
            seq_rows.append(
                Workload(
                    "net_seq_tcp",
                    impl,
                    "round_trips_per_s",
                    partial(aiomas_bench.aiomas_sequential, codec, rt, warm),
                    {**seq, **about, "how": f"{rpc}, in a loop"},
                )
            )
            flight_rows.append(
                Workload(
                    "net_inflight_tcp",
                    impl,
                    "round_trips_per_s",
                    partial(aiomas_bench.aiomas_in_flight, codec, req, NET_IN_FLIGHT, warm),
                    {**flight, **about, "how": f"{rpc}, from asyncio tasks, one connection"},
                )
            )
    if mango_bench.MANGO_MISSING is None:
        ask = (
            "an agent's send_tracked_message, its reply awaited, to an agent in a container "
            "in a child process that answers with reply_to"
        )
        about = {"codec": "mango.JSON (the default)"}
        seq_rows.append(
            Workload(
                "net_seq_tcp",
                "mango",
                "round_trips_per_s",
                partial(mango_bench.mango_sequential, rt, warm),
                {**seq, **about, "how": f"{ask}, in a loop"},
            )
        )
        flight_rows.append(
            Workload(
                "net_inflight_tcp",
                "mango",
                "round_trips_per_s",
                partial(mango_bench.mango_in_flight, req, NET_IN_FLIGHT, warm),
                {
                    **flight,
                    **about,
                    "how": f"{ask}, from asyncio tasks; requests on one connection, "
                    "replies on one the other way",
                },
            )
        )
    return seq_rows, flight_rows


def _half(fn: Callable[[int], Any], hops: int) -> Any:
    """Count a two-hop bounce as one round trip."""
    sample = fn(hops)
    sample.ops //= 2
    return sample


# ---- spawn (in subprocesses) ------------------------------------------------------------


def spawn_once(
    agents: int, mode: str, *, use_gc: bool = True, close: bool = False
) -> dict[str, Any]:
    script = Path(__file__).resolve().with_name("_spawn.py")
    cmd = [sys.executable, str(script), str(agents), mode]
    if not use_gc:
        cmd.append("--no-gc")
    if close:
        cmd.append("--close")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed: {proc.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_spawn(reporter: Reporter, s: Sizes, full: bool) -> None:
    n = s.spawn_agents
    scale = SPAWN_TARGET_AGENTS / n
    for mode in ("live", "virtual"):
        impl = f"triomas-{mode}"
        try:
            runs = [
                spawn_once(n, mode, close=(mode == "live" and i == 0)) for i in range(s.spawn_reps)
            ]
        except Exception as exc:
            reporter.error("spawn_100k", impl, exc)
            continue
        best = min(runs, key=lambda r: r["seconds"])
        rss = [r["rss_per_agent_bytes"] for r in runs if r["rss_per_agent_bytes"] is not None]
        row: dict[str, Any] = {
            "bench": "spawn_100k",
            "impl": impl,
            "unit": "seconds",
            "agents": n,
            "seconds": round(best["seconds"], 4),
            "seconds_per_100k": round(best["seconds"] * scale, 4),
            "spawn_calls_s": round(best["spawn_calls_s"], 4),
            "agents_per_s": round(n / best["seconds"]),
            "rss_per_agent_bytes": round(min(rss)) if rss else None,
            "gc_objects_per_agent": round(best["gc_objects_per_agent"], 2),
            "stat": f"best of {len(runs)}, a fresh process each; rss: lowest",
            "timed": "first spawn() until run_until_idle() returns (every setup done)",
            "reps_seconds": [round(r["seconds"], 4) for r in runs],
            "reps_rss_per_agent_bytes": [round(x) for x in rss],
        }
        reporter.record("spawn_100k", impl, row)
        closes = [r["close_s"] for r in runs if "close_s" in r]
        if closes:
            reporter.record(
                "container_close",
                impl,
                {
                    "bench": "container_close",
                    "impl": impl,
                    "unit": "seconds",
                    "agents": n,
                    "seconds": round(closes[0], 4),
                    "stat": "one run",
                    "timed": "leaving open_container() with every agent idle (stops them all)",
                },
            )
        if full:
            try:
                nogc = spawn_once(n, mode, use_gc=False)
            except Exception as exc:
                reporter.error("spawn_100k", f"{impl}-gc-off", exc)
                continue
            reporter.record(
                "spawn_100k",
                f"{impl}-gc-off",
                {
                    "bench": "spawn_100k",
                    "impl": f"{impl}-gc-off",
                    "unit": "seconds",
                    "agents": n,
                    "seconds": round(nogc["seconds"], 4),
                    "spawn_calls_s": round(nogc["spawn_calls_s"], 4),
                    "stat": "one run, diagnostic: the cyclic GC disabled while spawning",
                },
            )


def run_spawn_1m(reporter: Reporter, s: Sizes) -> None:
    """Spawn ``sim_spawn_agents`` idle agents in virtual time and leave the container, in a
    fresh process (``_spawn.py``); MASlite's ``scheduler.add`` and ``remove`` beside."""
    n = s.sim_spawn_agents
    scale = SIM_SPAWN_TARGET_AGENTS / n
    impls = [("triomas-virtual", "virtual")]
    if simpeers.HAVE_MASLITE:
        impls.append(("maslite", "maslite"))
    timed = {
        "triomas-virtual": "first spawn() until run_until_idle() returns; close: leaving "
        "open_container() (stops every agent)",
        "maslite": "scheduler.add() of every agent (it calls setup()); close: "
        "scheduler.remove() of each (teardown() and deregistration)",
    }
    for impl, mode in impls:
        try:
            result = spawn_once(n, mode, close=True)
        except Exception as exc:
            reporter.error("spawn_1m", impl, exc)
            continue
        rss = result["rss_per_agent_bytes"]
        reporter.record(
            "spawn_1m",
            impl,
            {
                "bench": "spawn_1m",
                "impl": impl,
                "unit": "seconds",
                "agents": n,
                "seconds": round(result["seconds"], 4),
                "seconds_per_1m": round(result["seconds"] * scale, 4),
                "close_s": round(result["close_s"], 4),
                "close_s_per_1m": round(result["close_s"] * scale, 4),
                "spawn_calls_s": round(result["spawn_calls_s"], 4),
                "agents_per_s": round(n / result["seconds"]),
                "rss_per_agent_bytes": None if rss is None else round(rss),
                "gc_objects_per_agent": round(result["gc_objects_per_agent"], 2),
                "stat": "one run in a fresh process",
                "timed": timed[impl],
            },
        )


# ---- targets ----------------------------------------------------------------------------


def _ratio_target(
    reporter: Reporter, name: str, bench: str, num: str, den: str, required: float
) -> None:
    a, b = reporter.rate(bench, num), reporter.rate(bench, den)
    row: dict[str, Any] = {"target": name, "bench": bench, "required": f">= {required}"}
    if a is None or b is None:
        row.update(measured_ratio=None, met=None, note="a workload is missing or failed")
    else:
        ratio = a / b
        row.update(
            measured_ratio=round(ratio, 3),
            met=ratio >= required,
            numerator={"impl": num, "ops_per_s": round(a)},
            denominator={"impl": den, "ops_per_s": round(b)},
        )
    reporter.target(row)


def _ratio_note(reporter: Reporter, bench: str, num: str, den: str) -> None:
    """A ratio worth seeing beside the targets, which is not one."""
    a, b = reporter.rate(bench, num), reporter.rate(bench, den)
    if a is None or b is None or (reporter.only is not None and bench not in reporter.only):
        return
    reporter.emit(
        {
            "ratio": f"{num} / {den}",
            "bench": bench,
            "measured_ratio": round(a / b, 3),
            "note": "not a target",
        }
    )


def _limit_target(
    reporter: Reporter,
    name: str,
    bench: str,
    impl: str,
    key: str,
    value: float | None,
    op: str,
    limit: float,
    note: str | None = None,
) -> None:
    row: dict[str, Any] = {
        "target": name,
        "bench": bench,
        "impl": impl,
        "required": f"{op} {limit}",
    }
    if value is None:
        row.update(measured=None, met=None, note="the workload is missing or failed")
    else:
        met: bool | None = {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]
        if note:
            row["note"] = note
            met = None
        shown = round(value) if abs(value) >= 1000 else round(value, 4)
        row.update({"measured": shown, "measured_key": key, "met": met})
    reporter.target(row)


def report_net_targets(reporter: Reporter) -> None:
    _ratio_target(
        reporter,
        "codec round trip of a 4-field message >= 2 x naive cattrs unstructure + msgpack",
        "net_codec",
        "triomas-codec",
        "naive-cattrs-msgpack",
        2.0,
    )
    for scheme in ("tcp", "unix"):
        _ratio_target(
            reporter,
            f"ask across processes over {scheme}, sequential >= 0.9 x raw trio",
            f"net_seq_{scheme}",
            "triomas-ask",
            "raw-trio",
            0.9,
        )
        _ratio_target(
            reporter,
            f"heartbeats cost < 2 % of the sequential ask rate over {scheme}",
            f"net_seq_{scheme}",
            "triomas-ask",
            "triomas-ask-no-heartbeat",
            0.98,
        )
        _ratio_note(reporter, f"net_seq_{scheme}", "triomas-ask-heartbeat-20ms", "triomas-ask")
        _ratio_note(reporter, f"net_seq_{scheme}", "triomas-ask", "raw-trio-rpc-1")
        _ratio_note(reporter, f"net_seq_{scheme}", "raw-trio-rpc-1", "raw-trio")
        if scheme == "tcp":
            _net_peer_targets(reporter, "net_seq_tcp", "sequential", 1.1)
        bench = f"net_inflight_{scheme}"
        _ratio_target(
            reporter,
            f"ask across processes over {scheme}, {NET_IN_FLIGHT} in flight"
            " >= 1.0 x raw trio RPC connection (id demultiplexing)",
            bench,
            "triomas-ask",
            "raw-trio-rpc",
            1.0,
        )
        _ratio_note(reporter, bench, "triomas-ask", "raw-trio-rpc-locked")
        _ratio_note(reporter, bench, "triomas-ask", "raw-trio-rpc-coalesced")
        if scheme == "tcp":
            _net_peer_targets(reporter, bench, f"{NET_IN_FLIGHT} in flight", 1.5)
    _ratio_target(
        reporter,
        "a round trip through one NATS server <= 2 x the raw trio TCP round trip",
        "net_nats_seq",
        "triomas-ask",
        "raw-trio-tcp",
        0.5,
    )
    _ratio_note(reporter, "net_nats_seq", "triomas-ask", "raw-floor")
    _ratio_note(reporter, "net_nats_seq", "blocking-3-process", "raw-trio-tcp")
    _ratio_note(reporter, "net_nats_seq", "triomas-ask", "blocking-3-process")
    _ratio_note(reporter, "net_nats_seq", "trio-3-process", "raw-trio-tcp")
    _ratio_note(reporter, "net_nats_seq", "triomas-ask", "trio-3-process")
    _ratio_note(reporter, "net_nats_seq", "triomas-ask", "nats-py")
    _limit_target(
        reporter,
        "one-way tells through one NATS server >= 200 k msgs/s",
        "net_nats_tells",
        "triomas-tell",
        "ops_per_s",
        reporter.rate("net_nats_tells", "triomas-tell"),
        ">=",
        200_000,
    )
    _ratio_note(reporter, "net_nats_tells", "triomas-tell", "nats-py")


def _net_peer_targets(reporter: Reporter, bench: str, shape: str, required: float) -> None:
    """triomas against aiomas (the target, on its MsgPack codec; its JSON codec beside)
    and mango, in ``bench`` (a TCP one); a ``skipped`` line for a peer not installed."""
    wanted = reporter.only is None or bench in reporter.only
    if aiomas_bench.AIOMAS_MISSING is None:
        _ratio_target(
            reporter,
            f"ask across processes over tcp, {shape} >= {required} x aiomas RPC (MsgPack codec)",
            bench,
            "triomas-ask",
            "aiomas-msgpack",
            required,
        )
        _ratio_note(reporter, bench, "triomas-ask", "aiomas-json")
    elif wanted:
        reporter.emit(
            {
                "bench": bench,
                "impl": "aiomas",
                "skipped": aiomas_bench.AIOMAS_MISSING,
                "note": f"the target >= {required} x aiomas is not measured",
            }
        )
    if mango_bench.MANGO_MISSING is None:
        _ratio_note(reporter, bench, "triomas-ask", "mango")
    elif wanted:
        reporter.emit(
            {
                "bench": bench,
                "impl": "mango",
                "skipped": mango_bench.MANGO_MISSING,
                "note": "not measured",
            }
        )


def report_path_targets(reporter: Reporter) -> None:
    """The paths users take (issue 19): names, sends from outside, awaiting handlers."""
    for name, bench, num, den, required in (
        (
            "live tell fan-out by reference >= 0.7 x the no-runtime deque floor "
            "(three entries per message, as a mailbox holds them)",
            "live_fanout",
            "triomas",
            "floor-deque-three",
            0.7,
        ),
        (
            "live tell fan-out by name >= 2 x trio tasks",
            "live_fanout",
            "triomas-by-name",
            "trio-tasks",
            2.0,
        ),
        (
            "live tell fan-out by name within 10 % of by reference",
            "live_fanout",
            "triomas-by-name",
            "triomas",
            0.9,
        ),
        (
            "live tell fan-out from outside, by reference, >= 2 x trio tasks",
            "live_fanout",
            "triomas-from-outside",
            "trio-tasks",
            2.0,
        ),
        (
            "live tell fan-out from outside, by name, >= 2 x trio tasks",
            "live_fanout",
            "triomas-from-outside-by-name",
            "trio-tasks",
            2.0,
        ),
        (
            "live ask by name within 5 % of by reference",
            "live_pingpong",
            "triomas-ask-by-name",
            "triomas-ask",
            0.95,
        ),
        (
            "live ask to a handler that awaits >= 1.0 x trio channel ping-pong",
            "live_pingpong",
            "triomas-ask-async-handler",
            "trio-channel",
            1.0,
        ),
    ):
        _ratio_target(reporter, name, bench, num, den, required)
    _ratio_note(reporter, "live_fanout", "triomas", "floor-deque-bare")


def report_targets(reporter: Reporter, s: Sizes) -> None:
    _ratio_target(
        reporter,
        "live ask round trips >= 1.5 x trio channel ping-pong",
        "live_pingpong",
        "triomas-ask",
        "trio-channel",
        1.5,
    )
    _ratio_note(reporter, "live_pingpong", "triomas-ask-async-handler", "trio-channel-awaiting")
    report_path_targets(reporter)
    _ratio_target(
        reporter,
        "supervised live ask round trips >= 0.9 x the same callee spawned directly",
        "supervised_ask",
        "triomas-ask-supervised",
        "triomas-ask",
        0.9,
    )
    _ratio_target(
        reporter,
        "live tell fan-out >= 3 x trio tasks with memory channels",
        "live_fanout",
        "triomas",
        "trio-tasks",
        3.0,
    )
    for entry in ("bare", "tuple", "three"):
        _ratio_note(reporter, "live_fanout", f"floor-deque-{entry}", "trio-tasks")
    _ratio_note(reporter, "live_fanout", "triomas", "floor-deque-three")
    _ratio_target(
        reporter,
        "virtual ping-pong >= MASlite",
        "virtual_pingpong",
        "triomas",
        "maslite",
        1.0,
    )
    _limit_target(
        reporter,
        "S1 gate: virtual ping-pong >= 300k msg/s",
        "virtual_pingpong",
        "triomas",
        "ops_per_s",
        reporter.rate("virtual_pingpong", "triomas"),
        ">=",
        300_000,
    )
    scaled = None
    if s.spawn_agents != SPAWN_TARGET_AGENTS:
        scaled = (
            f"not judged: {s.spawn_agents} agents, time scaled linearly to 100k, which "
            "underestimates (garbage collection grows faster than linearly); run the full size"
        )
    for mode in ("live", "virtual"):
        row = reporter.rows.get(("spawn_100k", f"triomas-{mode}"))
        _limit_target(
            reporter,
            f"spawn 100k agents ({mode}) < 1 s",
            "spawn_100k",
            f"triomas-{mode}",
            "seconds_per_100k",
            None if row is None else row["seconds_per_100k"],
            "<",
            1.0,
            scaled,
        )
        _limit_target(
            reporter,
            f"spawn 100k agents ({mode}) < 3 KB (3000 bytes) RSS per agent",
            "spawn_100k",
            f"triomas-{mode}",
            "rss_per_agent_bytes",
            None if row is None else row["rss_per_agent_bytes"],
            "<",
            3000,
        )
    many = reporter.outcomes.get(("virtual_1000x10", "triomas"))
    _limit_target(
        reporter,
        "scenarios gate: 1000 agents x 10 ping-pong hops (virtual) well under 1 s",
        "virtual_1000x10",
        "triomas",
        "seconds",
        None if many is None else many.row["seconds"],
        "<",
        1.0,
    )
    report_sim_targets(reporter, s)
    report_bdi_targets(reporter)
    report_net_targets(reporter)
    report_mosaik_targets(reporter)


def report_mosaik_targets(reporter: Reporter) -> None:
    """The mosaik World against the same simulator on mosaik_api_v3 (docs/mosaik.md)."""
    if mb.MOSAIK_MISSING is not None:
        if reporter.only is None or "mosaik_world" in reporter.only:
            reporter.emit(
                {"bench": "mosaik_world", "skipped": mb.MOSAIK_MISSING, "note": "not measured"}
            )
        return
    _ratio_target(
        reporter,
        "a 1000-step mosaik World with the triomas simulator >= 1.0 x the same simulator "
        "on mosaik_api_v3 (both cmd starters: child processes)",
        "mosaik_world",
        "triomas-cmd",
        "mosaik-api-v3-cmd",
        1.0,
    )
    _ratio_note(reporter, "mosaik_world", "triomas-cmd", "floor-socket-cmd")
    _ratio_note(reporter, "mosaik_world", "mosaik-api-v3-cmd", "floor-socket-cmd")
    _ratio_note(reporter, "mosaik_world", "triomas-python", "mosaik-api-v3-python")
    _ratio_note(reporter, "mosaik_world", "triomas-python", "triomas-cmd")


def report_sim_targets(reporter: Reporter, s: Sizes) -> None:
    """The targets of the simulation benchmarks (docs/performance.md, "Simulation at scale")."""
    for name, bench, den, required in (
        ("random sleeps >= 1.0 x SimPy", "sim_random_sleep", "simpy", 1.0),
        ("alarms >= 1.0 x SimPy", "sim_alarms", "simpy", 1.0),
        ("fixed sleeps >= 1.5 x SimPy", "sim_fixed_sleep", "simpy", 1.5),
        ("virtual batch fan-out >= 1.5 x MASlite", "sim_fanout", "maslite", 1.5),
        ("100k agents x 10 random sends >= 1.5 x MASlite", "sim_100k_sends", "maslite", 1.5),
        ("100k agents x 10 ticks >= 1.5 x MASlite", "sim_100k_ticks", "maslite", 1.5),
        ("virtual ping-pong >= 1.2 x MASlite", "virtual_pingpong", "maslite", 1.2),
    ):
        _ratio_target(reporter, name, bench, "triomas", den, required)
    for bench in ("sim_random_sleep", "sim_fixed_sleep"):
        _ratio_note(reporter, bench, "heapq-floor", "simpy")
        _ratio_note(reporter, bench, "triomas", "heapq-floor")
        _ratio_note(reporter, bench, "triomas", "maslite")
    _ratio_note(reporter, "sim_alarms", "triomas", "maslite")
    _ratio_target(
        reporter,
        "run_until_idle() with 100k idle agents <= 2 x its cost with 1 agent"
        " (calls/s ratio >= 0.5)",
        "run_until_idle_100k",
        "triomas-100k",
        "triomas-1",
        0.5,
    )
    _ratio_note(reporter, "virtual_main_loop", "triomas", "trio-wait-all-tasks-blocked")
    scaled = None
    if s.sim_spawn_agents != SIM_SPAWN_TARGET_AGENTS:
        scaled = (
            f"not judged: {s.sim_spawn_agents} agents, time scaled linearly to 1M, which "
            "underestimates (garbage collection grows faster than linearly); run the full size"
        )
    row = reporter.rows.get(("spawn_1m", "triomas-virtual"))
    for name, key, limit, note in (
        ("spawn 1M idle agents (virtual) <= 5 s", "seconds_per_1m", 5.0, scaled),
        ("spawn 1M idle agents (virtual) <= 600 bytes RSS each", "rss_per_agent_bytes", 600, None),
        ("close a container of 1M idle agents <= 2 s", "close_s_per_1m", 2.0, scaled),
    ):
        _limit_target(
            reporter,
            name,
            "spawn_1m",
            "triomas-virtual",
            key,
            None if row is None else row[key],
            "<=",
            limit,
            note,
        )
    mas = reporter.rows.get(("spawn_1m", "maslite"))
    if (
        row is not None
        and mas is not None
        and (reporter.only is None or "spawn_1m" in reporter.only)
    ):
        reporter.emit(
            {
                "ratio": "maslite / triomas-virtual spawn seconds (> 1: triomas spawns faster)",
                "bench": "spawn_1m",
                "measured_ratio": round(mas["seconds"] / row["seconds"], 3),
                "note": "not a target",
            }
        )


def report_bdi_targets(reporter: Reporter) -> None:
    """The MASPY target where MASPY runs here; else ratios to its published figures."""
    for n in BDI_AGENTS:
        _ratio_target(
            reporter,
            f"BDI tell with {n} agents >= 0.4 x a plain agent's tell",
            f"bdi_tell_{n}",
            "triomas-bdi",
            "triomas-agent",
            0.4,
        )
        if peers.HAVE_MASPY and n != 1000:
            _ratio_note(reporter, f"bdi_tell_{n}", "triomas-bdi", "maspy")
    if peers.HAVE_MASPY:
        _ratio_target(
            reporter,
            "BDI tell throughput with 1000 agents >= 20 x MASPY",
            "bdi_tell_1000",
            "triomas-bdi",
            "maspy",
            20.0,
        )
    elif reporter.only is None or "bdi_tell_1000" in reporter.only:
        reporter.emit(
            {
                "bench": "bdi_tell_1000",
                "impl": "maspy",
                "skipped": peers.MASPY_MISSING,
                "note": "the target >= 20 x MASPY with 1000 agents is not measured; "
                "triomas is reported alone, with ratios to MASPY's published figures",
            }
        )
    for n, published in peers.MASPY_PUBLISHED.items():
        bench = f"bdi_tell_{n}"
        ours = reporter.rate(bench, "triomas-bdi")
        if ours is None or (reporter.only is not None and bench not in reporter.only):
            continue
        reporter.emit(
            {
                "ratio": "triomas-bdi / maspy (published figure, not measured side by side)",
                "bench": bench,
                "measured_ratio": round(ours / published, 3),
                "numerator": {"impl": "triomas-bdi", "ops_per_s": round(ours)},
                "denominator": {
                    "impl": "maspy (published figure, not measured side by side)",
                    "ops_per_s": round(published),
                },
                "note": "not a target check: MASPY as released, a figure from the BDI spec, "
                "taken on another machine",
            }
        )


# ---- main -------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _source_state() -> str | None:
    """The commit the benchmarked ``src/`` comes from, and whether it has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "-C", str(root), "diff", "HEAD", "--", "src"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if not diff:
        return head
    return f"{head} + uncommitted changes in src/ (diff sha1 {hashlib.sha1(diff).hexdigest()[:10]})"


def meta(quick: bool, s: Sizes) -> dict[str, Any]:
    return {
        "meta": "triomas benchmarks",
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "triomas_source": _source_state(),
        "versions": {
            d: _version(d)
            for d in (
                "triomas",
                "trio",
                "attrs",
                "cattrs",
                "msgpack",
                "maslite",
                "pykka",
                "psutil",
                "aiomas",
                "mango-agents",
                "maspy-ml",
                "simpy",
                "mosaik",
                "mosaik-api-v3",
            )
        },
        "gc": "enabled during timing; collected before each repetition",
        "stat": "best repetition by throughput (median also given), after one warm-up "
        f"(none for {', '.join(sorted(SIM_NO_WARMUP))})",
        "reps": s.reps,
        "net_reps": s.net_reps,
    }


def profile(target: str, s: Sizes) -> None:
    bench, _, impl = target.partition("/")
    for _, workloads in groups(s).values():
        for w in workloads:
            if w.bench == bench and (not impl or w.impl == impl):
                w.run()  # warm up
                gc.collect()
                prof = cProfile.Profile()
                prof.enable()
                sample = w.run()
                prof.disable()
                stderr(f"== {w.bench}/{w.impl}: {sample.rate:,.0f} ops/s under the profiler")
                stats = pstats.Stats(prof, stream=sys.stderr)
                stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("--only", help="comma-separated benchmark names (see docs/performance.md)")
    parser.add_argument("--reps", type=int, help="repetitions per workload (override)")
    parser.add_argument(
        "--profile", metavar="BENCH[/IMPL]", help="cProfile one repetition; report on stderr"
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit with status 2 if a target is missed"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.reps:
        override = {
            "reps": args.reps,
            "heavy_reps": args.reps,
            "net_reps": args.reps,
            "sim_reps": args.reps,
            "sim_heavy_reps": args.reps,
        }
        sizes = Sizes(**{**sizes.__dict__, **override})
    if args.profile:
        profile(args.profile, sizes)
        return 0
    only = set(args.only.split(",")) if args.only else None
    reporter = Reporter(only)
    reporter.emit(meta(args.quick, sizes))
    for name, (reps, workloads) in groups(sizes).items():
        bench = workloads[0].bench if workloads else name
        if workloads and (only is None or bench in only):
            measure(reporter, workloads, reps, warmup=bench not in SIM_NO_WARMUP)
    if only is None or "spawn_100k" in only:
        run_spawn(reporter, sizes, full=not args.quick)
    if only is None or "spawn_1m" in only:
        run_spawn_1m(reporter, sizes)
    report_targets(reporter, sizes)
    if reporter.errors:
        return 1
    if args.fail_on_miss and any(met is not True for met in reporter.met):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
