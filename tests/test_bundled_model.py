"""The shipped models (``default`` and ``fast``): load by name, carry their metadata, and
reproduce the eager-PyTorch probabilities recorded when they were exported
(`rnaloc-train release`, docs/MODEL_CARD.md)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import bundled_models, resolve_model

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("default", "fast")


def _expected(name: str) -> dict:
    return json.loads((ROOT / f"tests/data/{name}_model_expected.json").read_text())


@pytest.fixture(scope="module", params=NAMES)
def bundled(request):
    return request.param, Predictor(request.param, precision="fp32"), _expected(request.param)


def test_both_models_ship_and_default_needs_no_flag():
    assert set(NAMES) <= set(bundled_models())
    assert not [name for name in bundled_models() if "." in name]  # the fp16 / int8 twins are not models of their own
    assert Predictor().model_path == resolve_model("default")


def test_expectation_belongs_to_the_shipped_file(bundled):
    name, _, expected = bundled
    digest = hashlib.sha256(resolve_model(name).read_bytes()).hexdigest()
    assert digest == expected["onnx_sha256"], f"{name}.onnx changed: re-run `rnaloc-train release`"


def test_model_metadata(bundled):
    name, predictor, expected = bundled
    assert list(predictor.classes) == expected["classes"] == ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
    # a null threshold in the file (a class whose label carries no information, e.g. the
    # cross-fitted default's Exosome) is never reached: inf in the runtime
    want = [np.inf if t is None else t for t in expected["thresholds"]]
    np.testing.assert_allclose(predictor.thresholds, want, rtol=0, atol=1e-6)
    assert all(0.0 < t < 1.0 or t == np.inf for t in predictor.thresholds)
    assert sum(t == np.inf for t in predictor.thresholds) <= 1
    # the default's forest reads the UTRs' k-mers too; fast has no forest
    assert predictor.info.stride > 0 and predictor.info.features == {"default": "coding-utr-v1", "fast": "coding-v1"}[name]


def test_model_reproduces_eager_pytorch(bundled):
    _, predictor, expected = bundled
    got = {p.id: [p.probabilities[c] for c in predictor.classes] for p in predictor.predict_fasta(ROOT / expected["fasta"])}
    assert list(got) == list(expected["probabilities"])  # every record, input order
    for record_id, probs in expected["probabilities"].items():
        np.testing.assert_allclose(got[record_id], probs, rtol=0, atol=1e-5, err_msg=record_id)


def test_model_carries_applicability_rules_that_pass_its_examples(bundled):
    """Rules refitted from the train split (docs/MODEL_CARD.md, "Applicability"): the example
    mRNAs are in range; the issue's 1-nt, ten-N and peptide records are not."""
    name, predictor, _ = bundled
    rules = predictor.info.applicability
    assert rules is not None and rules.min_length == 186 and rules.max_length == 104_301
    assert all(p.applicability == () for p in predictor.predict_fasta(ROOT / "examples/example.fa"))
    from rnaloc_infer.alphabet import count_ambiguous, encode

    for seq in ("A", "N" * 10, "MKRSHWCDAVG"):
        assert rules.check(encode(seq), count_ambiguous(seq)), seq
