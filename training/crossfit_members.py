"""Cross-fitting of the ensemble's two non-network members: the k-mer + coding regression and
the gradient-boosted forest, on the same fold plan as the networks (:mod:`.crossfit`).

Why: the blend (:mod:`.crossfit_blend`) needs every member's out-of-fold scores of all
labelled records; a member fitted on train alone would score the valid part in-sample.
Per fold k, the member is fitted on every other fold and scores fold k:

* ``regression``: :func:`.regression.fit_regression` with the coding features; C fixed
  (``c``) or chosen by :func:`.regression.tune_c` on an 80/20 split *of the training part*,
  never on the fold it scores;
* ``forest``: :func:`.forest.fit_forest` on the ``coding-utr-v1`` inputs, settings fixed in
  advance (its early stopping holds out a part of the training part, as on train) and the
  run's :class:`.forest.ForestRecipe` (bags, the fraction of columns a split chooses from).

Layout, as for the networks (resumable: a fold with ``oof.npz`` is done)::

    OUT/<member>/source.json         member, features, data directory, folds, seed, C, forest recipe
    OUT/<member>/fold<k>/model.npz   the member fitted without fold k (regression / forest file)
    OUT/<member>/fold<k>/fold.json   records fitted and scored, C or trees kept (and forest recipe)
    OUT/<member>/fold<k>/oof.npz     ids, decision scores of fold k (``logits``), best_epoch 0

Needs scikit-learn (and torch, which the forest module imports).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.features.registry import CODING, CODING_UTR
from rnaloc_infer.output.files import atomic_write_text

from .crossfit import OOF_FILE, fold_lock, fold_plan, read_labelled, read_oof, subset, write_oof
from .data import SequenceSet, require_splits, resolve_data_dir

if TYPE_CHECKING:  # the forest module imports torch; only the forest member needs it
    from .forest import ForestRecipe

log = logging.getLogger(__name__)

MEMBERS: Dict[str, str] = {"regression": CODING, "forest": CODING_UTR}  # member -> its per-record feature set
MODEL_FILE = "model.npz"
FOLD_FILE = "fold.json"

# (fitted member, what it saves in fold.json) from the training part's feature rows
Scorer = Callable[[np.ndarray], np.ndarray]


def member_inputs(member: str, codes: Sequence[np.ndarray]) -> np.ndarray:
    """(records, columns) rows the member reads, as ``rnaloc-train regression --coding`` and
    ``rnaloc-train forest`` compute them."""
    if member == "regression":
        from .regression import feature_matrix

        return feature_matrix(codes, coding=True)
    if member == "forest":
        from .forest import forest_inputs

        return forest_inputs(codes, features=MEMBERS["forest"])
    raise ValueError(f"unknown member {member!r}; expected one of {', '.join(MEMBERS)}")


def fit_member(member: str, train: SequenceSet, x: np.ndarray, run_dir: Path,
               c: Optional[float] = None, recipe: Optional["ForestRecipe"] = None) -> Tuple[Scorer, dict]:
    """Fit ``member`` on ``train`` (feature rows ``x``) only, save it to ``run_dir/model.npz``
    and return its scorer of feature rows and what it chose."""
    if member == "regression":
        from .regression import fit_regression

        fitted = fit_regression(train, coding=True, c=c, x=x)
        fitted.save(run_dir / MODEL_FILE)
        return fitted.scores, {"C": fitted.C, "C_chosen_on": "given" if c is not None else "80/20 split of the training part"}
    if member == "forest":
        from .forest import ForestRecipe, fit_forest

        forest = fit_forest(x, train.labels, train.classes, features=MEMBERS["forest"], recipe=recipe or ForestRecipe())
        forest.save(run_dir / MODEL_FILE)
        return forest.scores, {"trees_fitted": forest.trees_fitted, **forest.recipe.record()}
    raise ValueError(f"unknown member {member!r}; expected one of {', '.join(MEMBERS)}")


def fit_member_fold(member: str, data: SequenceSet, x: np.ndarray, folds: np.ndarray, fold: int, run_dir: Path,
                    c: Optional[float] = None, recipe: Optional["ForestRecipe"] = None) -> dict:
    """Fit ``member`` on every fold but ``fold`` and write the decision scores of ``fold`` to
    ``run_dir/oof.npz`` (last, so that a fold with it is complete)."""
    oof_path = run_dir / OOF_FILE
    if oof_path.exists():
        return read_oof(oof_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    rest, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
    scorer, info = fit_member(member, subset(data, rest), x[rest], run_dir, c, recipe)
    scores = scorer(x[held])
    atomic_write_text(run_dir / FOLD_FILE, json.dumps(
        {"member": member, "fold": fold, "fitted_records": len(rest), "scored_records": len(held), **info}, indent=2))
    write_oof(oof_path, [data.ids[i] for i in held], np.asarray(scores), 0)
    log.info("%s: fold %d fitted on %d records, scored %d -> %s", member, fold, len(rest), len(held), oof_path)
    return read_oof(oof_path)


def crossfit_member(member: str, out_dir: Path, *, k: int = 5, seed: int = 0,
                    only_folds: Optional[Sequence[int]] = None, data_dir: Optional[Path] = None,
                    prefix: str = "dm3loc", c: Optional[float] = None,
                    recipe: Optional["ForestRecipe"] = None) -> List[dict]:
    """Cross-fit one non-network member over train + valid on ``out_dir``'s fold plan
    (made here on first use, refused when it disagrees), each fold in turn under its lock.
    ``recipe`` (forest only: bags, column fraction) is part of the member: a directory whose
    folds were fitted with another recipe is refused, never mixed."""
    from .models import CLASSES

    if member not in MEMBERS:
        raise ValueError(f"unknown member {member!r}; expected one of {', '.join(MEMBERS)}")
    resolved, source = resolve_data_dir(data_dir)
    require_splits(resolved, source, ("train", "valid"), prefix)
    data = read_labelled(resolved, CLASSES, prefix)
    folds = fold_plan(out_dir, data, k, seed)
    if recipe is not None and recipe.record() and member != "forest":
        raise ValueError(f"a forest recipe ({recipe.describe()}) applies to the forest only, not to {member!r}")
    member_dir = out_dir / member
    member_dir.mkdir(parents=True, exist_ok=True)
    source = member_dir / "source.json"
    if member == "forest":
        from .forest import ForestRecipe

        recipe = recipe or ForestRecipe()
        stored = ForestRecipe.from_record(json.loads(source.read_text())) if source.is_file() else recipe
        if stored != recipe:
            raise ValueError(f"{source}: its folds were fitted with {stored.describe()}, not {recipe.describe()}; "
                             "use another --out")
    atomic_write_text(source, json.dumps(
        {"member": member, "features": MEMBERS[member], "data_dir": str(resolved), "prefix": prefix, "k": k,
         "seed": seed, "C": c, **(recipe.record() if recipe else {})}, indent=2))
    todo = [f for f in (only_folds if only_folds is not None else range(k))
            if not (member_dir / f"fold{f}" / OOF_FILE).exists()]
    x = member_inputs(member, data.codes) if todo else None  # once for every fold
    results = []
    for fold in (only_folds if only_folds is not None else range(k)):
        run_dir = member_dir / f"fold{fold}"
        with fold_lock(run_dir) as mine:
            if not mine:
                log.info("%s: fold %d is being fitted by another process; skipped here", member, fold)
                continue
            if x is None:  # done before this process started
                results.append(read_oof(run_dir / OOF_FILE))
                continue
            log.info("%s: fold %d of %d", member, fold, k)
            results.append(fit_member_fold(member, data, x, folds, fold, run_dir, c, recipe))
    return results
