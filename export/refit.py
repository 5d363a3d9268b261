"""Refit an exported model's decision thresholds, applicability rules and (given the training
labels) class prevalence, in its metadata only.

Why a separate step: both come from data (thresholds from the validation split's
probabilities, rules from the training FASTA), and for a model whose checkpoint is not at
hand (the bundled ones) re-exporting is impossible. The probabilities come from the ONNX
file itself through the runtime, so the thresholds fit exactly what users run; the graph
is left byte for byte (``metadata.rewrite_onnx_metadata`` checks it). Re-runnable: the
result depends only on the graph and the data, not on the metadata it replaces.

Command: ``rnaloc-train refit-metadata MODEL`` (docs/MODEL_CARD.md, "Thresholds").
``--no-label CLASS`` writes JSON null as CLASS's threshold: the runtime never labels it (a
class positive for almost every training record, whose label carries no information).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from rnaloc_infer.applicability import METADATA_KEY, derive_rules, flag_text
from rnaloc_infer.evaluation import metrics
from rnaloc_infer.evaluation.labels import match_labels, read_labels
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.profile import METADATA_KEY as PREVALENCE_KEY
from rnaloc_infer.profile import prevalence_from_labels
from rnaloc_infer.modelfile.digest import file_sha256
from rnaloc_infer.modelfile.metadata import (FP32_SHA256_KEY, NO_LABEL, MetadataError, read_metadata,
                                             threshold_json)
from rnaloc_infer.session import twin_file

from .metadata import rewrite_onnx_metadata
from .quantize import file_scores


def _recorded_fp32_sha256(twin: Path) -> str:
    """The fp32 digest an int8 twin records; "" for a file that is not a readable ONNX model."""
    try:
        return read_metadata(twin).get(FP32_SHA256_KEY, "")
    except (MetadataError, OSError):
        return ""


def class_report(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], thresholds: Sequence[float]) -> List[Dict]:
    """Per class: threshold, precision, recall, F1, MCC, and positives left unlabelled."""
    rows = []
    for c, name in enumerate(classes):
        pred = probs[:, c] >= thresholds[c]
        truth = y[:, c] > 0.5
        tp = int(np.sum(pred & truth))
        fp = int(np.sum(pred & ~truth))
        fn = int(np.sum(~pred & truth))
        rows.append({
            "class": name, "threshold": None if thresholds[c] == NO_LABEL else round(float(thresholds[c]), 4),
            "positives": int(truth.sum()),
            "negatives": int((~truth).sum()),
            "rule": "mcc" if min(truth.sum(), (~truth).sum()) >= metrics.MIN_SIDE_FOR_MCC else "prevalence",
            "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4),
            "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
            "mcc": round(metrics.mcc(truth.astype(np.float64), probs[:, c], thresholds[c]), 4),
            "unlabelled_positives": fn,
        })
    return rows


def no_label_thresholds(thresholds: Sequence[float], classes: Sequence[str], no_label: Sequence[str]) -> List[float]:
    """``thresholds`` with NO_LABEL (written as JSON null) for the classes named in ``no_label``;
    ValueError for a name the model lacks or when no class would keep a label."""
    unknown = [name for name in no_label if name not in classes]
    if unknown:
        raise ValueError(f"--no-label {', '.join(unknown)}: not a class of this model ({', '.join(classes)})")
    out = [NO_LABEL if name in no_label else float(t) for name, t in zip(classes, thresholds)]
    if all(t == NO_LABEL for t in out):
        raise ValueError("--no-label names every class; at least one class needs a threshold")
    return out


def refit_metadata(model: Path, valid_fasta: Path, valid_labels: Path, train_fasta: Path,
                   siblings: Sequence[Path] = (), write: bool = True, train_labels: Optional[Path] = None,
                   no_label: Sequence[str] = (), thresholds: Optional[Sequence[float]] = None,
                   extra: Optional[Mapping[str, str]] = None) -> Dict:
    """Fit thresholds on ``model``'s valid probabilities and rules on ``train_fasta`` (and, given
    ``train_labels``, the classes' training prevalence for rnaloc_infer.profile); write them
    into ``model`` and ``siblings`` (e.g. its fp16 file) unless ``write`` is False, and into
    ``model``'s int8 twin, re-tied to the rewritten file (its graph is unchanged, only the
    file's bytes are: export/quantize.py). ``no_label``: classes that get no threshold (JSON
    null): never labelled (docs/MODEL_CARD.md, "Thresholds"). ``thresholds``: keep these
    (NO_LABEL: never labelled) instead of fitting them on valid, for a model whose thresholds
    were fitted out of fold (``crossfit-refit``); the report's valid figures are then only a
    description, not what fitted them. ``extra``: further metadata keys written with them.
    Returns a report."""
    named = json.loads(read_metadata(model).get("rnaloc.classes", "[]"))
    no_label_thresholds([0.5] * len(named), named, no_label)  # a bad name fails before any work
    ids, probs, classes = file_scores(model, valid_fasta)
    classes = list(classes)
    y = match_labels(ids, read_labels(valid_labels, classes), pred_source=str(valid_fasta), label_source=str(valid_labels))
    if thresholds is not None and len(thresholds) != len(classes):
        raise ValueError(f"{len(thresholds)} thresholds given for the {len(classes)} classes of {model}")
    fitted_on = "valid" if thresholds is None else "given (not fitted here)"
    thresholds = no_label_thresholds(metrics.tune_thresholds(y, probs) if thresholds is None else thresholds,
                                     classes, no_label)
    rules, stats = derive_rules([train_fasta])
    flagged: Dict[str, int] = {}
    for item in read_fasta(valid_fasta, warn_duplicates=False):
        if isinstance(item, Record):
            text = flag_text(rules.check(item.codes, item.ambiguous))
            flagged[text] = flagged.get(text, 0) + 1
    updates = {"rnaloc.thresholds": json.dumps([threshold_json(t) for t in thresholds]), METADATA_KEY: rules.to_json(),
               **(extra or {})}
    prevalence = None
    if train_labels is not None:
        prevalence = prevalence_from_labels(read_labels(train_labels, classes).y)
        updates[PREVALENCE_KEY] = json.dumps(prevalence)
    written: List[str] = []
    if write:
        twin = twin_file(model, "int8")
        tied = twin is not None and _recorded_fp32_sha256(twin) == file_sha256(model)
        for path in [model, *siblings]:
            rewrite_onnx_metadata(path, updates)
            written.append(str(path))
        if tied:
            rewrite_onnx_metadata(twin, {**updates, FP32_SHA256_KEY: file_sha256(model)})
            written.append(str(twin))
    without_label = int(np.sum(~np.any(probs >= np.asarray(thresholds), axis=1)))
    return {
        "model": str(model), "written": written, "thresholds_fitted_on": fitted_on, "valid_records": len(ids),
        "records_without_label": without_label,
        "classes": class_report(y, probs, classes, thresholds), "unlabelled_classes": list(no_label),
        "applicability": json.loads(rules.to_json()), "train_stats": stats.__dict__, "prevalence": prevalence,
        "valid_applicability": flagged,
    }


