"""`tenantry dag show|edge-add|edge-rm|run`: the dependency DAG from a terminal.

Nodes are named by pipeline or transformation name (or id); when a pipeline and a
transformation share a name, write ``pipeline:NAME`` or ``transformation:NAME``."""

from __future__ import annotations

import asyncio

import typer

from tenantry.cli.common import fail, org_command, run
from tenantry.cli.runs import STATUS_COLOURS

app = typer.Typer(help="The dependency DAG of pipelines and transformations.", no_args_is_help=True)
ORG = typer.Option(..., "--org", help="Organization slug")
KINDS = ("pipeline", "transformation")


async def _graph(c):
    from tenantry.orchestration import dag
    from tenantry.runkinds import register_all

    register_all()
    return await dag.build(c.session, c.settings, c.ctx.org.id)


def resolve(graph, ref: str) -> tuple[str, str]:
    """A node (kind, id) by name or id, optionally prefixed with its kind."""
    kind, sep, rest = ref.partition(":")
    if sep and kind in KINDS:
        wanted, name = kind, rest
    else:
        wanted, name = None, ref
    found = [
        n
        for n in graph.nodes.values()
        if (n.name == name or n.id == name) and (wanted is None or n.kind == wanted)
    ]
    if not found:
        fail(f"no pipeline or transformation named '{ref}'; see `tenantry dag show --org …`")
    if len(found) > 1:
        fail(
            f"'{ref}' names both a pipeline and a transformation; "
            f"write pipeline:{name} or transformation:{name}"
        )
    return found[0].kind, found[0].id


@app.command("show")
def show(org: str = ORG):
    """Nodes by layer (each layer can run together), their edges, and the DAG settings."""

    @run
    async def go():
        from tenantry.orchestration import dag
        from tenantry.orchestration import service as runs

        async with org_command(org) as c:
            graph = await _graph(c)
            ids = [n.id for n in graph.nodes.values()]
            last = await runs.latest_by_target(c.session, org_id=c.ctx.org.id, target_ids=ids)
            view = dag.view(graph, last)
            prefs = await dag.get_settings(c.session, c.ctx.org.id)
        if not view["nodes"]:
            typer.echo(f"{org} has no pipelines or transformations yet.")
            return
        nodes = {n["key"]: n for n in view["nodes"]}
        for depth, layer in enumerate(view["layers"], 1):
            typer.echo(f"layer {depth}")
            for key in layer:
                n = nodes[key]
                state = n["last_run"]["status"] if n["last_run"] else "never run"
                after = ", ".join(graph.name(u) for u in n["upstream"])
                typer.echo(
                    f"  {n['name']:<30} {n['kind']:<15} {state:<10}"
                    + (f" after {after}" if after else "")
                )
        typer.echo("edges")
        for e in view["edges"]:
            line = f"{graph.name(e['from'])} → {graph.name(e['to'])}"
            how = f"inferred (reads {e['via']})" if e["inferred"] else f"added  id {e['id']}"
            typer.echo(f"  {line:<50} {how}")
        auto = "on" if prefs.auto_downstream else "off"
        typer.echo(f"auto-downstream {auto}, at most {prefs.max_parallel} nodes at once")

    go()


@app.command("edge-add")
def edge_add(
    upstream: str = typer.Argument(..., help="The node that runs first"),
    downstream: str = typer.Argument(..., help="The node that runs after it"),
    org: str = ORG,
):
    """Make DOWNSTREAM run after UPSTREAM (refused, with the path, if it closes a cycle)."""

    @run
    async def go():
        from tenantry.orchestration import dag

        async with org_command(org) as c:
            graph = await _graph(c)
            up, down = resolve(graph, upstream), resolve(graph, downstream)
            edge = await dag.add_edge(
                c.session, c.settings, ctx=c.ctx, upstream=up, downstream=down
            )
            typer.echo(f"{edge.id}  {upstream} → {downstream}")

    go()


@app.command("edge-rm")
def edge_rm(edge_id: str = typer.Argument(..., help="Edge id (see `dag show`)"), org: str = ORG):
    """Remove an edge added by hand (inferred edges follow from the SQL)."""

    @run
    async def go():
        from tenantry.orchestration import dag

        async with org_command(org) as c:
            await dag.remove_edge(c.session, ctx=c.ctx, edge_id=edge_id)
        typer.echo(f"removed {edge_id}")

    go()


async def drive(c, run_id: str, *, wait: bool) -> str | None:
    """Carry out a DAG run's node runs in this process (inline executor) as they become ready,
    printing each node's status as it changes; with Celery, only watch (``--wait``)."""
    import sqlalchemy as sa

    from tenantry.core.db import as_utc, utcnow
    from tenantry.orchestration.execute import execute_run
    from tenantry.orchestration.models import Run

    await c.session.commit()  # no transaction held open while the run goes on
    inline = c.settings.executor == "inline"
    if not inline and not wait:
        return None
    tasks: dict[str, asyncio.Task] = {}
    seen: dict[str, str] = {}
    while True:
        async with c.db.session() as session:
            parent = await session.get(Run, run_id)
            children = await session.scalars(
                sa.select(Run).where(Run.parent_id == run_id).order_by(Run.created_at)
            )
            children = list(children)
        for child in children:
            if seen.get(child.id) != child.status:
                seen[child.id] = child.status
                note = f"  {child.error}" if child.error and child.finished else ""
                typer.secho(
                    f"{child.target_name:<30} {child.status}{note}",
                    fg=STATUS_COLOURS.get(child.status),
                )
            due = child.not_before is None or as_utc(child.not_before) <= utcnow()
            if inline and child.status == "queued" and child.id not in tasks and due:
                tasks[child.id] = asyncio.create_task(execute_run(c.db, c.settings, child.id))
        if parent is None or parent.finished:
            break
        await asyncio.sleep(0.3)
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    if parent is not None and parent.error:
        typer.echo(parent.error, err=True)
    return parent.status if parent is not None else None


@app.command("run")
def run_dag(
    org: str = ORG,
    from_: str | None = typer.Option(None, "--from", help="This node and what follows it"),
    upto: str | None = typer.Option(None, "--upto", help="What this node needs, then it"),
    wait: bool = typer.Option(False, "--wait", help="Follow until the DAG run ends"),
):
    """One DAG run: the whole DAG, or from a node downstream, or up to a node. Exit code 1
    when a node failed."""
    if from_ and upto:
        fail("use --from or --upto, not both")

    @run
    async def go():
        from tenantry.cli.runs import finish
        from tenantry.orchestration import dag_runs

        async with org_command(org) as c:
            graph = await _graph(c)
            ref = from_ or upto
            node = resolve(graph, ref) if ref else None
            mode = "downstream" if from_ else "upstream" if upto else "all"
            started = await dag_runs.start(
                c.session, c.settings, org_id=c.ctx.org.id, node=node, mode=mode
            )
            typer.echo(f"{started.id} {started.target_name}", err=True)
            status = await drive(c, started.id, wait=wait)
        if status:
            finish(status)

    go()
