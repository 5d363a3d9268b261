"""Does a model say *which* compartment, or only *how many*? Figures that tell the two apart.

Why: in RNALocate-derived data a well-studied gene collects many compartment labels, so a
model can reach a respectable per-class AUROC by ranking mRNAs on "how annotated is this
gene" alone: its class scores then move together (Nucleus and Cytosol correlate above 0.9)
and the sum of all its probabilities ranks each class about as well as that class's own
column. Macro AUROC cannot see this; the figures here can:

* ``correlation``: Pearson correlation of the class scores across records.
* ``sum_auroc``: per class, the AUROC of the row sum of all scores (the "how many" ranker),
  beside the class's own AUROC.
* ``subset_auroc``: per-class AUROC within records that carry exactly one label, exactly two,
  and three or more (where "how many" is held roughly fixed).
* ``pair_auroc``: records labelled A but not B against records labelled B but not A,
  ranked by score(A) - score(B) (Nucleus-only vs Cytosol-only, Membrane-only vs ER-only):
  0.5 means the model cannot say which of the two; the counts come with it.
  ``auroc_same_count`` compares only records that carry the same number of labels: in
  RNALocate a Nucleus-only mRNA carries more labels than a Cytosol-only one (the label count
  alone separates them with AUROC about 0.57 on valid), so the plain pair AUROC rewards
  "how many" too; this one does not.
  For probabilities both are also computed on log-odds: a difference of probabilities
  carries the two classes' base rates (a common rise moves the 56 % Cytosol column more than
  the 69 % Nucleus one), a difference of log-odds does not (rnaloc_infer.profile).

numpy only, like the rest of :mod:`rnaloc_infer.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import csv
from pathlib import Path

import numpy as np

from rnaloc_infer.output.files import atomic_output

from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.profile import log2_odds

# Pairs of compartments that are easy to confuse and biologically distinct.
DEFAULT_PAIRS: Tuple[Tuple[str, str], ...] = (("Nucleus", "Cytosol"), ("Membrane", "ER"))


@dataclass
class PairResult:
    """A-only vs B-only records ranked by score(A) - score(B)."""

    first: str
    second: str
    n_first_only: int
    n_second_only: int
    auroc: float
    # the same, over pairs of records with equal label counts only ("which", not "how many")
    auroc_same_count: float = float("nan")
    # for probabilities: the same two figures on log-odds, log(p/(1-p)), which drop each
    # class's base rate (docs/RESULTS.md: 0.560 on probabilities vs 0.619 on log-odds, default)
    auroc_log_odds: float = float("nan")
    auroc_log_odds_same_count: float = float("nan")


@dataclass
class SpecificityReport:
    classes: List[str]
    correlation: np.ndarray  # (n_classes, n_classes)
    auroc: List[float]
    sum_auroc: List[float]
    subset_auroc: Dict[str, List[float]] = field(default_factory=dict)  # "one_label", "two_labels", "three_plus"
    subset_counts: Dict[str, Tuple[int, List[int]]] = field(default_factory=dict)  # n records, positives per class
    pairs: List[PairResult] = field(default_factory=list)

    def rows(self) -> List[Dict[str, object]]:
        """Flat rows (one per figure) for a TSV: section, name, value, n."""
        out: List[Dict[str, object]] = []
        for j, cls in enumerate(self.classes):
            out.append({"section": "auroc", "name": cls, "value": self.auroc[j], "n": ""})
            out.append({"section": "sum_of_scores_auroc", "name": cls, "value": self.sum_auroc[j], "n": ""})
            for subset, values in self.subset_auroc.items():
                n_records, n_pos = self.subset_counts[subset]
                out.append({"section": f"auroc_{subset}", "name": cls, "value": values[j],
                            "n": f"{n_pos[j]}/{n_records}"})
        for i, a in enumerate(self.classes):
            for j, b in enumerate(self.classes):
                if j > i:
                    out.append({"section": "correlation", "name": f"{a}~{b}", "value": float(self.correlation[i, j]),
                                "n": ""})
        for pair in self.pairs:
            out.append({"section": "pair_auroc", "name": f"{pair.first}-only_vs_{pair.second}-only",
                        "value": pair.auroc, "n": f"{pair.n_first_only}/{pair.n_second_only}"})
            out.append({"section": "pair_auroc_same_count", "name": f"{pair.first}-only_vs_{pair.second}-only",
                        "value": pair.auroc_same_count, "n": f"{pair.n_first_only}/{pair.n_second_only}"})
            if pair.auroc_log_odds == pair.auroc_log_odds:  # probabilities were scored
                for section, value in (("pair_auroc_log_odds", pair.auroc_log_odds),
                                       ("pair_auroc_log_odds_same_count", pair.auroc_log_odds_same_count)):
                    out.append({"section": section, "name": f"{pair.first}-only_vs_{pair.second}-only",
                                "value": value, "n": f"{pair.n_first_only}/{pair.n_second_only}"})
        return out


def _subset_auroc(y: np.ndarray, scores: np.ndarray, mask: np.ndarray) -> Tuple[List[float], List[int]]:
    values = [roc_auc(y[mask, j], scores[mask, j]) for j in range(y.shape[1])]
    return values, [int(y[mask, j].sum()) for j in range(y.shape[1])]


def only_one_of(y: np.ndarray, a: int, b: int) -> Tuple[np.ndarray, np.ndarray]:
    """(records labelled a and not b, records labelled b and not a), other labels free: the two
    sides every A-only vs B-only figure compares."""
    return (y[:, a] == 1) & (y[:, b] == 0), (y[:, b] == 1) & (y[:, a] == 0)


def pair_auroc(y: np.ndarray, scores: np.ndarray, classes: Sequence[str], first: str, second: str) -> PairResult:
    """AUROC of score(first) - score(second) for first-only (positive) vs second-only records."""
    a, b = list(classes).index(first), list(classes).index(second)
    first_only, second_only = only_one_of(y, a, b)
    keep = first_only | second_only
    diff = scores[keep, a] - scores[keep, b]
    return PairResult(first, second, int(first_only.sum()), int(second_only.sum()),
                      roc_auc(first_only[keep].astype(np.int8), diff),
                      same_count_auroc(first_only[keep], diff, y[keep].sum(axis=1)))


def same_count_auroc(positive: np.ndarray, scores: np.ndarray, strata: np.ndarray) -> float:
    """AUROC over (positive, negative) pairs within the same stratum only (ties count one half).

    The pooled Mann-Whitney statistic: concordant pairs summed over strata divided by all
    within-stratum pairs, so no pair compares records with different label counts.
    """
    positive = np.asarray(positive, dtype=bool)
    concordant, pairs = 0.0, 0
    for stratum in np.unique(strata):
        inside = strata == stratum
        n_pos = int(positive[inside].sum())
        n_neg = int(inside.sum()) - n_pos
        if n_pos and n_neg:
            concordant += roc_auc(positive[inside].astype(np.int8), scores[inside]) * n_pos * n_neg
            pairs += n_pos * n_neg
    return concordant / pairs if pairs else float("nan")


def specificity_report(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str],
                       pairs: Sequence[Tuple[str, str]] = DEFAULT_PAIRS) -> SpecificityReport:
    """All the figures above for one model's scores (probabilities or logits) on labelled records.

    Pairs naming a class the model does not have are left out. Scores that all lie in [0, 1]
    are taken as probabilities and their pairs are also scored on log-odds.
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be the same (records, classes) shape")
    classes = list(classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(s, rowvar=False) if len(s) > 1 else np.full((len(classes),) * 2, np.nan)
    total = s.sum(axis=1)
    n_labels = y.sum(axis=1)
    report = SpecificityReport(
        classes=classes,
        correlation=np.atleast_2d(correlation),
        auroc=[roc_auc(y[:, j], s[:, j]) for j in range(len(classes))],
        sum_auroc=[roc_auc(y[:, j], total) for j in range(len(classes))],
    )
    # Exactly two labels: in RNALocate nearly every mRNA carries Exosome, so "Exosome + one
    # compartment" is this data's real single-compartment group (one label is mostly Exosome alone).
    for name, mask in (("one_label", n_labels == 1), ("two_labels", n_labels == 2), ("three_plus", n_labels >= 3)):
        values, positives = _subset_auroc(y, s, mask)
        report.subset_auroc[name] = values
        report.subset_counts[name] = (int(mask.sum()), positives)
    report.pairs = [pair_auroc(y, s, classes, a, b) for a, b in pairs if a in classes and b in classes]
    if len(s) and np.all((s >= 0.0) & (s <= 1.0)):  # probabilities: also compare on log-odds
        odds = log2_odds(s)
        for pair in report.pairs:
            on_odds = pair_auroc(y, odds, classes, pair.first, pair.second)
            pair.auroc_log_odds, pair.auroc_log_odds_same_count = on_odds.auroc, on_odds.auroc_same_count
    return report


def write_specificity_tsv(report: SpecificityReport, path: str | Path) -> Path:
    """One row per figure: section, name, value, n (positives/records, or A-only/B-only counts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=["section", "name", "value", "n"], delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        for row in report.rows():
            writer.writerow({**row, "value": f"{row['value']:.4f}"})
    return path


def format_report(report: SpecificityReport) -> str:
    """A plain-text summary for the terminal and the model card."""
    def fmt(value: float) -> str:
        return "  nan" if value != value else f"{value:.3f}"

    head = f"{'class':<10} {'AUROC':>6} {'sum':>6} {'1 label':>8} {'2 labels':>8} {'3+':>6}"
    lines = ["Specificity (does the score say which compartment, or how many?)", head]
    for j, cls in enumerate(report.classes):
        lines.append(f"{cls:<10} {fmt(report.auroc[j]):>6} {fmt(report.sum_auroc[j]):>6} "
                     f"{fmt(report.subset_auroc['one_label'][j]):>8} {fmt(report.subset_auroc['two_labels'][j]):>8} "
                     f"{fmt(report.subset_auroc['three_plus'][j]):>6}")
    counts = {name: n for name, (n, _) in report.subset_counts.items()}
    lines.append(f"(sum = AUROC of the sum of all class scores; records with 1 label: {counts['one_label']}, "
                 f"2 labels: {counts['two_labels']}, 3+: {counts['three_plus']})")
    for pair in report.pairs:
        lines.append(f"{pair.first}-only vs {pair.second}-only ({pair.n_first_only} vs {pair.n_second_only}), "
                     f"score difference AUROC {fmt(pair.auroc)} (same label count only: {fmt(pair.auroc_same_count)})")
        if pair.auroc_log_odds == pair.auroc_log_odds:
            lines.append(f"  on log-odds (what the rel_ profile columns compare): {fmt(pair.auroc_log_odds)} "
                         f"(same label count only: {fmt(pair.auroc_log_odds_same_count)})")
    classes = report.classes
    worst = max(((report.correlation[i, j], classes[i], classes[j]) for i in range(len(classes))
                 for j in range(i + 1, len(classes))), default=None, key=lambda t: -1 if t[0] != t[0] else t[0])
    if worst is not None:
        lines.append(f"highest score correlation: {worst[1]}~{worst[2]} {fmt(worst[0])}")
    return "\n".join(lines)
