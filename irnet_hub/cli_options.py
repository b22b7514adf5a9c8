"""Click options and output helpers shared by commands defined in several modules (cli.py,
hub/commands.py, stability/commands.py)."""

from __future__ import annotations

import click

force_option = click.option("--force", is_flag=True, help="Replace the output even if it is read-only or not a regular file.")
def echo_json(obj) -> None:
    """Print ``obj`` as strict JSON (no NaN), the one JSON every command's ``--json`` prints."""
    from irnet_hub.prediction_io import strict_json

    click.echo(strict_json(obj))


no_verify_option = click.option(
    "--no-verify", is_flag=True, help="Skip the integrity check of a model directory (manifest, sha256, finite weights)."
)
