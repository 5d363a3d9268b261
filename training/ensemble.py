"""Build the ensemble behind ``rnaloc-train ensemble``: trained networks + the fitted regression.

Why: the sequence models learn motifs and length but fit global k-mer composition slowly and
miss the encoded protein (ER stays below the regression after 17 epochs), while the
baseline's regression (:mod:`.regression`) is composition (plus, with ``--coding``, the
longest ORF's protein features, :mod:`rnaloc_infer.features.coding`). Their errors differ, so an equal-weight blend beats
each member; several trained networks can join as further members.

Recipe (with ``--blend equal``, no weight is tuned on valid; only the calibration and
thresholds, which are monotone per class and leave AUROC/AUPRC unchanged, are fitted there):

1. each member's scores on the *train* split (every network's logits, the regression's
   decision function) give its per-class mean and standard deviation; each member is
   standardised with them;
2. ensemble score = the mean of the standardised members (equal weights, fixed a priori),
   or with ``--blend stacked`` their per-class weighted sum, the weights fitted on valid by
   an L2 logistic regression whose penalty a cross-validation within valid picks
   (:mod:`.stacking`; the report then carries out-of-fold AUROCs, the honest estimate);
3. per class, Platt scaling on *valid* turns the score into a probability, and the decision
   threshold follows the policy of ``evaluation.metrics.policy_threshold`` on valid (MCC
   optimum, or prevalence matching for a class with < 100 positives or negatives), as for
   single models.

A forest (``--forest``, :mod:`.forest`: gradient-boosted trees on the regression's inputs)
joins as one more member; its weight is folded into its leaves.

All of it folds into per-class vectors (``blend``: first network, regression, bias, further
networks), the regression's tables (:class:`.ensemble_model.KmerRegression`) and the forest's
leaves, so the result is an :class:`.ensemble_model.EnsembleModel` checkpoint that ``rnaloc-export`` turns
into one ONNX file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.features.registry import CODING, extends, record_feature_matrix
from rnaloc_infer.modelfile.digest import files_sha256

from .data import SequenceSet, read_split, split_paths
from .ensemble_model import EnsembleConfig, EnsembleModel
from .forest import FittedForest, forest_inputs, load_forest
from .kmers import kmer_digits, place_values
from .models import LocalizationModel
from .regression import FittedRegression, load_logreg
from .stacking import fit_blend, member_standardisation, members_table, standardise
from .trainer import flat_metrics, predict_logits

log = logging.getLogger(__name__)

BLENDS = ("equal", "stacked")


def _base4_to_base5(k: int) -> np.ndarray:
    """Row of the model's base-5 table for each base-4 (A C G T) k-mer index of the regression."""
    return kmer_digits(k, 4) @ place_values(k)


def with_logreg(network: LocalizationModel, fitted: FittedRegression) -> EnsembleModel:
    """``network`` (copied) with the regression folded into tables; blend = network only."""
    if list(fitted.classes) != list(network.config.classes):
        raise ValueError(f"regression classes {fitted.classes} differ from the model's {network.config.classes}")
    model = EnsembleModel(EnsembleConfig(network.config, linear_ks=list(fitted.ks), features=fitted.features))
    model.network.load_state_dict(network.state_dict())
    weights = fitted.coef / fitted.scale[None, :]  # (C, F): per unit of frequency
    offset = 0
    regression = model.regression
    with torch.no_grad():
        for member, k in zip(regression.kmers, fitted.ks):
            block = slice(offset, offset + 4**k)
            rows = torch.from_numpy(_base4_to_base5(k))
            member.table.zero_()
            # float32 values (as every shipped file holds) in the float64 table
            member.table[rows, :-1] = torch.from_numpy(weights[:, block].T).float().to(member.table.dtype)
            member.table[rows, -1] = 1.0
            offset += 4**k
        regression.feature_weights.copy_(torch.from_numpy(weights[:, offset:]).float())  # empty without features
        constant = fitted.intercept - weights @ fitted.mean
        regression.offset.copy_(torch.from_numpy(constant).float())
    return model.eval()


def with_members(primary: EnsembleModel, others: Sequence[LocalizationModel],
                 forest: Optional[FittedForest] = None, class_mixing: bool = False) -> EnsembleModel:
    """A copy of ``primary`` (its network and regression) with ``others`` as member networks,
    ``forest`` (its trees as fitted: weight 1) as the forest member and, with ``class_mixing``,
    an identity class-mixing map to fit."""
    shape = {}
    if forest is not None:
        # the forest may read a wider set than the regression: the ensemble then takes the wider one
        if list(forest.classes) != list(primary.config.classes) or not extends(forest.features, primary.config.features):
            raise ValueError(f"the forest's classes {forest.classes} and features {forest.features!r} do not match "
                             f"the ensemble's {primary.config.classes} and {primary.config.features!r}")
        trees = forest.trees
        shape = {"ks": list(forest.ks), "nodes": len(trees.value), "trees": len(trees.roots), "depth": trees.depth}
    config = EnsembleConfig(primary.config.network, [network.config for network in others],
                            list(primary.config.linear_ks), forest.features if forest else primary.config.features, shape,
                            class_mixing)
    model = EnsembleModel(config)
    model.network.load_state_dict(primary.network.state_dict())
    model.regression.load_state_dict(primary.regression.state_dict())
    with torch.no_grad():
        model.blend[:3] = primary.blend[:3]  # the members' rows stay 0 until the blend is fitted
    for slot, network in zip(model.members, others):
        slot.load_state_dict(network.state_dict())
    if forest is not None:
        model.forests[0].load_trees(forest.trees)
    return model.eval()


def fold_blend(primary: EnsembleModel, others: Sequence[LocalizationModel], forest: Optional[FittedForest],
               mean: Sequence[np.ndarray], std: Sequence[np.ndarray], weights: Sequence[np.ndarray],
               a: np.ndarray, b: np.ndarray, mixing: Optional[Tuple[np.ndarray, np.ndarray]] = None
               ) -> Tuple[EnsembleModel, List[np.ndarray], np.ndarray]:
    """(model, per-member coefficients, bias): the ensemble of ``primary`` (first network and
    regression), ``others`` and ``forest`` whose logits are ``a * sum_m weights[m] * (score_m -
    mean[m]) / std[m] + b`` per class, then, with ``mixing`` = (weight (classes, classes),
    bias), ``weight @ logits + bias`` (:class:`.ensemble_model.ClassMixing`).

    Members are indexed networks first (``primary``'s, then ``others``), then the regression,
    then the forest; each entry of ``mean``, ``std`` and ``weights`` is per class. Why one
    place: ``rnaloc-train ensemble`` (statistics and weights fitted here) and ``crossfit-refit``
    (taken from a cross-fitted ``blend.json``) must fold them into the same affine rows:
    coefficient = a * w / s, bias = b - a * sum(w * m / s); the forest's coefficient goes into
    its leaves."""
    coefficients = [np.asarray(a) * w / s for w, s in zip(weights, std)]
    bias = np.asarray(b) - np.asarray(a) * sum(w * m / s for w, m, s in zip(weights, mean, std))
    n_networks = 1 + len(others)
    if len(coefficients) != n_networks + 1 + (forest is not None):
        raise ValueError(f"{len(coefficients)} members' statistics for {n_networks} network(s), the regression"
                         f"{' and the forest' if forest is not None else ''}")
    if forest is not None:  # its weight goes into its leaves
        forest = FittedForest(forest.trees.scaled(coefficients[-1]), forest.ks, forest.classes, forest.features,
                              forest.trees_fitted)
    model = with_members(primary, others, forest, class_mixing=mixing is not None)
    # blend rows: 0 first network, 1 regression, 2 bias, 3.. further networks
    rows = np.stack([coefficients[0], coefficients[n_networks], bias, *coefficients[1:n_networks]])
    with torch.no_grad():
        model.blend.copy_(torch.from_numpy(rows).float())
        if mixing is not None:
            weight, offset = (np.asarray(v, dtype=np.float64) for v in mixing)
            n = len(bias)
            if weight.shape != (n, n) or offset.shape != (n,):
                raise ValueError(f"class mixing of shape {weight.shape} + {offset.shape} for {n} classes")
            model.mixings[0].matrix.copy_(torch.from_numpy(weight.T).float())
            model.mixings[0].bias.copy_(torch.from_numpy(offset).float())
    return model, coefficients, bias


def regression_scores(model: EnsembleModel, data: SequenceSet, token_budget: int,
                      features: Optional[np.ndarray] = None) -> np.ndarray:
    """The in-graph regression's scores of every record (one pass with a regression-only blend;
    before any class mixing is fitted, which would mix them)."""
    if len(model.mixings):
        raise ValueError("regression_scores reads an ensemble without class mixing")
    original = model.blend.clone()
    try:
        with torch.no_grad():
            model.blend.zero_()
            model.blend[1] = 1.0
        return predict_logits(model, data, token_budget, torch.device("cpu"), features).astype(np.float64)
    finally:
        with torch.no_grad():
            model.blend.copy_(original)


def build_ensemble(networks: Sequence[LocalizationModel], logreg_path: str | Path, data_dir: str | Path, *,
                   prefix: str = "dm3loc", token_budget: int = 512_000,
                   forest_path: Optional[str | Path] = None, blend: str = "equal") -> Tuple[EnsembleModel, dict]:
    """The blended model and a report (member statistics, calibration, valid metrics, thresholds).

    ``blend``: "equal" gives every member (each network, the regression and the forest, if
    any) the same weight, fixed a priori; "stacked" fits per-class weights on valid
    (:mod:`.stacking`) and reports their out-of-fold AUROCs beside the in-sample ones.
    """
    if blend not in BLENDS:
        raise ValueError(f"unknown blend {blend!r}; expected one of {', '.join(BLENDS)}")
    if not networks:
        raise ValueError("an ensemble needs at least one network")
    primary = with_logreg(networks[0], load_logreg(logreg_path))
    forest = load_forest(forest_path) if forest_path is not None else None
    classes = list(primary.config.classes)
    train_fa, train_labels = split_paths(data_dir, "train", prefix)
    valid_fa, valid_labels = split_paths(data_dir, "valid", prefix)
    train = read_split(train_fa, train_labels, classes)
    valid = read_split(valid_fa, valid_labels, classes)

    feature_set = forest.features if forest is not None else (primary.config.features or CODING)

    def member_scores(data: SequenceSet) -> List[np.ndarray]:
        needed = primary.n_features or forest is not None or any(network.n_features for network in networks)
        # once for every member, of the widest set (members read its leading columns)
        features = record_feature_matrix(data.codes, feature_set) if needed else None
        scores = [predict_logits(network.eval(), data, token_budget, torch.device("cpu"),
                                 features if network.n_features else None).astype(np.float64)
                  for network in networks]
        scores.append(regression_scores(primary, data, token_budget, features))
        if forest is not None:  # the trees on the regression's inputs (the graph's own float32 features)
            scores.append(forest.scores(forest_inputs(data.codes, forest.ks, forest.features, features)))
        return scores

    on_train, on_valid = member_scores(train), member_scores(valid)
    names = [f"network_{i}" for i in range(len(networks))] + ["regression"] + (["forest"] if forest else [])
    mean, std = member_standardisation(names, classes, on_train)
    standardised = standardise(on_valid, mean, std)  # records, classes, members
    fitted = fit_blend(standardised, valid.labels, classes, blend)
    stacked = fitted.stacked
    a, b = fitted.a, fitted.b
    model, coefficients, bias = fold_blend(primary, networks[1:], forest, mean, std, fitted.weights.T, a, b)
    # the model's output is this same affine blend of the members: no further pass over valid
    probs = 1.0 / (1.0 + np.exp(-(sum(c * v for c, v in zip(coefficients, on_valid)) + bias)))
    thresholds = metrics.tune_thresholds(valid.labels, probs)
    result = metrics.evaluate(valid.labels, probs, classes, thresholds)
    member_auroc = {name: dict(zip(classes, np.round(metrics.evaluate(valid.labels, 1 / (1 + np.exp(-v)), classes)["auroc"], 4).tolist()))
                    for name, v in zip(names, on_valid)}
    report = {
        "members": names, "blend": blend, "logreg": str(logreg_path),
        "forest": None if forest_path is None else str(forest_path),
        "train_data_sha256": files_sha256([train_fa, train_labels]),
        "member_stats_train": {name: {"mean": m.tolist(), "std": s.tolist()} for name, m, s in zip(names, mean, std)},
        "platt_valid": {"a": a.tolist(), "b": b.tolist()},
        "thresholds": list(map(float, thresholds)), "macro_auroc": result["macro_auroc"],
        "auroc": dict(zip(classes, result["auroc"])), "auprc": dict(zip(classes, result["auprc"])),
        "mcc": dict(zip(classes, result["mcc"])), "macro_auprc": result["macro_auprc"],
        "macro_mcc": result["macro_mcc"], "flat_metrics": flat_metrics(result), "member_valid_auroc": member_auroc,
    }
    if stacked is None:
        report["weight"] = 1.0 / len(names)
    else:  # the in-sample figures above are optimistic: the weights were fitted on valid too
        report["weights"] = members_table(names, classes, stacked.weights)
        report["stacking"] = {
            "C": stacked.c, "cv_log_loss": {str(c): v for c, v in stacked.cv_log_loss.items()},
            "equal_cv_log_loss": stacked.equal_cv_log_loss,
            "cv_auroc": dict(zip(classes, stacked.cv_auroc.tolist())), "cv_macro_auroc": float(stacked.cv_auroc.mean()),
            "equal_cv_auroc": dict(zip(classes, stacked.equal_cv_auroc.tolist())),
            "equal_cv_macro_auroc": float(stacked.equal_cv_auroc.mean())}
    return model, report
