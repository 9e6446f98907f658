"""``sedna run | get | describe | logs | delete``: the local runtime's commands."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from ...api import KINDS, kind_info
from .session import DEFAULT_DRAIN_SECONDS, RunOptions, StateLocked, run, state_lock
from .store import StateCorrupt, Store, default_state_dir
from .ui import live_view, resource_table, worker_table

__all__ = ["register"]

console = Console()
err = Console(stderr=True)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="SEDNA_STATE_DIR", help="State directory (default ./.sedna)."),
]


def _store(state_dir: Path | None, must_exist: bool = True) -> Store:
    path = state_dir or default_state_dir()
    if must_exist and not (path / "state.db").exists():
        err.print(f"[red]no state in {path}[/]: start with `sedna run -f FILE`")
        raise typer.Exit(1)
    try:
        return Store(path)
    except StateCorrupt as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def _kind(name: str) -> str:
    try:
        return kind_info(name).kind
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(2) from None


def _say(line: str) -> None:
    # lines quote manifest content (kinds, names, paths): never read them as rich markup
    console.print(escape(line), soft_wrap=True)


def run_cmd(
    files: Annotated[list[Path], typer.Option("-f", "--filename", help="Manifest files or directories.")],
    state_dir: StateDir = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (services run until then).")
    ] = None,
    image_map: Annotated[
        list[str] | None,
        typer.Option("--image-map", help="IMAGE=DIR: where an image's files are (repeatable)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live table; print the final state only.")
    ] = False,
    drain: Annotated[
        float,
        typer.Option(
            help="Seconds workers of finished jobs (an inference worker ending its stream) may run on."
        ),
    ] = DEFAULT_DRAIN_SECONDS,
) -> None:
    """Run sedna.io resources as local processes until every job has finished.

    Resumes where a previous run on the same state directory stopped. Exit status: 0 when
    every job succeeded (services may still be serving at --timeout), 1 when a job failed or
    a manifest is invalid (or more than SEDNA_MAX_RESOURCES objects, default 10000), 124 when
    --timeout (counted from the start) stopped jobs that had not finished, 130 on Ctrl-C or
    SIGTERM. Both are honoured within about a second, however many resources there are.
    """
    missing = [p for p in files if not p.exists()]
    if missing:
        err.print(f"[red]no such file or directory:[/] {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    options = RunOptions(
        files=files,
        state_dir=state_dir or default_state_dir(),
        timeout=timeout,
        image_maps=list(image_map or []),
        drain=drain,
    )
    live: Live | None = None
    interactive = console.is_terminal and not quiet

    def show(store: Store, elapsed: float, note: str) -> None:
        if live is not None:
            live.update(live_view(store, elapsed, note))
        elif note:
            console.print(live_view(store, elapsed, note))

    try:
        if interactive:
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                outcome = run(options, show, say=_say)
        else:
            outcome = run(options, show, say=_say)
    except (StateLocked, StateCorrupt) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    for error in outcome.errors:  # one line each (a script greps them); manifest text is no markup
        err.print(f"[red]error:[/] {escape(error)}", soft_wrap=True)
    if outcome.reason == "error":
        raise typer.Exit(1)
    console.print(f"sedna run: {outcome.reason}")
    for failure in outcome.failed:
        err.print(f"[red]failed:[/] {failure}")
    if outcome.unfinished and outcome.reason != "finished":
        err.print(f"[yellow]not finished:[/] {escape(', '.join(outcome.unfinished))}", soft_wrap=True)
    if outcome.incomplete and outcome.reason != "finished":
        err.print(
            "[yellow]not finished:[/] stopped before every resource was applied and reconciled once; "
            "`sedna run` on the same state directory goes on from there",
            soft_wrap=True,
        )
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def get_cmd(
    kind: Annotated[
        str | None, typer.Argument(help="Kind, plural or short name (ji, fl, il, ll); all when omitted.")
    ] = None,
    name: Annotated[str | None, typer.Argument()] = None,
    output: Annotated[str | None, typer.Option("-o", "--output", help="wide | yaml | json")] = None,
    state_dir: StateDir = None,
) -> None:
    """List resources with the CRDs' printer columns (as ``kubectl get``)."""
    store = _store(state_dir)
    kinds = [_kind(kind)] if kind and kind not in ("all", "sedna") else list(KINDS)
    rows = [r for k in kinds for r in store.list(k) if name is None or r.name == name]
    if name is not None and not rows:
        err.print(f"[red]{kinds[0]} {name!r} not found[/]")
        raise typer.Exit(1)
    if output in ("yaml", "json"):
        objs: Any = [r.obj for r in rows]
        if name is not None and len(objs) == 1:
            objs = objs[0]
        elif output:
            objs = {"apiVersion": "v1", "kind": "List", "items": objs}
        sys.stdout.write(
            json.dumps(objs, indent=2) + "\n" if output == "json" else yaml.safe_dump(objs, sort_keys=False)
        )
        return
    if output not in (None, "wide"):
        err.print(f"[red]unknown output format {output!r}[/]: use wide, yaml or json")
        raise typer.Exit(2)
    shown = False
    for k in kinds:
        of_kind = [r for r in rows if r.kind == k]
        if of_kind:
            console.print(resource_table(k, of_kind, wide=output == "wide", store=store))
            shown = True
    if output == "wide" and kind is None:
        console.print(worker_table(store.workers()))
    if not shown:
        console.print("No resources found.")


def _find_one(state_dir: Path | None, kind: str, name: str) -> tuple[Store, str, Any]:
    """The store, the canonical kind and the resource row, or exit 1 saying what was not found."""
    store = _store(state_dir)
    k = _kind(kind)
    rows = store.find(k, name)
    if not rows:
        err.print(f"[red]{k} {name!r} not found[/]")
        raise typer.Exit(1)
    return store, k, rows[0]


def describe_cmd(
    kind: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    state_dir: StateDir = None,
) -> None:
    """Show a resource: spec, status, its workers and events."""
    store, k, row = _find_one(state_dir, kind, name)
    console.print(f"[bold]{k}[/] {row.namespace}/{row.name}   (from {row.source or '-'})")
    console.print(
        yaml.safe_dump(
            {
                "metadata": row.obj.get("metadata"),
                "spec": row.obj.get("spec"),
                "status": row.obj.get("status"),
            },
            sort_keys=False,
        )
    )
    workers = store.workers(k, row.namespace, row.name)
    if workers:
        console.print(worker_table(workers))
    events = store.events(k, row.namespace, row.name)
    console.print("[bold]Events:[/]" + ("" if events else " <none>"))
    for ev in events:
        count = f" (x{ev.count})" if ev.count > 1 else ""
        console.print(f"  {ev.last_time}  {ev.type:<7} {ev.reason:<22} {ev.message}{count}")


def logs_cmd(
    worker: Annotated[str, typer.Argument(help="Worker (pod) name; a unique prefix is enough.")],
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
    state_dir: StateDir = None,
) -> None:
    """Print a worker's log (stdout and stderr of every start)."""
    store = _store(state_dir)
    names = [w.name for w in store.workers() if w.name.startswith(worker)]
    exact = worker if store.worker(worker) is not None else None
    path = store.logs_dir / f"{exact or (names[0] if len(names) == 1 else worker)}.log"
    if not path.exists():
        err.print(f"[red]no log for {worker!r}[/]" + (f"; candidates: {', '.join(names)}" if names else ""))
        raise typer.Exit(1)
    with open(path, encoding="utf-8", errors="replace") as fh:
        sys.stdout.write(fh.read())
        sys.stdout.flush()
        while follow:
            line = fh.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)


def delete_cmd(
    kind: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    state_dir: StateDir = None,
) -> None:
    """Delete a resource and stop its workers (by the running `sedna run`, or here if none runs)."""
    store, k, row = _find_one(state_dir, kind, name)
    try:
        with state_lock(store.state_dir):
            from .runner import stop_process

            for w in store.workers(k, row.namespace, row.name):
                stop_process(w.pid, w.pid_started, 5.0)
                store.remove_worker(w.name)
            store.remove(k, row.namespace, row.name)
    except StateLocked:
        store.request_delete(k, row.namespace, row.name)
        console.print(f"{k.lower()}/{name} deletion requested (the running `sedna run` stops its workers)")
        return
    console.print(f"{k.lower()}/{name} deleted")


def register(app: typer.Typer) -> None:
    """Add the local runtime's commands to the ``sedna`` CLI."""
    app.command("run")(run_cmd)
    app.command("get")(get_cmd)
    app.command("describe")(describe_cmd)
    app.command("logs")(logs_cmd)
    app.command("delete")(delete_cmd)
