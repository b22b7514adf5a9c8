"""Click options shared by commands defined in several modules (cli.py, stability/commands.py)."""

from __future__ import annotations

import click

force_option = click.option("--force", is_flag=True, help="Replace the output even if it is read-only or not a regular file.")
no_verify_option = click.option(
    "--no-verify", is_flag=True, help="Skip the integrity check of a model directory (manifest, sha256, finite weights)."
)
