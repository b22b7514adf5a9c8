"""Tolerances for comparing two float32 code paths (issue 15).

Two paths that batch or thread differently (remote vs local, Dask vs in-process,
NumPy runtime vs Keras, chunked vs whole) run the same float32 arithmetic in a
different summation order. Float32 has a unit round-off of 6e-8; through a deep
network the last digits of an output differ by up to ~1e-6 of its magnitude,
and by more on a CPU with other kernels (AVX2 vs AVX-512, oneDNN on or off).

So a comparison between two such paths allows a relative error of
``F32_RTOL`` = 1e-5 (~170 ulps) plus an absolute floor scaled to the
*quantity*, not to each value: an ensemble's std is a difference of members of
the prediction's size, so its rounding error is ~1e-6 of the prediction, which
can be 1e-5 of a small std. Exact equality stays for what must be bit-identical
(one path, same inputs, same batch: save/load round trips, determinism).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

F32_RTOL = 1e-5


def f32_scale(*arrays) -> float:
    """The size of the quantity: the largest finite |value| over ``arrays`` (at least 1e-30)."""
    biggest = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=float)
        finite = a[np.isfinite(a)]
        if finite.size:
            biggest = max(biggest, float(np.abs(finite).max()))
    return max(biggest, 1e-30)


def assert_f32_close(actual, desired, *, scale: float | None = None, rtol: float = F32_RTOL) -> None:
    """``actual`` equals ``desired`` within float32 rounding: rtol plus rtol x the quantity's scale."""
    desired_a = np.asarray(desired, dtype=float)
    if scale is None:
        scale = f32_scale(desired_a)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), desired_a, rtol=rtol, atol=rtol * scale,
                               equal_nan=True)


def assert_f32_frame_equal(got: pd.DataFrame, want: pd.DataFrame, *,
                           scale_columns: Iterable[str] = ("prediction",), rtol: float = F32_RTOL) -> None:
    """Two prediction tables are equal: labels, columns, dtypes and every non-float value exactly,
    float columns within float32 rounding of the prediction's scale (its std included)."""
    cols = [c for c in scale_columns if c in want.columns]
    floats = [c for c in want.columns if pd.api.types.is_float_dtype(want[c])]
    scale = f32_scale(*(want[c] for c in (cols or floats)))
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=rtol, atol=rtol * scale)
    # assert_frame_equal(check_exact=False) would also let non-float columns pass approximately
    others = [c for c in want.columns if c not in floats]
    pd.testing.assert_frame_equal(got[others], want[others], check_exact=True)
