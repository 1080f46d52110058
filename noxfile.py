"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s bench``, ``nox -s fuzz``."""

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (examples and docs code blocks included) with branch coverage."""
    session.install("-e", ".[test,mosaik,otel,docs]")
    session.run("pytest", "--cov=triomas", "--cov-report=term:skip-covered", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff, including the ASYNC rules."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with ``mypy --strict``, and the examples as users would."""
    # the testing kit types against pytest, examples/mosaik_grid.py against mosaik
    session.install("-e", ".[test,mosaik,otel]", "mypy>=1.10")
    session.run("mypy")
    session.run("mypy", "--strict", "examples")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site (mkdocs-material) into build/site, strictly."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks side by side with their baselines; prints JSON lines."""
    session.install("-e", ".[bench,mosaik]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the frame decoder over real sockets (raw bytes, framed msgpack trees, fuzzed
    handshakes): 2 500 examples per test and target, 22 500 inputs; ``nox -s tests`` runs
    the same tests short. Not in the default sessions."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/net/test_fuzz_network.py",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"TRIOMAS_FUZZ_EXAMPLES": "2500", "TRIOMAS_FUZZ_MIN_INPUTS": "20000"},
    )
