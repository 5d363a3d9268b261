"""Percentile bootstrap intervals for figures computed from per-record arrays (numpy only).

Why: a figure on a few thousand records (an AUROC, an MCC at a threshold) moves by a few
hundredths when the records are resampled; a report that gives the point value alone cannot
say which differences are real. Records are resampled with replacement ``resamples`` times
(seeded, so a report is reproducible) and every figure is recomputed on the same draws
(paired: differences between figures of one draw are meaningful too).
"""

from __future__ import annotations

from typing import Callable, Tuple

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


def bootstrap_draws(statistic: Callable[[np.ndarray], np.ndarray], n_records: int, resamples: int = RESAMPLES,
                    seed: int = 0) -> np.ndarray:
    """(resamples, figures): ``statistic(rows)`` (a vector of figures from the records ``rows``)
    for every resample of ``n_records`` record indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return np.stack([np.atleast_1d(np.asarray(statistic(rng.integers(0, n_records, n_records)), dtype=np.float64))
                     for _ in range(resamples)])


def interval(draws: np.ndarray, level: float = LEVEL) -> Tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile bounds per figure; draws where a figure is undefined (nan: a
    resample without a positive) are left out of its bounds."""
    tail = 100 * (1 - level) / 2
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns give nan bounds
            return np.nanpercentile(draws, tail, axis=0), np.nanpercentile(draws, 100 - tail, axis=0)
