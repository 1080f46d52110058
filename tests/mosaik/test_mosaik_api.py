"""Declaring models and simulators, and the ``triomas mosaik`` command's usage: what is
refused, with which message (no mosaik needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from triomas import Agent
from triomas._cli.main import cli
from triomas.mosaik import Inputs, Model, Simulator


class Load(Agent):
    def __init__(self, p_max: float, *, phase: int = 0) -> None:
        self.p_max = p_max
        self.phase = phase
        self.p = 0.0


def test_a_model_reads_its_parameters_from_init_and_builds_its_meta() -> None:
    model = Model(Load, inputs=["setpoint"], outputs=["p", "q"], non_persistent=["q"])
    assert model.model_name == "Load"
    assert model.param_names == ("p_max", "phase")
    assert model.meta("hybrid") == {
        "public": True,
        "params": ["p_max", "phase"],
        "attrs": ["setpoint", "p", "q"],
        "trigger": ["setpoint"],
        "non-persistent": ["q"],
    }
    assert Model(Load, name="L", params=["p_max"], any_inputs=True).meta("time-based") == {
        "public": True,
        "params": ["p_max"],
        "attrs": [],
        "any_inputs": True,
    }
    assert Model(Agent).param_names == ()


def test_simulator_meta_lists_models_the_post_and_extra_methods() -> None:
    sim = Simulator([Load], kind="event-based", post=True, extra_methods={"stats": len})
    assert sim.meta() == {
        "api_version": "3.0",
        "type": "event-based",
        "models": {
            "Load": {"public": True, "params": ["p_max", "phase"], "attrs": []},
            "Post": {"public": True, "params": [], "attrs": ["inbox", "outbox"]},
        },
        "extra_methods": ["stats"],
    }
    assert sim.model("Load").agent is Load
    with pytest.raises(
        LookupError, match=r"no model 'Nope' in this simulator \(it has \['Load', 'Post'\]\)"
    ):
        sim.model("Nope")


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Model(int), "a mosaik model is an Agent subclass"),  # type: ignore[arg-type]
        (lambda: Model(Load, name="step"), "'step' cannot name a mosaik model"),
        (lambda: Model(Load, inputs="abc"), "not the string 'abc'"),
        (
            lambda: Model(Load, inputs=["a"], trigger=["b"]),
            r"trigger \['b'\] are not among its inputs",
        ),
        (lambda: Model(Load, outputs=["p"], non_persistent=["q"]), "non_persistent"),
        (lambda: Model(Load, params=["name"]), "keywords of Container.spawn"),
        (lambda: Simulator([Load], kind="now"), "kind must be one of"),  # type: ignore[arg-type]
        (lambda: Simulator([Load], step_size=0), "step_size must be a positive int"),
        (lambda: Simulator([Load, Load]), "two models are called Load"),
        (
            lambda: Simulator(
                [Model(Load, outputs=["p"], non_persistent=["p"])], kind="time-based"
            ),
            "no non-persistent",
        ),
        (
            lambda: Simulator([Model(Load, inputs=["x"], trigger=["x"])], kind="time-based"),
            "no trigger inputs",
        ),
        (
            lambda: Simulator([Model(Load, inputs=["x", "y"], trigger=["x"])], kind="event-based"),
            "every input",
        ),
        (lambda: Simulator([Model(Load, name="Post")], post=True), "rename yours"),
        (lambda: Simulator([Load], extra_methods={"Load": len}), "cannot name an extra method"),
        (lambda: Simulator([Load], on_crash="ignore"), "on_crash"),  # type: ignore[arg-type]
    ],
)
def test_bad_declarations_are_refused_with_a_clear_error(make: object, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        make()  # type: ignore[operator]


def test_inputs_combine_their_sources() -> None:
    msg = Inputs(3, 1.5, {"p": {"a.x": 1.0, "b.y": 2.5}})
    assert (msg.sum("p"), msg.first("p"), msg.sum("q"), msg.first("q", 7)) == (3.5, 1.0, 0, 7)
    assert msg.get("p") == {"a.x": 1.0, "b.y": 2.5}


def test_the_command_says_what_it_needs() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["mosaik", "mosaik_sims:summing"])
    assert result.exit_code == 2
    assert "give mosaik's HOST:PORT or --listen HOST:PORT" in result.output
    result = runner.invoke(cli, ["mosaik", "no_such_module:sim", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "cannot load no_such_module:sim" in result.output
    result = runner.invoke(cli, ["mosaik", "triomas:Agent", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "is a type, not a triomas.mosaik.Simulator" in result.output
    result = runner.invoke(cli, ["mosaik", "--help"])
    assert "pkg.mod:sim %(addr)s" in result.output


def test_the_command_fails_cleanly_when_mosaik_is_not_there() -> None:
    result = CliRunner().invoke(cli, ["mosaik", "mosaik_sims:summing", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: OSError:")  # connection refused, one line
