"""The ``irnet screen`` command (registered on the ``irnet`` group by :mod:`irnet_hub.cli`)."""

from __future__ import annotations

import click

from irnet_hub.cli_options import force_option, no_verify_option
from irnet_hub.constants import DEFAULT_MODEL



@click.command()
@click.option("--system", "systems", multiple=True, metavar="A-B-C",
              help="Chemical system whose stoichiometry grid is screened, subsystems included (repeatable).")
@click.option("--max-atoms", default=10, show_default=True, type=int, help="Atoms per formula unit on the grid.")
@click.option("--charge-balanced", is_flag=True, help="Keep only compositions pymatgen's oxidation-state guesses balance.")
@click.option("--prototype", "prototypes", multiple=True, metavar="NAME|TEMPLATE",
              help="B2, L1_0, perovskite (ABO3), a template such as A2BX4, or NAME=TEMPLATE (repeatable).")
@click.option("--sites", multiple=True, metavar="SITE=El1,El2", help="Elements of a template site, e.g. A=Li,Na,K (repeatable).")
@click.option("--no-complete-hulls", is_flag=True,
              help="Do not add the grid of each prototype's chemical system (its hull then has only the elements, "
                   "the other prototypes and --known phases).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Formation-enthalpy model (eV/atom): a registered name or a model directory.")
@click.option("--also", multiple=True, metavar="MODEL", help="Another model to predict alongside, a column named after it (repeatable).")
@click.option("--known", type=click.Path(dir_okay=False), help="CSV of known phases: formula, formation_enthalpy (eV/atom).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write every candidate to this .parquet or .csv file.")
@click.option("--plot-dir", type=click.Path(file_okay=False), help="Write a hull PNG per binary/ternary system here.")
@click.option("--top", default=20, show_default=True, help="Rows of the ranked summary printed.")
@click.option("--workers", type=int, help="Run on a new local Dask cluster of this many worker processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on an existing Dask cluster (tcp://host:8786).")
@click.option("--partition-size", default=100_000, show_default=True, help="Candidates per task.")
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="Where partition files go (default: a temporary folder beside --output); shared by all workers.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--max-candidates", type=int, help="Refuse screens estimated above this (default 50,000,000).")
@no_verify_option
@force_option
def screen(systems, max_atoms, charge_balanced, prototypes, sites, no_complete_hulls, model, also, known, output,
           plot_dir, top, workers, scheduler, partition_size, work_dir, quiet, max_candidates, no_verify, force) -> None:
    """Screen compositions for stability: predicted formation enthalpy -> convex hull -> energy above hull.

    \b
      irnet screen --system Li-Fe-P-O --max-atoms 12 -o screen.parquet --plot-dir plots/
      irnet screen --prototype A2BX4 --sites A=Li,Na,K --sites B=Fe,Mn --sites X=O,S --charge-balanced
      irnet screen --system Al-Ni-Zr --workers 8 --known known.csv --also oqmd-bandgap
    """
    from irnet_hub.stability import screen as screen_fn

    result = screen_fn(
        list(systems), max_atoms=max_atoms, charge_balanced=charge_balanced, prototypes=list(prototypes),
        sites=list(sites), complete_hulls=not no_complete_hulls, model=model, also=list(also), known=known,
        output=output, plot_dir=plot_dir, top=top, workers=workers, scheduler=scheduler,
        partition_size=partition_size, work_dir=work_dir, progress=not quiet, max_candidates=max_candidates,
        verify=not no_verify, force=force,
    )
    df, n = result.candidates, result.n_candidates
    click.echo(f"{n} candidates screened with {result.model}; {result.n_stable} on the predicted hull")
    if len(df):
        shown = df.head(top).copy()
        shown.insert(0, "rank", range(1, len(shown) + 1))
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if output:
        click.echo(f"wrote {n} candidates to {output}", err=True)
    for system, path in result.plots.items():
        click.echo(f"hull plot {system}: {path}", err=True)
