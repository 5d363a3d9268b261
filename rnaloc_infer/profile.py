"""The relative compartment profile: "which compartment" apart from "how many".

Why: a model's per-class probabilities are calibrated to each class's base rate (in the
training data 69 % of mRNAs are nuclear, 56 % cytosolic, 11 % ER), and in RNALocate a
well-studied gene collects many labels, so the columns rise and fall together. Comparing two
probabilities therefore mixes three things: the base rates, how many compartments the
record is likely annotated with, and which one it favours. On the validation split the
bundled default's p(Nucleus) - p(Cytosol) separates Nucleus-only from Cytosol-only mRNAs
with AUROC 0.560, while the same model's log-odds difference reaches 0.619 (0.604 within
records of equal label count): the sigmoid compresses the high-base-rate Nucleus column,
so the probability difference partly tracks "how many" (docs/RESULTS.md).

The profile takes each class's log2 odds against the class's training prevalence (the
model's ``rnaloc.prevalence`` metadata), ``e_c = log2(odds(p_c) / odds(prevalence_c))``,
and splits it into

* ``level``: the mean of ``e_c`` over the classes, how much more (or less) annotated than a
  typical training mRNA this record looks ("how many");
* ``rel_<class>`` = ``e_c - level``: which compartments it favours relative to its own level
  and to the typical mRNA ("which"; the values of one record sum to zero).

Differences of ``rel_`` columns equal differences of log-odds, so they rank pairs of
compartments as the log-odds do; a positive ``rel_ER`` means "more ER-like than this
record's other compartments, by the training base rates". numpy only.
"""

from __future__ import annotations

import json
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import ModelError

METADATA_KEY = "rnaloc.prevalence"
LEVEL_COLUMN = "level"
RELATIVE_PREFIX = "rel_"
DECIMALS = 4
# float32 probabilities saturate at 1 - 6e-8; clipping keeps log-odds finite and symmetric
_CLIP = 1e-6


def require_prevalence(model_path: object, prevalence: Optional[Tuple[float, ...]]) -> Tuple[float, ...]:
    """The model's training prevalence, or the one-line ModelError that says how to add it."""
    if prevalence is None:
        raise ModelError(f"model {model_path}: a relative profile (--profile) needs the classes' training prevalence "
                         "(metadata rnaloc.prevalence), which this file lacks; add it with `rnaloc-train refit-metadata`")
    return prevalence


def log2_odds(p: np.ndarray) -> np.ndarray:
    """log2(p / (1 - p)), with p clipped to [1e-6, 1 - 1e-6] so saturated outputs stay finite."""
    p = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1.0 - _CLIP)
    return np.log2(p) - np.log2(1.0 - p)


def relative_profile(probs: np.ndarray, prevalence: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """(level, relative) for probabilities of shape (records, classes) or (classes,).

    ``level`` has one value per record, ``relative`` one per record and class; see the module
    docstring for what they mean.
    """
    probs = np.asarray(probs, dtype=np.float64)
    reference = log2_odds(np.asarray(prevalence, dtype=np.float64))
    if probs.shape[-1] != reference.shape[0]:
        raise ValueError(f"{probs.shape[-1]} class probabilities but {reference.shape[0]} prevalences")
    enrichment = log2_odds(probs) - reference
    level = enrichment.mean(axis=-1)
    return level, enrichment - level[..., None]


def relative_delta(reference: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """In-silico mutagenesis on the profile: the change of each ``rel_`` value per substitution.

    ``reference`` (classes,) and ``delta`` (length, 4, classes) as ``rnaloc-explain`` writes
    them to ``ism.npz``; the result has ``delta``'s shape. ``out[i, b, N] - out[i, b, C]`` is
    how much substitution b at position i moves the record towards Nucleus rather than
    Cytosol in log2 odds, free of the change in "how many" that moves every class together.
    No prevalence is needed: the reference log-odds are the same before and after a
    substitution and cancel.
    """
    reference = np.asarray(reference, dtype=np.float64)
    before = log2_odds(reference)
    after = log2_odds(reference + np.asarray(delta, dtype=np.float64))
    change = after - before
    return change - change.mean(axis=-1, keepdims=True)


def profile_columns(classes: Sequence[str]) -> List[str]:
    """Output column names of the profile, after the run's other columns."""
    return [LEVEL_COLUMN, *(RELATIVE_PREFIX + c for c in classes)]


class ProfileRow:
    """One record's profile for an output row (``level``, then one ``rel_`` value per class),
    rounded to 4 decimals: numbers in JSONL, fixed-point text in TSV/CSV.

    The arithmetic of :func:`relative_profile` on plain floats: the writer calls it once per
    record, and numpy's per-call overhead on six numbers made it 17 us a record (up to a tenth
    of the whole run's time on 300-nt records) against 6 us here. Built once per run, so the
    prevalence's log-odds are computed once, not per record.
    """

    def __init__(self, prevalence: Sequence[float]):
        self._reference = [_log2_odds(r) for r in prevalence]

    def __call__(self, probs: Sequence[float]) -> List[float]:
        enrichment = [_log2_odds(p) - r for p, r in zip(probs, self._reference)]
        level = sum(enrichment) / len(enrichment)
        return [round(level, DECIMALS), *(round(e - level, DECIMALS) for e in enrichment)]

    def top(self, probs: Sequence[float], among: Optional[Sequence[int]] = None) -> Tuple[int, float]:
        """(index, rel value) of the class with the largest lift over its prior: the
        compartment the record favours most, the ``top_class`` of BED/GFF3 output and the
        explain picture's headline. ``among``: the classes that may be named (default: all;
        :func:`named_classes` leaves out the never-labelled ones); the rel value is still the
        ``rel_`` column's, relative to every class. Ties go to the first class in model order."""
        enrichment = [_log2_odds(p) - r for p, r in zip(probs, self._reference)]
        best = max(among if among else range(len(enrichment)), key=enrichment.__getitem__)
        return best, enrichment[best] - sum(enrichment) / len(enrichment)


def named_classes(thresholds: Sequence[float]) -> Optional[List[int]]:
    """The classes a ``top_class`` may name: those with a label (a finite threshold). A class
    the model never labels (a null threshold in its metadata, +inf in memory: Exosome on the
    bundled default, positive for 99 % of training mRNAs) carries no information as a label,
    and no more as the compartment a record "favours". None when every class has a label."""
    named = [i for i, t in enumerate(thresholds) if math.isfinite(t)]
    return named if named and len(named) < len(thresholds) else None


def lift_score(rel: float) -> float:
    """The top class's lift as a number in [0, 1): ``tanh(rel / 2)``, i.e. ``2 * logistic(rel) - 1``.

    Why this mapping: it is monotone, 0 for a record that favours no compartment (every
    ``rel_`` 0) and approaches 1 as the top rel value grows, and on the bundled default over
    the validation mRNAs it spreads BED scores (1000 x this) from 169 (5th percentile) to 862
    (95th), where 1000 x the top probability put 95 % of them between 971 and 999
    (docs/GENOME.md, "Scores"). rel 1 (the top class's odds twice the record's average, by the
    training base rates) gives 0.462, rel 2 0.762, rel 3 0.905.
    """
    return math.tanh(max(float(rel), 0.0) / 2.0)


def _log2_odds(p: float) -> float:
    p = min(max(float(p), _CLIP), 1.0 - _CLIP)
    return math.log2(p / (1.0 - p))


def prevalence_from_labels(y: np.ndarray) -> List[float]:
    """Per-class positive fraction of a (records, classes) 0/1 label matrix, for the metadata.

    Refuses a class that is never (or always) positive: its log-odds reference would be
    infinite, and a model trained on such data cannot say anything about that class anyway.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or len(y) == 0:
        raise ValueError("prevalence needs a non-empty (records, classes) label matrix")
    rates = y.mean(axis=0)
    if np.any(rates <= 0.0) or np.any(rates >= 1.0):
        raise ValueError("every class needs positive and negative training records to have a prevalence")
    return [float(r) for r in rates]


def parse_prevalence(text: str, n_classes: int) -> Tuple[float, ...]:
    """Decode and check the metadata value (raises ValueError with the problem)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("is not JSON") from None
    if not isinstance(values, list) or len(values) != n_classes:
        raise ValueError(f"must list {n_classes} numbers (one per class)")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError("must be numbers")
    if not all(0.0 < float(v) < 1.0 for v in values):
        raise ValueError("must lie strictly between 0 and 1")
    return tuple(float(v) for v in values)
