"""The in-graph k-mer regression equals the baseline's, and `rnaloc-train ensemble` end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from rnaloc_infer.alphabet import encode
from rnaloc_infer.api import Predictor
from rnaloc_infer.coding import FEATURE_SET, N_FEATURES, coding_features
from rnaloc_infer.cli.train import main
from rnaloc_infer.export.onnx_export import export_onnx_from_checkpoint
from rnaloc_infer.training.checkpoint import load_checkpoint
from rnaloc_infer.training.ensemble import load_logreg, platt, with_logreg, with_members
from rnaloc_infer.training.models import CLASSES, LocalizationModel, ModelConfig

REPO = Path(__file__).resolve().parent.parent


def _baseline():
    spec = importlib.util.spec_from_file_location("kmer_baseline", REPO / "benchmarks" / "kmer_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_logreg(path: Path, ks, seed: int = 0, features: str = "") -> dict:
    rng = np.random.default_rng(seed)
    width = sum(4**k for k in ks) + (N_FEATURES if features else 0)
    fitted = {"coef": rng.normal(size=(len(CLASSES), width)), "intercept": rng.normal(size=len(CLASSES)),
              "mean": rng.random(width) * 0.1, "scale": rng.random(width) * 0.05 + 0.01}
    header = {"format": "rnaloc-kmer-logreg", "format_version": 1, "ks": list(ks), "classes": list(CLASSES), "C": 1.0,
              "features": features}
    np.savez(path, header=np.array(json.dumps(header)), **fitted)
    return fitted


def _regression_only(model: LocalizationModel) -> LocalizationModel:
    with torch.no_grad():
        model.blend.copy_(torch.stack([torch.zeros(6), torch.ones(6), torch.zeros(6)]))
    return model


def test_in_graph_regression_equals_the_baseline_features(tmp_path):
    """Same k-mer counting as benchmarks/kmer_baseline.py (windows with N skipped, per-k
    frequencies, standardised), so the ensemble's regression member is exactly the baseline."""
    ks = (1, 2, 3)
    fitted = _write_logreg(tmp_path / "lr.npz", ks)
    network = LocalizationModel(ModelConfig(kind="lstm", hidden=8, layers=1, stride=4)).eval()
    model = _regression_only(with_logreg(network, load_logreg(tmp_path / "lr.npz")))
    baseline = _baseline()
    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(list("ACGTN"), size=n, p=[0.24] * 4 + [0.04])) for n in (2, 3, 50, 301)]
    texts.append("NNNNACGT" * 10)
    for text in texts:
        codes = encode(text)
        features = baseline.kmer_features(codes, ks)
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


@pytest.mark.parametrize("features", ["", FEATURE_SET])
def test_ensemble_cli_end_to_end(tiny_data, tmp_path, features):
    runner = CliRunner()
    config = tmp_path / "tiny.toml"
    config.write_text('seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
                      '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
                      "[optim]\nepochs = 1\nwarmup_steps = 2\n")
    run = tmp_path / "run"
    result = runner.invoke(main, ["fit", str(config), "--out", str(run), "--data-dir", str(tiny_data), "--quiet"])
    assert result.exit_code == 0, result.output
    _write_logreg(tmp_path / "lr.npz", (1, 2), features=features)
    out = tmp_path / "ensemble.pt"
    result = runner.invoke(main, ["ensemble", str(run / "best.pt"), "--logreg", str(tmp_path / "lr.npz"),
                                  "--data-dir", str(tiny_data), "--prefix", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    model, payload = load_checkpoint(out)
    assert model.config.linear_ks == [1, 2] and model.config.features == features and len(payload["thresholds"]) == 6
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


def test_coding_regression_and_members_through_the_runtime(tmp_path):
    """A regression reading the protein features, plus a member network: the exported file run by
    the runtime (which computes the features itself, also for a chunked long record) equals eager."""
    fitted = _write_logreg(tmp_path / "lr.npz", (1, 2), features=FEATURE_SET)
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
    baseline = _baseline()
    x = np.concatenate([baseline.kmer_features(codes, (1, 2)), coding_features(codes)])
    expected = fitted["coef"] @ ((x - fitted["mean"]) / fitted["scale"]) + fitted["intercept"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)

    path = tmp_path / "coding.pt"
    from rnaloc_infer.training.checkpoint import save_checkpoint

    save_checkpoint(path, model)
    onnx_path = export_onnx_from_checkpoint(path, tmp_path / "coding.onnx")
    with torch.no_grad():
        eager = [torch.sigmoid(model.predict_logits(torch.from_numpy(encode(t))[None], torch.tensor([len(t)])))[0].numpy()
                 for t in texts]
    for chunk_nt in (1 << 16, 64):  # one batch; the longest records through chunks carrying state
        predictor = Predictor(onnx_path, device="cpu", threads=1, chunk_nt=chunk_nt)
        assert predictor.info.features == FEATURE_SET
        np.testing.assert_allclose(predictor.predict(texts), np.stack(eager), atol=1e-5)


def test_ensemble_configs_are_checked():
    with pytest.raises(ValueError, match="stride"):
        LocalizationModel(ModelConfig(stride=4, members=[ModelConfig(stride=8).to_dict()]))
    with pytest.raises(ValueError, match="plain network"):
        LocalizationModel(ModelConfig(members=[ModelConfig(linear_ks=[1]).to_dict()]))
    with pytest.raises(ValueError, match="linear_ks"):
        LocalizationModel(ModelConfig(features=FEATURE_SET))
    with pytest.raises(ValueError, match="unknown feature set"):
        LocalizationModel(ModelConfig(linear_ks=[1], features="coding-v0"))


def test_runtime_refuses_a_feature_set_it_lacks(tmp_path):
    from rnaloc_infer.errors import ModelError
    from rnaloc_infer.session import parse_metadata

    meta = {"rnaloc.format_version": "1", "rnaloc.classes": '["A"]', "rnaloc.thresholds": "[0.5]",
            "rnaloc.stride": "4", "rnaloc.features": "coding-v9"}
    with pytest.raises(ModelError, match="coding-v9.*upgrade"):
        parse_metadata(tmp_path / "m.onnx", meta)
