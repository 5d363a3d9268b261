"""The shipped default model: loads without flags, carries its metadata, and reproduces the
eager-PyTorch probabilities recorded when it was exported (tests/data/make_default_expectation.py)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import resolve_model

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = json.loads((ROOT / "tests/data/default_model_expected.json").read_text())


@pytest.fixture(scope="module")
def predictor():
    return Predictor()


def test_expectation_belongs_to_the_shipped_file():
    digest = hashlib.sha256(resolve_model("default").read_bytes()).hexdigest()
    assert digest == EXPECTED["onnx_sha256"], "default.onnx changed: re-run tests/data/make_default_expectation.py"


def test_default_model_metadata(predictor):
    info = predictor.info
    assert list(predictor.classes) == EXPECTED["classes"] == ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
    np.testing.assert_allclose(predictor.thresholds, EXPECTED["thresholds"], rtol=0, atol=1e-6)
    assert all(0.0 < t < 1.0 for t in predictor.thresholds)
    assert info.stride > 0


def test_default_model_reproduces_eager_pytorch(predictor):
    got = {p.id: [p.probabilities[c] for c in predictor.classes] for p in predictor.predict_fasta(ROOT / EXPECTED["fasta"])}
    assert list(got) == list(EXPECTED["probabilities"])  # every record, input order
    for record_id, probs in EXPECTED["probabilities"].items():
        np.testing.assert_allclose(got[record_id], probs, rtol=0, atol=1e-5, err_msg=record_id)
