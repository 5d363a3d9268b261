"""The forest member (training/forest.py, rnaloc_infer/trees.py): sklearn's trees as arrays give
sklearn's scores, in numpy and in the graph (eager, TorchScript, ONNX one-shot and chunked,
fp16, rebuilt from ONNX), and an ensemble with a forest is built, saved and loaded; with a
class-mixing map after the blend too (training/ensemble_model.py ``ClassMixing``)."""

from __future__ import annotations

import dataclasses
from typing import List

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from rnaloc_infer.alphabet import encode
from rnaloc_infer.api import Predictor
from rnaloc_infer.features.registry import CODING, CODING_UTR, record_feature_matrix
from rnaloc_infer.export.from_onnx import model_from_onnx
from rnaloc_infer.export.onnx_export import export_onnx
from rnaloc_infer.export.tree_node import forest_from_graph
from rnaloc_infer.export.torchscript_export import script_model
from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel
from rnaloc_infer.training.forest import (SETTINGS, FittedForest, ForestRecipe, fit_forest, forest_inputs, load_forest,
                                         trees_from_sklearn)
from rnaloc_infer.training.fused_ensemble import FusedEnsembleModel, fuse_members
from rnaloc_infer.training.regression import feature_matrix
from rnaloc_infer.trees import TreeEnsemble, frequencies_from_counts

from conftest import CLASSES, random_seq
from test_fused_ensemble import _network, _random_ensemble

# a signal-peptide-like ORF, N, a 1-nt record, one long enough to be chunked
TEXTS = ["CCATGGCTCTGCTGCTGTTTATTGCTGGA" * 9 + "TAAGG", "ACGTN" * 30, "A", "GATTACA" * 300]


def _records(n: int = 240, seed: int = 0) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [encode(random_seq(rng, int(rng.integers(30, 500)), "ACGT" if i % 7 else "ACGTN")) for i in range(n)]


def _labels(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels that depend on a few feature columns (so the trees split on them), both values per class."""
    rng = np.random.default_rng(seed)
    columns = [0, 5, 30, 200, 1364, 1370]  # k=1, k=2, k=3, k=5 frequencies, two protein features
    if x.shape[1] > 1455:  # and two of the UTR k-mer frequencies: a 3' UTR 1-mer, a 5' UTR 2-mer
        columns[3:5] = [1455 + 2, 1455 + 1364 + 4 + 6]
    return np.stack([(x[:, c] + 0.1 * rng.standard_normal(len(x)) * x[:, c].std() > np.median(x[:, c])).astype(int)
                     for c in columns], axis=1)


@pytest.fixture(scope="module", params=[CODING, CODING_UTR])
def fitted(request) -> FittedForest:
    """A forest on the protein features, or (the default's) on those and the UTR k-mers."""
    x = forest_inputs(_records(), features=request.param)
    # few trees: the settings' 400 rounds would dominate the suite's time
    forest = fit_forest(x, _labels(x), CLASSES, features=request.param,
                        settings=dict(max_iter=6, early_stopping=False, min_samples_leaf=10))
    if request.param == CODING_UTR:
        assert (forest.trees.feature[forest.trees.left != np.arange(len(forest.trees.left))] >= 1455).any()
    assert all(n > 1 for n in forest.trees_fitted)
    return forest


def _sklearn(max_iter: int, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = feature_matrix(_records(seed=seed), coding=True).astype(np.float32)
    y = _labels(x, seed)
    # a different number of trees per class: the shorter classes get padded with empty trees
    estimators = [HistGradientBoostingClassifier(max_iter=max_iter + c, max_leaf_nodes=7, min_samples_leaf=5,
                                                 early_stopping=False, random_state=0).fit(x, y[:, c]) for c in range(6)]
    return estimators, x


def test_arrays_score_as_sklearn_does():
    estimators, x = _sklearn(4)
    trees, kept = trees_from_sklearn(estimators)
    assert kept == [4, 5, 6, 7, 8, 9] and trees.trees_per_class == 9
    expected = np.stack([e.decision_function(x) for e in estimators], axis=1)
    np.testing.assert_allclose(trees.scores(x), expected, rtol=0, atol=2e-6)
    # rounded-down float32 thresholds: every float32 value on a threshold's side stays there
    inner = trees.left != np.arange(len(trees.left))
    for node in np.flatnonzero(inner)[:50]:
        t = trees.threshold[node]
        assert np.nextafter(t, np.float32(np.inf)) > t  # finite
    weights = np.arange(1, 7, dtype=np.float64)
    np.testing.assert_allclose(trees.scaled(weights).scores(x), expected * weights, rtol=1e-5, atol=1e-5)


def test_a_bag_scores_the_mean_of_its_forests():
    """A bag per class: the flat arrays give the mean of the bag's sklearn decision scores."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    estimators, x = _sklearn(4)
    y = _labels(x)
    # a second forest per class that differs (another subsample of rows, other sizes)
    others = [HistGradientBoostingClassifier(max_iter=3 + 2 * c, max_leaf_nodes=5, min_samples_leaf=8,
                                             early_stopping=False).fit(x[c::2], y[c::2, c]) for c in range(6)]
    trees, kept = trees_from_sklearn([[a, b] for a, b in zip(estimators, others)])
    assert kept == [4 + c + 3 + 2 * c for c in range(6)]
    expected = np.stack([(a.decision_function(x) + b.decision_function(x)) / 2 for a, b in zip(estimators, others)], axis=1)
    np.testing.assert_allclose(trees.scores(x), expected, rtol=0, atol=2e-6)
    assert not np.allclose(expected, np.stack([a.decision_function(x) for a in estimators], axis=1), atol=1e-3)


def test_fit_forest_bags_average_forests_on_their_own_splits(tmp_path):
    """bags=2: bag 0 is the single forest (random_state 0), bag 1 stops on another split; the
    fitted file scores their mean and says how many bags it holds."""
    x = forest_inputs(_records(), features=CODING)
    y = _labels(x)
    settings = dict(max_iter=30, early_stopping=True, validation_fraction=0.3, n_iter_no_change=2, min_samples_leaf=10)
    single = fit_forest(x, y, CLASSES, features=CODING, settings=settings)
    second = fit_forest(x, y, CLASSES, features=CODING, settings={**settings, "random_state": 1})
    bag = fit_forest(x, y, CLASSES, features=CODING, settings=settings, recipe=ForestRecipe(bags=2))
    assert bag.bags == 2 and single.bags == 1
    assert bag.trees_fitted == [a + b for a, b in zip(single.trees_fitted, second.trees_fitted)]
    np.testing.assert_allclose(bag.scores(x), (single.scores(x) + second.scores(x)) / 2, rtol=0, atol=5e-6)
    assert not np.allclose(single.scores(x), second.scores(x), atol=1e-3)  # the bags differ
    loaded = load_forest(bag.save(tmp_path / "bag.npz"))
    assert loaded.bags == 2 and loaded.trees_fitted == bag.trees_fitted
    with pytest.raises(ValueError, match="bags must be at least 1"):
        ForestRecipe(bags=0)


def test_fit_forest_max_features_samples_columns_per_split(tmp_path):
    """max_features 0.3: each split chooses from a random 30 % of the columns, so the trees
    differ from those on all columns; scikit-learn's forest with that setting scores the same,
    and the file says what it was fitted with."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = forest_inputs(_records(), features=CODING)
    y = _labels(x)
    settings = dict(max_iter=5, early_stopping=False, min_samples_leaf=10)
    full = fit_forest(x, y, CLASSES, features=CODING, settings=settings)
    sampled = fit_forest(x, y, CLASSES, features=CODING, settings=settings, recipe=ForestRecipe(max_features=0.3))
    assert not np.allclose(full.scores(x), sampled.scores(x), atol=1e-3)
    reference = np.stack([HistGradientBoostingClassifier(**{**SETTINGS, **settings, "max_features": 0.3})
                          .fit(x, y[:, c]).decision_function(x) for c in range(len(CLASSES))], axis=1)
    np.testing.assert_allclose(sampled.scores(x), reference, rtol=0, atol=5e-6)
    loaded = load_forest(sampled.save(tmp_path / "sampled.npz"))
    assert loaded.recipe == ForestRecipe(max_features=0.3) and full.recipe == ForestRecipe()
    assert ForestRecipe(bags=3, max_features=0.5).record() == {"bags": 3, "max_features": 0.5}
    assert ForestRecipe.from_record({"bags": 3, "max_features": 0.5, "trees_fitted": [1]}) == ForestRecipe(3, 0.5)
    assert ForestRecipe().record() == {}
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="max_features must lie in"):
            ForestRecipe(max_features=bad)


def test_frequencies_from_counts_are_the_regression_features():
    records = _records(20)
    x = feature_matrix(records)
    for codes, row in zip(records, x):
        index = np.zeros(len(codes), dtype=np.int64)
        digits = np.concatenate([np.full(4, 4), np.minimum(codes, 4)])
        for j in range(5):
            index = index * 5 + digits[j : j + len(codes)]
        counts = np.bincount(index, minlength=5**5)
        np.testing.assert_allclose(frequencies_from_counts(counts, [1, 2, 3, 4, 5])[0], row, rtol=1e-6, atol=1e-7)


def test_forest_file_round_trips_and_is_checked(fitted, tmp_path):
    path = fitted.save(tmp_path / "forest.npz")
    loaded = load_forest(path)
    assert loaded.ks == [1, 2, 3, 4, 5] and loaded.features == fitted.features and loaded.classes == CLASSES
    x = forest_inputs(_records(30, seed=1), features=fitted.features)
    np.testing.assert_array_equal(loaded.scores(x), fitted.scores(x))
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["left"] = arrays["left"].copy()
    arrays["left"][0] = 10**9  # a walk that would leave the arrays
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="bad.npz: .*left index out of range"):
        load_forest(tmp_path / "bad.npz")
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["feature"] = arrays["feature"] + 10**6
    np.savez(tmp_path / "columns.npz", **arrays)
    with pytest.raises(ValueError, match="feature index out of range"):
        load_forest(tmp_path / "columns.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a k-mer forest file"):
        load_forest(tmp_path / "junk.npz")


def forest_ensemble(trees: TreeEnsemble, seed: int = 0, linear_ks=(1, 2), features: str = CODING) -> EnsembleModel:
    """Two fusable QRNNs (one reading the protein features) + regression + ``trees`` reading
    ``features``, every other weight random (tests/test_fused_ensemble.py's recipe)."""
    shape = {"ks": [1, 2, 3, 4, 5], "nodes": len(trees.value), "trees": len(trees.roots), "depth": trees.depth}
    model = _random_ensemble([_network(head_features=CODING)], features=features, seed=seed, linear_ks=linear_ks,
                             forest=shape)
    model.forests[0].load_trees(trees)
    return model


def mixed(model: EnsembleModel, seed: int = 0) -> EnsembleModel:
    """``model`` with a class-mixing map after its blend: a random matrix (off-diagonals as large
    as the diagonal, so a transposed map scores differently) and bias; every other weight ``model``'s."""
    out = EnsembleModel(dataclasses.replace(model.config, class_mixing=True)).eval()
    generator = torch.Generator().manual_seed(seed)
    n = len(model.config.classes)
    state = {**model.state_dict(), "mixings.0.matrix": torch.eye(n) + 0.6 * torch.randn(n, n, generator=generator),
             "mixings.0.bias": 0.5 * torch.randn(n, generator=generator)}
    out.load_state_dict(state)
    return out


def _logits(model, texts=TEXTS) -> np.ndarray:
    with torch.no_grad():
        return np.stack([model.predict_logits(torch.from_numpy(encode(t))[None], torch.tensor([len(t)]))[0].double().numpy()
                         for t in texts])


def _eager(model, texts=TEXTS) -> np.ndarray:
    with torch.no_grad():
        return np.stack([torch.sigmoid(model.predict_logits(torch.from_numpy(encode(t))[None], torch.tensor([len(t)])))[0].numpy()
                         for t in texts])


def test_in_graph_forest_scores_as_the_fitted_one(fitted):
    """The forest part alone, from tokens: the graph's own k-mer counts and frequencies."""
    model = forest_ensemble(fitted.trees, features=fitted.features)
    forest = model.forests[0]
    codes = [encode(t) for t in TEXTS] + _records(20, seed=2)
    expected = fitted.scores(forest_inputs(codes, features=fitted.features))
    with torch.no_grad():
        for row, c in zip(expected, codes):
            states = [torch.zeros([1] + shape) for shape in forest.state_shapes()]
            got, _ = forest(torch.from_numpy(c)[None], torch.tensor([len(c)]), states, torch.from_numpy(record_feature_matrix([c], fitted.features)))
            np.testing.assert_allclose(got[0].numpy(), row, rtol=0, atol=1e-5)


def test_class_mixing_maps_the_blended_logits(fitted):
    """Eager, unfused and fused: the mixed ensemble's logits are the unmixed one's @ matrix + bias
    (logits: probabilities saturate), and the transposed map would give other numbers."""
    model = forest_ensemble(fitted.trees, features=fitted.features)
    mixing = mixed(model)
    matrix, bias = (mixing.mixings[0].matrix.double().numpy(), mixing.mixings[0].bias.double().numpy())
    assert (matrix[~np.eye(6, dtype=bool)] != 0).all()
    blended = _logits(model)
    expected = blended @ matrix + bias
    fused = fuse_members(mixing)
    assert isinstance(fused, FusedEnsembleModel) and fused.config.class_mixing and len(fused.mixings) == 1
    for candidate, name in ((mixing, "unfused"), (fused, "fused")):
        np.testing.assert_allclose(_logits(candidate), expected, rtol=1e-5, atol=1e-4, err_msg=name)
    assert np.abs(blended @ matrix.T + bias - expected).max() > 0.1
    assert np.abs(expected - blended).max() > 0.5  # the map moves the output


@pytest.mark.parametrize("mixing", [False, True], ids=["unmixed", "mixed"])
def test_ensemble_with_forest_exports_and_rebuilds(fitted, tmp_path, mixing):
    model = forest_ensemble(fitted.trees, features=fitted.features)
    zeroed = forest_ensemble(fitted.trees.scaled(np.zeros(6)), features=fitted.features)
    if mixing:  # the same map on both
        model, zeroed = mixed(model), mixed(zeroed)
    reference = _eager(model)
    assert np.abs(reference - _eager(zeroed)).max() > 0.05  # the forest moves the output
    scripted = script_model(model, fuse=False)
    with torch.no_grad():
        codes = torch.from_numpy(encode(TEXTS[0]))[None]
        lengths = torch.tensor([codes.size(1)])
        probs, _ = scripted(codes, lengths, model.zero_states(1), model.record_features(codes, lengths))
    np.testing.assert_allclose(probs[0].numpy(), reference[0], rtol=0, atol=1e-5)
    for fuse in (True, False):
        path = export_onnx(model, tmp_path / f"m{fuse}.onnx", fuse=fuse)
        for chunk_nt in (1 << 16, 64):
            got = Predictor(path, device="cpu", threads=1, chunk_nt=chunk_nt).predict(TEXTS)
            np.testing.assert_allclose(got, reference, rtol=0, atol=2e-6, err_msg=f"fuse={fuse} chunk {chunk_nt}")
        rebuilt = model_from_onnx(path)
        assert type(rebuilt) is (FusedEnsembleModel if fuse else EnsembleModel) and rebuilt.config == model.config
        np.testing.assert_allclose(_eager(rebuilt), reference, rtol=0, atol=1e-6)
        assert len(rebuilt.mixings) == mixing
        keys = model.state_dict() if not fuse else {k: v for k, v in model.state_dict().items() if k.startswith("mixings.")}
        for key, value in keys.items():
            torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0, msg=key)
    half = export_onnx(model, tmp_path / "m.fp16.onnx", precision="fp16")
    assert np.abs(Predictor(half, device="cpu", threads=1).predict(TEXTS) - reference).max() <= 1e-2
    if mixing:  # the fp16 file keeps the map fp32, bit for bit, as named initializers
        from onnx import numpy_helper

        import onnx

        stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(half)).graph.initializer if "mixings" in i.name}
        assert sorted(stored) == ["model.mixings.0.bias", "model.mixings.0.matrix"]
        for name, value in stored.items():
            assert value.dtype == np.float32
            np.testing.assert_array_equal(value, model.state_dict()[name[len("model."):]].numpy())
    # the trees are one ONNX-ML node (not a walk in standard ops), in both files, and the fp16
    # file keeps them fp32: its thresholds are the fitted ones, bit for bit
    import onnx

    for path in (tmp_path / "mFalse.onnx", half):
        graph = onnx.load(str(path)).graph
        assert [n.op_type for n in graph.node if n.domain] == ["TreeEnsembleRegressor"]
        assert not [i.name for i in graph.initializer if "forests" in i.name]
        read = forest_from_graph(graph, fitted.trees.depth)
        np.testing.assert_array_equal(read.threshold, fitted.trees.threshold)
        np.testing.assert_array_equal(read.value, fitted.trees.value)


def test_forest_configs_are_checked(fitted):
    shape = {"ks": [1, 2, 3, 4, 5], "nodes": 3, "trees": 6, "depth": 1}
    with pytest.raises(ValueError, match="per-record features"):
        EnsembleModel(EnsembleConfig(_network(), [], [1], "", shape))
    with pytest.raises(ValueError, match="ks, nodes, trees and depth"):
        EnsembleConfig.from_dict({**_network().to_dict(), "linear_ks": [1], "features": CODING,
                                  "forest": {"ks": [1], "nodes": 3}})
    plain = EnsembleConfig(_network(), [], [1], CODING)
    assert "forest" not in plain.to_dict()  # files without a forest keep their hparams
    assert "class_mixing" not in plain.to_dict()  # nor those without a class-mixing map
    mixing = EnsembleConfig(_network(), [], [1], CODING, class_mixing=True)
    assert mixing.to_dict()["class_mixing"] is True and EnsembleConfig.from_dict(mixing.to_dict()) == mixing
    with pytest.raises(ValueError, match="class_mixing must be true or false"):
        EnsembleConfig.from_dict({**mixing.to_dict(), "class_mixing": "yes"})
    with_forest = EnsembleConfig(_network(), [], [1], CODING, shape)
    assert EnsembleConfig.from_dict(with_forest.to_dict()) == with_forest


def test_tree_node_attributes_round_trip_and_foreign_ones_are_refused(fitted):
    from rnaloc_infer.trees import from_onnx_attributes, onnx_attributes

    padded, kept = trees_from_sklearn(_sklearn(4)[0])  # 4..9 trees per class: padded to 9
    for trees in (fitted.trees, padded):
        attrs = onnx_attributes(trees)
        back = from_onnx_attributes(attrs, trees.depth)
        for name, value in trees.to_arrays().items():
            np.testing.assert_array_equal(back.to_arrays()[name], value, err_msg=name)
    # the padding (single leaves worth 0) is not written: ONNX Runtime walks only real trees
    assert max(attrs["nodes_treeids"]) + 1 == sum(kept) < len(padded.roots)
    attrs = onnx_attributes(fitted.trees)
    for change, message in [({"aggregate_function": "AVERAGE"}, "plain sum"),
                            ({"nodes_modes": ["BRANCH_LT"] * len(attrs["nodes_modes"])}, "BRANCH_LEQ"),
                            ({"nodes_treeids": [t + 1 for t in attrs["nodes_treeids"]]}, "numbered 0, 1"),
                            ({"nodes_truenodeids": [10**6] * len(attrs["nodes_truenodeids"])}, "out of range")]:
        with pytest.raises(ValueError, match=message):
            from_onnx_attributes({**attrs, **change}, fitted.trees.depth)


def test_regression_and_forest_share_one_count_scatter(fitted, tmp_path):
    """With the regression's widest k = the forest's (the default: both 5), the 5-mers are
    scattered once; the scores equal separate scatters, eager and through ONNX in chunks."""
    model = forest_ensemble(fitted.trees, linear_ks=(1, 2, 3, 4, 5), features=fitted.features)
    assert model.share_counts and not forest_ensemble(fitted.trees, features=fitted.features).share_counts
    shared = _eager(model)
    model.share_counts = False
    np.testing.assert_allclose(shared, _eager(model), rtol=0, atol=1e-6)
    model.share_counts = True
    path = export_onnx(model, tmp_path / "shared.onnx")
    import onnx

    scatters = [n for n in onnx.load(str(path)).graph.node if n.op_type == "ScatterElements"]
    assert len(scatters) == 1
    got = Predictor(path, device="cpu", threads=1, chunk_nt=64).predict(TEXTS)
    np.testing.assert_allclose(got, shared, rtol=0, atol=2e-6)
