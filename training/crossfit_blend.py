"""The ensemble's blend fitted on cross-fitted scores (``rnaloc-train crossfit-blend``), and
its out-of-fold figures.

Why: fitted on valid, the blend's weights, calibration and thresholds were judged on the
records they were fitted on, and the valid figures overstated the held-out result. Here every
member's scores come from :mod:`.crossfit` / :mod:`.crossfit_members` (each record scored by
members that never saw it), and the blend is fitted the way ``rnaloc-train ensemble`` fits it
(:func:`.stacking.member_standardisation`, :func:`.stacking.fit_blend`: L2-stacked per-class
weights, Platt scaling, policy thresholds) on all 13,837 out-of-fold scores.

Two sets of figures, because the blend itself (members x classes weights, two Platt numbers
and a threshold per class) is fitted too:

* **estimate** (the figure to quote): nested; for each fold, the blend is fitted on the other
  folds' out-of-fold scores (standardisation included) and scores the fold; figures pool the
  folds' held-out probabilities, and MCC, precision and recall use each fold's own thresholds.
  95 % intervals: percentile bootstrap over records (:mod:`rnaloc_infer.evaluation.bootstrap`;
  the fitted blends are held fixed).
* with ``--class-mixing`` the blend ends in a class mixing (:func:`.stacking.fit_class_mixing`:
  each class's output log-odds from every class's calibrated log-odds), fitted inside the
  same nesting.
* **in_sample**: the blend fitted on all out-of-fold scores (``blend.json``, what a refit and
  release takes), scored on the same records: optimistic by the blend's own fit.

Standardisation: each member by the mean and standard deviation of its pooled out-of-fold
scores (the ensemble uses the member's train scores; a fold's member has no train scores of
the other folds' members, and held-out scores are what a refit member's scores on new
records look like). ``blend.json`` stores them.

Needs scikit-learn (the stacking); no torch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.evaluation.bootstrap import RESAMPLES, bootstrap_draws, interval
from rnaloc_infer.evaluation.labels import read_labels
from rnaloc_infer.evaluation.specificity import only_one_of, pair_auroc
from rnaloc_infer.output.files import atomic_output, atomic_write_text

from .crossfit import FOLDS_FILE, OOF_FILE, read_folds, read_oof
from .data import split_paths
from .stacking import BlendFit, fit_blend, member_standardisation, members_table, standardise

log = logging.getLogger(__name__)

BLEND_FILE = "blend.json"
REPORT_JSON = "report.json"
REPORT_TSV = "report.tsv"
BLEND_FORMAT = "rnaloc-crossfit-blend"
LAST_MEMBERS = ("regression", "forest")  # after the networks, as in the ensemble
PAIR = ("Nucleus", "Cytosol")
UNINFORMATIVE_PREVALENCE = 0.95  # a label this frequent says little about a record
UNINFORMATIVE_MCC = 0.05  # |MCC| below this: the label at its threshold carries ~no information
METRICS = ("auroc", "auprc", "mcc")


@dataclass
class OutOfFold:
    """Every member's out-of-fold scores of the labelled records, lined up."""

    ids: List[str]
    folds: np.ndarray  # (records,) fold number
    labels: np.ndarray  # (records, classes) 0/1
    classes: List[str]
    members: List[str]
    scores: List[np.ndarray]  # per member (records, classes)
    sources: List[Path]  # every file read (folds.tsv, oof.npz files, labels)


def member_names(out_dir: Path) -> List[str]:
    """The members cross-fitted in ``out_dir``: folders with a ``source.json``, networks (by
    name) first, then the regression and the forest."""
    names = sorted(p.parent.name for p in out_dir.glob("*/source.json"))
    return [n for n in names if n not in LAST_MEMBERS] + [n for n in LAST_MEMBERS if n in names]


def oof_paths(out_dir: Path, members: Optional[Sequence[str]] = None,
              folds: Optional[Sequence[int]] = None) -> Tuple[Dict[str, int], List[str], List[List[Path]]]:
    """(folds by id, member names, per member its fold files, in the order of ``folds``,
    default every fold): one line naming the first member and fold that is missing."""
    folds_path = out_dir / FOLDS_FILE
    if not folds_path.is_file():
        raise ValueError(f"{folds_path}: missing; {out_dir} is not a cross-fitting directory (rnaloc-train crossfit)")
    stored = read_folds(folds_path)
    k = max(stored.values()) + 1 if stored else 0
    names = list(members) if members else member_names(out_dir)
    if not names:
        raise ValueError(f"{out_dir}: no cross-fitted member (no <member>/source.json)")
    paths = []
    for name in names:
        paths.append([out_dir / name / f"fold{fold}" / OOF_FILE for fold in (range(k) if folds is None else folds)])
        for fold, path in zip(range(k) if folds is None else folds, paths[-1]):
            if not path.is_file():
                raise ValueError(f"{path}: missing: member {name} has no out-of-fold scores for fold {fold} "
                                 f"(of {k}) yet; cross-fit it first (rnaloc-train crossfit)")
    return stored, names, paths


def data_source(out_dir: Path, names: Sequence[str], data_dir: Optional[Path]) -> Path:
    """The data directory the members read (``source.json``); ``data_dir`` overrides it."""
    if data_dir is not None:
        return Path(data_dir)
    found = {json.loads((out_dir / name / "source.json").read_text()).get("data_dir") for name in names
             if (out_dir / name / "source.json").is_file()}
    found.discard(None)
    if len(found) != 1:
        raise ValueError(f"{out_dir}: the members read {len(found)} data directories ({', '.join(sorted(found))}); "
                         "give --data-dir")
    return Path(found.pop())


def gather(out_dir: Path, data_dir: Path, prefix: str = "dm3loc", members: Optional[Sequence[str]] = None,
           classes: Optional[Sequence[str]] = None, folds: Optional[Sequence[int]] = None) -> OutOfFold:
    """Every member's out-of-fold scores (all folds present, or those of ``folds``, each
    fold's file holding exactly the fold's records) and the records' labels (train + valid
    labels of ``data_dir``)."""
    stored, names, paths = oof_paths(out_dir, members, folds)
    wanted = list(range(len(paths[0]))) if folds is None else list(folds)
    ids = [i for i, fold in stored.items() if fold in wanted]
    fold_of = np.array([stored[i] for i in ids], dtype=np.int64)
    label_files = [split_paths(data_dir, split, prefix)[1] for split in ("train", "valid")]
    parts = [read_labels(path, classes) for path in label_files]
    classes = parts[0].classes
    by_id = {i: row for part in parts for i, row in zip(part.ids, part.y)}
    unlabelled = [i for i in ids if i not in by_id]
    if unlabelled:
        raise ValueError(f"{out_dir / FOLDS_FILE}: {len(unlabelled)} record(s) without labels in {data_dir} "
                         f"(first: {unlabelled[0]})")
    labels = np.stack([by_id[i] for i in ids]).astype(np.int64)
    position = {i: n for n, i in enumerate(ids)}
    scores = []
    for name, member_paths in zip(names, paths):
        out = np.full((len(ids), len(classes)), np.nan)
        for fold, path in zip(wanted, member_paths):
            part = read_oof(path)
            expected = {i for i, f in stored.items() if f == fold}
            if set(part["ids"]) != expected or len(part["ids"]) != len(expected):
                raise ValueError(f"{path}: holds other records than fold {fold} of {out_dir / FOLDS_FILE}")
            if part["logits"].shape[1] != len(classes):
                raise ValueError(f"{path}: {part['logits'].shape[1]} score columns for {len(classes)} classes")
            out[[position[i] for i in part["ids"]]] = part["logits"]
        scores.append(out)
    sources = [out_dir / FOLDS_FILE, *label_files, *(p for member_paths in paths for p in member_paths)]
    return OutOfFold(ids, fold_of, labels, list(classes), names, scores, sources)


def fit_on(oof: OutOfFold, rows: np.ndarray, class_mixing: bool = False) -> Tuple[np.ndarray, np.ndarray, BlendFit]:
    """(mean, std, blend) fitted on the out-of-fold scores of ``rows`` only (with
    ``class_mixing``, the mixing too: :func:`.stacking.fit_class_mixing`)."""
    mean, std = member_standardisation(oof.members, oof.classes, [s[rows] for s in oof.scores])
    fitted = fit_blend(standardise([s[rows] for s in oof.scores], mean, std), oof.labels[rows], oof.classes,
                       class_mixing=class_mixing)
    return mean, std, fitted


def log_odds(oof: OutOfFold, rows: np.ndarray, mean: np.ndarray, std: np.ndarray, fitted: BlendFit) -> np.ndarray:
    """(rows, classes) the output log-odds of ``rows``: calibrated a * blend + b, then the mixing if any."""
    return fitted.log_odds(standardise([s[rows] for s in oof.scores], mean, std))


def nested(oof: OutOfFold, class_mixing: bool = False) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """(log-odds, decisions, per-fold details): each fold scored by the blend fitted on the others."""
    odds = np.zeros(oof.labels.shape)
    decided = np.zeros(oof.labels.shape, dtype=bool)
    details = []
    for fold in range(int(oof.folds.max()) + 1):
        fit_rows, held = np.flatnonzero(oof.folds != fold), np.flatnonzero(oof.folds == fold)
        mean, std, fitted = fit_on(oof, fit_rows, class_mixing)
        odds[held] = log_odds(oof, held, mean, std, fitted)
        decided[held] = _sigmoid(odds[held]) >= np.asarray(fitted.thresholds)
        details.append({"fold": fold, "C": fitted.stacked.c, "thresholds": fitted.thresholds,
                        **({"mixing_C": fitted.mixing.c} if fitted.mixing else {})})
    return odds, decided, details


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def figures(labels: np.ndarray, odds: np.ndarray, decided: np.ndarray, pair: Optional[Tuple[int, int]]) -> np.ndarray:
    """One vector: per class AUROC, AUPRC, MCC (of the decisions); their macro means; then, with
    a pair, the first-only vs second-only AUROC of odds(first) - odds(second) and the Pearson
    correlation of the two classes' log-odds. AUROC and AUPRC are rank figures: log-odds rank
    as the probabilities do."""
    n = labels.shape[1]
    per = np.array([[metrics.roc_auc(labels[:, c], odds[:, c]) for c in range(n)],
                    [metrics.average_precision(labels[:, c], odds[:, c]) for c in range(n)],
                    [metrics.mcc(labels[:, c], decided[:, c].astype(np.float64), 0.5) for c in range(n)]])
    macro = np.array([np.mean(row[~np.isnan(row)]) if (~np.isnan(row)).any() else np.nan for row in per])
    out = [per.ravel(), macro]
    if pair is not None:
        a, b = pair
        first_only, second_only = only_one_of(labels, a, b)
        keep = first_only | second_only
        pair_value = metrics.roc_auc(first_only[keep], odds[keep, a] - odds[keep, b]) if keep.any() else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(odds[:, a], odds[:, b])[0, 1] if len(odds) > 1 else np.nan
        out.append(np.array([pair_value, corr]))
    return np.concatenate(out)


def _class_table(oof: OutOfFold, values: np.ndarray, low: Optional[np.ndarray], high: Optional[np.ndarray],
                 decided: np.ndarray) -> dict:
    n = len(oof.classes)

    def entry(i: int) -> dict:
        item = {"value": float(values[i])}
        if low is not None:
            item.update(low=float(low[i]), high=float(high[i]))
        return item

    table = {}
    for c, name in enumerate(oof.classes):
        y, d = oof.labels[:, c].astype(bool), decided[:, c]
        tp = int(np.sum(y & d))
        table[name] = {m: entry(j * n + c) for j, m in enumerate(METRICS)}
        table[name].update(prevalence=float(y.mean()), positives=int(y.sum()), labelled=int(d.sum()),
                           precision=tp / int(d.sum()) if d.any() else float("nan"),
                           recall=tp / int(y.sum()) if y.any() else float("nan"))
    table["macro"] = {m: entry(3 * n + j) for j, m in enumerate(METRICS)}
    return table


def _specificity(oof: OutOfFold, pair: Optional[Tuple[int, int]], values: np.ndarray, low, high,
                 odds: np.ndarray) -> Optional[dict]:
    if pair is None:
        return None
    base = len(METRICS) * (len(oof.classes) + 1)  # after the per-class and macro figures

    def entry(i: int) -> dict:
        item = {"value": float(values[base + i])}
        if low is not None:
            item.update(low=float(low[base + i]), high=float(high[base + i]))
        return item

    same = pair_auroc(oof.labels, odds, oof.classes, *PAIR)
    return {"scores": f"logit(p{PAIR[0]}) - logit(p{PAIR[1]})",
            "records": f"{PAIR[0]}-only: {PAIR[0]} and not {PAIR[1]}; {PAIR[1]}-only: {PAIR[1]} and not {PAIR[0]} "
                       "(other labels free; rnaloc_infer.evaluation.specificity)",
            f"{PAIR[0].lower()}_only": same.n_first_only, f"{PAIR[1].lower()}_only": same.n_second_only,
            "auroc": entry(0), "auroc_same_label_count": {"value": float(same.auroc_same_count)},
            f"pearson_{PAIR[0].lower()}_{PAIR[1].lower()}": entry(1)}


def blend_report(oof: OutOfFold, resamples: int = RESAMPLES, seed: int = 0,
                 class_mixing: bool = False) -> Tuple[dict, dict]:
    """(blend, report): the blend fitted on all out-of-fold scores (what a refit and release
    takes) and the report (module docstring); with ``class_mixing``, the blend ends in a class
    mixing, fitted (and nested) like the rest."""
    everything = np.arange(len(oof.ids))
    mean, std, fitted = fit_on(oof, everything, class_mixing)
    classes = oof.classes
    pair = (classes.index(PAIR[0]), classes.index(PAIR[1])) if all(c in classes for c in PAIR) else None
    in_odds = log_odds(oof, everything, mean, std, fitted)
    in_decided = _sigmoid(in_odds) >= np.asarray(fitted.thresholds)
    nested_odds, nested_decided, details = nested(oof, class_mixing)
    point = figures(oof.labels, nested_odds, nested_decided, pair)
    draws = bootstrap_draws(lambda rows: figures(oof.labels[rows], nested_odds[rows], nested_decided[rows], pair),
                            len(oof.ids), resamples, seed)
    low, high = interval(draws)
    estimate = _class_table(oof, point, low, high, nested_decided)
    in_sample = _class_table(oof, figures(oof.labels, in_odds, in_decided, pair), None, None, in_decided)
    uninformative = {}
    for name in classes:
        reasons = []
        if estimate[name]["prevalence"] >= UNINFORMATIVE_PREVALENCE:
            reasons.append(f"prevalence {estimate[name]['prevalence']:.3f} >= {UNINFORMATIVE_PREVALENCE}")
        if abs(estimate[name]["mcc"]["value"]) < UNINFORMATIVE_MCC:
            reasons.append(f"out-of-fold MCC {estimate[name]['mcc']['value']:.3f} (|MCC| < {UNINFORMATIVE_MCC})")
        if reasons:
            uninformative[name] = "; ".join(reasons)
    members_auroc = {}
    for name, scores in zip(oof.members, oof.scores):
        per = [metrics.roc_auc(oof.labels[:, c], scores[:, c]) for c in range(len(classes))]
        members_auroc[name] = {**dict(zip(classes, per)), "macro": float(np.nanmean(per))}
    blend = {
        "format": BLEND_FORMAT, "format_version": 1, "classes": classes, "members": oof.members,
        "records": len(oof.ids), "folds": int(oof.folds.max()) + 1,
        "folds_sha256": hashlib.sha256((oof.sources[0]).read_bytes()).hexdigest(),
        "standardisation": {"source": "each member's pooled out-of-fold scores (per class)",
                            "mean": {n: m.tolist() for n, m in zip(oof.members, mean)},
                            "std": {n: s.tolist() for n, s in zip(oof.members, std)}},
        "weights": {n: w.tolist() for n, w in zip(oof.members, fitted.weights.T)},
        "weight_shares": members_table(oof.members, classes, fitted.weights),
        "C": fitted.stacked.c,
        "platt": {"a": fitted.a.tolist(), "b": fitted.b.tolist()},
        "thresholds": fitted.thresholds,
        "use": "p = sigmoid(a * sum_m weights[m] * (score_m - mean[m]) / std[m] + b) per class; label when p >= threshold",
    }
    if fitted.mixing is not None:
        blend["mixing"] = {"weight": fitted.mixing.weight.tolist(), "bias": fitted.mixing.bias.tolist(),
                           "C": fitted.mixing.c, "cv_log_loss": {str(c): v for c, v in fitted.mixing.cv_log_loss.items()}}
        blend["use"] = ("z = a * sum_m weights[m] * (score_m - mean[m]) / std[m] + b per class; "
                        "p = sigmoid(mixing.weight @ z + mixing.bias); label when p >= threshold")
    report = {
        "records": len(oof.ids), "folds": blend["folds"], "members": oof.members, "classes": classes,
        "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95, "over": "records; fitted blends held fixed"},
        "estimate": {"what": "nested: blend, calibration and thresholds fitted on the other folds' out-of-fold "
                             "scores, each fold scored; MCC, precision and recall at each fold's own thresholds",
                     **estimate, "specificity": _specificity(oof, pair, point, low, high, nested_odds),
                     "per_fold": details},
        "in_sample": {"what": "blend.json fitted on all out-of-fold scores and scored on them (optimistic)",
                      **in_sample, "specificity": _specificity(oof, pair, figures(oof.labels, in_odds, in_decided, pair),
                                                               None, None, in_odds)},
        "members_oof_auroc": members_auroc,
        "uninformative": uninformative,
    }
    return blend, report


def report_rows(report: dict) -> List[dict]:
    """Flat rows for the TSV: section, class, figure, value, low, high."""
    rows = []
    for section in ("estimate", "in_sample"):
        for name in [*report["classes"], "macro"]:
            for figure, item in report[section][name].items():
                if isinstance(item, dict):
                    rows.append({"section": section, "class": name, "figure": figure, **item})
                else:
                    rows.append({"section": section, "class": name, "figure": figure, "value": item})
        spec = report[section]["specificity"]
        for figure, item in (spec or {}).items():
            if isinstance(item, dict):
                rows.append({"section": f"{section}_specificity", "class": "-".join(PAIR), "figure": figure, **item})
    for member, table in report["members_oof_auroc"].items():
        for name, value in table.items():
            rows.append({"section": f"member:{member}", "class": name, "figure": "auroc", "value": value})
    return rows


def _plain(value):
    """JSON-ready: undefined figures (nan) become null, numpy numbers plain ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_outputs(report_dir: Path, blend: dict, report: dict) -> List[Path]:
    """blend.json, report.json and report.tsv in ``report_dir``, each atomically."""
    report_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(report_dir / BLEND_FILE, json.dumps(_plain(blend), indent=1, allow_nan=False) + "\n")
    atomic_write_text(report_dir / REPORT_JSON, json.dumps(_plain(report), indent=1, allow_nan=False) + "\n")
    with atomic_output(report_dir / REPORT_TSV) as handle:
        writer = csv.DictWriter(handle, ["section", "class", "figure", "value", "low", "high"], delimiter="\t",
                                lineterminator="\n", restval="")
        writer.writeheader()
        for row in report_rows(report):
            writer.writerow({key: (f"{value:.4f}" if isinstance(value, float) else value) for key, value in row.items()})
    return [report_dir / name for name in (BLEND_FILE, REPORT_JSON, REPORT_TSV)]
