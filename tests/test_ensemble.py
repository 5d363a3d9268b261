"""The in-graph k-mer regression equals the fitted one, `rnaloc-train regression` / `ensemble` /
`release` end to end, and ensembles written before the ensemble had its own module still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner

from rnaloc_infer.alphabet import encode
from rnaloc_infer.api import Predictor
from rnaloc_infer.features.registry import CODING
from rnaloc_infer.features.coding import N_FEATURES, coding_features
from rnaloc_infer.cli.train import main
from rnaloc_infer.export.onnx_export import export_onnx_from_checkpoint
from rnaloc_infer.training.checkpoint import load_checkpoint, save_checkpoint
from rnaloc_infer.training.ensemble import with_logreg, with_members
from rnaloc_infer.training.stacking import platt
from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel
from rnaloc_infer.training.models import CLASSES, LocalizationModel, ModelConfig
from rnaloc_infer.training.regression import kmer_frequencies, load_logreg
from conftest import FIXTURES

REPO = Path(__file__).resolve().parent.parent


def _write_logreg(path: Path, ks, seed: int = 0, features: str = "") -> dict:
    rng = np.random.default_rng(seed)
    width = sum(4**k for k in ks) + (N_FEATURES if features else 0)
    fitted = {"coef": rng.normal(size=(len(CLASSES), width)), "intercept": rng.normal(size=len(CLASSES)),
              "mean": rng.random(width) * 0.1, "scale": rng.random(width) * 0.05 + 0.01}
    header = {"format": "rnaloc-kmer-logreg", "format_version": 1, "ks": list(ks), "classes": list(CLASSES), "C": 1.0,
              "features": features}
    np.savez(path, header=np.array(json.dumps(header)), **fitted)
    return fitted


def _regression_only(model: EnsembleModel) -> EnsembleModel:
    with torch.no_grad():
        model.blend.copy_(torch.stack([torch.zeros(6), torch.ones(6), torch.zeros(6)]))
    return model


def test_in_graph_regression_equals_the_baseline_features(tmp_path):
    """Same k-mer counting as the fitted regression (windows with N skipped, per-k frequencies,
    standardised), so the ensemble's regression member is exactly the k-mer baseline."""
    ks = (1, 2, 3)
    fitted = _write_logreg(tmp_path / "lr.npz", ks)
    network = LocalizationModel(ModelConfig(kind="lstm", hidden=8, layers=1, stride=4)).eval()
    model = _regression_only(with_logreg(network, load_logreg(tmp_path / "lr.npz")))
    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(list("ACGTN"), size=n, p=[0.24] * 4 + [0.04])) for n in (2, 3, 50, 301)]
    texts.append("NNNNACGT" * 10)
    for text in texts:
        codes = encode(text)
        features = kmer_frequencies(codes, ks)
        expected = fitted["coef"] @ ((features - fitted["mean"]) / fitted["scale"]) + fitted["intercept"]
        tokens = torch.from_numpy(codes)[None]
        with torch.no_grad():
            one_shot = model.predict_logits(tokens, torch.tensor([len(codes)]))[0].numpy()
            states = model.zero_states(1)
            for start in range(0, len(codes), 8):  # chunked: the k-mer contexts carry over
                chunk = tokens[:, start : start + 8]
                chunked, states = model(chunk, torch.tensor([chunk.size(1)]), states)
        np.testing.assert_allclose(one_shot, expected, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(chunked[0].numpy(), expected, rtol=1e-4, atol=1e-3)


def test_logreg_file_is_checked(tmp_path):
    _write_logreg(tmp_path / "lr.npz", (1, 2))
    network = LocalizationModel(ModelConfig(kind="lstm", hidden=8, layers=1, stride=4, classes=["A", "B"]))
    with pytest.raises(ValueError, match="differ from the model"):
        with_logreg(network, load_logreg(tmp_path / "lr.npz"))
    np.savez(tmp_path / "bad.npz", coef=np.zeros((6, 3)), intercept=np.zeros(6), mean=np.zeros(3), scale=np.ones(3),
             header=np.array(json.dumps({"format": "rnaloc-kmer-logreg", "format_version": 1, "ks": [1], "classes": CLASSES})))
    with pytest.raises(ValueError, match="does not match ks"):
        load_logreg(tmp_path / "bad.npz")


def test_platt_recovers_a_known_calibration():
    rng = np.random.default_rng(0)
    score = rng.normal(size=20_000)
    labels = (rng.random(20_000) < 1 / (1 + np.exp(-(2.0 * score - 1.0)))).astype(float)
    a, b = platt(score, labels)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def _fit_tiny_network(runner: CliRunner, tiny_data: Path, tmp_path: Path) -> Path:
    """A one-epoch one-layer QRNN on ``tiny_data`` through `rnaloc-train fit`; its run folder."""
    config = tmp_path / "tiny.toml"
    config.write_text('seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
                      '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
                      "[optim]\nepochs = 1\nwarmup_steps = 2\n")
    run = tmp_path / "run"
    result = runner.invoke(main, ["fit", str(config), "--out", str(run), "--data-dir", str(tiny_data), "--quiet"])
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize("features", ["", CODING])
def test_ensemble_cli_end_to_end(tiny_data, tmp_path, features):
    runner = CliRunner()
    run = _fit_tiny_network(runner, tiny_data, tmp_path)
    _write_logreg(tmp_path / "lr.npz", (1, 2), features=features)
    out = tmp_path / "ensemble.pt"
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"),
                                  "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    model, payload = load_checkpoint(out)
    assert isinstance(model, EnsembleModel) and len(payload["thresholds"]) == 6
    assert model.config.linear_ks == [1, 2] and model.config.features == features
    report = payload["extra"]["ensemble"]
    assert report["weight"] == 0.5 and summary["macro_auroc"] == pytest.approx(report["macro_auroc"], abs=1e-4)
    assert (model.blend[1] != 0).all()  # the regression takes part
    # the report's metrics (computed from the members' logits) are the saved model's own
    from rnaloc_infer.evaluation import metrics
    from rnaloc_infer.training.data import read_split
    from rnaloc_infer.training.trainer import predict_probs

    valid = read_split(tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv", CLASSES)
    probs_valid = predict_probs(model, valid, 1024, torch.device("cpu"))
    assert metrics.evaluate(valid.labels, probs_valid, CLASSES)["auroc"] == pytest.approx(list(report["auroc"].values()), abs=1e-6)

    onnx_path = export_onnx_from_checkpoint(out, tmp_path / "ensemble.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    codes = encode("ACGTTGCAAGGCTTANNACGATCGGATCCA" * 7)
    feeds = {"tokens": codes[None], "lengths": np.array([len(codes)], dtype=np.int64)}
    feeds.update({f"state_in_{i}": s.numpy() for i, s in enumerate(model.zero_states(1))})
    if features:
        feeds["features"] = coding_features(codes)[None]
    probs = session.run(None, feeds)[0]
    with torch.no_grad():
        expected = torch.sigmoid(model.predict_logits(torch.from_numpy(codes)[None], torch.tensor([len(codes)]))).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_stacked_blend_cli(tiny_data, tmp_path):
    """`ensemble --blend stacked`: per-class weights fitted on valid, the report's in-sample
    figures are the saved model's own, and it carries the out-of-fold estimate beside them."""
    from conftest import _write_split

    _write_split(tiny_data, "valid", 60, np.random.default_rng(5))  # enough of each label for the folds
    runner = CliRunner()
    run = _fit_tiny_network(runner, tiny_data, tmp_path)
    _write_logreg(tmp_path / "lr.npz", (1, 2), features=CODING)
    out = tmp_path / "stacked.pt"
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"), "--blend",
                                  "stacked", "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    model, payload = load_checkpoint(out)
    report = payload["extra"]["ensemble"]
    assert report["blend"] == "stacked" and "weight" not in report
    shares = np.array([list(report["weights"][c].values()) for c in CLASSES])
    np.testing.assert_allclose(np.abs(shares).sum(axis=1), 1.0, atol=1e-3)
    assert np.abs(shares - 0.5).max() > 0.05  # not the equal blend
    assert summary["out_of_fold_macro_auroc"] == pytest.approx(report["stacking"]["cv_macro_auroc"], abs=1e-4)
    from rnaloc_infer.evaluation import metrics
    from rnaloc_infer.training.data import read_split
    from rnaloc_infer.training.trainer import predict_probs

    valid = read_split(tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv", CLASSES)
    probs = predict_probs(model, valid, 1024, torch.device("cpu"))
    assert metrics.evaluate(valid.labels, probs, CLASSES)["auroc"] == pytest.approx(list(report["auroc"].values()), abs=1e-6)
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"), "--blend",
                                  "mean", "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(tmp_path / "x.pt")])
    assert result.exit_code != 0 and "mean" in result.output and not (tmp_path / "x.pt").exists()


def test_coding_regression_and_members_through_the_runtime(tmp_path):
    """A regression reading the protein features, plus a member network: the exported file run by
    the runtime (which computes the features itself, also for a chunked long record) equals eager."""
    fitted = _write_logreg(tmp_path / "lr.npz", (1, 2), features=CODING)
    torch.manual_seed(0)
    network = LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4, front_kernel=3))
    member = LocalizationModel(ModelConfig(kind="lstm", hidden=8, layers=1, stride=4))
    model = with_members(with_logreg(network, load_logreg(tmp_path / "lr.npz")), [member])
    with torch.no_grad():
        model.blend.copy_(torch.tensor([[0.5] * 6, [1.0] * 6, [0.1] * 6, [-0.7] * 6]))

    rng = np.random.default_rng(2)
    texts = ["CCATGGCTCTGCTGCTGTTTATTGCTGGA" * 9 + "TAAGG", "ACGT" * 5, "".join(rng.choice(list("ACGT"), 3000))]
    # the regression's feature part alone matches the fitted weights on the features
    regression = _regression_only(with_logreg(network, load_logreg(tmp_path / "lr.npz")))
    codes = encode(texts[0])
    with torch.no_grad():
        got = regression.predict_logits(torch.from_numpy(codes)[None], torch.tensor([len(codes)]))[0].numpy()
    x = np.concatenate([kmer_frequencies(codes, (1, 2)), coding_features(codes)])
    expected = fitted["coef"] @ ((x - fitted["mean"]) / fitted["scale"]) + fitted["intercept"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)

    path = tmp_path / "coding.pt"
    save_checkpoint(path, model)
    onnx_path = export_onnx_from_checkpoint(path, tmp_path / "coding.onnx")
    with torch.no_grad():
        eager = [torch.sigmoid(model.predict_logits(torch.from_numpy(encode(t))[None], torch.tensor([len(t)])))[0].numpy()
                 for t in texts]
    for chunk_nt in (1 << 16, 64):  # one batch; the longest records through chunks carrying state
        predictor = Predictor(onnx_path, device="cpu", threads=1, chunk_nt=chunk_nt)
        assert predictor.info.features == CODING
        np.testing.assert_allclose(predictor.predict(texts), np.stack(eager), atol=1e-5)


def test_ensemble_configs_are_checked():
    with pytest.raises(ValueError, match="stride"):
        EnsembleModel(EnsembleConfig(ModelConfig(stride=4), members=[ModelConfig(stride=8)]))
    with pytest.raises(ValueError, match="classes"):
        EnsembleModel(EnsembleConfig(ModelConfig(), members=[ModelConfig(classes=["A"])]))
    with pytest.raises(ValueError, match="plain network"):
        EnsembleConfig.from_dict({**ModelConfig().to_dict(), "members": [{**ModelConfig().to_dict(), "linear_ks": [1]}]})
    with pytest.raises(ValueError, match="linear_ks"):
        EnsembleModel(EnsembleConfig(ModelConfig(), features=CODING))
    with pytest.raises(ValueError, match="unknown feature set"):
        EnsembleModel(EnsembleConfig(ModelConfig(), linear_ks=[1], features="coding-v0"))
    with pytest.raises(ValueError, match="head reads 'coding-v1' or no features"):
        LocalizationModel(ModelConfig(head_features="coding-v0"))
    with pytest.raises(ValueError, match="head reads 'coding-v1' or no features, not 'coding-utr-v1'"):
        LocalizationModel(ModelConfig(head_features="coding-utr-v1"))  # wider sets feed the forest, not a head


def _legacy_state_dict(model: EnsembleModel) -> dict:
    """The keys an ensemble checkpoint had when the network held the ensemble's parts itself."""
    legacy = {}
    for key, value in model.state_dict().items():
        if key.startswith("network."):
            key = key[len("network."):]
        elif key.startswith("regression.kmers."):
            key = "linear." + key[len("regression.kmers."):]
        elif key.startswith("regression."):
            key = {"offset": "linear_offset", "feature_weights": "feature_weights"}[key[len("regression."):]]
        legacy[key] = value
    return legacy


def test_checkpoints_written_before_the_ensemble_module_still_load(tmp_path):
    """Same flat config, old tensor names: loads (weights_only) and scores exactly as saved."""
    _write_logreg(tmp_path / "lr.npz", (1, 2), features=CODING)
    torch.manual_seed(5)
    network = LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4, front_kernel=3))
    member = LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4, head_features=CODING))
    with torch.no_grad():
        member.feature_mean.normal_()
    model = with_members(with_logreg(network, load_logreg(tmp_path / "lr.npz")), [member])
    with torch.no_grad():
        model.blend.uniform_(-1, 1)
    path = tmp_path / "old.pt"
    torch.save({"format": 1, "config": model.config.to_dict(), "state_dict": _legacy_state_dict(model),
                "thresholds": [0.5] * 6, "train_data_sha256": "", "metrics": {}, "epoch": 3}, path)
    assert "linear.0.table" in torch.load(path, weights_only=True)["state_dict"]
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded, EnsembleModel) and loaded.config == model.config
    codes = encode("ATGGCTTGCAAGGCTTAGCATCGGATCCA" * 5)
    tokens, lengths = torch.from_numpy(codes)[None], torch.tensor([len(codes)])
    with torch.no_grad():
        assert torch.equal(loaded.predict_logits(tokens, lengths), model.predict_logits(tokens, lengths))


def test_plain_checkpoints_of_older_versions_load(tmp_path):
    """A network's config used to carry the ensemble's (empty) fields: still a plain network."""
    network = LocalizationModel(ModelConfig(kind="lstm", hidden=8, layers=1, stride=4))
    path = tmp_path / "plain.pt"
    config = {**network.config.to_dict(), "linear_ks": [], "members": [], "features": ""}
    torch.save({"format": 1, "config": config, "state_dict": network.state_dict(), "thresholds": [0.5] * 6}, path)
    loaded, _ = load_checkpoint(path)
    assert type(loaded) is LocalizationModel and loaded.config == network.config


def test_runtime_refuses_a_feature_set_it_lacks(tmp_path):
    from rnaloc_infer.errors import ModelError
    from rnaloc_infer.session import parse_metadata

    meta = {"rnaloc.format_version": "1", "rnaloc.classes": '["A"]', "rnaloc.thresholds": "[0.5]",
            "rnaloc.stride": "4", "rnaloc.features": "coding-v9"}
    with pytest.raises(ModelError, match="coding-v9.*upgrade"):
        parse_metadata(tmp_path / "m.onnx", meta)


def test_runtime_refuses_a_features_input_of_another_set(tmp_path):
    """A file whose metadata names ``coding-utr-v1`` must take that set's 1,795 columns: the
    fixture ensemble takes coding-v1's 91, so relabelling it is refused before any record runs."""
    onnx = pytest.importorskip("onnx")
    from rnaloc_infer.errors import ModelError
    from rnaloc_infer.session import ModelSession

    proto = onnx.load(str(FIXTURES / "ensemble.onnx"))
    features = {p.key: p for p in proto.metadata_props}["rnaloc.features"]
    assert features.value == "coding-v1"
    features.value = "coding-utr-v1"
    onnx.save(proto, str(tmp_path / "relabelled.onnx"))
    with pytest.raises(ModelError, match=r"'coding-utr-v1', so input 'features' must be float \[batch, 1795\]"):
        ModelSession(tmp_path / "relabelled.onnx", device="cpu")


def test_fitted_regression_learns_composition_and_round_trips(tmp_path):
    """Labels that follow GC content: the fitted k-mer regression ranks by it, and its saved
    file scores exactly as the fitted object."""
    from rnaloc_infer.training.data import SequenceSet
    from rnaloc_infer.training.regression import feature_matrix, fit_regression

    rng = np.random.default_rng(0)
    gc = rng.random(60)
    codes = [encode("".join(rng.choice(list("ACGT"), 200, p=[(1 - g) / 2, g / 2, g / 2, (1 - g) / 2])))
             for g in gc]
    labels = np.column_stack([(gc > 0.5), (gc <= 0.5)]).astype(np.float32)
    train = SequenceSet([f"r{i}" for i in range(60)], codes, labels, ["HighGC", "LowGC"])
    fitted = fit_regression(train, ks=(1, 2), c=1.0)
    scores = fitted.scores(feature_matrix(codes, (1, 2)))
    assert np.corrcoef(scores[:, 0], gc)[0, 1] > 0.8 and np.corrcoef(scores[:, 1], gc)[0, 1] < -0.8
    loaded = load_logreg(fitted.save(tmp_path / "lr.npz"))
    assert loaded.classes == ["HighGC", "LowGC"] and loaded.ks == [1, 2] and loaded.C == 1.0
    np.testing.assert_array_equal(loaded.scores(feature_matrix(codes, (1, 2))), scores)


@pytest.mark.parametrize("coding", [False, True])
def test_regression_cli(tiny_data, tmp_path, coding):
    out = tmp_path / "lr.npz"
    args = ["regression", "--data-dir", str(tiny_data), "--prefix", "tiny", "--c", "0.01", "--out", str(out)]
    result = CliRunner().invoke(main, args + (["--coding"] if coding else []))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    fitted = load_logreg(out)
    assert summary["columns"] == 1364 + (N_FEATURES if coding else 0) == fitted.coef.shape[1]
    assert fitted.features == (CODING if coding else "") and fitted.C == 0.01 and summary["train_records"] == 24


def _release_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "example.fa").write_text(">a desc\nACGTTGCAAGGCTTANNACGATCGG\n>b\n" + "ATGGCTTGCA" * 120 + "\n>c\nG\n")
    return root


def test_release_writes_consistent_files(tiny_data, tmp_path):
    """`rnaloc-train release` on a tiny ensemble: ONNX fp32 + fp16 with refitted thresholds and
    applicability rules, the expectation the bundled-model test reads (tied to the fp32 file by its
    digest and thresholds, reproduced by the runtime), the refit report, the card's evaluation."""
    import hashlib

    _write_logreg(tmp_path / "lr.npz", (1, 2), features=CODING)
    torch.manual_seed(1)
    network = LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4, front_kernel=3))
    model = with_logreg(network, load_logreg(tmp_path / "lr.npz"))
    with torch.no_grad():
        model.blend[1] = 0.3
    checkpoint = tmp_path / "ens.pt"
    save_checkpoint(checkpoint, model, thresholds=[0.4] * 6, train_data_sha256="feed")
    root = _release_root(tmp_path)
    result = CliRunner().invoke(main, ["release", str(checkpoint), "--name", "tiny", "--root", str(root),
                                       "--data-dir", str(tiny_data), "--prefix", "tiny"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    onnx_path, fp16_path = root / "rnaloc_infer/models/tiny.onnx", root / "rnaloc_infer/models/tiny.fp16.onnx"
    expected = json.loads((root / "tests/data/tiny_model_expected.json").read_text())
    assert expected["onnx_sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest() == summary["sha256"]["tiny.onnx"]
    refit = json.loads((root / "benchmarks/results/refit_tiny.json").read_text())
    assert expected["fasta"] == "examples/example.fa" and summary["refit"].endswith("refit_tiny.json")
    for path in (onnx_path, fp16_path):  # both files ship the refitted thresholds and rules
        predictor = Predictor(path, device="cpu", threads=1)
        np.testing.assert_allclose(predictor.thresholds, expected["thresholds"], atol=1e-12)
        assert predictor.info.applicability is not None
    assert [row["threshold"] for row in refit["classes"]] == pytest.approx(expected["thresholds"], abs=1e-4)
    assert list(expected["probabilities"]) == ["a", "b", "c"]
    for path, atol in ((onnx_path, 1e-5), (fp16_path, 2e-3)):
        predictor = Predictor(path, device="cpu", threads=1)
        got = [[p.probabilities[c] for c in CLASSES] for p in predictor.predict_fasta(root / "examples/example.fa")]
        np.testing.assert_allclose(got, list(expected["probabilities"].values()), atol=atol)
    assert (root / "docs/model_card/tiny/metrics.tsv").is_file() and (root / "docs/model_card/tiny/roc.png").is_file()


def test_release_without_int8_leaves_no_twin_of_the_replaced_file(tiny_data, tmp_path):
    torch.manual_seed(2)
    checkpoint = tmp_path / "net.pt"
    save_checkpoint(checkpoint, LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4)),
                    thresholds=[0.4] * 6, train_data_sha256="feed")
    root = _release_root(tmp_path)
    stale = root / "rnaloc_infer/models/tiny.int8.onnx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a twin of the file this release replaces")
    args = ["release", str(checkpoint), "--name", "tiny", "--root", str(root), "--data-dir", str(tiny_data),
            "--prefix", "tiny", "--no-evaluate", "--no-int8"]
    result = CliRunner().invoke(main, args)  # replacing a release is asked for
    assert result.exit_code == 2 and "tiny.int8.onnx" in result.output and stale.exists()
    result = CliRunner().invoke(main, args + ["--force"])
    assert result.exit_code == 0, result.output
    assert (root / "rnaloc_infer/models/tiny.onnx").is_file() and not stale.exists()


def test_release_refuses_a_bad_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    root = _release_root(tmp_path)
    result = CliRunner().invoke(main, ["release", str(bad), "--root", str(root), "--no-evaluate"])
    assert result.exit_code == 1 and "bad.pt" in result.output and "Traceback" not in result.output
    assert not (root / "rnaloc_infer").exists() and not (root / "tests").exists()


def test_forest_member_cli_end_to_end(tiny_data, tmp_path, monkeypatch):
    """`rnaloc-train forest`, then `ensemble --forest`: the trees join as an equal member with
    their weight folded into the leaves, the report's figures are the saved model's own, and
    the exported file (one ONNX-ML tree node) scores as the checkpoint does."""
    from rnaloc_infer.training import forest as forest_module

    # 24 training records: the shipped settings (>= 40 records per leaf) would never split
    monkeypatch.setitem(forest_module.SETTINGS, "min_samples_leaf", 3)
    monkeypatch.setitem(forest_module.SETTINGS, "max_iter", 8)
    monkeypatch.setitem(forest_module.SETTINGS, "early_stopping", False)
    runner = CliRunner()
    run = _fit_tiny_network(runner, tiny_data, tmp_path)
    _write_logreg(tmp_path / "lr.npz", (1, 2, 3, 4, 5), features=CODING)
    result = runner.invoke(main, ["forest", "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(tmp_path / "f.npz")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["trees"] == dict.fromkeys(CLASSES, 8)
    out = tmp_path / "ensemble.pt"
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"), "--forest",
                                  str(tmp_path / "f.npz"), "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    model, payload = load_checkpoint(out)
    report = payload["extra"]["ensemble"]
    assert report["members"] == ["network_0", "regression", "forest"] and report["weight"] == pytest.approx(1 / 3)
    assert model.config.forest["ks"] == [1, 2, 3, 4, 5] and model.share_counts
    # the forest reads the UTR k-mers by default (the graph's input is the wider set); --features picks
    from rnaloc_infer.training.forest import load_forest

    assert model.config.features == load_forest(tmp_path / "f.npz").features == "coding-utr-v1"
    assert runner.invoke(main, ["forest", "--data-dir", str(tiny_data), "--prefix", "tiny", "--features", "coding-v1",
                                "--out", str(tmp_path / "f1.npz")]).exit_code == 0
    assert load_forest(tmp_path / "f1.npz").features == "coding-v1" and load_forest(tmp_path / "f1.npz").columns == 1455
    # --bags 2 without early stopping: two copies of the same trees (no split to differ on), each
    # worth half, so the bag scores as the single forest does
    result = runner.invoke(main, ["forest", "--data-dir", str(tiny_data), "--prefix", "tiny", "--features", "coding-v1",
                                  "--bags", "2", "--out", str(tmp_path / "f2.npz")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["trees"] == dict.fromkeys(CLASSES, 16)
    single, bag = load_forest(tmp_path / "f1.npz"), load_forest(tmp_path / "f2.npz")
    rows = np.random.default_rng(0).random((20, single.columns), dtype=np.float32)
    assert bag.bags == 2 and np.allclose(bag.scores(rows), single.scores(rows), atol=1e-5)
    from rnaloc_infer.evaluation import metrics
    from rnaloc_infer.training.data import read_split
    from rnaloc_infer.training.trainer import predict_probs

    valid = read_split(tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv", CLASSES)
    probs = predict_probs(model, valid, 1024, torch.device("cpu"))
    assert metrics.evaluate(valid.labels, probs, CLASSES)["auroc"] == pytest.approx(list(report["auroc"].values()), abs=1e-6)
    onnx_path = export_onnx_from_checkpoint(out, tmp_path / "ensemble.onnx")
    from rnaloc_infer.api import Predictor

    got = Predictor(onnx_path, device="cpu", threads=1).predict(valid_texts(valid))
    np.testing.assert_allclose(got, probs, atol=2e-6)
    # without protein features in the regression the forest cannot join: one line, no checkpoint
    _write_logreg(tmp_path / "plain.npz", (1, 2), features="")
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "plain.npz"), "--forest",
                                  str(tmp_path / "f.npz"), "--data-dir", str(tiny_data), "--prefix", "tiny",
                                  "--out", str(tmp_path / "bad.pt")])
    assert result.exit_code != 0 and "features" in result.output and not (tmp_path / "bad.pt").exists()
    # a forest that never splits scores every record the same: refused, not divided by zero
    monkeypatch.setitem(forest_module.SETTINGS, "min_samples_leaf", 1000)
    assert runner.invoke(main, ["forest", "--data-dir", str(tiny_data), "--prefix", "tiny",
                                "--out", str(tmp_path / "flat.npz")]).exit_code == 0
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"), "--forest",
                                  str(tmp_path / "flat.npz"), "--data-dir", str(tiny_data), "--prefix", "tiny",
                                  "--out", str(tmp_path / "flat.pt")])
    assert result.exit_code != 0 and "cannot be standardised" in result.output and not (tmp_path / "flat.pt").exists()


def valid_texts(data) -> list:
    from rnaloc_infer.alphabet import ALPHABET

    return ["".join(ALPHABET[c] for c in codes) for codes in data.codes]
