"""``python -m sedna_operator`` runs the ``sedna`` command."""

from .cli import app

app(prog_name="sedna")
