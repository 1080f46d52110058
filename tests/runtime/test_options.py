"""One TypedDict describes the spawn keywords, and every spawn takes exactly those."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import triomas
from triomas import Agent, ChildSpec, ChildSpecError
from triomas._agent.options import SEND_KEYWORDS, SPAWN_KEYWORDS, SendOptions, SpawnOptions


def _keywords(fn: Callable[..., Any]) -> dict[str, object]:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_spawn_options_and_their_defaults_are_one_list() -> None:
    assert set(SpawnOptions.__annotations__) == set(SPAWN_KEYWORDS)
    assert set(SendOptions.__annotations__) == SEND_KEYWORDS


@pytest.mark.parametrize(
    ("fn", "extra"),
    [
        (Agent.spawn, {}),
        (triomas.Container.spawn, {}),
        (triomas.Container.start, {"timeout": 5.0}),
    ],
)
def test_every_spawn_takes_exactly_the_spawn_options(
    fn: Callable[..., Any], extra: dict[str, object]
) -> None:
    assert _keywords(fn) == {**SPAWN_KEYWORDS, **extra}


def test_spawn_on_demand_takes_the_name_first_and_the_rest_as_keywords() -> None:
    params = inspect.signature(triomas.Container.spawn_on_demand).parameters
    assert list(params)[1] == "name"
    rest = {k: v for k, v in SPAWN_KEYWORDS.items() if k != "name"}
    assert _keywords(triomas.Container.spawn_on_demand) == rest


class Worker(Agent):
    pass


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"overflow": "explode"}, "overflow"),
        ({"restart": "sometimes"}, "restart"),
        ({"shutdown": -1}, "shutdown"),
        ({"idle_timeout": 0}, "idle_timeout"),
    ],
)
async def test_spawn_and_child_specs_share_one_validator(
    vc: triomas.Container, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ChildSpecError) as from_spawn:
        await vc.spawn(Worker, **options)
    with pytest.raises(ChildSpecError) as from_spec:
        ChildSpec("w", Worker, **options).validated()
    assert from_spawn.value.field == from_spec.value.field == field
    assert str(from_spawn.value) == str(from_spec.value)
