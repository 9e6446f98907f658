"""Runtimes apply reconcilers' Plans to the world: ``kubernetes`` (kopf + API) and ``local`` (processes)."""
