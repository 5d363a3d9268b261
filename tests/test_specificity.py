"""Specificity figures: a "how many labels" scorer must look like one, a "which one" scorer must not."""

import numpy as np
import pytest

from rnaloc_infer.evaluation.specificity import format_report, pair_auroc, specificity_report

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]


def _labels(n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, len(CLASSES))) < [0.6, 0.95, 0.5, 0.3, 0.2, 0.1]).astype(np.int8)
    y[y.sum(axis=1) == 0, 1] = 1
    return y


def test_count_only_scorer_is_exposed():
    y = _labels(4000)
    rng = np.random.default_rng(1)
    count = y.sum(axis=1, keepdims=True) + rng.normal(0, 0.3, (len(y), 1))
    scores = np.repeat(count, len(CLASSES), axis=1) + rng.normal(0, 1e-3, y.shape)
    report = specificity_report(y, scores, CLASSES)
    off_diagonal = report.correlation[~np.eye(len(CLASSES), dtype=bool)]
    assert off_diagonal.min() > 0.99
    # the sum ranks every class as well as the class's own column
    assert np.allclose(report.auroc, report.sum_auroc, atol=0.01)
    nc = report.pairs[0]
    assert (nc.first, nc.second) == ("Nucleus", "Cytosol")
    assert abs(nc.auroc - 0.5) < 0.1
    # within single-label records a count scorer carries no class information
    single = report.subset_auroc["one_label"]
    assert abs(single[CLASSES.index("Nucleus")] - 0.5) < 0.15


def test_compartment_scorer_separates_pairs():
    y = _labels(seed=2)
    rng = np.random.default_rng(3)
    scores = y + rng.normal(0, 0.2, y.shape)
    report = specificity_report(y, scores, CLASSES)
    assert all(p.auroc > 0.95 for p in report.pairs)
    assert report.auroc[0] > report.sum_auroc[0] + 0.1
    assert report.subset_counts["one_label"][0] == int((y.sum(axis=1) == 1).sum())
    assert report.subset_counts["three_plus"][0] == int((y.sum(axis=1) >= 3).sum())
    text = format_report(report)
    assert "Nucleus-only vs Cytosol-only" in text and "Membrane-only vs ER-only" in text


def test_pair_counts_and_direction():
    classes = ["A", "B"]
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1]])
    scores = np.array([[0.9, 0.1], [0.8, 0.3], [0.2, 0.7], [0.4, 0.5], [0.0, 1.0]])
    result = pair_auroc(y, scores, classes, "A", "B")
    assert (result.n_first_only, result.n_second_only) == (2, 2)
    assert result.auroc == pytest.approx(1.0)
    flipped = pair_auroc(y, scores[:, ::-1], classes, "A", "B")
    assert flipped.auroc == pytest.approx(0.0)


def test_missing_pair_class_and_shape_errors():
    y = _labels(50)[:, :2]
    report = specificity_report(y, y.astype(float), ["Nucleus", "Exosome"])
    assert report.pairs == []
    with pytest.raises(ValueError):
        specificity_report(y, y[:, :1], ["Nucleus", "Exosome"])


def test_evaluate_writes_specificity(tmp_path):
    """`rnaloc-train evaluate` writes specificity.tsv whose figures match the module's on the same scores."""
    import csv

    from click.testing import CliRunner

    from rnaloc_infer.api import Predictor
    from rnaloc_infer.cli.evaluate import evaluate

    rng = np.random.default_rng(5)
    fasta, labels = tmp_path / "x.fa", tmp_path / "x_labels.tsv"
    ids = [f"r{i}" for i in range(60)]
    seqs = ["".join(rng.choice(list("ACGT"), size=int(rng.integers(300, 900)))) for _ in ids]
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, seqs)))
    y = (rng.random((60, len(CLASSES))) < 0.5).astype(int)
    labels.write_text("id\t" + "\t".join(CLASSES) + "\n" + "".join(
        f"{i}\t" + "\t".join(map(str, row)) + "\n" for i, row in zip(ids, y)))
    result = CliRunner().invoke(evaluate, ["fast", str(fasta), str(labels), "--out-dir", str(tmp_path / "eval"),
                                           "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "Nucleus-only vs Cytosol-only" in result.output
    rows = list(csv.DictReader(open(tmp_path / "eval" / "specificity.tsv"), delimiter="\t"))
    expected = specificity_report(y, Predictor("fast").predict(seqs), CLASSES)
    got = {(r["section"], r["name"]): float(r["value"]) for r in rows}
    assert got[("pair_auroc", "Nucleus-only_vs_Cytosol-only")] == pytest.approx(expected.pairs[0].auroc, abs=1e-4)
    assert got[("correlation", "Nucleus~Cytosol")] == pytest.approx(expected.correlation[0, 2], abs=1e-4)


def test_same_count_pair_auroc_ignores_how_many():
    """A score that only counts labels separates the pair overall but not within equal counts."""
    classes = ["A", "B", "C"]
    # A-only records carry two labels, B-only records one or two: the count ranks A-only higher
    y = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 1], [1, 0, 0]])
    how_many = np.repeat(y.sum(axis=1, keepdims=True).astype(float), 3, axis=1) * np.array([1.0, 0.5, 0.0])
    result = pair_auroc(y, how_many, classes, "A", "B")
    assert result.auroc > 0.6
    assert result.auroc_same_count == pytest.approx(0.5)
    which = y * 1.0
    assert pair_auroc(y, which, classes, "A", "B").auroc_same_count == pytest.approx(1.0)
