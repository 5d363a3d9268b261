"""Explain's numpy engine (QRNN structure): equals ONNX Runtime and brute force; falls back cleanly.

The engine needs a model's companion weights (``<model>.ism.npz``); the QRNN fixtures
(``qrnn``: patch front end, two layers; ``ensemble``: motif front end, one layer per network,
k-mer regression and coding features) and the bundled models ship one. Other models, and
models whose companion is missing, stale or damaged, go through the ONNX Runtime path.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer import Predictor
from rnaloc_infer.alphabet import encode
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.explain import brute_force, explain_codes
from rnaloc_infer.explain.numpy_model import companion_path, load_companion

from conftest import FIXTURES, random_seq, rewrite_model

TOLERANCE = 1e-4  # the bound on every entry
ROUNDING = 2e-6  # what float32 rounding between numpy and ONNX Runtime may leave


def _model_path(name: str) -> Path:
    return FIXTURES / f"{name}.onnx" if name in ("qrnn", "ensemble") else Path(resolve_model(name))


def _sequence(rng: np.random.Generator, length: int) -> str:
    """Random bases with an N and an ORF start, so the N column and the coding features are exercised."""
    sequence = random_seq(rng, length)
    return sequence[:10] + "ATG" + sequence[13:40] + "N" + sequence[41:]


@pytest.mark.parametrize("name", ["qrnn", "ensemble", "default", "fast"])
def test_numpy_forward_equals_onnx_runtime(name):
    path = _model_path(name)
    model = load_companion(path)
    assert model is not None
    predictor = Predictor(path, device="cpu", threads=1, precision="fp32")
    rng = np.random.default_rng(1)
    sequences = [random_seq(rng, 1), random_seq(rng, 13), _sequence(rng, 203), _sequence(rng, 700)]
    expected = predictor.predict(sequences)
    for sequence, want in zip(sequences, expected):
        codes = encode(sequence)
        features = predictor.session.record_features([codes])[0] if model.needs_features else None  # the model's set
        np.testing.assert_allclose(model.probs(codes, features), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["qrnn", "ensemble"])
def test_numpy_engine_equals_brute_force_everywhere(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    shutil.copyfile(_model_path(name), path)
    shutil.copyfile(companion_path(_model_path(name)), companion_path(path))
    predictor = Predictor(path, device="cpu", threads=1, precision="fp32")
    sequence = _sequence(np.random.default_rng(2), 157)  # not a multiple of the stride: a partial last step
    explanation = explain_codes(predictor.session, encode(sequence), engine="numpy", workers=2)
    expected = brute_force(predictor.predict, sequence)
    # float32 rounding, far inside the bound (the tiny qrnn's effects are below 1e-4)
    np.testing.assert_allclose(explanation.delta, expected, atol=ROUNDING, rtol=0)
    assert np.abs(expected).max() > 30 * ROUNDING  # not a comparison between zeros
    assert np.abs(explanation.delta[40]).sum(axis=1).min() > 0  # the N gets all four substitutions


def test_numpy_engine_on_records_shorter_than_its_window(tmp_path):
    """1-9 nt: the start-up window runs past the record's end; nothing is left for the tail."""
    predictor = Predictor(FIXTURES / "ensemble.onnx", device="cpu", threads=1)
    rng = np.random.default_rng(6)
    for length in (1, 2, 5, 9):
        sequence = random_seq(rng, length)
        delta = explain_codes(predictor.session, encode(sequence), engine="numpy").delta
        np.testing.assert_allclose(delta, brute_force(predictor.predict, sequence), atol=ROUNDING, rtol=0)


@pytest.mark.parametrize("name", ["default", "fast"])
def test_bundled_numpy_engine_equals_onnx_path(name):
    """The two engines on a whole random record (the brute-force check on a real mRNA is in test_explain.py)."""
    predictor = Predictor(name, device="cpu", threads=1, precision="fp32")
    codes = encode(_sequence(np.random.default_rng(4), 230))
    fast = explain_codes(predictor.session, codes)
    slow = explain_codes(predictor.session, codes, engine="onnx")
    assert fast.engine == "numpy" and slow.engine == "onnx"
    np.testing.assert_allclose(fast.delta, slow.delta, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(fast.reference, slow.reference, atol=1e-5, rtol=0)
    assert fast.variant_nt < slow.variant_nt


def test_unsupported_model_uses_onnx_path(tcn_model):
    predictor = Predictor(tcn_model, device="cpu")
    assert explain_codes(predictor.session, encode("ACGTACGTAC")).engine == "onnx"
    with pytest.raises(ValueError, match="no valid numpy companion"):
        explain_codes(predictor.session, encode("ACGTACGTAC"), engine="numpy")


def test_stale_or_damaged_companion_falls_back(tmp_path, caplog):
    source = FIXTURES / "ensemble.onnx"
    stale = rewrite_model(source, tmp_path / "stale.onnx", set_props={"rnaloc.package_version": "9.9.9"})
    shutil.copyfile(companion_path(source), companion_path(stale))  # the companion of other bytes
    damaged = tmp_path / "damaged.onnx"
    shutil.copyfile(source, damaged)
    companion_path(damaged).write_bytes(b"not an npz")
    sequence = _sequence(np.random.default_rng(5), 60)
    for path, reason in ((stale, "stale"), (damaged, "unreadable")):
        predictor = Predictor(path, device="cpu")
        with caplog.at_level(logging.INFO, logger="rnaloc_infer.explain.numpy_model"):
            explanation = explain_codes(predictor.session, encode(sequence))
        assert explanation.engine == "onnx"
        assert reason in caplog.text
        expected = brute_force(predictor.predict, sequence, range(0, 60, 7))
        np.testing.assert_allclose(explanation.delta[::7], expected[::7], atol=TOLERANCE, rtol=0)


def test_companion_writer(tmp_path):
    pytest.importorskip("onnx")
    from rnaloc_infer.export.ism_weights import write_companion

    for kind in ("ensemble", "tcn"):
        shutil.copyfile(FIXTURES / f"{kind}.onnx", tmp_path / f"{kind}.onnx")
    written = write_companion(tmp_path / "ensemble.onnx")
    assert written == companion_path(tmp_path / "ensemble.onnx") and load_companion(tmp_path / "ensemble.onnx") is not None
    assert write_companion(tmp_path / "tcn.onnx") is None and not companion_path(tmp_path / "tcn.onnx").exists()


def test_converged_variants_take_the_reference_tail(monkeypatch):
    """The default's member network forgets: its variants stop early, and nothing changes
    beyond float32 rounding against running every variant to the end."""
    import rnaloc_infer.explain.numpy_ism as numpy_ism

    predictor = Predictor("default", device="cpu", threads=1, precision="fp32")
    codes = encode(_sequence(np.random.default_rng(7), 900))
    early = explain_codes(predictor.session, codes, engine="numpy")
    monkeypatch.setattr(numpy_ism, "STATE_TOLERANCE", -1.0)  # never converged
    full = explain_codes(predictor.session, codes, engine="numpy")
    assert early.variant_nt < 0.8 * full.variant_nt
    np.testing.assert_allclose(early.delta, full.delta, atol=ROUNDING, rtol=0)


def test_numpy_engine_needs_neither_onnx_nor_torch():
    """The lean install has neither: the engine must run from the companion file alone."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['onnx'] = None; sys.modules['torch'] = None\n"
            "from rnaloc_infer import Predictor\nfrom rnaloc_infer.alphabet import encode\n"
            "from rnaloc_infer.explain import explain_codes\n"
            "print(explain_codes(Predictor('fast', device='cpu', precision='fp32').session, encode('ACGTTGCA' * 9)).engine)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"
