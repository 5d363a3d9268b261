"""numpy metrics against scikit-learn on random data (including ties and degenerate classes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, roc_auc_score

from rnaloc_infer.evaluation import metrics


def _data(seed: int, n: int = 200, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = rng.random(n) + 0.4 * y
    if ties:
        s = np.round(s, 1)  # many tied scores
    return y.astype(int), s


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_auroc_and_ap_match_sklearn(seed, ties):
    y, s = _data(seed, ties=ties)
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.9, 2.0])
def test_mcc_and_f1_match_sklearn(seed, threshold):
    y, s = _data(seed, ties=True)
    pred = (s >= threshold).astype(int)
    assert metrics.mcc(y, s, threshold) == pytest.approx(matthews_corrcoef(y, pred), abs=1e-12)
    assert metrics.f1(y, s, threshold) == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_tuned_threshold_maximises_mcc(seed):
    y, s = _data(seed, ties=True)
    thr = metrics.best_mcc_threshold(y, s)
    best = metrics.mcc(y, s, thr)
    brute = max(matthews_corrcoef(y, (s >= t).astype(int)) for t in np.unique(s))
    assert best == pytest.approx(brute, abs=1e-12)


def test_degenerate_class_gives_nan_not_crash():
    y = np.zeros((50, 2), dtype=int)
    y[:10, 1] = 1
    s = np.random.default_rng(0).random((50, 2))
    result = metrics.evaluate(y, s, ["all_negative", "mixed"], metrics.tune_thresholds(y, s))
    assert math.isnan(result["auroc"][0]) and math.isnan(result["auprc"][0])
    assert result["thresholds"][0] == 0.5
    assert result["macro_auroc"] == pytest.approx(roc_auc_score(y[:, 1], s[:, 1]))
    assert math.isnan(metrics.roc_auc(np.ones(5), np.arange(5)))


def test_evaluate_macro_is_mean_over_classes():
    rng = np.random.default_rng(1)
    y = (rng.random((120, 3)) < 0.4).astype(int)
    s = rng.random((120, 3)) + 0.3 * y
    result = metrics.evaluate(y, s, ["a", "b", "c"])
    assert result["macro_auroc"] == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert result["macro_auprc"] == pytest.approx(average_precision_score(y, s, average="macro"))
    with pytest.raises(ValueError):
        metrics.evaluate(y, s[:, :2], ["a", "b", "c"])


def test_metrics_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, rnaloc_infer.evaluation.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
