"""Evaluation: label matching, the metrics table against scikit-learn, TSV output, the CLI."""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
import sys

import numpy as np
import pytest

from rnaloc_infer.evaluation import metrics, report
from rnaloc_infer.errors import InputError
from rnaloc_infer.evaluation.labels import LabelMatchError, match_labels, read_labels
from rnaloc_infer.evaluation.report import compute_table, write_tsv

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]


def _write_labels(path, ids, y, classes=CLASSES):
    with open(path, "w") as fh:
        fh.write("\t".join(["id", "gene_id", "gene_name", *classes]) + "\n")
        for rid, row in zip(ids, y):
            fh.write("\t".join([rid, "1", "G", *(str(int(v)) for v in row)]) + "\n")
    return path


def _synthetic(seed=0, n=300, classes=CLASSES):
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.15, 0.8, len(classes))
    y = (rng.random((n, len(classes))) < prevalence).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=y.shape) + 1.2 * (y - 0.5))))
    s[:, 0] = np.round(s[:, 0], 1)  # ties in one class
    return y, s


# ---- reading and matching labels -------------------------------------------------------

def test_read_labels_picks_and_orders_classes(tmp_path):
    path = _write_labels(tmp_path / "l.tsv", ["a", "b"], [[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 1, 0]])
    labels = read_labels(path, ["ER", "Nucleus"])
    assert labels.ids == ["a", "b"]
    assert labels.classes == ["ER", "Nucleus"]
    np.testing.assert_array_equal(labels.y, [[1, 1], [0, 0]])
    assert read_labels(path).classes == CLASSES  # default: every non-id column


@pytest.mark.parametrize("body, needle", [
    ("id\tNucleus\na\t2\n", "0 or 1"),
    ("id\tNucleus\na\tyes\n", "0 or 1"),
    ("id\tNucleus\na\t1\na\t0\n", "duplicate id 'a'"),
    ("id\tCytosol\na\t1\n", "no column for class(es) Nucleus"),
    ("name\tNucleus\na\t1\n", "'id' column"),
])
def test_read_labels_rejects_bad_files(tmp_path, body, needle):
    path = tmp_path / "bad.tsv"
    path.write_text(body)
    with pytest.raises(InputError, match=None) as info:
        read_labels(path, ["Nucleus"])
    assert needle in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("rows, needle", [
    (["r0\t1\tG\t" + "\t".join(["0.5"] * 6)], "line 2: Nucleus is '0.5'; labels must be 0 or 1"),
    (["r0\t1\tG\t" + "\t".join(["1"] * 6), "r0\t1\tG\t" + "\t".join(["0"] * 6)], "line 3: duplicate id 'r0'"),
    (["r0\t1\tG\t" + "\t".join(["1"] * 6), "r9\t1\tG\t" + "\t".join(["0"] * 6)], "missing from"),
])
def test_training_reads_labels_as_strictly_as_evaluation(tmp_path, rows, needle):
    """read_split goes through the one label reader: the same one-line errors as evaluate."""
    from rnaloc_infer.training.data import read_split

    fasta = tmp_path / "x.fa"
    fasta.write_text(">r0 gene\nACGTACGT\n")
    labels = tmp_path / "l.tsv"
    labels.write_text("\n".join(["id\tgene_id\tgene_name\t" + "\t".join(CLASSES), *rows]) + "\n")
    with pytest.raises((InputError, LabelMatchError)) as info:
        read_split(fasta, labels, CLASSES)
    message = str(info.value)
    assert needle in message and len(message.splitlines()) == 1
    assert str(labels) in message


def test_match_labels_reorders_to_prediction_order(tmp_path):
    y = np.eye(6, dtype=int)[:3]
    labels = read_labels(_write_labels(tmp_path / "l.tsv", ["a", "b", "c"], y))
    np.testing.assert_array_equal(match_labels(["c", "a", "b"], labels), y[[2, 0, 1]])


def test_match_labels_names_missing_ids_on_both_sides(tmp_path):
    ids = [f"NM_{i}" for i in range(10)]
    labels = read_labels(_write_labels(tmp_path / "l.tsv", ids, np.zeros((10, 6), dtype=int)))
    pred = ids[2:] + ["XR_1", "XR_2"]
    with pytest.raises(LabelMatchError) as info:
        match_labels(pred, labels, pred_source="x.fa", label_source="l.tsv")
    msg = str(info.value)
    assert "\n" not in msg
    assert "2 id(s) in x.fa missing from l.tsv: XR_1, XR_2" in msg
    assert "2 id(s) in l.tsv missing from x.fa: NM_0, NM_1" in msg


def test_match_labels_shortens_long_id_lists(tmp_path):
    labels = read_labels(_write_labels(tmp_path / "l.tsv", ["a"], [[0] * 6]))
    with pytest.raises(LabelMatchError, match=r"20 id\(s\) in predictions missing from labels: p0, p1, p2, p3, p4, \.\.\."):
        match_labels(["a"] + [f"p{i}" for i in range(20)], labels)


def test_match_labels_rejects_duplicate_prediction_ids(tmp_path):
    labels = read_labels(_write_labels(tmp_path / "l.tsv", ["a", "b"], np.zeros((2, 6), dtype=int)))
    with pytest.raises(LabelMatchError, match="duplicate id.*: a"):
        match_labels(["a", "b", "a"], labels)


# ---- the table --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_table_matches_sklearn(seed):
    pytest.importorskip("sklearn")
    from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, roc_auc_score

    y, s = _synthetic(seed)
    thr = [0.3, 0.4, 0.5, 0.5, 0.6, 0.7]
    table = compute_table(y, s, CLASSES, thr)
    for j in range(len(CLASSES)):
        pred = (s[:, j] >= thr[j]).astype(int)
        assert table.auroc[j] == pytest.approx(roc_auc_score(y[:, j], s[:, j]), abs=1e-10)
        assert table.auprc[j] == pytest.approx(average_precision_score(y[:, j], s[:, j]), abs=1e-10)
        assert table.mcc[j] == pytest.approx(matthews_corrcoef(y[:, j], pred), abs=1e-10)
        assert table.f1[j] == pytest.approx(f1_score(y[:, j], pred), abs=1e-10)
        assert table.n_pos[j] == y[:, j].sum()
    assert table.n == len(y)
    for key in ("auroc", "auprc", "mcc", "f1"):
        assert table.macro[key] == pytest.approx(np.mean(getattr(table, key)))


def test_table_single_valued_class_is_nan_and_skipped_in_macro():
    y, s = _synthetic(1)
    y[:, 1] = 1  # like Exosome on a tiny set: no negatives
    table = compute_table(y, s, CLASSES)
    assert math.isnan(table.auroc[1]) and math.isnan(table.auprc[1])
    others = [v for j, v in enumerate(table.auroc) if j != 1]
    assert table.macro["auroc"] == pytest.approx(np.mean(others))


def test_tuned_thresholds_do_not_lower_mcc():
    # n = 1000: every class has >= 100 positives and negatives, so the policy takes the MCC optimum
    y, s = _synthetic(2, n=1000)
    at_half = compute_table(y, s, CLASSES)
    tuned = compute_table(y, s, CLASSES, metrics.tune_thresholds(y, s))
    assert all(t >= h - 1e-12 for t, h in zip(tuned.mcc, at_half.mcc))


def test_curve_points_integrate_to_auroc():
    pytest.importorskip("sklearn")
    from sklearn.metrics import roc_auc_score

    y, s = _synthetic(3)
    for j in range(len(CLASSES)):
        fpr, tpr = metrics.roc_points(y[:, j], s[:, j])
        assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == pytest.approx(1) and tpr[-1] == pytest.approx(1)
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        assert area == pytest.approx(roc_auc_score(y[:, j], s[:, j]), abs=1e-10)
        recall, precision = metrics.pr_points(y[:, j], s[:, j])
        assert recall[-1] == pytest.approx(1) and precision[-1] == pytest.approx(y[:, j].mean())


# ---- output -----------------------------------------------------------------------------

def test_write_tsv_round_trips(tmp_path):
    y, s = _synthetic(4)
    y[:, 1] = 1
    table = compute_table(y, s, CLASSES, [0.5] * 6)
    path = write_tsv(table, tmp_path / "sub" / "metrics.tsv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == list(report.COLUMNS)
    assert [r["class"] for r in rows] == CLASSES + ["macro"]
    for j, row in enumerate(rows[:-1]):
        assert int(row["n"]) == len(y) and int(row["n_pos"]) == y[:, j].sum()
        assert float(row["threshold"]) == 0.5
        if j != 1:
            assert float(row["auroc"]) == pytest.approx(table.auroc[j], abs=1e-6)
    assert rows[1]["auroc"] == ""  # undefined, not 0 or nan text
    assert float(rows[-1]["auroc"]) == pytest.approx(table.macro["auroc"], abs=1e-6)
    assert rows[-1]["threshold"] == "" and rows[-1]["n_pos"] == ""


def test_format_table_lists_every_class_and_macro():
    y, s = _synthetic(5)
    text = report.format_table(compute_table(y, s, CLASSES))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["class", "n_pos"]
    for cls in CLASSES + ["macro"]:
        assert any(line.startswith(cls) for line in lines)
    assert f"n = {len(y)}" in text


def test_evaluation_module_is_light():
    """Importing the evaluation module must not pull in torch or matplotlib."""
    import subprocess

    code = ("import sys, rnaloc_infer.evaluation.report; "
            "bad = [m for m in ('torch', 'matplotlib', 'sklearn') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- plots ------------------------------------------------------------------------------

def test_plots_written(tmp_path):
    pytest.importorskip("matplotlib")
    from rnaloc_infer.evaluation.plots import plot_curves

    y, s = _synthetic(6)
    y[:, 1] = 1  # a class without a curve is skipped, not an error
    paths = plot_curves(y, s, CLASSES, tmp_path, table=compute_table(y, s, CLASSES))
    assert [p.name for p in paths] == ["roc.png", "pr.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_skipped_without_matplotlib(tmp_path, monkeypatch, caplog):
    from rnaloc_infer.evaluation import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    y, s = _synthetic(7)
    with caplog.at_level(logging.WARNING):
        assert plots.plot_curves(y, s, CLASSES, tmp_path) is None
    assert "matplotlib is not installed" in caplog.text
    assert not list(tmp_path.iterdir())


# ---- the click command end to end -------------------------------------------------------

def _tiny_data(tmp_path, n=12, extra_label=None, extra_fasta=None):
    rng = np.random.default_rng(0)
    ids = [f"r{i}" for i in range(n)]
    with open(tmp_path / "x.fa", "w") as fh:
        for rid in ids + ([extra_fasta] if extra_fasta else []):
            fh.write(f">{rid} gene\n{''.join(rng.choice(list('ACGT'), rng.integers(30, 90)))}\n")
    y = np.zeros((n, 6), dtype=int)
    y[::2, 0] = 1
    y[:, 1] = 1
    y[1::3, 2] = 1
    y[:4, 3] = 1
    y[5:9, 4] = 1
    y[-3:, 5] = 1
    _write_labels(tmp_path / "l.tsv", ids + ([extra_label] if extra_label else []),
                  list(y) + ([[0] * 6] if extra_label else []))
    return tmp_path / "x.fa", tmp_path / "l.tsv"


def test_cli_evaluate_end_to_end(tcn_model, tmp_path):
    from click.testing import CliRunner

    onnx_path = tcn_model
    fasta, labels = _tiny_data(tmp_path)
    from rnaloc_infer.cli.evaluate import evaluate

    out = tmp_path / "out"
    result = CliRunner().invoke(evaluate, [str(onnx_path), str(fasta), str(labels), "--out-dir", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "macro" in result.output and "Nucleus" in result.output
    with open(out / "metrics.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["class"] for r in rows] == CLASSES + ["macro"]
    assert rows[1]["auroc"] == ""  # Exosome all positive here: undefined
    assert 0 <= float(rows[0]["auroc"]) <= 1 and float(rows[0]["threshold"]) == 0.3  # the fixture model's Nucleus threshold
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "roc.png").exists() and (out / "pr.png").exists()

    again = [str(onnx_path), str(fasta), str(labels), "--out-dir", str(out), "--quiet", "--no-plots", "--thresholds", "tuned"]
    refused = CliRunner().invoke(evaluate, again)  # an earlier evaluation's files are replaced only with --force
    assert refused.exit_code == 2 and "metrics.tsv" in refused.output and "--force" in refused.output
    quiet = CliRunner().invoke(evaluate, again + ["--force"])
    assert quiet.exit_code == 0, quiet.output
    assert "macro" not in quiet.output


def test_cli_evaluate_reports_missing_ids(tcn_model, tmp_path):
    from click.testing import CliRunner

    onnx_path = tcn_model
    fasta, labels = _tiny_data(tmp_path, extra_label="only_in_labels", extra_fasta="only_in_fasta")
    from rnaloc_infer.cli.evaluate import evaluate

    result = CliRunner().invoke(evaluate, [str(onnx_path), str(fasta), str(labels), "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "only_in_fasta" in result.output and "only_in_labels" in result.output
    assert "Traceback" not in result.output


class _StubPredictor:
    """Stands in for rnaloc_infer.api.Predictor: scores = GC fraction per class, fixed thresholds."""

    classes = tuple(CLASSES)
    thresholds = (0.5,) * 6
    prevalence = None  # a model without rnaloc.prevalence: no relative profile

    def __init__(self, model="default", **_):
        import types

        from rnaloc_infer.bundled import resolve_model

        self.model = model
        self.model_path = resolve_model(model)  # the sidecar names the model by its file's sha256
        self.info = types.SimpleNamespace(prevalence=self.prevalence, version="stub", kind="stub", train_data_sha256="",
                                          classes=self.classes, thresholds=self.thresholds, package_version="stub")

    def _probs(self, records):
        # GC fraction, shifted per class so the classes differ (codes: C=1, G=2)
        gc = np.array([np.isin(r.codes, (1, 2)).mean() for r in records])
        return np.clip(gc[:, None] + np.linspace(-0.2, 0.2, len(CLASSES))[None, :] * gc[:, None], 0, 1).astype(np.float32)

    def score(self, items):
        from rnaloc_infer.batching import Scored
        from rnaloc_infer.fasta import RecordError

        for item in items:
            if isinstance(item, RecordError):
                yield item
            else:
                yield Scored(item.id, item.header, item.length, item.source, item.number, self._probs([item])[0])

    def relative_profile(self, probs):
        from rnaloc_infer.profile import relative_profile

        return relative_profile(probs, self.prevalence)


@pytest.fixture
def stub_api(monkeypatch):
    import types

    module = types.ModuleType("rnaloc_infer.api")
    module.Predictor = _StubPredictor
    monkeypatch.setitem(sys.modules, "rnaloc_infer.api", module)
    return module


def test_cli_with_stub_predictor(tmp_path, stub_api):
    """The command's own logic (reading, matching, writing, printing) without ONNX Runtime."""
    from click.testing import CliRunner

    from rnaloc_infer.cli.evaluate import evaluate

    fasta, labels = _tiny_data(tmp_path, n=30)
    out = tmp_path / "out"
    result = CliRunner().invoke(evaluate, ["default", str(fasta), str(labels), "--out-dir", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[:2] == ["class", "n_pos"]  # the log goes to stderr
    with open(out / "metrics.tsv", newline="") as fh:
        rows = {r["class"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert set(rows) == set(CLASSES) | {"macro"}
    assert int(rows["Nucleus"]["n"]) == 30 and int(rows["Nucleus"]["n_pos"]) == 15
    assert not (out / "roc.png").exists()
    assert not (out / "specificity_profile.tsv").exists()  # the stub model has no prevalence


def _specificity_rows(path):
    with open(path, newline="") as fh:
        return {(r["section"], r["name"]): float(r["value"]) for r in csv.DictReader(fh, delimiter="\t")}


def test_cli_writes_the_relative_profile_figures(tmp_path, stub_api, monkeypatch):
    """A model with its training prevalence also gets the rel_ profile's figures, whose pair
    AUROCs are the log-odds pair AUROCs of the probabilities (same differences)."""
    from click.testing import CliRunner

    from rnaloc_infer.cli.evaluate import evaluate

    monkeypatch.setattr(_StubPredictor, "prevalence", (0.7, 0.99, 0.55, 0.3, 0.19, 0.11))
    fasta, labels = _tiny_data(tmp_path, n=30)
    out = tmp_path / "out"
    result = CliRunner().invoke(evaluate, ["default", str(fasta), str(labels), "--out-dir", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "relative profile" in result.output
    plain, profile = _specificity_rows(out / "specificity.tsv"), _specificity_rows(out / "specificity_profile.tsv")
    pairs = [key for key in plain if key[0] == "pair_auroc_log_odds"]
    assert pairs
    for _, name in pairs:
        assert profile[("pair_auroc", name)] == pytest.approx(plain[("pair_auroc_log_odds", name)], abs=1e-4)
    assert ("pair_auroc_log_odds", pairs[0][1]) not in profile  # rel_ values are not probabilities


def test_cli_stub_missing_ids_is_one_line_error(tmp_path, stub_api):
    from click.testing import CliRunner

    from rnaloc_infer.cli.evaluate import evaluate

    fasta, labels = _tiny_data(tmp_path, extra_label="NM_only_label", extra_fasta="NM_only_fasta")
    result = CliRunner().invoke(evaluate, ["default", str(fasta), str(labels), "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 1
    err = result.output.strip()
    assert err.count("\n") == 0 and err.startswith("rnaloc-train evaluate: error:")  # as rnaloc-infer writes it
    assert "NM_only_fasta" in err and "NM_only_label" in err
    assert not (tmp_path / "o" / "metrics.tsv").exists()


def test_evaluate_registered_in_rnaloc_train():
    from rnaloc_infer.cli.train import main

    assert "evaluate" in main.commands
