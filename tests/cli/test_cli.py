"""The ``triomas`` command as an operator uses it: a node in a subprocess, looked into
and controlled by the other commands, each run as its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from triomas._cli.common import JsonLines
from triomas._cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
SECRET = "a shared secret for the cli tests"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS), str(ROOT / "examples"), env.get("PYTHONPATH", "")]
    )
    env.pop("TRIOMAS_SECRET", None)
    return env


def triomas(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``triomas ARGS`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "triomas", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        check=False,
    )


class Node:
    """A ``triomas node`` in a subprocess, and what it printed."""

    def __init__(self, secret_file: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "triomas",
                "node",
                "--address",
                "tcp://127.0.0.1:0",
                "--agent",
                "adder=node_agents:Adder",
                "--secret-file",
                str(secret_file),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until it listens (or dies)
        assert line.startswith("triomas-node "), line + self.process.stderr.read()  # type: ignore[union-attr]
        self.address = line.split()[1]

    def wait(self) -> tuple[int, str]:
        """Its exit status and the rest of its stdout."""
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    return path


@pytest.fixture
def node(secret_file: Path) -> Iterator[Node]:
    running = Node(secret_file)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
        running.process.communicate(timeout=30)  # reaped, pipes closed: no zombie


def test_a_node_is_listed_asked_shown_and_stopped(node: Node, secret_file: Path) -> None:
    secret = ("--secret-file", str(secret_file))
    listed = triomas("agents", node.address, "--json", *secret)
    assert listed.returncode == 0, listed.stderr
    agents = json.loads(listed.stdout)
    assert [(a["name"], a["cls"], a["state"]) for a in agents] == [
        ("node", "NodeAgent", "running"),
        ("adder", "Adder", "running"),
    ]
    table = triomas("agents", node.address, *secret)
    assert "Adder" in table.stdout
    assert "dead letters: none" in table.stdout

    asked = triomas(
        "send", f"{node.address}/adder", "node_agents:Add", '{"a": 2, "b": 3}', "--ask", *secret
    )
    assert (asked.returncode, asked.stdout.strip()) == (0, "5"), asked.stderr
    told = triomas("send", f"{node.address}/nobody", "node.Add", '{"a": 1, "b": 1}', *secret)
    assert told.returncode == 2  # the tag is unknown in a process that never imported it
    assert "node.Add" in told.stderr

    handled = json.loads(triomas("agents", node.address, "--json", *secret).stdout)
    (adder,) = [a for a in handled if a["name"] == "adder"]
    assert (adder["received"], adder["handled"], adder["sent"]) == (1, 1, 0)  # the one ask
    assert adder["handler_time"] >= 0.0
    frame = triomas("top", node.address, "--once", *secret)
    assert frame.returncode == 0, frame.stderr
    assert "adder" in frame.stdout
    for heading in ("inc", "restarts", "mailbox", "in", "handled", "out", "busy", "sent/s"):
        assert heading in frame.stdout
    stats = json.loads(triomas("top", node.address, "--json", *secret).stdout)
    assert stats["address"] == node.address
    assert stats["dead_letters"] == {}

    stopped = triomas("stop", node.address, *secret)
    assert stopped.returncode == 0, stopped.stderr
    code, out = node.wait()
    assert code == 0
    assert "adder: teardown ran" in out


def test_a_wrong_secret_is_one_clear_line_and_exit_1(node: Node, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the secret")
    result = triomas("agents", node.address, "--secret-file", str(wrong), "--timeout", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "shared-secret challenge" in lines[0]
    assert lines[0].startswith(f"Error: cannot reach {node.address}")


def test_sigterm_stops_a_node_cleanly(node: Node) -> None:
    node.process.send_signal(signal.SIGTERM)
    code, out = node.wait()
    assert code == 0
    assert "adder: teardown ran" in out


def test_nothing_listens_is_exit_1(tmp_path: Path) -> None:
    result = triomas("agents", f"unix://{tmp_path}/none.sock", "--timeout", "0.5")
    assert result.returncode == 1
    assert "cannot reach" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_stops_at_the_clock_time_until_says() -> None:
    ran = triomas("run", "node_agents:tick_for_ever", "--virtual", "--until", "50")
    assert ran.returncode == 0, ran.stderr
    assert "stopped at clock time 50 (--until 50)" in ran.stderr
    assert "ticker: 50 ticks, then teardown" in ran.stdout  # stopped in order


def test_a_run_is_recorded_and_drawn(tmp_path: Path) -> None:
    trace_file = tmp_path / "pingpong.jsonl"
    ran = triomas(
        "run", "pingpong:ping_pong", "--virtual", "--seed", "1", "--trace", str(trace_file)
    )
    assert ran.returncode == 0, ran.stderr
    assert "1000 asks took" in ran.stdout
    drawn = triomas("trace", str(trace_file), "--mermaid", "--limit", "12")
    assert drawn.returncode == 0, drawn.stderr
    stored = (Path(__file__).parent / "pingpong.mmd").read_text()
    assert drawn.stdout == stored
    stats = triomas("trace", str(trace_file), "--stats")
    assert "ask" in stats.stdout
    assert "pinger" in stats.stdout
    timeline = triomas("trace", str(trace_file), "--timeline")
    assert timeline.stdout.startswith("pinger\n")
    both = triomas("trace", str(trace_file), "--mermaid", "--stats")
    assert both.returncode == 2


@pytest.mark.parametrize("command", ["node", "run", "agents", "send", "top", "trace", "stop"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output
    assert result.output.count("\n") > 3


def test_usage_errors_are_exit_2() -> None:
    assert CliRunner().invoke(cli, ["agents"]).exit_code == 2
    assert CliRunner().invoke(cli, ["nonsense"]).exit_code == 2
    assert CliRunner().invoke(cli, ["node", "--agent", "no-equals-sign"]).exit_code == 2


def test_the_console_script_is_the_package_s() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "triomas"]
    assert script.value == "triomas._cli.main:main"


def test_container_stats_say_state_restarts_mailbox_and_dead_letters() -> None:
    import trio

    import triomas
    from node_agents import Add, Adder

    async def main() -> triomas.ContainerStats:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            await c.spawn(Adder, name="adder")
            c.send("adder", Add(1, 2))
            c.send("adder", Add(3, 4))
            c.send("nobody", Add(0, 0))
            before = c.stats()
            assert [(a.name, a.mailbox) for a in before.agents] == [("adder", 2)]
            await c.run(until_idle=True)
            return c.stats()

    stats = trio.run(main)
    (adder,) = stats.agents
    assert (adder.cls, adder.state, adder.incarnation, adder.restarts, adder.mailbox) == (
        "Adder",
        "running",
        1,
        0,
        0,
    )
    assert adder.handled == 2
    assert stats.dead_letters == {"unknown recipient": 1}
    assert stats.as_dict()["agents"][0]["name"] == "adder"


def test_json_log_lines(tmp_path: Path) -> None:
    result = triomas(
        "--log-format", "json", "agents", f"unix://{tmp_path}/x.sock", "--timeout", "0.2"
    )
    assert result.returncode == 1
    result = triomas(
        "--log-format",
        "json",
        "--log-level",
        "INFO",
        "agents",
        f"unix://{tmp_path}/x.sock",
        "--timeout",
        "0.2",
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_library_log_records_carry_agent_container_and_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import trio

    import triomas
    from node_agents import Add

    class Fails(triomas.Agent):
        @triomas.on(Add)
        def add(self, msg: Add) -> None:
            raise ValueError("no")

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock(start=5)) as c:
            await c.spawn(Fails, name="fails", restart="temporary")
            c.send("fails", Add(1, 1))
            c.send("nobody", Add(1, 1))
            await c.run(until_idle=True)

    trio.run(main)
    crash = next(r for r in caplog.records if "crashed" in r.getMessage())
    dead = next(r for r in caplog.records if "dead letter" in r.getMessage())
    assert (crash.agent, crash.container, crash.clock) == ("fails", "local://c1", 5.0)  # type: ignore[attr-defined]
    assert (dead.container, dead.clock) == ("local://c1", 5.0)  # type: ignore[attr-defined]
    formatted = json.loads(JsonLines().format(crash))
    assert formatted["agent"] == "fails"
