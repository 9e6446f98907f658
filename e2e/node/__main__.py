"""The real-node cluster of this machine: bring it up or down, build and load the images."""

from __future__ import annotations

import json
import logging
import time

import typer

from . import images as imgs
from . import network
from .cluster import Cluster

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _cluster(edge: bool = True) -> Cluster:
    return Cluster.default(edge=edge)


@app.command()
def up(
    edge: bool = typer.Option(True, help="Also run edge-node in its own network namespace."),
    timeout: float = typer.Option(180, help="Seconds to wait for each component."),
) -> None:
    """Start (or complete) the cluster; a running component is left alone."""
    start = time.monotonic()
    cluster = _cluster(edge)
    cluster.up(timeout=timeout)
    typer.echo(f"cluster up in {time.monotonic() - start:.0f}s")
    typer.echo(f"export KUBECONFIG={cluster.layout.admin_kubeconfig}")


@app.command()
def down() -> None:
    """Stop every component and remove the cluster's state (images stay cached)."""
    _cluster().down()
    typer.echo("cluster down")


@app.command()
def status() -> None:
    """Processes, nodes and where the kubeconfig is."""
    typer.echo(json.dumps(_cluster().status(), indent=2))


@app.command()
def env() -> None:
    """Print `export KUBECONFIG=...` for this cluster (eval "$(python -m e2e.node env)")."""
    typer.echo(f"export KUBECONFIG={_cluster().layout.admin_kubeconfig}")


@app.command()
def images(
    torch: bool = typer.Option(False, help="Also build sedna-py/worker-torch (PyTorch from PyPI: large)."),
    load: bool = typer.Option(True, help="Import the images into every node's containerd."),
    base: str = typer.Option(
        "", help="Base image to build FROM (e.g. python:3.11-slim where Docker Hub is reachable). "
        "Default: a local Debian 12 made with debootstrap, and a wheelhouse instead of the package index.",
    ),
) -> None:
    """Build the product and example images with Docker and load them into the nodes.

    Prints the tags built, one a line."""
    start = time.monotonic()
    built = imgs.build_product_images(torch=torch, base=base or None)
    typer.echo(f"built {len(built)} images in {time.monotonic() - start:.0f}s", err=True)
    for tag in sorted(built):
        typer.echo(tag)
    if load:
        cluster = _cluster()
        archive = imgs.save(built, "sedna-images")
        cluster.load_images(archive)
        typer.echo(f"loaded into {', '.join(n.name for n in cluster.layout.nodes)}", err=True)


@app.command()
def link(
    node: str = typer.Argument("edge-node"),
    state: str = typer.Argument(..., help="up or down"),
    loss: float = typer.Option(0.0, help="With up: drop this % of the packets each way (0: none)."),
    delay: float = typer.Option(0.0, help="With up: delay each packet by this many ms, each way (an NFQUEUE delay line)."),
) -> None:
    """Cut (down) or restore (up) a node's network link to the host, optionally lossy or slow."""
    if state not in ("up", "down"):
        raise typer.BadParameter("state must be up or down")
    cluster = _cluster()
    spec = cluster.layout.node(node)
    if spec.netns is None:
        raise typer.BadParameter(f"{node} shares the host's network: it has no link to cut")
    network.set_link(spec, state == "up")
    typer.echo(cluster.set_quality(spec, loss, delay) if state == "up" else "link down")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app()
