"""Cross-fitting of the regression and forest members and the blend on out-of-fold scores
(training/crossfit_members.py, training/crossfit_blend.py, `rnaloc-train crossfit --member`,
`rnaloc-train crossfit-blend`), on tiny synthetic data: seconds, no real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import LABEL_SETS, write_label_set_data

from rnaloc_infer.cli.train import main
from rnaloc_infer.evaluation import metrics
from rnaloc_infer.evaluation.specificity import pair_auroc
from rnaloc_infer.output.files import TEMP_MARK

pytest.importorskip("sklearn")

from rnaloc_infer.training.crossfit import (OOF_FILE, assign_folds, fold_lock, fold_plan, read_labelled,  # noqa: E402
                                            read_oof, write_folds, write_oof)

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]


def _labels_file(path: Path, ids, labels) -> None:
    rows = ["id\tgene_id\tgene_name\t" + "\t".join(CLASSES)]
    rows += [f"{i}\t{n}\tG{n}\t" + "\t".join(map(str, row)) for n, (i, row) in enumerate(zip(ids, labels))]
    path.write_text("\n".join(rows) + "\n")


def _sequence_data(folder: Path) -> Path:
    """FASTA + labels with three label sets (stratified folds need several records per set)."""
    return write_label_set_data(folder, 30, 15, 160)


def test_fold_plans_are_stratified_and_stable(tmp_path):
    labels = np.array([LABEL_SETS[i % 3] for i in range(60)])
    folds = assign_folds(labels, k=5, seed=0)
    assert np.array_equal(folds, assign_folds(labels, k=5, seed=0))
    assert not np.array_equal(folds, assign_folds(labels, k=5, seed=1))
    for fold in range(5):  # every label set spread evenly: 20 records each, 4 per fold
        assert [int(np.sum((folds == fold) & (np.arange(60) % 3 == s))) for s in range(3)] == [4, 4, 4]
    data = read_labelled(_sequence_data(tmp_path / "data"), CLASSES, "tiny")
    stored = fold_plan(tmp_path / "cf", data, 3, 0)
    assert np.array_equal(fold_plan(tmp_path / "cf", data, 3, 0), stored)  # a rerun reads the same plan
    with pytest.raises(ValueError, match="differ from --folds 5"):
        fold_plan(tmp_path / "cf", data, 5, 0)


def test_fold_lock_excludes_a_second_holder(tmp_path):
    run_dir = tmp_path / "fold0"
    probe = ("import sys; from pathlib import Path; from rnaloc_infer.training.crossfit import fold_lock\n"
             "with fold_lock(Path(sys.argv[1])) as mine: print(mine)")
    with fold_lock(run_dir) as mine:
        assert mine
        with fold_lock(run_dir) as second:  # another open file: excluded even in this process
            assert not second
        other = subprocess.run([sys.executable, "-c", probe, str(run_dir)], capture_output=True, text=True, check=True)
        assert other.stdout.strip() == "False"
    other = subprocess.run([sys.executable, "-c", probe, str(run_dir)], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "True"  # released on leaving


def test_members_never_fit_the_fold_they_score_and_resume(tmp_path, monkeypatch):
    """Every fold's member is fitted on exactly the other folds' records; a fold with oof.npz
    is not fitted again, and a fold locked by another process is left to it."""
    pytest.importorskip("torch")
    from rnaloc_infer.training import crossfit_members

    data_dir = _sequence_data(tmp_path / "data")
    fitted = {}

    def fake_fit(member, train, x, run_dir, c=None, recipe=None):
        fitted[run_dir.name] = list(train.ids)
        return (lambda rows: np.tile(rows[:, :1], (1, len(CLASSES)))), {}

    monkeypatch.setattr(crossfit_members, "fit_member", fake_fit)
    monkeypatch.setattr(crossfit_members, "member_inputs",
                        lambda member, codes: np.arange(len(codes), dtype=np.float64)[:, None])
    out = tmp_path / "cf"
    with fold_lock(out / "regression" / "fold1"):  # another process holds fold 1
        crossfit_members.crossfit_member("regression", out, k=3, data_dir=data_dir, prefix="tiny")
    assert sorted(fitted) == ["fold0", "fold2"] and not (out / "regression" / "fold1" / OOF_FILE).exists()
    crossfit_members.crossfit_member("regression", out, k=3, data_dir=data_dir, prefix="tiny")
    assert sorted(fitted) == ["fold0", "fold1", "fold2"]
    folds = {row.split("\t")[0]: int(row.split("\t")[1]) for row in (out / "folds.tsv").read_text().split("\n")[1:] if row}
    data = read_labelled(data_dir, CLASSES, "tiny")
    for fold in range(3):
        held = {i for i, f in folds.items() if f == fold}
        assert set(fitted[f"fold{fold}"]) == set(folds) - held  # never its own fold, every other record
        oof = read_oof(out / "regression" / f"fold{fold}" / OOF_FILE)
        assert set(oof["ids"]) == held
        # the fake scorer returns each record's row number: the scores belong to these records
        assert [data.ids[int(v)] for v in oof["logits"][:, 0]] == oof["ids"]
    fitted.clear()
    crossfit_members.crossfit_member("regression", out, k=3, data_dir=data_dir, prefix="tiny")
    assert not fitted  # all done: resumed, nothing fitted


def test_crossfit_member_command_fits_real_members(tmp_path, monkeypatch):
    """Smoke: the real regression and forest per fold through the command, files loadable."""
    pytest.importorskip("torch")
    from rnaloc_infer.training import forest
    from rnaloc_infer.training.forest import load_forest
    from rnaloc_infer.training.regression import load_logreg

    monkeypatch.setitem(forest.SETTINGS, "max_iter", 5)  # a few trees: the same code, seconds

    data_dir = _sequence_data(tmp_path / "data")
    out = tmp_path / "cf"
    # --threads 1: OpenMP threads of the trees spin for seconds on a busy machine
    result = CliRunner().invoke(main, ["crossfit", "--member", "regression", "--member", "forest", "--out", str(out),
                                       "--folds", "2", "--c", "0.01", "--data-dir", str(data_dir), "--prefix", "tiny",
                                       "--threads", "1"])
    assert result.exit_code == 0, result.output
    for member in ("regression", "forest"):
        for fold in range(2):
            run = out / member / f"fold{fold}"
            info = json.loads((run / "fold.json").read_text())
            assert info["fitted_records"] + info["scored_records"] == 45
            assert read_oof(run / OOF_FILE)["logits"].shape == (info["scored_records"], 6)
    assert load_logreg(out / "regression" / "fold0" / "model.npz").C == 0.01
    assert load_forest(out / "forest" / "fold1" / "model.npz").features == "coding-utr-v1"
    assert not list(out.rglob(f"*{TEMP_MARK}*"))
    assert CliRunner().invoke(main, ["crossfit", "--out", str(out)]).exit_code == 2  # nothing named


def test_crossfit_forest_recipe_is_recorded_and_never_mixed(tmp_path, monkeypatch):
    """--forest-bags 2 --forest-max-features 0.5: each fold's forest is a bag of 2 on half the
    columns per split, said in source.json, fold.json and the file; the same directory
    continued with another recipe is refused in one line."""
    pytest.importorskip("torch")
    from rnaloc_infer.training import forest
    from rnaloc_infer.training.forest import load_forest

    monkeypatch.setitem(forest.SETTINGS, "max_iter", 5)
    data_dir = _sequence_data(tmp_path / "data")
    out = tmp_path / "cf"
    args = ["crossfit", "--member", "forest", "--out", str(out), "--folds", "2", "--data-dir", str(data_dir),
            "--prefix", "tiny", "--threads", "1"]
    result = CliRunner().invoke(main, [*args, "--fold", "0", "--forest-bags", "2", "--forest-max-features", "0.5"])
    assert result.exit_code == 0, result.output
    fold = json.loads((out / "forest" / "fold0" / "fold.json").read_text())
    assert fold["bags"] == 2 and fold["max_features"] == 0.5
    assert json.loads((out / "forest" / "source.json").read_text())["max_features"] == 0.5
    fitted = load_forest(out / "forest" / "fold0" / "model.npz")
    assert fitted.bags == 2 and fitted.max_features == 0.5
    for other, said in ((["--forest-max-features", "0.5"], "not 1 bag(s) on 50% of the columns"),
                        (["--forest-bags", "2"], "not 2 bag(s) on 100% of the columns")):
        result = CliRunner().invoke(main, [*args, "--fold", "1", *other])
        assert result.exit_code == 1 and "fitted with 2 bag(s) on 50% of the columns, " + said in result.output
        assert len(result.output.strip().splitlines()) == 1 and not (out / "forest" / "fold1").exists()


# --- the blend ---------------------------------------------------------------------------

def _oof_dir(tmp_path: Path, n: int = 300, k: int = 5):
    """A cross-fitting directory with three members' synthetic out-of-fold scores, and its truth."""
    rng = np.random.default_rng(1)
    prevalence = np.array([0.6, 0.97, 0.5, 0.3, 0.35, 0.2])
    labels = (rng.random((n, 6)) < prevalence).astype(int)
    ids = [f"r{i}" for i in range(n)]
    data = tmp_path / "data"
    data.mkdir()
    _labels_file(data / "tiny_train_labels.tsv", ids[:200], labels[:200])
    _labels_file(data / "tiny_valid_labels.tsv", ids[200:], labels[200:])
    out = tmp_path / "cf"
    out.mkdir()
    folds = assign_folds(labels, k, 0)
    write_folds(out / "folds.tsv", ids, folds)
    scores = {}
    for name, signal in (("net", 1.0), ("regression", 0.6), ("forest", 0.3)):
        # float32, as oof.npz stores them: the direct computation below sees the same numbers
        scores[name] = (signal * labels + rng.normal(size=labels.shape) + 3 * (name == "net")).astype(np.float32)
        (out / name).mkdir()
        (out / name / "source.json").write_text(json.dumps({"data_dir": str(data)}))
        for fold in range(k):
            rows = np.flatnonzero(folds == fold)
            (out / name / f"fold{fold}").mkdir()
            write_oof(out / name / f"fold{fold}" / OOF_FILE, [ids[i] for i in rows], scores[name][rows], 0)
    return out, labels, folds, scores


@pytest.fixture(autouse=True)
def _small_stacking(monkeypatch):
    """One penalty and one repeat in the stacking's inner choice: the same code, a few seconds."""
    from rnaloc_infer.training import stacking

    from threadpoolctl import threadpool_limits

    full = stacking.stack_members
    monkeypatch.setattr(stacking, "stack_members", lambda scores, labels, classes=None, grid=None, **_: full(
        scores, labels, classes, (0.1,), repeats=1))
    with threadpool_limits(1):  # threads waiting for a busy core only slow these small fits
        yield


def _blend(out: Path, report: Path, *extra: str):
    return CliRunner().invoke(main, ["crossfit-blend", str(out), "--out", str(report), "--prefix", "tiny",
                                     "--resamples", "30", *extra])


def test_blend_refuses_a_missing_fold(tmp_path):
    out, *_ = _oof_dir(tmp_path)
    (out / "forest" / "fold3" / OOF_FILE).unlink()
    result = _blend(out, tmp_path / "report")
    assert result.exit_code == 1
    assert "forest/fold3/oof.npz: missing: member forest has no out-of-fold scores for fold 3" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "report").exists()


def test_blend_report_equals_a_direct_computation(tmp_path):
    from rnaloc_infer.training.stacking import fit_blend, member_standardisation, standardise

    out, labels, folds, scores = _oof_dir(tmp_path)
    report_dir = tmp_path / "report"
    result = _blend(out, report_dir)
    assert result.exit_code == 0, result.output
    report = json.loads((report_dir / "report.json").read_text())
    blend = json.loads((report_dir / "blend.json").read_text())
    names = ["net", "regression", "forest"]  # networks first, then regression and forest
    assert report["members"] == names and report["records"] == 300
    member_list = [scores[n] for n in names]
    for name in names:
        for c, cls in enumerate(CLASSES):
            assert report["members_oof_auroc"][name][cls] == pytest.approx(metrics.roc_auc(labels[:, c], scores[name][:, c]))
    # in-sample: the blend fitted on every out-of-fold score
    mean, std = member_standardisation(names, CLASSES, member_list)
    z = standardise(member_list, mean, std)
    fitted = fit_blend(z, labels, CLASSES)
    assert np.allclose(np.array([blend["weights"][n] for n in names]).T, fitted.weights)
    assert np.allclose(blend["thresholds"], fitted.thresholds) and np.allclose(blend["platt"]["a"], fitted.a)
    probs = fitted.a * fitted.score(z) + fitted.b  # log-odds, as the report ranks them
    for c, cls in enumerate(CLASSES):
        assert report["in_sample"][cls]["auroc"]["value"] == pytest.approx(metrics.roc_auc(labels[:, c], probs[:, c]))
    # nested: each fold scored by a blend fitted on the others
    nested, decided = np.zeros(labels.shape), np.zeros(labels.shape, dtype=bool)
    for fold in range(5):
        fit, held = folds != fold, folds == fold
        m, s = member_standardisation(names, CLASSES, [v[fit] for v in member_list])
        f = fit_blend(standardise([v[fit] for v in member_list], m, s), labels[fit], CLASSES)
        # log-odds: a near-separable class (Exosome, 97 %) can saturate the probabilities into ties
        nested[held] = f.a * f.score(standardise([v[held] for v in member_list], m, s)) + f.b
        decided[held] = 1 / (1 + np.exp(-nested[held])) >= np.array(f.thresholds)
    estimate = report["estimate"]
    for c, cls in enumerate(CLASSES):
        assert estimate[cls]["auroc"]["value"] == pytest.approx(metrics.roc_auc(labels[:, c], nested[:, c]))
        assert estimate[cls]["auprc"]["value"] == pytest.approx(metrics.average_precision(labels[:, c], nested[:, c]))
        assert estimate[cls]["mcc"]["value"] == pytest.approx(metrics.mcc(labels[:, c], decided[:, c].astype(float)))
        tp = np.sum(decided[:, c] & (labels[:, c] == 1))
        assert estimate[cls]["precision"] == pytest.approx(tp / decided[:, c].sum())
        assert estimate[cls]["recall"] == pytest.approx(tp / labels[:, c].sum())
        assert estimate[cls]["auroc"]["low"] <= estimate[cls]["auroc"]["value"] <= estimate[cls]["auroc"]["high"]
    macro = np.mean([metrics.roc_auc(labels[:, c], nested[:, c]) for c in range(6)])
    assert estimate["macro"]["auroc"]["value"] == pytest.approx(macro)
    odds = nested
    pair = pair_auroc(labels, odds, CLASSES, "Nucleus", "Cytosol")
    spec = estimate["specificity"]
    assert spec["auroc"]["value"] == pytest.approx(pair.auroc, abs=1e-9)
    assert spec["nucleus_only"] == pair.n_first_only
    assert spec["pearson_nucleus_cytosol"]["value"] == pytest.approx(np.corrcoef(odds[:, 0], odds[:, 2])[0, 1])
    assert "Exosome" in report["uninformative"]  # 97 % positive
    tsv = (report_dir / "report.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["section", "class", "figure", "value", "low", "high"]
    assert any(line.startswith("estimate\tmacro\tauroc\t") for line in tsv)
    assert not list(report_dir.glob(f"*{TEMP_MARK}*"))
    # refuse-or---force, never half written
    before = (report_dir / "blend.json").read_bytes()
    assert _blend(out, report_dir).exit_code == 2
    assert (report_dir / "blend.json").read_bytes() == before
    assert _blend(out, report_dir, "--force").exit_code == 0


def test_blend_with_class_mixing_is_fitted_and_nested_like_the_rest(tmp_path):
    """--class-mixing: blend.json carries the mixing fitted on every out-of-fold score, and the
    estimate scores each fold with a blend *and* mixing fitted on the other folds."""
    from rnaloc_infer.training.stacking import fit_blend, member_standardisation, standardise

    out, labels, folds, scores = _oof_dir(tmp_path)
    report_dir = tmp_path / "report"
    result = _blend(out, report_dir, "--class-mixing")
    assert result.exit_code == 0, result.output
    blend = json.loads((report_dir / "blend.json").read_text())
    report = json.loads((report_dir / "report.json").read_text())
    names = ["net", "regression", "forest"]
    member_list = [scores[n] for n in names]
    mean, std = member_standardisation(names, CLASSES, member_list)
    fitted = fit_blend(standardise(member_list, mean, std), labels, CLASSES, class_mixing=True)
    np.testing.assert_allclose(blend["mixing"]["weight"], fitted.mixing.weight, atol=1e-5)  # lbfgs tolerance
    np.testing.assert_allclose(blend["mixing"]["bias"], fitted.mixing.bias, atol=1e-5)
    assert blend["mixing"]["C"] == fitted.mixing.c and "mixing.weight" in blend["use"]
    assert np.allclose(blend["thresholds"], fitted.thresholds)
    nested = np.zeros(labels.shape)
    for fold in range(5):
        fit, held = folds != fold, folds == fold
        m, s = member_standardisation(names, CLASSES, [v[fit] for v in member_list])
        f = fit_blend(standardise([v[fit] for v in member_list], m, s), labels[fit], CLASSES, class_mixing=True)
        nested[held] = f.log_odds(standardise([v[held] for v in member_list], m, s))
        assert report["estimate"]["per_fold"][fold]["mixing_C"] == f.mixing.c
    for c, cls in enumerate(CLASSES):
        # lbfgs stops within its tolerance, which other BLAS thread counts reach by other paths
        assert report["estimate"][cls]["auroc"]["value"] == pytest.approx(metrics.roc_auc(labels[:, c], nested[:, c]),
                                                                          abs=5e-4)
    assert _blend(out, tmp_path / "plain").exit_code == 0  # without the flag: no mixing
    assert "mixing" not in json.loads((tmp_path / "plain" / "blend.json").read_text())
