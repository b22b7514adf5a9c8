"""The pretrained model zoo: how each shipped model is made, so that anyone can remake it.

- :mod:`~irnet_hub.zoo.recipes`: one :class:`Recipe` per shipped model (data files, split,
  unit, transform, widths, budget);
- :mod:`~irnet_hub.zoo.splits`: the train/val/test rows of a recipe, recorded in each model
  directory and rebuilt from that record (:func:`rebuild_split`);
- :mod:`~irnet_hub.zoo.jobs`: a typed :class:`Job` fitted on the one training loop
  (:func:`irnet_hub.fitting.fit`), saved and scored; :func:`run_recipe` trains a recipe;
- :mod:`~irnet_hub.zoo.package`: the best run on validation -> model directory -> servable.

``scripts/train_zoo.py`` and ``scripts/package_zoo.py`` only parse arguments and call
:func:`run_recipe` and :func:`package`.
"""

from irnet_hub.zoo.jobs import (
    Job,
    calibrate_std_scale,
    device_name,
    fill_like_training,
    fit_ensemble,
    load_transfer_model,
    random_forest_reference,
    run_recipe,
    train_and_score,
)
from irnet_hub.zoo.package import package
from irnet_hub.zoo.recipes import RECIPES, Recipe, get_recipe
from irnet_hub.zoo.splits import (
    MATBENCH_SEED,
    SPLIT_SEED,
    Split,
    build_split,
    exclude_split_of,
    rebuild_split,
    split_features,
    split_record,
)

__all__ = [
    "MATBENCH_SEED", "RECIPES", "SPLIT_SEED", "Job", "Recipe", "Split", "build_split", "calibrate_std_scale",
    "device_name", "exclude_split_of", "fill_like_training", "fit_ensemble", "get_recipe", "load_transfer_model", "package",
    "random_forest_reference", "rebuild_split", "run_recipe", "split_features", "split_record", "train_and_score",
]  # fmt: skip
