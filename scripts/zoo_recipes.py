"""Recipes of the pretrained model zoo: data, split, unit, network and training settings.

One entry per shipped model (``servables/<name>``). ``anchors`` are published
test MAEs on the same splits (CrabNet paper, Wang et al. 2021, Tables 2-4;
IRNet paper Table 4), used in the model cards and model_cards/BENCHMARKS.md.
"""

from __future__ import annotations

CB = "crabnet/benchmark_data"
MB = "crabnet/matbench_cv"

RECIPES: dict[str, dict] = {
    "oqmd-formation-enthalpy": {
        "dataset": "oqmd-formation-enthalpy", "target_name": "formation enthalpy", "unit": "eV/atom",
        "files": {"all": f"{CB}/OQMD_Formation_Enthalpy/val.csv"}, "split": "random-90-10",
        "anchors": {"IRNet paper (OQMD-C, 48 layers, own split)": 0.054, "RF (IRNet paper, OQMD-C)": 0.077},
        "target_rule": "MAE <= 0.70 x RandomForest on the same split",
    },
    "oqmd-bandgap": {
        "dataset": "oqmd-bandgap", "target_name": "band gap", "unit": "eV",
        "files": {"train": f"{CB}/OQMD_Bandgap/train.csv", "val": f"{CB}/OQMD_Bandgap/val.csv"}, "split": "given",
        "anchors": {"CrabNet": 0.049, "HotCrab": 0.048, "Roost": 0.088, "ElemNet": 0.148, "RF (CrabNet paper)": 0.060,
                    "IRNet paper (48 layers, own split)": 0.047},
        "target_mae": 0.047,
    },
    "oqmd-energy-per-atom": {
        "dataset": "oqmd-energy-per-atom", "target_name": "total energy", "unit": "eV/atom",
        "files": {"all": f"{CB}/OQMD_Energy_per_atom/val.csv"}, "split": "random-90-10", "anchors": {},
    },
    "oqmd-volume-per-atom": {
        "dataset": "oqmd-volume-per-atom", "target_name": "volume", "unit": "A^3/atom",
        "files": {"all": f"{CB}/OQMD_Volume_per_atom/val.csv"}, "split": "random-90-10", "anchors": {},
    },
    "mp-e-above-hull": {
        "dataset": "mp-e-above-hull", "target_name": "energy above hull", "unit": "eV/atom",
        "files": {"train": f"{CB}/mp_e_hull/train.csv", "val": f"{CB}/mp_e_hull/val.csv"}, "split": "given",
        "anchors": {"CrabNet": 0.089, "Roost": 0.094, "ElemNet": 0.110, "RF (CrabNet paper)": 0.126}, "target_mae": 0.089,
    },
    "mp-magnetization": {
        "dataset": "mp-magnetization", "target_name": "total magnetization", "unit": "Bohr magneton",
        "files": {"train": f"{CB}/mp_mu_b/train.csv", "val": f"{CB}/mp_mu_b/val.csv"}, "split": "given",
        "anchors": {"CrabNet": 2.105, "Roost": 2.507, "RF (CrabNet paper)": 2.732}, "target_mae": 2.1,
    },
    "mp-bulk-modulus": {
        "dataset": "mp-bulk-modulus", "target_name": "bulk modulus", "unit": "GPa",
        "files": {"train": f"{CB}/mp_bulk_modulus/train.csv", "val": f"{CB}/mp_bulk_modulus/val.csv",
                  "test": f"{CB}/mp_bulk_modulus/test.csv"}, "split": "given",
        "anchors": {"CrabNet": 11.209}, "target_mae": 11.2,
    },
    "mp-shear-modulus": {
        "dataset": "mp-shear-modulus", "target_name": "shear modulus", "unit": "GPa",
        "files": {"train": f"{CB}/mp_shear_modulus/train.csv", "val": f"{CB}/mp_shear_modulus/val.csv",
                  "test": f"{CB}/mp_shear_modulus/test.csv"}, "split": "given",
        "anchors": {"CrabNet": 12.787}, "target_mae": 12.8,
    },
    "matbench-mp-e-form": {
        "dataset": "matbench-mp-e-form", "target_name": "formation energy", "unit": "eV/atom",
        "files": {"folder": f"{MB}/mp_e_form"}, "split": "matbench-5-fold",
        "anchors": {"CrabNet": 0.077, "Roost": 0.078, "RF (CrabNet paper)": 0.131}, "target_mae": 0.077,
    },
    "matbench-mp-gap": {
        "dataset": "matbench-mp-gap", "target_name": "band gap", "unit": "eV",
        "files": {"folder": f"{MB}/mp_gap"}, "split": "matbench-5-fold",
        "anchors": {"Roost": 0.260, "CrabNet": 0.263}, "target_mae": 0.26,
    },
    "matbench-phonons-structure": {
        "dataset": None, "target_name": "last phonon DOS peak", "unit": "cm^-1",
        "files": {"structures": "structures/matbench_phonons.json.gz"}, "split": "kfold-5", "featurizer": "ward2017",
        "anchors": {},
    },
}

# Training settings per hardware. The paper's recipe (batch 64, lr 1e-4,
# patience 200) is the library default; these are what each zoo run used.
CPU_SETTINGS = {"architecture": "irnet-17", "batch_size": 128, "learning_rate": 5e-4, "patience": 40, "epochs": 400}
