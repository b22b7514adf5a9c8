"""The hub's commands, ``irnet list``, ``irnet info`` and ``irnet pull`` (registered on the ``irnet``
group by :mod:`irnet_hub.cli`). Importing this module imports click only."""

from __future__ import annotations

import click

from irnet_hub.cli_options import echo_json
from irnet_hub.errors import InvalidInputError


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_cmd(as_json: bool) -> None:
    """Registered pretrained models: name, property, unit, training data, test MAE (no network)."""
    from irnet_hub.hub import list_entries

    rows = [{k: v for k, v in m.to_dict().items() if k != "files"} for m in list_entries()]
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo("no models are registered yet")
    else:
        cols = [("name", "NAME"), ("property", "PROPERTY"), ("unit", "UNIT"), ("training_data", "TRAINING DATA"),
                ("test_mae", "TEST MAE")]
        cells = [[h for _, h in cols]] + [["-" if r[k] is None else f"{r[k]:.4g}" if k == "test_mae" else str(r[k])
                                           for k, _ in cols] for r in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
        for c in cells:
            click.echo("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the registry entry (or irnet.json summary) as JSON.")
@click.option("--card", is_flag=True, help="Print the whole model card (README.md) instead.")
def info(name: str, as_json: bool, card: bool) -> None:
    """Details of a registered model (or a model directory): data, metrics, files, cache status,
    then the card's limitations and how to cite it (--card: the whole card). Never downloads."""
    from irnet_hub.hub.info import card_section, card_text, describe

    d = describe(name)
    if as_json:
        echo_json(d)
        return
    text = card_text(name)
    if card:
        if not text:
            raise InvalidInputError(name, "has no model card available locally (pull it first: irnet pull NAME)")
        click.echo(text.rstrip("\n"))
        return
    for key, value in d.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value}")
    for heading in ("Limitations", "How to cite"):
        section = card_section(text, heading)
        if section:
            click.echo(f"\n{heading}:\n{section}")


@click.command()
@click.argument("name")
@click.option("--revision", help="Hub revision (branch, tag or commit); default: the one the registry pins.")
@click.option("--from", "from_dir", type=click.Path(file_okay=False),
              help="No network: take the model from this folder (a copy made elsewhere), check every file "
                   "against the registry's sha256 and put it in the cache.")
def pull(name: str, revision: str | None, from_dir: str | None) -> None:
    """Download and verify a registered model; prints the folder it is in."""
    from irnet_hub.hub.cache import pull as pull_fn
    from irnet_hub.hub.cache import pull_from

    if from_dir is not None:
        if revision:
            raise InvalidInputError(revision, "--revision and --from exclude each other: the registry's pinned "
                                              "files are what --from is checked against")  # fmt: skip
        click.echo(str(pull_from(name, from_dir)))
        return
    click.echo(str(pull_fn(name, revision)))
