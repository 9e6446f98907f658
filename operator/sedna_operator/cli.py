"""The ``sedna`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .api.crdgen import all_crds, crd_filename, render_crd, write_crds
from .manifests import load_files, summary_row

app = typer.Typer(
    name="sedna",
    help="Edge-cloud collaborative AI on Kubernetes (a Python Sedna). Validate manifests, "
    "generate CRDs, and run the control plane.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files or directories (*.yaml, *.yml, *.json).")],
) -> None:
    """Check sedna.io manifests against the CRD models and print what each one would run.

    Exits 1 and prints every problem with its field path when a manifest is invalid.
    """
    missing = [p for p in files if not p.exists()]
    if missing:
        err_console.print(f"[red]no such file or directory:[/] {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    result = load_files(files)
    if result.resources:
        table = Table(title="sedna.io resources")
        for col in ("KIND", "NAMESPACE", "NAME", "WORKERS (role@node)"):
            table.add_column(col)
        for _, res in result.resources:
            row = summary_row(res)
            table.add_row(row["kind"], row["namespace"], row["name"], row["workers"])
        console.print(table)
    for path, doc in result.foreign:
        console.print(f"[dim]skipped {doc.get('kind', '?')} {doc.get('apiVersion', '?')} in {path} (not sedna.io)[/]")
    for error in result.errors:
        err_console.print(f"[red]error:[/] {error}")
    if result.errors:
        raise typer.Exit(1)
    console.print(f"{len(result.resources)} valid resource(s)")


@app.command()
def crds(
    write: Annotated[bool, typer.Option("--write", help="Write crds/ and charts/sedna/crds/ instead of printing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the committed files differ from the models.")] = False,
    root: Annotated[Path, typer.Option(help="Repository root holding crds/ and charts/.")] = REPO_ROOT,
) -> None:
    """Generate the CustomResourceDefinitions from the pydantic models."""
    targets = [root / "crds", root / "charts" / "sedna" / "crds"]
    if write:
        for path in write_crds(*targets):
            console.print(f"wrote {path}")
        return
    if check:
        stale = []
        for directory in targets:
            for crd in all_crds():
                path = directory / crd_filename(crd)
                if not path.exists() or path.read_text(encoding="utf-8") != render_crd(crd):
                    stale.append(str(path))
        if stale:
            err_console.print("[red]out of date (run `sedna crds --write`):[/] " + ", ".join(stale))
            raise typer.Exit(1)
        console.print("CRDs are up to date")
        return
    sys.stdout.write("---\n".join(render_crd(crd) for crd in all_crds()))


def _mount_optional() -> None:
    # Components whose dependencies live in extras register their sub-commands only when
    # importable, so `sedna --help` stays true on a minimal install.
    try:
        from .runtime.local.commands import register as register_local
    except ImportError:
        pass
    else:
        register_local(app)
    try:
        from .runtime.kubernetes.commands import register as register_kube
    except ImportError:
        pass
    else:
        register_kube(app)
    try:
        from sedna_market.cli import app as kb_app
    except ImportError:
        return
    app.add_typer(kb_app, name="kb", help="Run the knowledge base / model market service.")


_mount_optional()
