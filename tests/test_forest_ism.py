"""Explain's numpy engine with an ensemble's forest member (training/forest.py): the companion
carries the trees, the numpy forward equals ONNX Runtime, and the numpy ISM (which walks only
the trees a substitution can move) equals brute force, fused and unfused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from rnaloc_infer import Predictor
from rnaloc_infer.alphabet import encode
from rnaloc_infer.coding import coding_feature_matrix
from rnaloc_infer.explain import brute_force, explain_codes
from rnaloc_infer.explain import numpy_ism
from rnaloc_infer.explain.numpy_model import (FOREST_FORMAT_VERSION, NumpyForest, NumpyModel, companion_path,
                                              forest_counts, forest_scores, load_companion)
from rnaloc_infer.explain.variants import substitutions, variant_features
from rnaloc_infer.export.ism_weights import MAX_DIFF, check_against_session, from_onnx, write_companion
from rnaloc_infer.export.onnx_export import export_onnx
from rnaloc_infer.training.forest import trees_from_sklearn

from conftest import random_seq
from test_forest import _sklearn, forest_ensemble

ROUNDING = 2e-6  # float32 rounding between numpy and ONNX Runtime (tests/test_numpy_engine.py)


@pytest.fixture(scope="module")
def trees():
    with threadpool_limits(limits=1):  # sklearn's OpenMP threads only contend on a small busy machine
        estimators, _ = _sklearn(4)
    return trees_from_sklearn(estimators)[0]


@pytest.fixture(scope="module", params=[True, False], ids=["fused", "unfused"])
def exported(request, trees, tmp_path_factory) -> Path:
    path = export_onnx(forest_ensemble(trees), tmp_path_factory.mktemp("forest") / "model.onnx", fuse=request.param)
    assert write_companion(path) == companion_path(path)
    return path


def _records():
    """An ORF, an N (and the N at the start), a record shorter than the widest k-mer."""
    rng = np.random.default_rng(3)
    seq = random_seq(rng, 70)
    return [seq[:8] + "ATGGCTCTGCTG" + seq[20:33] + "N" + seq[34:], "N" + random_seq(rng, 23), random_seq(rng, 4)]


def test_companion_carries_the_forest(exported, trees):
    model = load_companion(exported)
    assert model is not None and model.forest is not None and model.needs_features
    assert model.forest.ks == [1, 2, 3, 4, 5]
    for name, value in trees.to_arrays().items():
        np.testing.assert_array_equal(getattr(model.forest.trees, name), value, err_msg=name)
    with np.load(companion_path(exported), allow_pickle=False) as data:
        assert int(data["format_version"]) == FOREST_FORMAT_VERSION  # engines without the forest reject it
    again = NumpyModel.from_arrays(model.to_arrays())
    for name, value in model.forest.trees.to_arrays().items():
        np.testing.assert_array_equal(getattr(again.forest.trees, name), value, err_msg=name)
    assert check_against_session(from_onnx(exported), exported) <= MAX_DIFF


def test_numpy_forward_equals_onnx_runtime(exported):
    model = load_companion(exported)
    without = NumpyModel(model.networks, model.regression, model.bias, model.stride)
    sequences = _records() + ["A", "GATTACA" * 40]
    expected = Predictor(exported, device="cpu", threads=1, precision="fp32").predict(sequences)
    moved = 0.0
    for sequence, want in zip(sequences, expected):
        codes = encode(sequence)
        features = coding_feature_matrix([codes])[0]
        np.testing.assert_allclose(model.probs(codes, features), want, atol=1e-6, rtol=0)
        moved = max(moved, float(np.abs(without.probs(codes, features) - want).max()))
    assert moved > 1e-2  # the forest counts


def test_numpy_ism_equals_brute_force(exported):
    predictor = Predictor(exported, device="cpu", threads=1, precision="fp32")
    worst = 0.0
    for sequence in _records():
        explanation = explain_codes(predictor.session, encode(sequence), engine="numpy")
        assert explanation.engine == "numpy"
        expected = brute_force(predictor.predict, sequence)
        np.testing.assert_allclose(explanation.delta, expected, atol=ROUNDING, rtol=0)
        worst = max(worst, float(np.abs(explanation.delta - expected).max()))
        assert np.abs(expected).max() > 1e-3
    print(f"numpy ISM vs brute force: {worst:.2e}")


def test_forest_variants_equal_scoring_every_variant(trees, monkeypatch):
    """The forest part alone on longer records and small blocks, against each variant's own
    counts and features through every tree: walking only the trees a variant can move is exact."""
    model = NumpyModel([], None, np.zeros(6, np.float32), 4, NumpyForest([1, 2, 3, 4, 5], trees))
    monkeypatch.setattr(numpy_ism, "FOREST_ROWS", 37)  # blocks that split a position's variants
    rng = np.random.default_rng(8)
    moved = 0
    for codes in (encode("ACGTN" * 6 + "AAAAAAA"), encode(random_seq(rng, 180, "ACGTN"))):
        positions, bases = substitutions(codes)
        features = coding_feature_matrix([codes])
        var_features = variant_features(codes, positions, bases)
        reference = numpy_ism._forest_reference(model, codes, features)
        got = numpy_ism._forest_variants(model, reference, codes, positions, bases, var_features)
        expected = []
        for position, base, own in zip(positions, bases, var_features):
            variant = codes.copy()
            variant[position] = base
            expected.append(forest_scores(model.forest, forest_counts(model.forest, variant)[None], own[None])[0])
        expected = np.array(expected)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        np.testing.assert_allclose(reference.score[0], forest_scores(model.forest, forest_counts(model.forest, codes)[None],
                                                                     features)[0], atol=1e-6, rtol=0)
        moved += int((np.abs(expected - reference.score).max(axis=1) > 1e-4).sum())
    assert moved > 20  # variants that cross thresholds

