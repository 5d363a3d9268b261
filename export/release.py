"""Ship a checkpoint as a bundled model: the files and the evidence the tests check.

Why one place: a release is several steps that must agree (docs/MODEL_CARD.md, "Release"):
the ONNX files in the package (fp32 and fp16), their thresholds and applicability rules
refitted in the metadata (:mod:`rnaloc_infer.export.refit`, from the fp32 file's own valid
probabilities and the train split), the eager-PyTorch probabilities that
tests/test_bundled_model.py checks the shipped fp32 file against (tied to it by its sha256,
with the thresholds it ships), and the model card's evaluation on valid
(``rnaloc-train release`` runs that last step through the runtime, as users run the model).
Done by hand, a re-export without a new expectation, or an expectation from another
checkpoint, is easy to miss.

A checkpoint of ``rnaloc-train crossfit-refit`` (members refit on train + valid, blend fitted
out of fold) is shipped without fitting anything on valid: its thresholds are ``blend.json``'s,
only the applicability rules and prevalence come from train, and ``rnaloc.fitting`` records
where each part was fitted.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from rnaloc_infer.bundled import twin_path
from rnaloc_infer.fasta import RecordError, read_file
from rnaloc_infer.output.files import atomic_write_text
from rnaloc_infer.modelfile.digest import file_sha256
from rnaloc_infer.modelfile.metadata import NO_LABEL, read_metadata
from rnaloc_infer.training.checkpoint import load_checkpoint
from rnaloc_infer.training.models import StreamingModel

from .ism_weights import write_companion
from .onnx_export import checkpoint_metadata, export_onnx
from .quantize import quantise_checked
from .refit import refit_metadata

log = logging.getLogger(__name__)

EXPECTATION_ATOL = 1e-5
FITTING_KEY = "rnaloc.fitting"  # where a cross-fitted release's parts were fitted (docs/DESIGN.md)  # tests/test_bundled_model.py: shipped fp32 file vs eager PyTorch


@dataclass
class ReleasedFiles:
    onnx: Path
    onnx_fp16: Path
    expectation: Path
    refit_report: dict  # thresholds and rules written into both files (export.refit)


def eager_probabilities(model: StreamingModel, fasta: Path) -> Dict[str, List[float]]:
    """Sigmoid probabilities of every record of ``fasta`` from the PyTorch model, in file order."""
    expected: Dict[str, List[float]] = {}
    with torch.no_grad():
        for record in read_file(fasta):
            if isinstance(record, RecordError):
                raise ValueError(record.message)
            tokens = torch.from_numpy(record.codes.copy())[None]
            probs = torch.sigmoid(model.predict_logits(tokens, torch.tensor([record.length])))[0]
            expected[record.id] = [round(float(p), 7) for p in probs]
    return expected


def write_expectation(model: StreamingModel, onnx_path: Path, fasta: Path, out: Path, root: Path) -> Path:
    """The JSON tests/test_bundled_model.py reads: eager probabilities, and the digest and
    thresholds of the file as shipped; ``fasta`` is stored relative to ``root``."""
    metadata = read_metadata(onnx_path)
    result = {
        "onnx_sha256": file_sha256(onnx_path),
        "classes": list(model.config.classes),
        "thresholds": json.loads(metadata["rnaloc.thresholds"]),
        "fasta": Path(os.path.relpath(fasta.resolve(), root.resolve())).as_posix(),
        "probabilities": eager_probabilities(model, fasta),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    return out


def check_against_runtime(onnx_path: Path, expectation: Path, root: Path) -> float:
    """Largest difference between the runtime's probabilities and the expectation; raises when
    it exceeds what the bundled-model test allows (the release would fail CI)."""
    from rnaloc_infer.api import Predictor

    expected = json.loads(expectation.read_text())
    predictor = Predictor(onnx_path, device="cpu", threads=1, precision="fp32")
    got = {p.id: [p.probabilities[c] for c in predictor.classes] for p in predictor.predict_fasta(root / expected["fasta"])}
    diff = max(float(np.abs(np.subtract(got[i], probs)).max()) for i, probs in expected["probabilities"].items())
    if diff > EXPECTATION_ATOL:
        raise ValueError(f"{onnx_path}: runtime differs from eager PyTorch by {diff:.2g} (> {EXPECTATION_ATOL})")
    return diff


def crossfit_fitting(payload: dict) -> Tuple[Optional[List[float]], Optional[dict]]:
    """(thresholds, fitting) of a checkpoint written by ``crossfit-refit``: blend.json's
    thresholds (None -> NO_LABEL: never labelled) and what was fitted where (the value of
    ``rnaloc.fitting``); (None, None) for any other checkpoint, whose thresholds are refit on
    valid as before."""
    crossfit = (payload.get("extra") or {}).get("crossfit")
    if not crossfit:
        return None, None
    thresholds = [NO_LABEL if t is None else float(t) for t in crossfit["thresholds"]]
    fitting = {**crossfit["fitting"], "folds": crossfit.get("folds"), "records": crossfit.get("records"),
               "blend_sha256": crossfit.get("blend_sha256"), "uninformative": sorted(crossfit.get("uninformative", {}))}
    return thresholds, fitting


def release(checkpoint: Path, name: str, *, models_dir: Path, expectation: Path, fasta: Path, root: Path,
            train_fasta: Path, valid_fasta: Path, valid_labels: Path, fuse: bool = True, int8: bool = True,
            train_labels: Optional[Path] = None, no_label: Sequence[str] = ()) -> ReleasedFiles:
    """Export ``checkpoint`` as ``models_dir/NAME.onnx`` and ``NAME.fp16.onnx``, refit both files'
    thresholds (on ``valid_*``), applicability rules (on ``train_fasta``) and class prevalence
    (on ``train_labels``, when given), record the eager
    expectation for ``fasta`` and check the fp32 file against it through the runtime. ``fuse``:
    as :func:`rnaloc_infer.export.onnx_export.export_onnx`'s (the expectation stays the eager
    PyTorch model's, so the check covers the fused graph). ``int8``: also write the CPU's int8
    twin where it stays within its bounds (:func:`rnaloc_infer.export.quantize.quantise_checked`,
    report under ``"int8"``); either way no twin of the replaced file is left behind.
    ``no_label``: classes shipped without a threshold (JSON null: never labelled), as
    ``refit-metadata --no-label``. A checkpoint of ``crossfit-refit`` keeps its out-of-fold
    thresholds (nothing is fitted on valid) and its files record ``rnaloc.fitting``
    (:func:`crossfit_fitting`)."""
    model, payload = load_checkpoint(checkpoint)
    meta = checkpoint_metadata(payload)
    thresholds, fitting = crossfit_fitting(payload)
    fp32 = export_onnx(model, models_dir / f"{name}.onnx", fuse=fuse, **meta)
    fp16 = export_onnx(model, models_dir / f"{name}.fp16.onnx", precision="fp16", fuse=fuse, **meta)
    report = refit_metadata(fp32, valid_fasta, valid_labels, train_fasta, [fp16], train_labels=train_labels,
                            no_label=no_label, thresholds=thresholds,
                            extra=None if fitting is None else {FITTING_KEY: json.dumps(fitting)})
    if fitting is not None:
        report["fitting"] = fitting
    write_companion(fp32)  # after the refit: the companion carries the final file's digest
    write_expectation(model, fp32, fasta, expectation, root)
    diff = check_against_runtime(fp32, expectation, root)
    log.info("%s: runtime equals eager PyTorch within %.2g on %s", fp32, diff, fasta)
    if int8:
        report["int8"] = quantise_checked(fp32, train_fasta, valid_fasta, valid_labels)
    else:
        twin_path(fp32, "int8").unlink(missing_ok=True)  # one made from the file just replaced
    return ReleasedFiles(fp32, fp16, expectation, report)
