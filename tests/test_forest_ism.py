"""Explain's numpy engine with an ensemble's forest member (training/forest.py), reading the
protein features (coding-v1) or those and the UTR k-mers (coding-utr-v1): the companion carries
the trees and their set, the numpy forward equals ONNX Runtime, and ISM (the numpy engine, which
walks only the trees a substitution can move, and the ONNX Runtime path) equals brute force,
fused and unfused, with and without a class-mixing map after the blend (applied last by every
engine; its companion takes format version 4, which older engines refuse)."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from rnaloc_infer import Predictor
from rnaloc_infer.alphabet import encode
from rnaloc_infer.features.coding import longest_orf
from rnaloc_infer.explain import brute_force, explain_codes
from rnaloc_infer.explain import numpy_ism
from rnaloc_infer.explain import numpy_model
from rnaloc_infer.explain.numpy_model import (FEATURE_SET_FORMAT_VERSION, FOREST_FORMAT_VERSION, MIXING_FORMAT_VERSION,
                                              ClassMixing, NumpyForest, NumpyModel, companion_path, forest_counts,
                                              forest_scores, load_companion)
from rnaloc_infer.features.variants import moves_orf_signals, substitutions
from rnaloc_infer.export.ism_weights import MAX_DIFF, check_against_session, from_onnx, write_companion
from rnaloc_infer.export.onnx_export import export_onnx
from rnaloc_infer.features.registry import CODING, CODING_UTR, record_feature_matrix, variant_features
from rnaloc_infer.training.forest import fit_forest, forest_inputs, trees_from_sklearn
from rnaloc_infer.trees import TreeEnsemble

from conftest import CLASSES, random_seq
from test_forest import _labels, _records as _train_records, _sklearn, forest_ensemble, mixed

ROUNDING = 2e-6  # float32 rounding between numpy and ONNX Runtime (tests/test_numpy_engine.py)
FORMATS = {CODING: FOREST_FORMAT_VERSION, CODING_UTR: FEATURE_SET_FORMAT_VERSION}


@dataclass
class Forest:
    trees: TreeEnsemble
    features: str  # the set it reads after the k-mer frequencies


@pytest.fixture(scope="module", params=[CODING, CODING_UTR], ids=["coding", "coding-utr"])
def forest(request) -> Forest:
    """Trees on the protein features (sklearn's, some classes padded), or on those and the UTR
    k-mers (fitted as ``rnaloc-train forest`` does; they split on UTR columns)."""
    with threadpool_limits(limits=1):  # sklearn's OpenMP threads only contend on a small busy machine
        if request.param == CODING:
            return Forest(trees_from_sklearn(_sklearn(4)[0])[0], CODING)
        x = forest_inputs(_train_records(), features=CODING_UTR)
        fitted = fit_forest(x, _labels(x), CLASSES, features=CODING_UTR,
                            settings=dict(max_iter=6, early_stopping=False, min_samples_leaf=10))
    return Forest(fitted.trees, CODING_UTR)


@pytest.fixture(scope="module", params=[(True, False), (False, False), (True, True), (False, True)],
                ids=["fused", "unfused", "fused-mixed", "unfused-mixed"])
def exported(request, forest, tmp_path_factory) -> Path:
    fuse, mixing = request.param
    model = forest_ensemble(forest.trees, features=forest.features)
    if mixing:
        model = mixed(model)
    path = export_onnx(model, tmp_path_factory.mktemp("forest") / "model.onnx", fuse=fuse)
    assert write_companion(path) == companion_path(path)
    return path


def _graph_mixing(path: Path):
    """The class-mixing map's (matrix, bias) as the graph stores them, or None."""
    import onnx
    from onnx import numpy_helper

    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer if "mixings" in i.name}
    return (stored["model.mixings.0.matrix"], stored["model.mixings.0.bias"]) if stored else None


def _orf_record(rng: np.random.Generator, utr5: int, codons: int, utr3: int) -> str:
    """A 5' UTR, ATG, ``codons`` random sense codons and TAA, a 3' UTR: variants break the ATG
    or the stop, or make stops inside the ORF."""
    sense = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]
    return random_seq(rng, utr5) + "ATG" + "".join(rng.choice(sense, codons)) + "TAA" + random_seq(rng, utr3)


def _records():
    """An ORF, an N (and the N at the start), a record shorter than the widest k-mer; an ORF
    with both UTRs and an N in each and in the ORF; no ORF (all 5' UTR), one stop short of one."""
    rng = np.random.default_rng(3)
    seq = random_seq(rng, 70)
    both = _orf_record(rng, 24, 22, 40)
    both = both[:9] + "N" + both[10:40] + "N" + both[41:120] + "N" + both[121:]
    short = _orf_record(rng, 12, 18, 0) + random_seq(rng, 20)  # 19 codons: breaking its stop makes an ORF
    return [seq[:8] + "ATGGCTCTGCTG" + seq[20:33] + "N" + seq[34:], "N" + random_seq(rng, 23), random_seq(rng, 4), both,
            short[:40] + "N" + short[41:]]


def test_records_cover_the_utr_cases():
    both, short = (encode(s) for s in _records()[3:])
    assert longest_orf(both) == (24, 23) and longest_orf(short)[1] < 20
    positions, bases = substitutions(short)
    moved = moves_orf_signals(short, positions, bases)
    made = [longest_orf(np.where(np.arange(len(short)) == p, b, short))[1] >= 20 for p, b in zip(positions[moved], bases[moved])]
    assert any(made)  # a variant that makes an ORF where there was none


def test_companion_carries_the_forest(exported, forest):
    model = load_companion(exported)
    assert model is not None and model.forest is not None and model.needs_features
    assert model.forest.ks == [1, 2, 3, 4, 5] and model.forest.features == forest.features
    for name, value in forest.trees.to_arrays().items():
        np.testing.assert_array_equal(getattr(model.forest.trees, name), value, err_msg=name)
    mixing = _graph_mixing(exported)
    with np.load(companion_path(exported), allow_pickle=False) as data:
        # engines without the forest (or without the set, or the map) reject it; coding-v1 keeps
        # version 2's bytes, and a companion without a map keeps its version and keys
        assert int(data["format_version"]) == (FORMATS[forest.features] if mixing is None else MIXING_FORMAT_VERSION)
        assert ("forest.features" in data.files) == (forest.features != CODING)
        assert ("mixing.matrix" in data.files) == ("mixing.bias" in data.files) == (mixing is not None)
    if mixing is not None:  # the graph's map, bit for bit, and through the arrays
        for got in (model.mixing, NumpyModel.from_arrays(model.to_arrays()).mixing):
            np.testing.assert_array_equal(got.matrix, mixing[0])
            np.testing.assert_array_equal(got.bias, mixing[1])
    else:
        assert model.mixing is None
    again = NumpyModel.from_arrays(model.to_arrays())
    assert again.forest.features == forest.features
    for name, value in model.forest.trees.to_arrays().items():
        np.testing.assert_array_equal(getattr(again.forest.trees, name), value, err_msg=name)
    assert check_against_session(from_onnx(exported), exported) <= MAX_DIFF


def test_companion_with_an_unknown_feature_set_falls_back(exported, tmp_path):
    """A forest reading a set this version lacks is not fed wrong columns: the ONNX path instead."""
    path = tmp_path / "model.onnx"
    shutil.copyfile(exported, path)
    with np.load(companion_path(exported), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["forest.features"] = np.array("coding-utr-v9")
    np.savez(companion_path(path), **arrays)
    assert load_companion(path) is None  # logged; explain takes the ONNX path
    predictor = Predictor(path, device="cpu", threads=1, precision="fp32")
    assert explain_codes(predictor.session, encode("ACGTTGCA")).engine == "onnx"


def test_mixed_companion_is_refused_by_older_engines(exported, monkeypatch, tmp_path):
    """An engine that predates the map (its format versions end at 3) takes the ONNX path rather
    than give unmixed probabilities; a graph whose hparams do not declare its map gets no companion."""
    monkeypatch.setattr(numpy_model, "FORMAT_VERSIONS", (1, FOREST_FORMAT_VERSION, FEATURE_SET_FORMAT_VERSION))
    assert (load_companion(exported) is None) == (_graph_mixing(exported) is not None)
    if _graph_mixing(exported) is None:
        return
    import json

    from rnaloc_infer.export.from_onnx import model_from_onnx
    from rnaloc_infer.export.metadata import rewrite_onnx_metadata
    from rnaloc_infer.modelfile.metadata import read_metadata

    path = tmp_path / "undeclared.onnx"
    shutil.copyfile(exported, path)
    hparams = json.loads(read_metadata(path)["rnaloc.hparams"])
    del hparams["class_mixing"]
    rewrite_onnx_metadata(path, {"rnaloc.hparams": json.dumps(hparams)})
    with pytest.raises(ValueError, match="class-mixing map its hparams do not declare"):
        from_onnx(path)
    with pytest.raises(ValueError, match="class-mixing map .* its hparams do not declare"):
        model_from_onnx(path)
    assert write_companion(path) is None


def test_numpy_forward_equals_onnx_runtime(exported, forest):
    model = load_companion(exported)
    without = NumpyModel(model.networks, model.regression, model.bias, model.stride, mixing=model.mixing)
    variants = {}  # with a map: the same model without it, or with it transposed, scores differently
    if model.mixing is not None:
        variants = {"unmixed": dataclasses.replace(model, mixing=None),
                    "transposed": dataclasses.replace(model, mixing=ClassMixing(model.mixing.matrix.T, model.mixing.bias))}
    sequences = _records() + ["A", "GATTACA" * 40]
    expected = Predictor(exported, device="cpu", threads=1, precision="fp32").predict(sequences)
    moved = 0.0
    off = dict.fromkeys(variants, 0.0)
    for sequence, want in zip(sequences, expected):
        codes = encode(sequence)
        features = record_feature_matrix([codes], forest.features)[0]
        np.testing.assert_allclose(model.probs(codes, features), want, atol=1e-6, rtol=0)
        moved = max(moved, float(np.abs(without.probs(codes, features) - want).max()))
        for name, other in variants.items():
            off[name] = max(off[name], float(np.abs(other.probs(codes, features) - want).max()))
    assert moved > 1e-2  # the forest counts
    assert all(value > 1e-2 for value in off.values()), off  # the map counts, the right way round


@pytest.mark.parametrize("engine", ["numpy", "onnx"])
def test_ism_equals_brute_force(exported, engine):
    """Both engines: the numpy one (the companion) and the generic ONNX Runtime path."""
    predictor = Predictor(exported, device="cpu", threads=1, precision="fp32")
    worst = 0.0
    for sequence in _records():
        explanation = explain_codes(predictor.session, encode(sequence), engine=engine)
        assert explanation.engine == engine
        expected = brute_force(predictor.predict, sequence)
        np.testing.assert_allclose(explanation.delta, expected, atol=ROUNDING, rtol=0)
        worst = max(worst, float(np.abs(explanation.delta - expected).max()))
        assert np.abs(expected).max() > 1e-3
    print(f"{engine} ISM vs brute force: {worst:.2e}")


def test_forest_variants_equal_scoring_every_variant(forest, monkeypatch):
    """The forest part alone on longer records and small blocks, against each variant's own
    counts and features through every tree: walking only the trees a variant can move is exact.
    With the UTR k-mers, some variants move the scores through those columns alone."""
    model = NumpyModel([], None, np.zeros(6, np.float32), 4, NumpyForest([1, 2, 3, 4, 5], forest.trees, forest.features))
    monkeypatch.setattr(numpy_ism, "FOREST_ROWS", 37)  # blocks that split a position's variants
    monkeypatch.setattr(numpy_ism, "DENSE_COLUMNS", 40)  # some rows take the every-tree walk, most not
    rng = np.random.default_rng(8)
    records = [encode("ACGTN" * 6 + "AAAAAAA"), encode(random_seq(rng, 180, "ACGTN"))] + [encode(s) for s in _records()[3:]]
    moved = through_utrs = 0
    worst = 0.0
    for codes in records:
        positions, bases = substitutions(codes)
        features = record_feature_matrix([codes], forest.features)
        var_features = variant_features(codes, positions, bases, forest.features)
        reference = numpy_ism._forest_reference(model, codes, features)
        got = numpy_ism._forest_variants(model, reference, codes, positions, bases, var_features)
        expected, frozen = [], []
        for position, base in zip(positions, bases):
            variant = codes.copy()
            variant[position] = base
            counts = forest_counts(model.forest, variant)[None]
            own = record_feature_matrix([variant], forest.features)
            expected.append(forest_scores(model.forest, counts, own)[0])
            own[:, 91:] = features[:, 91:]  # the record's UTR columns (none for coding-v1)
            frozen.append(forest_scores(model.forest, counts, own)[0])
        expected = np.array(expected)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        np.testing.assert_allclose(reference.score[0], forest_scores(model.forest, forest_counts(model.forest, codes)[None],
                                                                     features)[0], atol=1e-6, rtol=0)
        worst = max(worst, float(np.abs(got - expected).max()))
        moved += int((np.abs(expected - reference.score).max(axis=1) > 1e-4).sum())
        through_utrs += int((np.abs(expected - np.array(frozen)).max(axis=1) > 1e-4).sum())
    print(f"forest variants vs every tree ({forest.features}): {worst:.2e}")
    assert moved > 20  # variants that cross thresholds
    assert (through_utrs > 10) == (forest.features == CODING_UTR)
