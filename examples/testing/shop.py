"""A small agent system to test: a stock keeper that answers orders, and a clerk that
forwards each customer's order to it and tells the customer how it went.

The tests beside this file (``test_shop.py``) show the triomas testing kit; they run
with plain ``pytest`` after ``pip install -e .`` of triomas, with no conftest.
"""

from __future__ import annotations

from triomas import Agent, Envelope, message, on


@message(tag="shop.Order")
class Order:
    item: str
    qty: int


@message(tag="shop.Confirmed")
class Confirmed:
    item: str
    qty: int


@message(tag="shop.SoldOut")
class SoldOut:
    item: str


class Stock(Agent):
    """Holds the stock; an order is an ask, answered True if it could be served."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.stock = dict(stock)

    @on(Order)
    def order(self, msg: Order) -> bool:
        if self.stock.get(msg.item, 0) < msg.qty:
            return False
        self.stock[msg.item] -= msg.qty
        return True


class Clerk(Agent):
    """Takes orders from customers, asks the stock, and tells the customer."""

    def __init__(self, stock: str = "stock") -> None:
        self.stock = stock

    @on(Order)
    async def order(self, msg: Order, env: Envelope) -> None:
        served = await self.ask(self.stock, msg, timeout=2)
        assert env.sender is not None
        self.send(env.sender, Confirmed(msg.item, msg.qty) if served else SoldOut(msg.item))
