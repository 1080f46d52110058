"""Containers in child processes: spawned, used, and always reaped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import triomas
from triomas import NodeStartError, RemoteError

HERE = Path(__file__).resolve().parents[1]  # tests/, where node_agents.py lives
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists at all (a zombie counts: it has not been reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_spawn_agents_in_a_child_process_and_stop_it(tmp_path: Path) -> None:
    from node_agents import Doubler, Number

    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0") as c:
            node = await triomas.spawn_container(c, env=ENV)
            assert node.address.startswith("tcp://127.0.0.1:")
            doubler = await node.spawn("node_agents:Doubler", 10, name="doubler")
            assert doubler.address == f"{node.address}/doubler"
            assert await c.ask(doubler, Number(4)) == 40
            assert [ref.name for ref in await node.agents()] == ["node", "doubler"]
            with pytest.raises(RemoteError, match="allow-list"):
                await node.spawn("no_such_module:Agent")
            with pytest.raises(RemoteError, match="allow-list"):
                await node.spawn("node_agents:Number")  # not an agent: not allowed
            assert await node.stop() == 0
            assert not _alive(node.process.pid)
            assert Doubler is not None


async def test_a_unix_socket_node(tmp_path: Path) -> None:
    from node_agents import Number

    with trio.fail_after(30):
        async with triomas.open_container(f"unix://{tmp_path}/parent.sock") as c:
            node = await triomas.spawn_container(c, f"unix://{tmp_path}/child.sock", env=ENV)
            doubler = await node.spawn("node_agents:Doubler", 3)
            assert await c.ask(doubler, Number(5)) == 15


async def test_the_node_is_stopped_when_its_container_closes_even_on_error() -> None:
    pids: list[int] = []

    async def body() -> None:
        async with triomas.open_container("tcp://127.0.0.1:0") as c:
            node = await triomas.spawn_container(c, env=ENV)
            pids.append(node.process.pid)
            raise KeyError("boom")

    with trio.fail_after(30), pytest.raises(KeyError):
        await body()
    assert not _alive(pids[0])


async def test_the_node_is_stopped_when_the_parent_is_cancelled() -> None:
    pids: list[int] = []
    with trio.fail_after(30):
        with trio.CancelScope() as scope:
            async with triomas.open_container("tcp://127.0.0.1:0") as c:
                node = await triomas.spawn_container(c, env=ENV)
                pids.append(node.process.pid)
                scope.cancel()
                await trio.sleep_forever()
    assert not _alive(pids[0])


async def test_shared_secret_nodes() -> None:
    from node_agents import Number

    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0", secret="s3") as c:
            node = await triomas.spawn_container(c, env=ENV, secret="s3")
            doubler = await node.spawn("node_agents:Doubler", 2)
            assert await c.ask(doubler, Number(1)) == 2


async def test_a_node_that_cannot_start_is_reported_and_reaped() -> None:
    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0") as c:
            with pytest.raises(NodeStartError, match="exited before listening"):
                await triomas.spawn_container(c, "carrier-pigeon://coop", env=ENV)
            with pytest.raises(ValueError, match="no network"):
                async with triomas.open_container() as local:
                    await triomas.spawn_container(local)


def test_a_node_exits_when_its_parent_goes_away() -> None:
    """By hand: ``python -m triomas node`` serves until its stdin closes."""
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "triomas", "node", "--address", "tcp://127.0.0.1:0", "--watch-stdin"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=ENV,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    line = process.stdout.readline().decode()
    assert line.startswith("triomas-node tcp://127.0.0.1:")
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    process.stdout.close()


async def test_a_node_has_a_secret_of_its_own_by_default() -> None:
    """Only the container that spawned a node (and its other nodes) can reach it."""
    from node_agents import Number

    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0") as c:
            node = await triomas.spawn_container(c, env=ENV)
            doubler = await node.spawn("node_agents:Doubler", 5, name="doubler")
            assert await c.ask(doubler, Number(2)) == 10
            # A stranger (no secret) that finds the port is refused at the handshake:
            # it cannot list, start or stop anything.
            async with triomas.open_container(
                "tcp://127.0.0.1:0", reconnect_timeout=0.2
            ) as stranger:
                with pytest.raises(triomas.CalleeDown):
                    await stranger.connect(f"{node.address}/node", timeout=10)
                with pytest.raises(triomas.CalleeDown):
                    await stranger.ask(doubler, Number(1), timeout=10)
            # ...and another secret does not help either.
            async with triomas.open_container(
                "tcp://127.0.0.1:0", secret="guess", reconnect_timeout=0.2
            ) as guesser:
                with pytest.raises(triomas.CalleeDown):
                    await guesser.ask(doubler, Number(1), timeout=10)
            assert [ref.name for ref in await node.agents()] == ["node", "doubler"]
            # Two nodes of one container share their secret, so they talk to each other.
            other = await triomas.spawn_container(c, env=ENV)
            relay = await other.spawn("node_agents:Relay", doubler.address)
            assert await c.ask(relay, Number(3)) == 15


async def test_a_node_imports_nothing_a_peer_names(tmp_path: Path) -> None:
    """``start_agent`` resolves allowed classes only; a module that is not allowed is
    never imported, so its import-time code never runs."""
    marker = tmp_path / "imported"
    (tmp_path / "marker_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from triomas import Agent\n\n\nclass Thing(Agent):\n    pass\n"
    )
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), ENV["PYTHONPATH"]])}
    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0") as c:
            node = await triomas.spawn_container(c, env=env)
            for path in ("marker_module:Thing", "marker_module.Thing", "os:system"):
                with pytest.raises(RemoteError, match="allow-list"):
                    await node.spawn(path)
            # Also when called directly, as any peer holding the secret could.
            proxy = await c.connect(f"{node.address}/node")
            with pytest.raises(RemoteError, match="allow-list"):
                await proxy.start_agent("marker_module:Thing", [], {}, None)
            assert not marker.exists()
            # A whole module allowed: its agent classes, and only those.
            from node_agents import Doubler, Number

            modules = await triomas.spawn_container(c, env=env, allow=["node_agents"])
            with pytest.raises(RemoteError, match="not an Agent subclass"):
                await modules.spawn("node_agents:Number")
            with pytest.raises(RemoteError, match="defined in triomas"):
                await modules.spawn("node_agents:Agent")  # imported there, not defined
            doubler = await modules.spawn(Doubler, 7)  # the class itself: by its path
            assert await c.ask(doubler, Number(6)) == 42

            class Local(triomas.Agent):
                pass

            with pytest.raises(ValueError, match="import path"):
                await modules.spawn(Local)
