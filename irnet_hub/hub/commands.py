"""The hub's commands, ``irnet list``, ``irnet info``, ``irnet pull``, ``irnet register`` and ``irnet cache``
(registered on the ``irnet`` group by :mod:`irnet_hub.cli`). Importing this module imports click only."""

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


@click.group()
def cache() -> None:
    """The irnet models in the Hugging Face cache (other libraries' models there are left alone).

    \b
      irnet cache list                      # name, repo, revisions, size on disk
      irnet cache clear oqmd-bandgap        # remove one model (every revision)
      irnet cache clear --yes               # remove every cached irnet model
    """


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def cache_list(as_json: bool) -> None:
    """Cached irnet models and their size on disk (no network)."""
    from irnet_hub.hub.cache import hub_cache_dir
    from irnet_hub.hub.cache_admin import cached_models

    rows = [m.to_dict() for m in cached_models()]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no irnet models in the cache {hub_cache_dir()}")
        return
    for r in rows:
        click.echo(f"{r['name'] or '-':28} {r['repo_id']:40} {r['size_mib']:8.2f} MiB  {', '.join(r['revisions'])}")
    click.echo(f"{len(rows)} model(s), {sum(r['size_mib'] for r in rows):.2f} MiB in {hub_cache_dir()}")


@cache.command("clear")
@click.argument("names", nargs=-1)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing.")
def cache_clear(names: tuple[str, ...], yes: bool) -> None:
    """Remove cached irnet models: the NAMES given (registered names or repo ids), or all of them.

    The next load downloads a removed model again (or uses the repository copy in servables/)."""
    from irnet_hub.hub.cache_admin import cached_models, clear_cache

    if not names and not yes:
        n = len(cached_models())
        if n == 0:
            click.echo("no irnet models in the cache")
            return
        click.confirm(f"Remove all {n} cached irnet model(s)?", abort=True, err=True)
    for m in clear_cache(list(names) or None):
        click.echo(f"removed {m.name or m.repo_id} ({m.size_bytes / 2**20:.2f} MiB, {m.folder})")


@click.command()
@click.argument("model_dir", type=click.Path())
@click.option("--name", required=True, help="The name to load it by (lower-case letters, digits, '.', '_', '-').")
@click.option("--registry", "registry_file", type=click.Path(dir_okay=False),
              help="Your registry file (JSON; created if missing). Default: the last file in $IRNET_HUB_REGISTRY.")
@click.option("--repo-id", help="Its Hugging Face repo (ORG/NAME) if you published it; default local/NAME.")
@click.option("--revision", default="main", show_default=True,
              help="The Hub revision of a published model: the commit `irnet publish` reported pins it exactly.")
def register(model_dir: str, name: str, registry_file: str | None, repo_id: str | None, revision: str) -> None:
    """Register your own model (a model directory or servable) under NAME, so that `irnet list` shows it
    and `irnet predict NAME` / `irnet_hub.load(NAME)` load it.

    The entry (every file's sha256) goes to your registry file, never into the package; the files are
    checked and copied into the Hub cache, so the name loads offline.

    \b
      export IRNET_HUB_REGISTRY=~/irnet-registry.json
      irnet register my-model --name my-bulk-modulus
      irnet predict my-bulk-modulus NaCl
    """
    import os
    from pathlib import Path

    from irnet_hub.hub.cache import pull_from
    from irnet_hub.hub.registry import REGISTRY_ENV, REGISTRY_FILE, add_entry, entry_from_model_dir, registry_paths

    if registry_file is None:
        listed = registry_paths()[1:]
        if not listed:
            raise InvalidInputError(model_dir, f"no registry file: give --registry FILE, or set ${REGISTRY_ENV} to "
                                               "your registry file (it is created if missing)")  # fmt: skip
        registry_file = str(listed[-1])
    path = Path(registry_file).expanduser()
    if path.resolve() == REGISTRY_FILE.resolve():
        raise InvalidInputError(registry_file, "is the package's own registry; register your models in a file of "
                                               "your own")  # fmt: skip
    entry = entry_from_model_dir(model_dir, repo_id=repo_id or f"local/{name}", revision=revision, name=name)
    cached = pull_from(name, model_dir, entry=entry)  # checks every pinned file before anything is written
    add_entry(entry, path)
    click.echo(f"registered {name} in {path}; cached in {cached}")
    if path.resolve() not in [p.resolve() for p in registry_paths()[1:]]:
        sep = os.pathsep
        click.echo(f"to load it by name, add the file to ${REGISTRY_ENV}: "
                   f"export {REGISTRY_ENV}=\"${REGISTRY_ENV}{sep}{path}\"", err=True)
