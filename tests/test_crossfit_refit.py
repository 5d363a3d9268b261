"""From a cross-fitting directory to a released model (training/crossfit_refit.py,
`rnaloc-train crossfit-refit`, `release` of its checkpoint), on tiny synthetic data: a
three-fold cross-fitting directory written by hand (fold choices, out-of-fold files, a blend),
the members refit for real (a one-layer QRNN, the regression, a 5-tree forest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_label_set_data

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from rnaloc_infer.cli.train import main  # noqa: E402
from rnaloc_infer.output.files import TEMP_MARK  # noqa: E402
from rnaloc_infer.training.crossfit import OOF_FILE, assign_folds, write_folds, write_oof  # noqa: E402

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
K = 3
BEST_EPOCHS = [1, 3, 2]  # median 2 of a 3-epoch schedule
C_PER_FOLD = [0.01, 0.1, 0.01]  # median 0.01
CONFIG = ('seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
          '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 2048\neval_token_budget = 4096\n'
          "[optim]\nepochs = 3\nwarmup_steps = 2\nsnapshots = true\n")


def _data(folder: Path) -> Path:
    return write_label_set_data(folder, 40, 20, 200)


def _member(out: Path, name: str, source: dict, folds: np.ndarray, ids, rng) -> Path:
    member = out / name
    member.mkdir()
    (member / "source.json").write_text(json.dumps(source))
    for fold in range(K):
        rows = np.flatnonzero(folds == fold)
        (member / f"fold{fold}").mkdir()
        best = BEST_EPOCHS[fold] if name == "net" else 0
        write_oof(member / f"fold{fold}" / OOF_FILE, [ids[i] for i in rows], rng.normal(size=(len(rows), 6)), best)
    return member


def _blend(path: Path, out: Path, members, rng, mixing: bool = False) -> Path:
    """A blend.json of ``members`` with random numbers; with ``mixing``, a class mixing whose
    off-diagonal entries are large enough that a transposed or skipped map shows."""
    n = len(CLASSES)
    extra = {"mixing": {"weight": (np.eye(n) + 0.4 * rng.normal(size=(n, n))).tolist(),
                        "bias": rng.normal(size=n).tolist(), "C": 0.1}} if mixing else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "format": "rnaloc-crossfit-blend", "format_version": 1, "classes": CLASSES, "members": list(members),
        "records": 60, "folds": K, "folds_sha256": hashlib.sha256((out / "folds.tsv").read_bytes()).hexdigest(),
        "standardisation": {"mean": {m: rng.normal(size=n).tolist() for m in members},
                            "std": {m: (rng.random(n) + 0.5).tolist() for m in members}},
        "weights": {m: rng.normal(size=n).tolist() for m in members},
        "platt": {"a": (rng.random(n) + 0.5).tolist(), "b": rng.normal(size=n).tolist()},
        "thresholds": (rng.random(n) * 0.6 + 0.2).tolist(), **extra}))
    (path.parent / "report.json").write_text(json.dumps({"uninformative": {"Exosome": "prevalence 0.99"}}))
    return path


@pytest.fixture
def crossfit(tmp_path):
    """(crossfit dir, data dir, blend.json of all three members): a network with best epochs
    1, 3, 2 in its folds, the regression with C 0.01, 0.1, 0.01, the forest."""
    from rnaloc_infer.training.config import load_config
    from rnaloc_infer.training.crossfit import read_labelled

    data_dir = _data(tmp_path / "data")
    data = read_labelled(data_dir, CLASSES, "tiny")
    out = tmp_path / "cf"
    out.mkdir()
    folds = assign_folds(data.labels, K, 0)
    write_folds(out / "folds.tsv", data.ids, folds)
    rng = np.random.default_rng(1)
    (tmp_path / "net.toml").write_text(CONFIG)
    net = _member(out, "net", {"config": str(tmp_path / "net.toml"), "data_dir": str(data_dir)}, folds, data.ids, rng)
    config = load_config(tmp_path / "net.toml").to_dict()
    for fold in range(K):
        (net / f"fold{fold}" / "config.json").write_text(json.dumps({**config, "data": {**config["data"],
                                                                                         "data_dir": f"/x{fold}"}}))
        (net / f"fold{fold}" / "log.jsonl").write_text("".join(
            json.dumps({"epoch": e, "best": e <= BEST_EPOCHS[fold]}) + "\n" for e in range(1, 4)))
    for name in ("regression", "forest"):
        member = _member(out, name, {"member": name, "data_dir": str(data_dir)}, folds, data.ids, rng)
        for fold in range(K):
            info = {"C": C_PER_FOLD[fold]} if name == "regression" else {"trees_fitted": [5, 4, 5, 3, 5, 5]}
            (member / f"fold{fold}" / "fold.json").write_text(json.dumps({"member": name, "fold": fold, **info}))
    return out, data_dir, _blend(tmp_path / "blend" / "blend.json", out, ["net", "regression", "forest"], rng, mixing=True)


@pytest.fixture(autouse=True)
def _few_trees(monkeypatch):
    from threadpoolctl import threadpool_limits

    from rnaloc_infer.training import forest

    monkeypatch.setitem(forest.SETTINGS, "max_iter", 5)  # the same code, a few trees: seconds
    monkeypatch.setitem(forest.SETTINGS, "min_samples_leaf", 5)  # splits on 60 records
    with threadpool_limits(1):
        yield


def _refit(cf: Path, blend: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["crossfit-refit", str(cf), "--blend", str(blend), "--out", str(out),
                                     "--prefix", "tiny", "--device", "cpu", "--threads", "1", *extra])


def test_dry_run_reads_the_fold_choices(crossfit):
    cf, _, blend = crossfit
    result = CliRunner().invoke(main, ["crossfit-refit", str(cf), "--blend", str(blend), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["member"] for line in lines] == ["net", "regression", "forest"]
    assert lines[0]["epochs"] == 2 and lines[0]["best_epochs"] == BEST_EPOCHS and lines[0]["schedule_epochs"] == 3
    assert lines[1]["C"] == 0.01 and lines[1]["C_per_fold"] == C_PER_FOLD
    assert lines[2]["trees_per_fold"] == [[5, 4, 5, 3, 5, 5]] * K
    # the best epoch a fold's log marks must be its oof.npz's
    (cf / "net" / "fold1" / "log.jsonl").write_text(json.dumps({"epoch": 1, "best": True}) + "\n")
    result = CliRunner().invoke(main, ["crossfit-refit", str(cf), "--member", "net", "--dry-run"])
    assert result.exit_code == 1 and "marks epoch 1 best" in result.output


def test_a_bagged_forest_is_refit_with_its_folds_recipe(crossfit, tmp_path):
    """Folds fitted with --forest-bags 2 --forest-max-features 0.5: the refit forest is a bag of
    2 on half the columns too; folds that disagree on the recipe are refused in one line,
    before anything is fitted."""
    from rnaloc_infer.training.forest import load_forest

    cf, _, blend = crossfit
    for fold in range(K):
        path = cf / "forest" / f"fold{fold}" / "fold.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "bags": 2, "max_features": 0.5}))
    result = CliRunner().invoke(main, ["crossfit-refit", str(cf), "--blend", str(blend), "--dry-run"])
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output.strip().splitlines()[2])
    assert planned["bags"] == 2 and planned["max_features"] == 0.5 and planned["settings"]["max_features"] == 0.5
    result = _refit(cf, blend, tmp_path / "refit", "--member", "forest")
    assert result.exit_code == 0, result.output
    forest = load_forest(tmp_path / "refit" / "forest" / "model.npz")
    assert forest.bags == 2 and forest.max_features == 0.5 and all(n >= 2 for n in forest.trees_fitted)
    record = json.loads((tmp_path / "refit" / "forest" / "member.json").read_text())
    assert record["chosen"]["bags"] == 2 and "bags" not in record  # the plan's choice, recorded once
    assert record["chosen"]["max_features"] == 0.5 and "max_features" not in record
    path = cf / "forest" / "fold1" / "fold.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "bags": 1}))
    result = _refit(cf, blend, tmp_path / "other")
    assert result.exit_code == 1 and ("different recipes: 1 bag(s) on 50% of the columns; 2 bag(s) on 50% of the columns"
                                      in result.output)
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "other").exists()


def test_a_missing_fold_is_one_line(crossfit, tmp_path):
    cf, _, blend = crossfit
    (cf / "forest" / "fold1" / OOF_FILE).unlink()
    result = _refit(cf, blend, tmp_path / "refit")
    assert result.exit_code == 1
    assert "forest/fold1/oof.npz: missing: member forest has no out-of-fold scores for fold 1" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "refit").exists()  # nothing fitted before the check


def _by_hand(refit: Path, blend: dict, data) -> np.ndarray:
    """sigmoid(a * sum_m w_m * (score_m - mean_m) / std_m + b), then the class mixing if the blend
    has one, from the refit members' own files."""
    from rnaloc_infer.features.registry import CODING_UTR
    from rnaloc_infer.training.checkpoint import load_checkpoint
    from rnaloc_infer.training.forest import forest_inputs, load_forest
    from rnaloc_infer.training.regression import feature_matrix, load_logreg
    from rnaloc_infer.training.trainer import predict_logits

    net, _ = load_checkpoint(refit / "net" / "model.pt")
    scores = {"net": predict_logits(net, data, 4096, torch.device("cpu")).astype(np.float64),
              "regression": load_logreg(refit / "regression" / "model.npz").scores(feature_matrix(data.codes, coding=True)),
              "forest": load_forest(refit / "forest" / "model.npz").scores(forest_inputs(data.codes, features=CODING_UTR))}
    z = {m: (scores[m] - np.array(blend["standardisation"]["mean"][m])) / np.array(blend["standardisation"]["std"][m])
         for m in scores}
    score = sum(np.array(blend["weights"][m]) * z[m] for m in z)
    odds = np.array(blend["platt"]["a"]) * score + np.array(blend["platt"]["b"])
    if "mixing" in blend:
        odds = odds @ np.array(blend["mixing"]["weight"]).T + np.array(blend["mixing"]["bias"])
    return 1 / (1 + np.exp(-odds))


def test_refit_assemble_and_release(crossfit, tmp_path):
    """Members refit with the folds' choices on all 60 records; the model is the blend of them by
    hand; refused without --force, then rebuilt without refitting; `release` keeps blend.json's
    thresholds and marks where everything was fitted; a `fast` blend reuses the members."""
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.features.registry import CODING_UTR, record_feature_matrix
    from rnaloc_infer.modelfile.metadata import read_metadata
    from rnaloc_infer.training.checkpoint import load_checkpoint
    from rnaloc_infer.training.crossfit import read_labelled
    from rnaloc_infer.training.ensemble_model import EnsembleModel
    from rnaloc_infer.training.regression import load_logreg
    from rnaloc_infer.training.trainer import predict_logits

    cf, data_dir, blend_path = crossfit
    refit = tmp_path / "refit"
    result = _refit(cf, blend_path, refit)
    assert result.exit_code == 0, result.output
    blend = json.loads(blend_path.read_text())
    net, payload = load_checkpoint(refit / "net" / "model.pt")
    assert payload["epoch"] == 2  # the median best epoch, on the 3-epoch schedule
    log = [json.loads(line) for line in (refit / "net" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and {r["schedule_epochs"] for r in log} == {3}
    assert not list((refit / "net").glob("epoch_*.pt")) and not (refit / "net" / "best.pt").exists()
    assert load_logreg(refit / "regression" / "model.npz").C == 0.01
    report = json.loads((refit / "refit.json").read_text())
    assert report["order"] == ["net", "regression", "forest"] and report["uninformative"] == {"Exosome": "prevalence 0.99"}
    assert [m["records"] for m in report["members"]] == [60, 60, 60]
    assert list(report["members"][2]["trees_per_class"]) == CLASSES and report["members"][0]["epochs"] == 2
    assert "refit on 60 records" in (refit / "forest" / "refit.log").read_text()

    model, payload = load_checkpoint(refit / "ensemble.pt")
    assert isinstance(model, EnsembleModel) and len(model.members) == 0 and len(model.forests) == 1
    assert model.config.class_mixing and len(model.mixings) == 1
    assert payload["thresholds"] == pytest.approx(blend["thresholds"])
    assert payload["extra"]["crossfit"]["thresholds"] == blend["thresholds"]
    data = read_labelled(data_dir, CLASSES, "tiny")
    features = record_feature_matrix(data.codes, CODING_UTR)
    probs = 1 / (1 + np.exp(-predict_logits(model, data, 4096, torch.device("cpu"), features).astype(np.float64)))
    np.testing.assert_allclose(probs, _by_hand(refit, blend, data), atol=1e-5, rtol=0)
    assert not list(refit.rglob(f"*{TEMP_MARK}*"))

    # refused without --force; with it the model is rebuilt from the kept members (no refit)
    before = (refit / "ensemble.pt").read_bytes()
    stamp = (refit / "net" / "model.pt").stat().st_mtime_ns
    result = _refit(cf, blend_path, refit)
    assert result.exit_code == 2 and "ensemble.pt" in result.output
    assert (refit / "ensemble.pt").read_bytes() == before
    assert _refit(cf, blend_path, refit, "--force").exit_code == 0
    assert (refit / "net" / "model.pt").stat().st_mtime_ns == stamp and len((refit / "net" / "log.jsonl").read_text().splitlines()) == 2

    # fast: a blend of a member subset, its members read from the first refit, nothing trained
    fast_blend = _blend(tmp_path / "fast_blend" / "blend.json", cf, ["net", "regression"], np.random.default_rng(5))
    fast = tmp_path / "refit_fast"
    result = _refit(cf, fast_blend, fast, "--members-from", str(refit))
    assert result.exit_code == 0, result.output
    assert not (fast / "net").exists() and not (fast / "regression").exists()
    sources = {m["member"]: m["source"] for m in json.loads((fast / "refit.json").read_text())["members"]}
    assert sources == {"net": f"reused from {refit}", "regression": f"reused from {refit}"}
    fast_model, _ = load_checkpoint(fast / "ensemble.pt")
    assert len(fast_model.forests) == 0 and len(fast_model.mixings) == 0  # its blend has no mixing

    # release: blend.json's thresholds (Exosome never labelled), nothing fitted on valid
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "example.fa").write_text(">a\nACGTTGCAAGGCTTANNACGATCGG\n>b\n" + "ATGGCTTGCA" * 30 + "\n")
    result = CliRunner().invoke(main, ["release", str(refit / "ensemble.pt"), "--name", "tiny", "--root", str(root),
                                       "--data-dir", str(data_dir), "--prefix", "tiny", "--no-label", "Exosome"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["valid_evaluation"] == "in-sample"
    shipped = root / "rnaloc_infer" / "models" / "tiny.onnx"
    expected = [None if c == "Exosome" else t for c, t in zip(CLASSES, blend["thresholds"])]
    for path in (shipped, shipped.with_name("tiny.fp16.onnx")):
        meta = read_metadata(path)
        assert json.loads(meta["rnaloc.thresholds"]) == expected
        fitting = json.loads(meta["rnaloc.fitting"])
        assert fitting["thresholds"].startswith("out of fold") and fitting["uninformative"] == ["Exosome"]
    thresholds = Predictor(shipped, device="cpu", threads=1).thresholds
    assert [t for c, t in zip(CLASSES, thresholds) if c != "Exosome"] == pytest.approx(
        [t for c, t in zip(CLASSES, blend["thresholds"]) if c != "Exosome"], abs=1e-12)
    refit_report = json.loads((root / "benchmarks" / "results" / "refit_tiny.json").read_text())
    assert refit_report["thresholds_fitted_on"].startswith("given") and "applicability" in refit_report
    note = json.loads((root / "docs" / "model_card" / "tiny" / "evaluation.json").read_text())
    assert note["in_sample"] and "train + valid" in note["why"]
    assert (root / "rnaloc_infer" / "models" / "tiny.ism.npz").is_file()  # explain's companion
    assert "int8" in refit_report  # the twin was tried (kept only within its bounds)


def test_an_interrupted_network_resumes_to_the_same_weights(crossfit, tmp_path, monkeypatch):
    """`--member net` refits that member only (no model yet: the others are missing); killed
    after its first epoch, a rerun continues from last.pt and ends with the weights of an
    uninterrupted refit."""
    from rnaloc_infer.training.checkpoint import load_checkpoint
    from rnaloc_infer.training.trainer import Trainer

    cf, _, blend = crossfit
    whole = tmp_path / "whole"
    result = _refit(cf, blend, whole, "--member", "net")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["missing"] == ["regression", "forest"] and summary["ensemble"] is None
    assert not (whole / "ensemble.pt").exists() and not (whole / "regression").exists()

    epoch = Trainer.train_epoch

    def dies_in_epoch_two(self):
        if self.epoch == 1:
            raise KeyboardInterrupt  # the process is stopped
        return epoch(self)

    cut = tmp_path / "cut"
    monkeypatch.setattr(Trainer, "train_epoch", dies_in_epoch_two)
    assert _refit(cf, blend, cut, "--member", "net").exit_code != 0
    assert (cut / "net" / "last.pt").is_file() and not (cut / "net" / "model.pt").exists()
    monkeypatch.setattr(Trainer, "train_epoch", epoch)
    assert _refit(cf, blend, cut, "--member", "net").exit_code == 0
    assert [json.loads(line)["epoch"] for line in (cut / "net" / "log.jsonl").read_text().splitlines()] == [1, 2]
    a, _ = load_checkpoint(whole / "net" / "model.pt")
    b, _ = load_checkpoint(cut / "net" / "model.pt")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_null_thresholds_of_the_blend_are_never_labelled():
    from rnaloc_infer.export.release import crossfit_fitting
    from rnaloc_infer.modelfile.metadata import NO_LABEL

    payload = {"extra": {"crossfit": {"thresholds": [0.3, None], "fitting": {"thresholds": "out of fold"},
                                      "folds": 5, "uninformative": {"Exosome": "prevalence"}}}}
    thresholds, fitting = crossfit_fitting(payload)
    assert thresholds == [0.3, NO_LABEL] and fitting["uninformative"] == ["Exosome"] and fitting["folds"] == 5
    assert crossfit_fitting({"extra": {}}) == (None, None)  # any other checkpoint: refit on valid as before



def test_a_network_refit_is_continued_when_a_later_fold_moves_its_median_up(crossfit, tmp_path, monkeypatch):
    """Refit for 1 epoch while the folds chose fewer (a fold unfinished), then rerun once they
    choose 2: the same --out continues from last.pt and ends with the weights of a refit for 2
    epochs from the start; a refit for a different schedule is still refused."""
    from rnaloc_infer.training import crossfit_refit
    from rnaloc_infer.training.checkpoint import load_checkpoint

    cf, _, blend = crossfit
    whole = tmp_path / "whole"
    assert _refit(cf, blend, whole, "--member", "net").exit_code == 0
    early = tmp_path / "early"
    monkeypatch.setattr(crossfit_refit, "middle", lambda values: 1)
    assert _refit(cf, blend, early, "--member", "net").exit_code == 0
    assert json.loads((early / "net" / "member.json").read_text())["chosen"]["epochs"] == 1
    monkeypatch.undo()
    result = _refit(cf, blend, early, "--member", "net")
    assert result.exit_code == 0, result.output
    record = json.loads((early / "net" / "member.json").read_text())
    assert record["status"] == "done" and record["chosen"]["epochs"] == 2
    assert [json.loads(line)["epoch"] for line in (early / "net" / "log.jsonl").read_text().splitlines()] == [1, 2]
    a, _ = load_checkpoint(whole / "net" / "model.pt")
    b, _ = load_checkpoint(early / "net" / "model.pt")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    record["chosen"]["schedule_epochs"] = 5  # another schedule: its last.pt is not on the way
    (early / "net" / "member.json").write_text(json.dumps(record))
    result = _refit(cf, blend, early, "--member", "net")
    assert result.exit_code == 1 and "was refit with other choices" in result.output
