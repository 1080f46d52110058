"""``triomas trace``: a recorded trace as a Mermaid diagram, a timeline, or counts."""

from __future__ import annotations

import collections
from pathlib import Path

import click

from ..testing._diagram import mermaid, read_trace


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mermaid", "as_mermaid", is_flag=True, help="a Mermaid sequence diagram")
@click.option("--timeline", is_flag=True, help="each agent's records, in time order")
@click.option("--stats", is_flag=True, help="counts by kind, agent and message type")
@click.option(
    "--limit", default=500, show_default=True, help="the most arrows and notes a diagram draws"
)
def trace(file: Path, as_mermaid: bool, timeline: bool, stats: bool, limit: int) -> None:
    """Render FILE, a trace in JSON lines (`triomas run --trace`, or a failing test's)."""
    if sum((as_mermaid, timeline, stats)) != 1:
        raise click.UsageError("give exactly one of --mermaid, --timeline and --stats")
    try:
        records = read_trace(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    if as_mermaid:
        click.echo(mermaid(records, limit=limit), nl=False)
    elif timeline:
        by_agent: dict[str, list[str]] = collections.defaultdict(list)
        for r in records:
            by_agent[r.agent].append(f"  t={r.time:<10g} {r.kind:<12} {r.payload}".rstrip())
        for agent, lines in by_agent.items():
            click.echo(agent)
            click.echo("\n".join(lines))
    else:
        kinds = collections.Counter(r.kind for r in records)
        agents = collections.Counter(r.agent for r in records)
        types = collections.Counter(r.message_type for r in records if r.message_type)
        end = max((r.time for r in records), default=0.0)
        click.echo(f"{len(records)} records, t=0 to t={end:g}")
        for title, counts in (("kinds", kinds), ("agents", agents), ("message types", types)):
            click.echo(f"{title}:")
            for key, n in counts.most_common():
                click.echo(f"  {n:>8}  {key}")
