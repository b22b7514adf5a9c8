"""Which compositions a model was trained on, and their training values (the ``in_training`` column).

A model folder may hold ``training_set.npy``: one 64-bit key per training composition
(sorted) and its training target (float32). A prediction for a composition that is in it is a
memorized DFT number as much as a prediction, so ``predict`` shows ``in_training`` and
``training_value`` beside it.

The key of a composition is its element fractions: ``Fe2O3``, ``Fe4O6`` and
``Fe0.4O0.6`` are one composition (a Structure counts by its composition). The
fractions are written to 6 decimals and hashed (BLAKE2b, 8 bytes): 239,190 OQMD
compositions give 239,190 distinct keys, and a composition outside the set matches a
key by chance with probability n / 2^64 (1e-14 for 215k keys). Size: 12 bytes per
training row, 2.5 MiB for 215k rows (``benchmarks/RESULTS_training_set.md``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from irnet_hub.errors import IntegrityError
from irnet_hub.preprocessing import element_amounts

TRAINING_SET_FILE = "training_set.npy"
# One record per training composition; a plain .npy (no pickle, no zip timestamps): the same rows give the same bytes.
RECORD = np.dtype([("key", "<u8"), ("value", "<f4")])
FRACTION_DECIMALS = 6


def composition_key(item: Any) -> int | None:
    """The 64-bit key of a formula, Composition or Structure (None when it cannot be read)."""
    if isinstance(item, dict) and "lattice" in item:  # a Structure as pymatgen's dict (Matbench's JSON frames)
        from pymatgen.core import Structure

        item = Structure.from_dict(item).composition
    amounts = element_amounts(item)
    if not amounts:
        return None
    total = sum(amounts.values())
    if not total > 0 or not np.isfinite(total) or any(v <= 0 for v in amounts.values()):
        return None
    text = ";".join(f"{el}{v / total:.{FRACTION_DECIMALS}f}" for el, v in sorted(amounts.items()))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _keys(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(keys as uint64, whether each item could be read)."""
    cache: dict[str, int | None] = {}
    out = np.zeros(len(items), dtype=np.uint64)
    ok = np.zeros(len(items), dtype=bool)
    for i, item in enumerate(items):
        if isinstance(item, str):
            key = cache[item] if item in cache else cache.setdefault(item, composition_key(item))
        else:
            key = composition_key(item)
        if key is not None:
            out[i], ok[i] = key, True
    return out, ok


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Sorted composition keys of the training rows and their training values (the mean where a
    composition appears in several rows, e.g. polymorphs)."""

    keys: np.ndarray  # uint64, sorted, unique
    values: np.ndarray  # float32

    @classmethod
    def from_rows(cls, inputs: Sequence[Any], targets: Sequence[float]) -> "TrainingSet":
        keys, ok = _keys(inputs)
        y = np.asarray(targets, dtype=np.float64)[ok]
        unique, inverse = np.unique(keys[ok], return_inverse=True)
        sums = np.bincount(inverse, weights=y, minlength=len(unique))
        counts = np.bincount(inverse, minlength=len(unique))
        return cls(unique, (sums / counts).astype(np.float32))

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, items: Sequence[Any]) -> tuple[list[bool | None], np.ndarray]:
        """Per item: ``in_training`` (None when the composition cannot be read) and the training value
        (NaN where not in training)."""
        keys, ok = _keys(items)
        hit = np.zeros(len(keys), dtype=bool)
        value = np.full(len(keys), np.nan)
        if len(self.keys):
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = ok & (self.keys[pos] == keys)
            value[hit] = self.values[pos[hit]]
        return [bool(h) if r else None for h, r in zip(hit, ok)], value

    def save(self, model_dir: str | Path) -> Path:
        """Write ``training_set.npy`` into ``model_dir`` (atomically); the caller refreshes the manifest."""
        from irnet_hub.files import atomic_path

        rows = np.empty(len(self.keys), dtype=RECORD)
        rows["key"], rows["value"] = self.keys, self.values
        path = Path(model_dir) / TRAINING_SET_FILE
        with atomic_path(path) as tmp:
            np.save(tmp, rows, allow_pickle=False)
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "TrainingSet | None":
        """The model's training set, or None when its folder has none (models made before it existed)."""
        path = Path(model_dir) / TRAINING_SET_FILE
        if not path.is_file():
            return None
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise IntegrityError(f"{path}: not a readable training set ({type(e).__name__}: {e})") from None
        if rows.dtype != RECORD or rows.ndim != 1:
            raise IntegrityError(f"{path}: not a training set (expected 1-d records {RECORD.descr}, got {rows.dtype})")
        keys = np.ascontiguousarray(rows["key"])
        if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():  # (np.diff of uint64 wraps around)
            raise IntegrityError(f"{path}: keys must be sorted and unique")
        return cls(keys, np.ascontiguousarray(rows["value"]))


def write_training_set(model_dir: str | Path, inputs: Sequence[Any], targets: Sequence[float]) -> dict[str, Any]:
    """Write the training set of ``inputs``/``targets`` into ``model_dir``; returns what the record states
    (``record.extras["training_set"]``). The caller refreshes the manifest."""
    ts = TrainingSet.from_rows(inputs, targets)
    path = ts.save(model_dir)
    return {"file": TRAINING_SET_FILE, "rows": len(inputs), "compositions": len(ts), "bytes": path.stat().st_size,
            "key": f"element fractions to {FRACTION_DECIMALS} decimals, BLAKE2b-64"}


__all__ = ["TrainingSet", "composition_key", "write_training_set", "TRAINING_SET_FILE"]
