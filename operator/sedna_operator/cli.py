"""The ``sedna`` command."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .api.base import shorten
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
        err_console.print(f"[red]no such file or directory:[/] {', '.join(map(str, missing))}", soft_wrap=True)
        raise typer.Exit(2)
    result = load_files(files)
    if result.resources:
        table = Table(title="sedna.io resources")
        for col in ("KIND", "NAMESPACE", "NAME", "WORKERS (role@node)"):
            table.add_column(col)
        for _, res in result.resources:
            row = summary_row(res)
            table.add_row(*(escape(row[k]) for k in ("kind", "namespace", "name", "workers")))
        console.print(table)
    for path, doc in result.foreign:
        what = escape(f"{shorten(doc.get('kind', '?'), 60, quote=False)} {shorten(doc.get('apiVersion', '?'), 60, quote=False)} in {path}")
        console.print(f"[dim]skipped {what} (not sedna.io)[/]")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    for error in result.errors:
        err_console.print(f"[red]error:[/] {escape(error)}", soft_wrap=True)
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
            err_console.print("[red]out of date (run `sedna crds --write`):[/] " + ", ".join(stale), soft_wrap=True)
            raise typer.Exit(1)
        console.print("CRDs are up to date")
        return
    sys.stdout.write("---\n".join(render_crd(crd) for crd in all_crds()))


def _optional(module: str) -> Any:
    """Import a component whose dependencies live in an extra; None when they are not installed.

    Only a missing third-party package is tolerated: a broken import inside our own code
    still raises, so a bug never hides as a missing sub-command.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        first_party = missing.split(".")[0] in ("sedna_operator", "sedna_market", "sedna")
        if not first_party or module == missing or module.startswith(missing + "."):
            return None
        raise


def _mount_optional() -> None:
    # Sub-commands register themselves only when their extras are installed, so
    # `sedna --help` stays true on a minimal install.
    for module in ("sedna_operator.runtime.local.commands", "sedna_operator.runtime.kubernetes.commands"):
        mod = _optional(module)
        if mod is not None:
            mod.register(app)
    kb = _optional("sedna_market.cli")
    if kb is not None:
        app.add_typer(kb.app, name="kb", help="Run the knowledge base / model market service.")


_mount_optional()
