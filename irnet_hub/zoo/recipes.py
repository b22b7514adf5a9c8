"""One recipe per shipped model: data files, split, unit, target transform, widths and budget.

A recipe names the data files (paths under ``$IRNET_DATA_DIR``, see
:mod:`irnet_hub.data`), how they are split (:mod:`irnet_hub.zoo.splits`), the unit
and target transform, the network widths tried on validation and the training
budget. Everything is sized for the 2-core CPU every machine has (docs/zoo.md): a
run of ``python scripts/train_zoo.py NAME`` stays under about 60 minutes there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from irnet_hub.constants import DEFAULT_FEATURIZER
from irnet_hub.errors import InvalidInputError

CB = "crabnet/benchmark_data"
MB = "crabnet/matbench_cv"


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is made. Budgets are per run on 2 CPU cores (docs/zoo.md)."""

    name: str
    target_name: str
    unit: str
    files: dict[str, str]
    split: str  # "given", "given-no-test", "random-90-10", "matbench-5-fold", "kfold-5"
    featurizer: str = DEFAULT_FEATURIZER
    transform: str = "none"  # "log" / "log1p" for positive, skewed properties
    widths: tuple[int, ...] = (4, 8)  # width factors of irnet-17 tried on validation
    members: int = 3
    epochs: int = 150
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_epochs: int = 3
    output_rules: dict[str, bool] = field(default_factory=dict)
    init_from: str | None = None  # transfer: another zoo model whose trunk starts this one
    anchors: dict[str, float] = field(default_factory=dict)  # published test MAEs, same split
    target_mae: float | None = None  # what the zoo issue aims at
    rf_ratio_target: float | None = None  # e.g. 0.70: MAE <= 0.70 x RF (the paper's ratio)

    @property
    def folds(self) -> int:
        return 5 if self.split in ("matbench-5-fold", "kfold-5") else 1


_POSITIVE = {"non_negative": True}
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        # The canonical 239,190-row training split (CrabNet's): 10 % of it selects the epoch, the
        # published val file (51,255 rows) is the held-out score; batch 1024 runs 13.5k samples/s
        # on 2 cores against 8k at 512 (benchmarks/RESULTS_zoo_cpu.md).
        # The shipped model is this recipe (val 0.0522) trained further with scripts/train_zoo.py
        # oqmd-formation-enthalpy --init-from oqmd-formation-enthalpy --lr 1e-3 --epochs 90 (val 0.0512).
        Recipe("oqmd-formation-enthalpy", "formation enthalpy", "eV/atom",
               {"train": f"{CB}/OQMD_Formation_Enthalpy/train.csv", "test": f"{CB}/OQMD_Formation_Enthalpy/val.csv"},
               "given-no-test", widths=(4,), epochs=160, batch_size=1024, learning_rate=3e-3,
               output_rules={"elements_are_zero": True},
               anchors={"CrabNet": 0.0311, "HotCrab": 0.0310, "Roost": 0.0315, "ElemNet": 0.0489,
                        "RF (CrabNet paper)": 0.0834, "IRNet paper (OQMD-C, 48 layers, own split)": 0.054},
               target_mae=0.040, rf_ratio_target=0.55),
        Recipe("oqmd-bandgap", "band gap", "eV",
               {"train": f"{CB}/OQMD_Bandgap/train.csv", "test": f"{CB}/OQMD_Bandgap/val.csv"}, "given-no-test",
               # 215k rows: batch 1024 (14,586 samples/s on 2 cores, 256: 5,822; docs/zoo.md); 120 cosine
               # epochs: val 0.0460 at epoch 111 against 0.0504 for 60 epochs at batch 512
               widths=(4,), epochs=120, batch_size=1024, learning_rate=3e-3, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.049, "Roost": 0.088, "ElemNet": 0.148, "RF (CrabNet paper)": 0.060,
                        "IRNet paper (48 layers, own split)": 0.047},
               target_mae=0.049),
        Recipe("oqmd-energy-per-atom", "total energy", "eV/atom",
               {"train": f"{CB}/OQMD_Energy_per_atom/train.csv", "test": f"{CB}/OQMD_Energy_per_atom/val.csv"},
               "given-no-test", widths=(4,), epochs=160, batch_size=1024, learning_rate=3e-3,
               anchors={"CrabNet": 0.0328, "Roost": 0.0325, "ElemNet": 0.0625, "RF (CrabNet paper)": 0.1411},
               target_mae=0.0625),
        Recipe("oqmd-volume-per-atom", "volume", "A^3/atom",
               {"train": f"{CB}/OQMD_Volume_per_atom/train.csv", "test": f"{CB}/OQMD_Volume_per_atom/val.csv"},
               # 120 epochs (~40 min idle on 2 cores): the formation run's 160 took 84 min with the suite beside it
               "given-no-test", transform="log", widths=(4,), epochs=120, batch_size=1024, learning_rate=3e-3,
               output_rules=_POSITIVE,
               anchors={"CrabNet": 0.2766, "Roost": 0.2965, "ElemNet": 0.4419, "RF (CrabNet paper)": 0.5443},
               target_mae=0.4419),
        Recipe("mp-e-above-hull", "energy above hull", "eV/atom",
               {"train": f"{CB}/mp_e_hull/train.csv", "test": f"{CB}/mp_e_hull/val.csv"}, "given-no-test",
               # 200 cosine epochs: val 0.0992 (best epoch 133) against 0.1055 with 40; 12.5 min on 2 cores.
               # Oliynyk element statistics next to Magpie: val 0.0952 vs 0.0992 (descriptor ablation, 11.1 min)
               featurizer="magpie145+oliynyk", widths=(8,), epochs=200, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.089, "Roost": 0.094, "ElemNet": 0.110, "RF (CrabNet paper)": 0.126},
               target_mae=0.089),
        Recipe("mp-magnetization", "total magnetization", "Bohr magneton/formula unit",
               {"train": f"{CB}/mp_mu_b/train.csv", "test": f"{CB}/mp_mu_b/val.csv"}, "given-no-test", widths=(8,),
               # 200 cosine epochs: val 2.394 (best epoch 161) against 2.446 with 40; 12.4 min on 2 cores.
               # Oliynyk element statistics next to Magpie: val 2.280 vs 2.394 (descriptor ablation, 11.7 min)
               featurizer="magpie145+oliynyk", epochs=200,
               # signed: 0.3 % of the training targets are negative (down to -84), so no sign rule
               anchors={"CrabNet": 2.105, "Roost": 2.507, "RF (CrabNet paper)": 2.732}, target_mae=2.105),
        Recipe("mp-bulk-modulus", "bulk modulus", "GPa",
               {"train": f"{CB}/mp_bulk_modulus/train.csv", "val": f"{CB}/mp_bulk_modulus/val.csv",
                "test": f"{CB}/mp_bulk_modulus/test.csv"}, "given", transform="log",
               # Oliynyk element statistics next to Magpie: val 13.12 vs 13.96 (descriptor ablation)
               featurizer="magpie145+oliynyk", widths=(8,), epochs=300, output_rules=_POSITIVE,
               anchors={"CrabNet": 11.21}, target_mae=11.21),
        Recipe("mp-shear-modulus", "shear modulus", "GPa",
               {"train": f"{CB}/mp_shear_modulus/train.csv", "val": f"{CB}/mp_shear_modulus/val.csv",
                "test": f"{CB}/mp_shear_modulus/test.csv"}, "given", transform="log1p",
               # Oliynyk element statistics next to Magpie: val 12.71 vs 13.38 (descriptor ablation)
               featurizer="magpie145+oliynyk", widths=(8,), epochs=300, output_rules=_POSITIVE,
               anchors={"CrabNet": 12.79}, target_mae=12.79),
        # The two large Matbench sets: batch 512 and peak lr 3e-3 fit 5 folds x 100 epochs in ~70 min on 2 cores
        # (mp-e-form fold 0: val 0.0963 against 0.1081 for session 3's 31-epoch GPU run at batch 256, lr 2e-3).
        Recipe("matbench-mp-e-form", "formation energy", "eV/atom", {"folder": f"{MB}/mp_e_form"},
               "matbench-5-fold", widths=(4,), epochs=100, batch_size=512, learning_rate=3e-3,
               output_rules={"elements_are_zero": True},
               anchors={"CrabNet": 0.077, "Roost": 0.078, "RF (CrabNet paper)": 0.131}, target_mae=0.077),
        Recipe("matbench-mp-gap", "band gap", "eV", {"folder": f"{MB}/mp_gap"}, "matbench-5-fold",
               widths=(4,), epochs=100, batch_size=512, learning_rate=3e-3, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.263, "Roost": 0.260}, target_mae=0.263),
        Recipe("matbench-expt-gap", "experimental band gap", "eV", {"folder": f"{MB}/expt_gap"},
               "matbench-5-fold", widths=(4,), epochs=150, learning_rate=5e-4, output_rules=_POSITIVE,
               # transfer: the shipped oqmd-bandgap's width and member count (fold-0 val 0.296 vs 0.392 from scratch)
               init_from="oqmd-bandgap", anchors={"CrabNet": 0.346, "Roost": 0.401}, target_mae=0.346),
        Recipe("matbench-phonons-structure", "last phonon DOS peak", "cm^-1",
               {"structures": "structures/matbench_phonons.json.gz"}, "kfold-5", featurizer="ward2017",
               transform="log", widths=(8,), epochs=150, batch_size=64, learning_rate=1e-3,
               # 911 training structures: 8 members (fold-0 val 36.5 vs 38.4 with 3; raw target: 45.6)
               members=8, output_rules=_POSITIVE, anchors={"CrabNet (composition only)": 55.1}),
    ]
}  # fmt: skip


def get_recipe(name: str) -> Recipe:
    """The recipe of a shipped model, or an InvalidInputError listing the known names."""
    if name not in RECIPES:
        raise InvalidInputError(name, f"no zoo recipe of that name; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]
