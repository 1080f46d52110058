"""Tests of shop.py with the triomas pytest plugin: every fixture comes from it."""

from __future__ import annotations

import pytest
from shop import Clerk, Confirmed, Order, SoldOut, Stock

import triomas
from triomas import AskTimeout
from triomas.testing import (
    Probe,
    TestNetwork,
    TraceRecorder,
    assert_deterministic,
    assert_no_dead_letters,
    assert_trace,
    crash_on,
)


async def test_the_clerk_confirms_and_then_sells_out(
    triomas_container: triomas.Container, triomas_probe: Probe, triomas_trace: TraceRecorder
) -> None:
    await triomas_container.spawn(Stock, {"tea": 3}, name="stock")
    clerk = await triomas_container.spawn(Clerk, name="clerk")
    triomas_probe.send(clerk, Order("tea", 2))
    triomas_probe.send(clerk, Order("tea", 2))
    await triomas_probe.expect_all([Confirmed("tea", 2), SoldOut("tea")], ordered=True, within=1)
    await triomas_probe.expect_no_message(within=3600)  # an hour of virtual time: instant
    assert_trace(
        triomas_trace,  # the container's trace
        [("probe", "clerk", Order), ("clerk", "stock", Order), ("clerk", "probe", Confirmed)],
    )
    assert_no_dead_letters(triomas_trace)


async def test_a_partition_costs_the_clerk_its_answer(triomas_network: TestNetwork) -> None:
    back, front = await triomas_network(2, latency=0.01)
    await back.spawn(Stock, {"tea": 3}, name="stock")
    clerk = await front.spawn(Clerk, f"{back.address}/stock", name="clerk")
    probe = await front.spawn_probe("customer")
    probe.send(clerk, Order("tea", 1))
    await probe.expect(Confirmed("tea", 1), within=1)
    triomas_network.cut(front, back)
    probe.send(clerk, Order("tea", 1))
    await probe.expect_no_message(within=5)
    # the clerk's ask timed out after 2 s: its handler failed, and it was restarted
    assert front.agent("clerk").incarnation == 2
    triomas_network.heal(front, back)
    probe.send(clerk, Order("tea", 1))
    await probe.expect(Confirmed("tea", 1), within=1)


async def test_a_crashing_stock_is_restarted(
    triomas_container: triomas.Container, triomas_probe: Probe
) -> None:
    stock = await triomas_container.spawn(crash_on(Order)(Stock), {"tea": 3}, name="stock")
    triomas_probe.watch(stock)
    with pytest.raises(triomas.CalleeDown):
        await triomas_container.ask(stock, Order("tea", 1))
    await triomas_probe.expect_no_message(within=1)  # restarted: no Down
    assert triomas_container.agent("stock").incarnation == 2


def test_the_shop_is_deterministic() -> None:
    async def main() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Stock, {"tea": 3}, name="stock")
            clerk = await c.spawn(Clerk, name="clerk")
            probe = await c.spawn_probe("customer")
            for qty in (1, 2, 3):
                probe.send(clerk, Order("tea", qty))
            await c.run(until_idle=True)

    trace = assert_deterministic(main, seed=5, runs=3)
    assert "clerk -> SoldOut(item='tea')" in trace


async def test_an_ask_to_a_silent_probe_times_out_exactly(
    triomas_container: triomas.Container, triomas_probe: Probe
) -> None:
    with pytest.raises(AskTimeout):
        await triomas_container.ask(triomas_probe.ref, Order("tea", 1), timeout=30)
    assert triomas_container.clock.now() == 30
    request = await triomas_probe.expect(Order)
    assert request.body == Order("tea", 1)
