"""Every ``examples/*.py`` runs as ``python examples/<name>.py`` and prints what it should.

Examples are found by glob, so a new one is run without touching this file; it
must exit cleanly, print something and write nothing to stderr. To check what it
prints, add its expected lines to ``EXPECTED``: a string must equal a whole
output line, a compiled pattern must match a whole line, and the lines must
appear in this order (other lines may come between them).

Each example runs in its own interpreter, with warnings turned into errors, the
way a user runs it. That also keeps its ``@message`` classes out of this
process's tag registry.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

FLOAT = r"\d+\.\d+"
TCP = r"tcp://127\.0\.0\.1:\d+"  # a container on loopback: the port differs per run

EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "pingpong": [
        "real time (RealClock):",
        "  ask(ponger, Ping(1)) -> 2",
        re.compile(rf"  1000 asks took {FLOAT} s of clock time \({FLOAT} us per round trip\)"),
        re.compile(rf"  run_until_idle -> idle at t={FLOAT}, 0 rounds"),
        "virtual time (VirtualClock, seed 7):",
        "  ask(ponger, Ping(1)) -> 2",
        "  1000 asks took 0.000000 s of clock time (0.0 us per round trip)",
        "  run_until_idle -> idle at t=0.000000, 2003 rounds",
    ],
    "priority_inbox": [
        "round 1: dispatcher update",
        "  sends Job(1) with topic 'normal'",
        "  sends Job(2) with topic 'urgent'",
        "  sends Job(3) with topic 'normal'",
        "round 1: worker update",
        "  nothing to do yet",
        "round 2: worker update",
        "  handles jobs [2, 1, 3]",
        "round 3: dispatcher update",
        "  receives Ack(ids=(2, 1, 3)) from worker",
        "run_until_idle -> idle after 3 rounds",
        "update calls: dispatcher, worker, worker, dispatcher",
        re.compile(r"a second run gives the same trace: True \(\d+ trace records\)"),
    ],
    "alarms": [
        "  run(seconds=5)   -> seconds at t=5.0: [(3.0, 't3a'), (3.0, 't3b')]",
        "  t10 still pending: True",
        "  run_until_idle() -> idle at t=10.0: [(3.0, 't3a'), (3.0, 't3b'), (10.0, 't10')]",
        "  clear_alarms(topic='t3a') at t=0.0 cancelled 1 alarm",
        "  run_until_idle() -> idle at t=10.0: [(3.0, 't3b'), (10.0, 't10')]",
        "  run(seconds=7)   -> seconds at t=7.0: beats at [2.0, 4.0, 6.0]",
        "  clear_alarms(msg_type=Beat) cancelled 1 alarm",
        "  run_until_idle() -> idle at t=7.0; the reminder was dropped",
        "  run(seconds=7200) -> seconds at t=7207.0: nothing else arrives",
    ],
    "broadcast": [
        "t=0.0: alice publishes to topic Hello",
        "    carol got 'good morning'       topic=Hello to=None",
        "    dave  got 'good morning'       topic=Hello to=None",
        "    audit copy of 'good morning'",
        "t=1.0: alice sends to class Reader",
        "    carol got 'readers only'       topic=Hello to=Reader",
        "    dave  got 'readers only'       topic=Hello to=Reader",
        "    audit copy of 'readers only'",
        "t=2.0: alice sends to group night-shift",
        "    carol got 'night shift only'   topic=Hello to=night-shift",
        "    bob   got 'night shift only'   topic=Hello to=night-shift",
        "    audit copy of 'night shift only'",
        "t=3.0: alice sends to class Reader with direct=True",
        "    carol got 'off the record'     topic=Hello to=Reader",
        "    dave  got 'off the record'     topic=Hello to=Reader",
        "t=4.0: alice publishes to topic weather",
        "    dead letter Hello(text='rain?') to None: no subscribers",
        "t=5.0: alice sends to eve",
        "    dead letter Hello(text='hi eve') to eve: unknown recipient",
        "t=6.0: alice removes dave and publishes to topic Hello",
        "    carol got 'bye dave'           topic=Hello to=None",
        "    audit copy of 'bye dave'",
        "run_until_idle -> idle at t=6.0",
        "dead letters: {'no subscribers': 1, 'unknown recipient': 1}",
    ],
    "worker_pool": [
        "pool of 4: worker-1, worker-2, worker-3, worker-4",
        "t=0.0 wave 1",
        "  job  1 -> worker-1: 1",
        "t=2.0 wave 3 (storm)",
        "  job  9 -> worker-1: CalleeDown (poison job 9)",
        "  job 10 -> worker-2: 100",
        "  restarted: worker-1 #2, worker-3 #2",
        "t=5.0 wave 6 (storm)",
        "  restarted: worker-2 #4, worker-4 #3",
        "t=7.0 wave 8",
        "  job 32 -> worker-4: 1024",
        "jobs: 32 sent, 23 answered, 9 failed with CalleeDown",
        "restarts: 9, at most 9 within 5 s (the pool gives up after 50)",
        "  worker-1: incarnation 3, 3 jobs done by it",
        "  worker-2: incarnation 4, 2 jobs done by it",
        "  worker-3: incarnation 3, 4 jobs done by it",
        "  worker-4: incarnation 3, 2 jobs done by it",
        "t=8.0 after the storm the pool still serves: [100, 121, 144, 169]",
        "worker-1 gets poison job 99, then job 7: #4 answers 49",
    ],
    "pipeline": [
        "t=0.0   started source #1",
        "t=0.0   started parser #1",
        "t=0.0   started sink #1",
        "t=2.0 sink #1 adds record 2: 5, total 8",
        "t=3.0 source #1 sends record 3: 'oops'",
        re.compile(r"t=3\.0   exited parser #1: failure\(ValueError: .*'oops'\) -> restart"),
        "t=3.0   exited sink #1: shutdown(group restart) -> restart",
        "t=3.0   started parser #2",
        "t=3.0   started sink #2",
        "t=4.0 source #1 sends record 4: '8'",
        "t=4.0 sink #2 adds record 4: 8, total 8",
        "t=6.0 sink #2 adds record 6: 21, total 42",
        "run_until_idle -> idle at t=6.0",
        "source: incarnation 1, 6 records sent",
        "parser: incarnation 2",
        "sink: incarnation 2, total 42 since its restart",
        "t=6.0   exited sink #2: shutdown(supervisor pipeline stopping) -> gone",
        "t=6.0   exited parser #2: shutdown(supervisor pipeline stopping) -> gone",
        "t=6.0   exited source #1: shutdown(supervisor pipeline stopping) -> gone",
    ],
    "rpc": [
        re.compile(rf"Caller {TCP}/Caller-1 connecting to {TCP}/Callee-1"),
        re.compile(rf"Caller {TCP}/Caller-1 connected; the callee exposes \['eggs', 'spam'\]"),
        re.compile(rf"Caller {TCP}/Caller-1 got spamspamspam"),
        "RemoteError: ValueError: 12 eggs is too many",
        re.compile(rf"  raised in {TCP}/Callee-1"),
        "  remote traceback ends with: ValueError: 12 eggs is too many",
        "the callee carries on: eggs(2) -> eggseggs",
        re.compile(
            rf"NotExposed: {TCP}/Callee-1 does not expose 'ham'; it exposes \['eggs', 'spam'\]"
        ),
        "callee incarnation: 1",
        "both containers closed",
    ],
    "two_processes": [
        re.compile(rf"node listening at {TCP}"),
        re.compile(rf"spawned {TCP}/times7"),
        "ask(times7, Multiply(6)) -> 42",
        "ask(times7, Multiply(191)) -> 1337",
        "times7 runs in another process: True",
        "agents in the node: ['node', 'times7']",
        "node stopped with exit code 0",
        "container closed",
    ],
    "parking": [
        "t=  2.0  Driver_5  arrives with a budget of 13, offers 6",
        "t=  2.0  Driver_5  accepts 13",
        "t=  2.0  Driver_5  parks in spot 1 for 13",
        "t=  3.0  Driver_4  parks in spot 2 for 13",
        "t=  6.0  Driver_1  hears the lot is full and waits",
        "t=  9.0  Driver_5  leaves spot 1",
        "t=  9.0  Driver_3  parks in spot 1 for 14",
        "t= 12.0  Driver_1  gives up: 12 is over its budget of 9",
        "t= 12.0  Driver_2  parks in spot 2 for 12",
        "t= 18.0  Driver_2  leaves spot 2",
        "run -> idle at t=18.0; free spots: [1, 2]",
        "the manager took 52 in all",
    ],
    "contract_net": [
        "t=0.0 call for proposals to 20 carriers",
        "t=8.0 done: 14 bids in time, from 45 to 115",
        "  refused: ['carrier-03', 'carrier-15', 'carrier-17', 'carrier-20']",
        "  silent at the deadline: ['carrier-07', 'carrier-13']",
        "  accepted: carrier-06 for 45",
        "  result from carrier-06: 'crate delivered by carrier-06 at t=8.0'",
        "  rejected as late: ['carrier-07', 'carrier-13']",
        "run_until_idle -> idle at t=8.0",
    ],
    "mosaik_grid": [
        "a feeder of 10.0 kW, three households, a step every 15 minutes",
        "t=  0 min  wanted [2.32, 3.07, 1.5] kW  drew [2.32, 3.07, 1.5] kW  feeder 6.89 kW",
        "t= 45 min  wanted [5.0, 6.12, 2.42] kW  drew [3.693, 4.52, 1.787] kW  feeder 10.0 kW"
        "  (curtailed)",
        "t=105 min  wanted [2.05, 3.42, 2.42] kW  drew [2.05, 3.42, 2.42] kW  feeder 7.89 kW",
    ],
    "bdi_two_containers": [
        # sources in the other container are addresses, so a plan can answer them
        re.compile(
            rf"request welcome     -> welcome, ann \(as {TCP}/customer"
            r" told me\)"
        ),
        re.compile(rf"ask_one apple price -> Belief\('price', 'apple', 3, source='{TCP}/shop'\)"),
        "ask_one kiwi price  -> False",
        re.compile(
            rf"ask_all prices      -> \[Belief\('price', 'apple', 3, source='{TCP}/shop'\),"
            rf" Belief\('price', 'pear', 5, source='{TCP}/shop'\)\]"
        ),
        "request 4 apples    -> 4 apples for 12",
        re.compile(
            r'request haggle      -> RequestFailed: NoApplicablePlan\("no applicable plan for'
            rf" Goal\('haggle', 'apple', source='{TCP}/customer'\)\"\)"
        ),
        re.compile(rf"ask_one apple stock -> Belief\('stock', 'apple', 6, source='{TCP}/shop'\)"),
        re.compile(
            rf"contract_net bids   -> \[\('{TCP}/courier-1', 9\), \('{TCP}/courier-2', 7\),"
            rf" \('{TCP}/courier-3', 8\)\]"
        ),
        re.compile(rf"  accepted          -> \['{TCP}/courier-2'\]"),
        re.compile(
            rf"  results           -> \{{'{TCP}/courier-2': 'courier-2 delivers 4 apples for 7'\}}"
        ),
        "both containers closed",
    ],
}

FORBIDDEN: dict[str, list[str]] = {
    # the tracker must not see what alice sends with direct=True
    "broadcast": ["    audit copy of 'off the record'", "    dave  got 'bye dave'"],
    # an ignore_if_idle alarm is dropped when the run goes idle, never delivered
    "alarms": ["    heart woke up for 'reminder'"],
    # rest_for_one leaves the stage before the one that crashed alone
    "pipeline": ["t=3.0   started source #2"],
}

# Examples that run in virtual time only, with their arguments: their output must
# be the same, byte for byte, on every run.
DETERMINISTIC: dict[str, tuple[str, ...]] = {
    "pingpong": ("--virtual",),
    "priority_inbox": (),
    "alarms": (),
    "broadcast": (),
    "worker_pool": (),
    "pipeline": (),
    "parking": (),
    "contract_net": (),
    "mosaik_grid": (),
}

# Examples that need a package the test extras may lack: skipped without it.
NEEDS: dict[str, str] = {"mosaik_grid": "mosaik"}


def skip_unless_installed(name: str) -> None:
    """Skip the test of example ``name`` if a package it needs is not installed."""
    needed = NEEDS.get(name)
    if needed is not None and importlib.util.find_spec(needed) is None:
        pytest.skip(f"examples/{name}.py needs {needed} (the mosaik extra)")


@functools.cache
def run_example(name: str, args: tuple[str, ...] = (), attempt: int = 0) -> tuple[str, str]:
    """Run ``examples/<name>.py`` with ``args``; return (stdout, stderr) of a clean exit."""
    del attempt  # only part of the cache key, so that a second run really runs
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / f"{name}.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a guard against a hang, not a wait
        check=False,
    )
    assert proc.returncode == 0, f"{name}.py exited with {proc.returncode}:\n{proc.stderr}"
    return proc.stdout, proc.stderr


def assert_lines_in_order(output: str, expected: list[str | re.Pattern[str]]) -> None:
    """Each expected line occurs in ``output``, after the one before it."""
    lines = output.splitlines()
    position = 0
    for want in expected:
        for index in range(position, len(lines)):
            line = lines[index]
            if (line == want) if isinstance(want, str) else want.fullmatch(line):
                position = index + 1
                break
        else:
            shown = want if isinstance(want, str) else want.pattern
            pytest.fail(f"no line {shown!r} after line {position} in the output:\n{output}")


def test_examples_are_found() -> None:
    names = {path.stem for path in EXAMPLES}
    assert set(EXPECTED) <= names, f"expected output for missing examples: {set(EXPECTED) - names}"
    assert set(DETERMINISTIC) <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_and_prints(path: Path) -> None:
    skip_unless_installed(path.stem)
    stdout, stderr = run_example(path.stem)
    assert stderr == "", f"{path.name} wrote to stderr:\n{stderr}"
    assert stdout.strip(), f"{path.name} printed nothing"
    assert_lines_in_order(stdout, EXPECTED.get(path.stem, []))
    for line in FORBIDDEN.get(path.stem, []):
        assert line not in stdout.splitlines(), f"{path.name} printed {line!r}"


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_virtual_time_example_is_repeatable(name: str) -> None:
    skip_unless_installed(name)
    args = DETERMINISTIC[name]
    first, _ = run_example(name, args)
    second, _ = run_example(name, args, attempt=1)
    assert first == second


def test_pingpong_flags_pick_the_clock() -> None:
    real, _ = run_example("pingpong", ("--real",))
    virtual, _ = run_example("pingpong", ("--virtual",))
    assert "real time (RealClock):" in real
    assert "virtual time" not in real
    assert "virtual time (VirtualClock, seed 7):" in virtual
    assert "real time" not in virtual


@pytest.mark.parametrize("trio_plugin", [True, False], ids=["with pytest-trio", "without"])
def test_the_testing_example_project_runs_with_plain_pytest(trio_plugin: bool) -> None:
    """examples/testing/ is a user's project: its own pytest.ini, no conftest, only the
    fixtures the installed package's plugin brings."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not trio_plugin:
        command += ["-p", "no:trio"]
    result = subprocess.run(
        command,
        cwd=ROOT / "examples" / "testing",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
