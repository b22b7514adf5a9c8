"""Does `irnet screen` find stable materials? End-to-end check on held-out chemical systems.

    python benchmarks/eval_screen_recall.py             # train (if needed), screen, write docs/screening.md numbers
    python benchmarks/eval_screen_recall.py --no-write  # print only

Steps:

1. Known stable compounds: Materials Project energy-above-hull data
   (``crabnet/benchmark_data/mp_e_hull``, train + val). Rows with target 0
   are on MP's hull; the target of the others is their MP energy above hull.
2. Chosen chemical systems (``SYSTEMS``): binaries and ternaries with many
   known stable compounds.
3. A formation-enthalpy model trained on OQMD
   (``OQMD_Formation_Enthalpy/val.csv``, the 51k rows at hand) with every
   composition of the chosen systems removed: any compound whose element set
   is a subset of a chosen system (pure elements stay). The model has
   therefore never seen a compound of a screened system.
4. ``irnet_hub.screen`` over those systems (grid of ``--max-atoms`` atoms per
   formula unit), then: recall@k of the known stable compositions (reduced
   formulas) when each system's candidates are ranked as ``irnet screen``
   ranks them (stable ones by decomposition energy, then the others by energy
   above hull), and the MAE of the predicted energy above hull against MP's on
   every known compound of the systems that the grid contains.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import data_dir  # noqa: E402
sys.path.insert(0, str(REPO))

# 16 ternaries (intermetallics and oxides/chalcogenides) and 2 binaries, each with
# many known stable compounds in mp_e_hull (see docs/screening.md).
SYSTEMS = [
    "Al-Ni-Zr", "La-Ni-Sn", "Li-Mg-Pd", "Ga-Li-Mg", "Al-Li-Pt", "Au-Ca-In", "Ni-P-Zr",
    "Ba-O-Sb", "K-O-Sb", "Na-O-Ti", "Ba-O-Ti", "Fe-O-Rb", "K-Mn-O", "Mo-O-P", "Ce-O-S", "Cs-O-V",
    "Mg-Zn", "Cu-O",
]  # fmt: skip
TRAIN_SETTINGS = dict(architecture="irnet-17", epochs=30, batch_size=256, learning_rate=1e-3, patience=5, seed=0)
MAX_ATOMS = 12
KS = (1, 5, 10, 20)



def _elements(formula: str) -> frozenset[str]:
    from pymatgen.core import Composition

    return frozenset(e.symbol for e in Composition(formula).elements)


def split_oqmd():
    """OQMD formation enthalpies: (training rows, held-out rows = every compound of the screened systems)."""
    import pandas as pd

    df = pd.read_csv(data_dir() / "crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv", keep_default_na=False)
    systems = [frozenset(s.split("-")) for s in SYSTEMS]
    els = [_elements(f) for f in df["formula"]]
    held_out = pd.Series([len(e) > 1 and any(e <= s for s in systems) for e in els])
    return df[~held_out.values].reset_index(drop=True), df[held_out.values].reset_index(drop=True)


def training_frame():
    """OQMD formation enthalpies minus every compound of the screened systems."""
    train_df, held = split_oqmd()
    return train_df, len(held)


def train_model(model_dir: Path) -> dict:
    """Train the held-out-systems model, or reuse it if ``model_dir`` was trained with the same settings."""
    info_file = model_dir / "irnet.json"
    stamp = {"systems": SYSTEMS, **TRAIN_SETTINGS}
    stamp_file = model_dir / "eval_screen_settings.json"
    if info_file.is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return json.loads(info_file.read_text())
    from irnet_hub.training import train

    df, n_removed = training_frame()
    print(f"training on {len(df)} OQMD rows ({n_removed} compounds of the screened systems removed)", flush=True)
    t0 = time.perf_counter()
    info = train(df, model_dir, val_fraction=0.1, target_name="formation enthalpy", unit="eV/atom",
                 name="oqmd-formation-enthalpy-screen-eval", dataset="OQMD_Formation_Enthalpy/val.csv minus screened systems",
                 progress=True, **TRAIN_SETTINGS)
    info["train_seconds"] = time.perf_counter() - t0
    stamp_file.write_text(json.dumps(stamp))
    (model_dir / "eval_train_summary.json").write_text(json.dumps(
        {"n_train_rows": len(df), "n_removed": n_removed, "train_seconds": info["train_seconds"]}))
    return info


def known_compounds():
    """MP compounds (reduced formula, element set, energy above hull) of the screened systems."""
    import pandas as pd
    from pymatgen.core import Composition

    folder = data_dir() / "crabnet/benchmark_data/mp_e_hull"
    df = pd.concat([pd.read_csv(folder / f, keep_default_na=False) for f in ("train.csv", "val.csv")])
    comps = [Composition(f) for f in df["formula"]]
    df["reduced"] = [c.reduced_formula for c in comps]
    df["elements"] = [frozenset(e.symbol for e in c.elements) for c in comps]
    df["n_atoms"] = [c.get_reduced_composition_and_factor()[0].num_atoms for c in comps]
    systems = {s: frozenset(s.split("-")) for s in SYSTEMS}
    rows = []
    for name, els in systems.items():
        sub = df[[len(e) > 1 and e <= els for e in df["elements"]]]
        rows.append(sub.assign(screen_system=name))
    return pd.concat(rows, ignore_index=True)


def evaluate(result, known) -> dict:
    """Recall@k per system and over all systems, and the energy-above-hull MAE on known compounds."""
    import numpy as np
    import pandas as pd
    from pymatgen.core import Composition

    cand = result.candidates.copy()
    cand["reduced"] = [Composition(f).reduced_formula for f in cand["formula"]]
    cand["elements"] = [frozenset(s.split("-")) for s in cand["system"]]
    per_system, matched = [], []
    for name in SYSTEMS:
        els = frozenset(name.split("-"))
        c = cand[[e <= els for e in cand["elements"]]]
        c = c.sort_values(["decomposition_energy", "formation_enthalpy"], kind="mergesort").reset_index(drop=True)
        by_ef = c.sort_values("formation_enthalpy", kind="mergesort").reset_index(drop=True)
        k_known = known[known["screen_system"] == name]
        stable = set(k_known.loc[k_known["target"] == 0, "reduced"])
        in_grid = stable & set(c["reduced"])
        rank = {f: i + 1 for i, f in enumerate(c["reduced"])}
        rank_ef = {f: i + 1 for i, f in enumerate(by_ef["reduced"])}
        row = {"system": name, "n_candidates": len(c), "n_stable_known": len(stable), "n_stable_in_grid": len(in_grid),
               "n_predicted_stable": int(c["is_stable"].sum()),
               "n_predicted_stable_known": len(set(c.loc[c["is_stable"], "reduced"]) & in_grid)}
        for k in (*KS, "R"):
            kk = len(in_grid) if k == "R" else k
            row[f"hits@{k}"] = sum(rank[f] <= kk for f in in_grid)
            row[f"hits_ef@{k}"] = sum(rank_ef[f] <= kk for f in in_grid)
            row[f"random@{k}"] = len(in_grid) * min(kk, len(c)) / max(len(c), 1)
            row[f"best@{k}"] = min(kk, len(in_grid))
        per_system.append(row)
        m = k_known.merge(c[["reduced", "e_above_hull", "formation_enthalpy", "is_stable"]], on="reduced")
        matched.append(m.assign(screen_system=name))
    ps = pd.DataFrame(per_system)
    m = pd.concat(matched, ignore_index=True).drop_duplicates("reduced")  # shared binaries once
    n_in_grid = int(ps["n_stable_in_grid"].sum())
    out = {
        "systems": SYSTEMS,
        "max_atoms": MAX_ATOMS,
        "n_candidates_total": int(len(result)),
        "n_stable_known": int(ps["n_stable_known"].sum()),
        "n_stable_in_grid": n_in_grid,
        "recall": {}, "recall_by_formation_enthalpy": {}, "recall_random": {}, "recall_best": {},
        "predicted_stable": int(ps["n_predicted_stable"].sum()),
        "predicted_stable_known": int(ps["n_predicted_stable_known"].sum()),
        "n_known_in_grid": int(len(m)),
        "mae_e_above_hull": float(np.mean(np.abs(m["e_above_hull"] - m["target"]))),
        "mae_e_above_hull_stable": float(np.mean(np.abs(m.loc[m["target"] == 0, "e_above_hull"]))),
        "mae_e_above_hull_unstable": float(np.mean(np.abs(m.loc[m["target"] > 0, "e_above_hull"]
                                                           - m.loc[m["target"] > 0, "target"]))),
        "mae_zero_baseline": float(np.mean(np.abs(m["target"]))),
        "n_known_stable_matched": int((m["target"] == 0).sum()),
        "n_known_unstable_matched": int((m["target"] > 0).sum()),
        "per_system": ps.to_dict(orient="records"),
    }
    for k in (*KS, "R"):
        out["recall"][str(k)] = float(ps[f"hits@{k}"].sum() / n_in_grid)
        out["recall_by_formation_enthalpy"][str(k)] = float(ps[f"hits_ef@{k}"].sum() / n_in_grid)
        out["recall_random"][str(k)] = float(ps[f"random@{k}"].sum() / n_in_grid)
        out["recall_best"][str(k)] = float(ps[f"best@{k}"].sum() / n_in_grid)
    return out


def render(r: dict, train_info: dict, summary: dict, seconds: float) -> str:
    """The Markdown block that goes between the eval markers of docs/screening.md."""
    ks = [*map(str, KS), "R"]
    lines = [
        f"Model: IRNet-17 ({TRAIN_SETTINGS['epochs']} epochs max, batch {TRAIN_SETTINGS['batch_size']}, "
        f"lr {TRAIN_SETTINGS['learning_rate']}, patience {TRAIN_SETTINGS['patience']}, CPU) trained on "
        f"{summary['n_train_rows']:,} rows of `OQMD_Formation_Enthalpy/val.csv` (90/10 split for early stopping) "
        f"after removing the {summary['n_removed']} compounds whose element set lies in a screened system; "
        f"validation MAE {train_info['metrics']['val']['mae']:.3f} eV/atom, "
        f"{train_info['hyperparameters']['epochs_run']} epochs run, training took "
        f"{summary['train_seconds'] / 60:.0f} min. On the {r['held_out_n']} held-out OQMD compounds of the "
        f"screened systems its formation-enthalpy MAE is {r['held_out_mae']:.3f} eV/atom.",
        "",
        f"Screen: {len(r['systems'])} systems ({', '.join(r['systems'])}), grid of up to {r['max_atoms']} atoms per "
        f"formula unit with subsystems, {r['n_candidates_total']:,} candidates, {seconds:.1f} s end to end "
        f"(in-process, excluding training).",
        "",
        f"Known stable compounds (MP `e_above_hull` = 0) in these systems: {r['n_stable_known']}, of which "
        f"{r['n_stable_in_grid']} are on the grid (the others need more than {r['max_atoms']} atoms per formula unit).",
        "",
        "Recall@k: fraction of the known stable compounds on the grid found among the k lowest-ranked "
        "candidates of their system (k = R: as many as the system has known stable compounds), "
        "summed over systems:",
        "",
        "| ranking | " + " | ".join(f"k={k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
        "| `irnet screen` ranking (decomposition energy, then energy above hull) | " + " | ".join(f"{r['recall'][k]:.2f}" for k in ks) + " |",
        "| predicted formation enthalpy only (no hull) | "
        + " | ".join(f"{r['recall_by_formation_enthalpy'][k]:.2f}" for k in ks) + " |",
        "| random order (expected) | " + " | ".join(f"{r['recall_random'][k]:.2f}" for k in ks) + " |",
        "| best possible (k slots per system) | " + " | ".join(f"{r['recall_best'][k]:.2f}" for k in ks) + " |",
        "",
        f"Predicted hull: {r['predicted_stable']} candidates are on it, {r['predicted_stable_known']} of them known "
        f"stable (precision {r['predicted_stable_known'] / max(r['predicted_stable'], 1):.2f}, recall "
        f"{r['predicted_stable_known'] / max(r['n_stable_in_grid'], 1):.2f}).",
        "",
        f"Energy above hull on the {r['n_known_in_grid']} known compounds on the grid "
        f"({r['n_known_stable_matched']} stable, {r['n_known_unstable_matched']} unstable): "
        f"MAE {r['mae_e_above_hull']:.3f} eV/atom (stable ones: {r['mae_e_above_hull_stable']:.3f}, "
        f"unstable ones: {r['mae_e_above_hull_unstable']:.3f}); predicting 0 for every compound gives "
        f"{r['mae_zero_baseline']:.3f}.",
        "",
        "| system | candidates | known stable (on grid) | predicted on hull (known stable) | hits@5 | hits@R |",
        "|---|---|---|---|---|---|",
    ]
    for p in r["per_system"]:
        lines.append(f"| {p['system']} | {p['n_candidates']} | {p['n_stable_known']} ({p['n_stable_in_grid']}) | "
                     f"{p['n_predicted_stable']} ({p['n_predicted_stable_known']}) | {p['hits@5']} | {p['hits@R']} |")
    return "\n".join(lines)


def write_docs(block: str) -> None:
    doc = REPO / "docs" / "screening.md"
    text = doc.read_text()
    start, end = "<!-- eval:start -->", "<!-- eval:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{doc} lacks the {start} / {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{block}\n{end}{tail}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=str(REPO / "runs" / "screen-eval" / "model"))
    p.add_argument("--train-only", action="store_true")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    model_dir = Path(args.model_dir)
    info = train_model(model_dir)
    if args.train_only:
        return
    import irnet_hub

    summary = json.loads((model_dir / "eval_train_summary.json").read_text())
    t0 = time.perf_counter()
    result = irnet_hub.screen(SYSTEMS, max_atoms=MAX_ATOMS, model=model_dir, progress=True)
    seconds = time.perf_counter() - t0
    r = evaluate(result, known_compounds())
    _, held = split_oqmd()
    pred = irnet_hub.load(model_dir).predict(held["formula"])["prediction"].to_numpy()
    r["held_out_n"] = len(held)
    r["held_out_mae"] = float(abs(pred - held["target"].to_numpy()).mean())
    (model_dir.parent / "eval_screen_recall.json").write_text(json.dumps(r, indent=1, default=str))
    block = render(r, info, summary, seconds)
    print(block)
    if not args.no_write:
        write_docs(block)
        print("\nwrote docs/screening.md")


if __name__ == "__main__":
    main()
