"""The figures in README.md, docs/MODEL_CARD.md, docs/EXPLAIN.md, docs/VARIANTS.md, docs/GENOME.md and docs/RESULTS.md
("Cross-fitting") are the committed results files' values (issue 33).

Every entry of FIGURES names one number in a doc (a regex whose first group is the number,
or a markdown table cell: the table whose header holds a marker, the row, the column, the
n-th number in the cell), the committed results file that produced it and how to read the
value there. The doc's number must be the file's value rounded to the decimals the doc
shows (|doc - file| <= half a unit of its last digit), or, for a "bound" entry, at least
the file's value ("within 0.01"). So a results file re-measured without the doc, or a doc
edited without its file, fails here. Figures the docs give without a results file say so
in the doc; NOT_BACKED lists them and checks the doc still says so.

No torch, no model: plain text and TSV/JSON reading.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = "README.md"
CARD = "docs/MODEL_CARD.md"
EXPLAIN = "docs/EXPLAIN.md"
CLASSES = ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")

# --------------------------------------------------------------------------- numbers in text

_NUMBER = re.compile(r"([+\-−]?)(\d[\d,]*(?:\.\d+)?(?:e[+\-]?\d+)?)")


def numbers(text: str) -> List[Tuple[float, int]]:
    """Every number in ``text`` with the decimals it shows: "0.783-0.816" is two numbers (a
    dash right after a digit is a range, not a sign), "−0.001" is negative, "2,631" is 2631."""
    found = []
    for match in _NUMBER.finditer(text):
        sign, digits = match.groups()
        start = match.start()
        negative = sign in ("-", "−") and not (start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."))
        mantissa = digits.split("e")[0].replace(",", "")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        if "e" in digits:
            decimals = -int(digits.split("e")[1]) + decimals
        value = float(digits.replace(",", ""))
        found.append((-value if negative else value, decimals))
    return found


# --------------------------------------------------------------------------- where in the doc


@lru_cache(maxsize=None)
def doc_text(doc: str) -> str:
    return (ROOT / doc).read_text()


@dataclass(frozen=True)
class Text:
    """The groups of ``pattern`` (joined by a space), which must match exactly once."""

    pattern: str
    nth: int = 0

    def find(self, doc: str) -> str:
        matches = list(re.finditer(self.pattern, doc_text(doc)))
        assert len(matches) == 1, f"{doc}: /{self.pattern}/ matches {len(matches)} times, want 1"
        return " ".join(matches[0].groups())


@dataclass(frozen=True)
class Cell:
    """A cell of the markdown table whose header line contains ``table``: the row whose first
    cell (``**`` removed) is ``row`` (else the one row that contains it), column ``col``
    (the row label is column 0)."""

    table: str
    row: str
    col: int

    def find(self, doc: str) -> str:
        lines = doc_text(doc).splitlines()
        heads = [i for i, line in enumerate(lines) if line.startswith("|") and self.table in line]
        assert len(heads) == 1, f"{doc}: {len(heads)} table headers contain {self.table!r}, want 1"
        rows = []
        for line in lines[heads[0] + 2:]:
            if not line.startswith("|"):
                break
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        labels = [r[0].replace("**", "").replace("`", "") for r in rows]
        exact = [r for r, label in zip(rows, labels) if label == self.row]
        chosen = exact or [r for r, label in zip(rows, labels) if self.row in label]
        assert len(chosen) == 1, f"{doc}: table {self.table!r} has {len(chosen)} rows {self.row!r}, want 1"
        return chosen[0][self.col]


@dataclass(frozen=True)
class Para:
    """The first group of ``pattern``, found exactly once in the paragraph (up to a blank line)
    that starts where ``anchor`` is (itself found exactly once)."""

    anchor: str
    pattern: str

    def find(self, doc: str) -> str:
        text = doc_text(doc)
        starts = [m.start() for m in re.finditer(self.anchor, text)]
        assert len(starts) == 1, f"{doc}: /{self.anchor}/ matches {len(starts)} times, want 1"
        end = text.find("\n\n", starts[0])
        span = text[starts[0]:end if end >= 0 else len(text)]
        matches = list(re.finditer(self.pattern, span))
        assert len(matches) == 1, f"{doc}: /{self.pattern}/ matches {len(matches)} times after /{self.anchor}/, want 1"
        return " ".join(matches[0].groups())


# --------------------------------------------------------------------------- where in the results


def _rows(path: str) -> List[dict]:
    with open(ROOT / path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def tsv(path: str, column: str, nth: int = 0, **where: str) -> Callable[[], float]:
    """The ``nth`` number of ``column`` in the one row of TSV ``path`` matching ``where``."""
    def read() -> float:
        rows = [r for r in _rows(path) if all(r[k] == v for k, v in where.items())]
        assert len(rows) == 1, f"{path}: {len(rows)} rows match {where}, want 1"
        return numbers(rows[0][column])[nth][0]
    read.source = path  # type: ignore[attr-defined]
    return read


def tsv_mean(path: str, column: str, keys: Tuple[str, ...], key: str, **where: str) -> Callable[[], float]:
    """Mean of ``column`` over the rows whose ``key`` is in ``keys`` (e.g. the five classes
    other than Exosome)."""
    parts = [tsv(path, column, **{key: k}, **where) for k in keys]

    def read() -> float:
        return sum(p() for p in parts) / len(parts)
    read.source = path  # type: ignore[attr-defined]
    return read


def js(path: str, *keys) -> Callable[[], float]:
    """A value inside JSON file ``path``: dict keys, list indices, or ``("class", "ER")``
    tuples that pick the list item whose field equals the value."""
    def read() -> float:
        value = json.loads((ROOT / path).read_text())
        for key in keys:
            if isinstance(key, tuple):
                value = next(item for item in value if item[key[0]] == key[1])
            else:
                value = value[key]
        return float(value)
    read.source = path  # type: ignore[attr-defined]
    return read


def txt(path: str, pattern: str, agg: Callable[[List[float]], float]) -> Callable[[], float]:
    """``agg`` (min, max) of the first group of every match of ``pattern`` in text file ``path``."""
    def read() -> float:
        values = [float(m.group(1)) for m in re.finditer(pattern, (ROOT / path).read_text())]
        assert values, f"{path}: no /{pattern}/"
        return agg(values)
    read.source = path  # type: ignore[attr-defined]
    return read


def kib(path: str) -> Callable[[], float]:
    """Size of a committed file in KiB (the model files: their size is the figure)."""
    def read() -> float:
        return (ROOT / path).stat().st_size / 1024
    read.source = path  # type: ignore[attr-defined]
    return read


# --------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class Figure:
    id: str
    doc: str
    where: object  # Text or Cell
    read: Callable[[], float]
    nth: int = 0  # which number in the found text
    scale: float = 1.0  # doc = file x scale (percentages: 100)
    check: str = "round"  # "round": the file's value to the doc's decimals; "bound": doc >= file
    digits: Optional[int] = None  # decimals the doc must show (None: whatever it shows)


GAIN_COLUMNS = ("gain", "gain_low", "gain_high")  # a paired gain and its bootstrap interval (class_mixing_gain.py)
INTERVAL = r"[+−]0\.\d+\s+\([+−]0\.\d+\s+to\s+[+−]0\.\d+\)"  # "+0.0010 (−0.0004 to +0.0024)", as one group's text


def gain_with_interval(id_prefix: str, doc: str, where: object, path: str, digits: int = 4, **key: str) -> List[Figure]:
    """The three figures of "+0.0010 (−0.0004 to +0.0024)": ``where``'s text holds the gain and
    its interval, ``path``'s row ``key`` the columns ``gain``, ``gain_low`` and ``gain_high``."""
    return [Figure(f"{id_prefix}.{column}", doc, where, tsv(path, column, **key), nth=n, digits=digits)
            for n, column in enumerate(GAIN_COLUMNS)]


METRICS, FAST_METRICS = "docs/model_card/metrics.tsv", "docs/model_card/fast/metrics.tsv"  # rnaloc-train release / evaluate
BLEND = "experiments/results/blend_weights.tsv"  # python experiments/blend_weights.py
BOOT = "benchmarks/results/bootstrap_default.tsv"  # python benchmarks/bootstrap_auroc.py
BOOT_FAST = "benchmarks/results/bootstrap_default_vs_fast.tsv"
BOOT_PREV = "benchmarks/results/bootstrap_default_vs_previous.tsv"
SPEC = "benchmarks/results/specificity_valid.tsv"  # python benchmarks/specificity.py
KMER, KMER_CODING = "benchmarks/results/kmer_baseline.tsv", "benchmarks/results/kmer_coding_baseline.tsv"
REFIT_DEFAULT, REFIT_FAST = "benchmarks/results/refit_default.json", "benchmarks/results/refit_fast.json"
# the bundled default's out-of-fold report and blend (rnaloc-train crossfit-blend --class-mixing, 2026-12-06;
# commands in artifacts/release_2026-12-06_mixing/README.md)
CROSSFIT = "benchmarks/results/crossfit_mixing"
CROSSFIT_REPORT, CROSSFIT_BLEND = f"{CROSSFIT}/report.tsv", f"{CROSSFIT}/blend.json"
# the first 2026-12-06 blend of the same members, without the class mixing (superseded the same day)
NO_MIXING_REPORT = "benchmarks/results/crossfit/report.tsv"
# the bundled fast's out-of-fold report (crossfit-blend --class-mixing; artifacts/release_fast_2026-12-07/README.md)
FAST_REPORT = "benchmarks/results/crossfit_fast_lr1e3_mixing/report.tsv"
FAST_NO_MIXING_REPORT = "benchmarks/results/crossfit_fast_lr1e3/report.tsv"
# the fast of 2026-12-06 (qrnn_motif_long + the regression), replaced on 2026-12-07 (candidate I)
PREVIOUS_FAST_REPORT = "benchmarks/results/crossfit_fast_mixing/report.tsv"
PREVIOUS_FAST_NO_MIXING = "benchmarks/results/crossfit_fast/report.tsv"
FAST_GAIN = "experiments/results/fast_network_lr1e3_gain.tsv"  # candidate I: the new fast against that one, paired
# the previous release (2026-11-29, blend fitted on valid): its valid evaluation, kept when the default changed
PREVIOUS = "docs/model_card/release_2026-11-29"
PREVIOUS_METRICS, PREVIOUS_REFIT = f"{PREVIOUS}/metrics.tsv", f"{PREVIOUS}/refit_default.json"
# the previous fast (2026-11-29, blend fitted on valid), kept when fast was cross-fitted (git show 971e62d^:...)
PREVIOUS_FAST_METRICS, PREVIOUS_FAST_REFIT = f"{PREVIOUS}/fast/metrics.tsv", f"{PREVIOUS}/fast/refit_fast.json"


def difference(first: Callable[[], float], second: Callable[[], float]) -> Callable[[], float]:
    """first - second (a gain between two rows of one results file)."""
    def read() -> float:
        return first() - second()
    read.source = first.source  # type: ignore[attr-defined]
    return read


def cf(section: str, cls: str, column: str = "value", figure: str = "auroc", report: str = CROSSFIT_REPORT) -> Callable[[], float]:
    """A figure of the bundled default's out-of-fold report (another crossfit-blend report with ``report``)."""
    return tsv(report, column, section=section, figure=figure, **{"class": cls})


def cf0(section: str, cls: str, column: str = "value", figure: str = "auroc") -> Callable[[], float]:
    """The same figure of the first 2026-12-06 blend, without the class mixing."""
    return cf(section, cls, column, figure, report=NO_MIXING_REPORT)


def cf_fast(section: str, cls: str, column: str = "value", figure: str = "auroc") -> Callable[[], float]:
    """A figure of the bundled fast's out-of-fold report."""
    return cf(section, cls, column, figure, report=FAST_REPORT)


def cf_fast0(section: str, cls: str, column: str = "value", figure: str = "auroc") -> Callable[[], float]:
    """The same figure of the fast of 2026-12-06 (RESULTS keeps its paragraph)."""
    return cf(section, cls, column, figure, report=PREVIOUS_FAST_REPORT)
ISM_QUIET = "benchmarks/results/ism_speed_quiet.tsv"  # python benchmarks/ism_speed.py ... --out ism_speed_quiet.tsv
APPLICABILITY = "benchmarks/results/applicability_check.tsv"
EXAMPLE = "benchmarks/results/explain_example.json"  # python benchmarks/explain_example.py
NOT_EXOSOME = tuple(c for c in CLASSES if c != "Exosome")
KMER_METHOD, KMER_CODING_METHOD = "kmer1-5_logreg_C3e-05", "kmer1-5+coding_logreg_C0.0001"
NC = "Nucleus-only_vs_Cytosol-only"
ME = "Membrane-only_vs_ER-only"
EVAL = "k-mer LR AUROC | k-mer + coding LR AUROC"  # MODEL_CARD "Evaluation" table header
BOOTTABLE = "default AUROC (95% CI)"
SPECTABLE = "figure (valid) | **default**"
THRESH = "| `default` threshold | precision | recall | `fast` threshold"
INT8_DEFAULT = (REFIT_DEFAULT, "int8", "attempts", -1)
INT8_FAST = (REFIT_FAST, "int8", "attempts", -1)

FIGURES: List[Figure] = [
    # ---- README: the headline paragraph
    Figure("readme.macro", README, Text(r"reaches \*\*(0\.\d+) macro AUROC\*\*"), cf("estimate", "macro"), digits=3),
    Figure("readme.macro_low", README, Text(r"\(95% interval (0\.\d+)–0\.\d+\)"), cf("estimate", "macro", "low"), digits=3),
    Figure("readme.macro_high", README, Text(r"\(95% interval 0\.\d+–(0\.\d+)\)"), cf("estimate", "macro", "high"), digits=3),
    Figure("readme.er", README, Text(r"from\s+(0\.\d+) for ER"), cf("estimate", "ER"), digits=3),
    Figure("readme.exosome", README, Text(r"and (0\.\d+) for Exosome"), cf("estimate", "Exosome"), digits=3),
    Figure("readme.nucleus", README, Text(r"to\s+(0\.\d+) for\s+Nucleus"), cf("estimate", "Nucleus"), digits=3),
    Figure("readme.mixing_gain", README, Text(r"The class mixing adds\s+\+(0\.\d+) macro"),
           difference(cf("estimate", "macro"), cf0("estimate", "macro")), digits=3),
    Figure("readme.no_mixing_macro", README, Text(r"the same blend without it \((0\.\d+) out of\s+fold\)"), cf0("estimate", "macro"),
           digits=3),
    Figure("readme.mixing_gain_low", README, Text(r"\(paired interval ([+−]0\.\d+) to"),
           tsv("experiments/results/class_mixing_gain.tsv", "gain_low", figure="macro"), digits=3),
    Figure("readme.mixing_gain_high", README, Text(r"\(paired interval [+−]0\.\d+ to ([+−]0\.\d+)\)"),
           tsv("experiments/results/class_mixing_gain.tsv", "gain_high", figure="macro"), digits=3),
    Figure("readme.nc_corr_no_mixing", README, Text(r"log-odds correlation 0\.\d+, was (0\.\d+)\)"),
           cf0("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("readme.previous_valid", README, Text(r"reported (0\.\d+) on valid"),
           tsv(PREVIOUS_METRICS, "auroc", **{"class": "macro"}), digits=3),
    Figure("readme.nc_corr", README, Text(r"log-odds correlation (0\.\d+)"),
           cf("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("readme.nc_pair", README, Text(r"Cytosol-only ones with\s+AUROC (0\.\d+) only"),
           cf("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("readme.fast_macro", README, Text(r"scores\s+(0\.\d+) macro \(0\.\d+ without Exosome\)"), cf_fast("estimate", "macro"),
           digits=3),
    Figure("readme.fast_no_exo", README, Text(r"scores\s+0\.\d+ macro \((0\.\d+) without Exosome\)"),
           tsv_mean(FAST_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc"), digits=3),
    Figure("readme.fast_low", README, Text(r"without Exosome\) out of fold \((0\.\d+)–0\.\d+\)"), cf_fast("estimate", "macro", "low"),
           digits=3),
    Figure("readme.fast_high", README, Text(r"without Exosome\) out of fold \(0\.\d+–(0\.\d+)\)"), cf_fast("estimate", "macro", "high"),
           digits=3),
    # README: applicability limits, int8 bound
    Figure("readme.min_length", README, Text(r"shortest training record, (\d+) nt"), js(REFIT_DEFAULT, "train_stats", "min_length")),
    Figure("readme.max_length", README, Text(r"longer than the longest, ([\d,]+) nt"), js(REFIT_DEFAULT, "train_stats", "max_length")),
    Figure("readme.many_n", README, Text(r"more than (\d+)% N"), js(REFIT_DEFAULT, "applicability", "max_n_fraction"), scale=100),
    Figure("readme.orf", README, Text(r"at least (\d+) codons"), js(REFIT_DEFAULT, "applicability", "min_orf_codons")),
    Figure("readme.int8_default", README, Text(r"every probability within (0\.\d+) of the fp32 file"),
           js(*INT8_DEFAULT, "max_probability_difference"), check="bound"),
    Figure("readme.int8_fast", README, Text(r"every probability within (0\.\d+) of the fp32 file"),
           js(*INT8_FAST, "max_probability_difference"), check="bound"),
    # README: which compartment (the `level`/`rel_` column row)
    Figure("readme.nc_log_odds", README, Text(r"Cytosol-only mRNAs at AUROC (0\.\d+)"),
           cf("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    # README: explain
    Figure("readme.ism_error", README, Text(r"Exact \(within (\de-\d)"), tsv(ISM_QUIET, "max_abs_error", engine="numpy", workers="2"),
           check="bound"),
    Figure("readme.ism_speedup", README, Text(r"on two cores, (\d+)x less than brute force"),
           tsv(ISM_QUIET, "speedup", engine="numpy", workers="2")),
    # ---- MODEL_CARD: front matter
    Figure("card.meta_macro", CARD, Text(r"name: macro AUROC, value: (0\.\d+)"), cf("estimate", "macro"), digits=3),
    Figure("card.meta_auprc", CARD, Text(r"name: macro AUPRC, value: (0\.\d+)"), cf("estimate", "macro", figure="auprc"), digits=3),
    # ---- MODEL_CARD: int8 bounds
    Figure("card.int8_default_p", CARD, Text(r"every probability within (0\.\d+) of the fp32 file and every class"),
           js(*INT8_DEFAULT, "max_probability_difference"), digits=4),
    Figure("card.int8_default_auroc", CARD, Text(r"every class's AUROC\s+within (0\.\d+), `benchmarks/results/refit_default"),
           js(*INT8_DEFAULT, "max_auroc_difference"), digits=4),
    Figure("card.int8_fast_p", CARD, Text(r"within (0\.\d+) of `fast\.onnx` on valid"), js(*INT8_FAST, "max_probability_difference"),
           digits=4),
    # ---- MODEL_CARD: records without a label
    Figure("card.unlabelled_default", CARD, Text(r"then (\d+) \(`default`, the previous release\)"), js(PREVIOUS_REFIT, "records_without_label")),
    Figure("card.unlabelled_fast", CARD, Text(r"the previous release\) / (\d+) \(`fast`, likewise\)"),
           js(PREVIOUS_FAST_REFIT, "records_without_label")),
    # ---- MODEL_CARD: out of fold, text
    Figure("card.nc_oof", CARD, Text(r"\((0\.\d+) on log-odds out of fold, `experiments/results/blend_weights.tsv`\)"),
           tsv(BLEND, "value", section="out_of_fold_pairs", blend="stacked", figure="Nucleus_only_vs_Cytosol_only"), digits=3),
    Figure("card.nc_oof_equal", CARD, Text(r"in sample \((0\.\d+) →\s+0\.\d+ out of fold\)"),
           tsv(BLEND, "value", section="out_of_fold_pairs", blend="equal", figure="Nucleus_only_vs_Cytosol_only"), digits=3),
    Figure("card.nc_oof_stacked", CARD, Text(r"in sample \(0\.\d+ →\s+(0\.\d+) out of fold\)"),
           tsv(BLEND, "value", section="out_of_fold_pairs", blend="stacked", figure="Nucleus_only_vs_Cytosol_only"), digits=3),
    Figure("card.oof_gain", CARD, Text(r"macro AUROC 0\.\d+ → \*\*0\.\d+\*\*\s+\(\+0\.\d+, 95 % interval (\+0\.\d+ to \+0\.\d+)\)"),
           tsv(BLEND, "low", section="out_of_fold_gain", figure="macro")),
    Figure("card.oof_gain_high", CARD, Text(r"macro AUROC 0\.\d+ → \*\*0\.\d+\*\*\s+\(\+0\.\d+, 95 % interval (\+0\.\d+ to \+0\.\d+)\)"),
           tsv(BLEND, "high", section="out_of_fold_gain", figure="macro"), nth=1),
    Figure("card.oof_exosome_gain", CARD, Text(r"Exosome (\+0\.\d+)\s+\(−0\.\d+ to \+0\.\d+\), ER"),
           tsv(BLEND, "value", section="out_of_fold_gain", figure="Exosome")),
    Figure("card.oof_er_gain", CARD, Text(r"ER (\+0\.\d+) \(\+0\.\d+ to \+0\.\d+\), Nucleus \+0\.\d+, the rest"),
           tsv(BLEND, "value", section="out_of_fold_gain", figure="ER")),
    # ---- MODEL_CARD: which compartment, text
    Figure("card.nc_target_oof", CARD, Text(r"Cytosol-only ≥ 0\.60\) is met on valid in sample[^;]*?\((0\.\d+) out of fold\)"),
           tsv(BLEND, "value", section="out_of_fold_pairs", blend="stacked", figure="Nucleus_only_vs_Cytosol_only"), digits=3),
    Figure("card.applicability_fragments", CARD, Text(r"`too_short,no_orf`\s+([\d,]+), `too_short` \d+"),
           tsv(APPLICABILITY, "flags", 0, set="valid_fragments_50_150")),
    Figure("card.applicability_fragments_short", CARD, Text(r"`too_short,no_orf`\s+[\d,]+, `too_short` (\d+)"),
           tsv(APPLICABILITY, "flags", 1, set="valid_fragments_50_150")),
    Figure("card.applicability_valid", CARD, Text(r"valid (\d+) of [\d,]+ flagged"), tsv(APPLICABILITY, "flagged", set="valid")),
    Figure("card.applicability_fragments_flagged", CARD, Text(r"\(seed 0\): ([\d,]+) of [\d,]+ flagged"),
           tsv(APPLICABILITY, "flagged", set="valid_fragments_50_150")),
]

# MODEL_CARD "Evaluation" table: column -> (results file reader per class key)
for cls in (*CLASSES, "macro"):
    label = cls
    FIGURES += [
        Figure(f"card.eval.{cls}.default_auroc", CARD, Cell(EVAL, label, 10), tsv(PREVIOUS_METRICS, "auroc", **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.default_auprc", CARD, Cell(EVAL, label, 11), tsv(PREVIOUS_METRICS, "auprc", **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.default_mcc", CARD, Cell(EVAL, label, 12), tsv(PREVIOUS_METRICS, "mcc", **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.default_f1", CARD, Cell(EVAL, label, 13), tsv(PREVIOUS_METRICS, "f1", **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.fast_auroc", CARD, Cell(EVAL, label, 7), tsv(PREVIOUS_FAST_METRICS, "auroc", **{"class": cls}),
               digits=3),
        Figure(f"card.eval.{cls}.kmer", CARD, Cell(EVAL, label, 1), tsv(KMER, "auroc", method=KMER_METHOD, **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.kmer_coding", CARD, Cell(EVAL, label, 2),
               tsv(KMER_CODING, "auroc", method=KMER_CODING_METHOD, **{"class": cls}), digits=3),
        Figure(f"card.eval.{cls}.log_length", CARD, Cell(EVAL, label, 3), tsv(KMER, "auroc", method="log_length", **{"class": cls}),
               digits=3),
        Figure(f"card.eval.{cls}.equal_weights", CARD, Cell(EVAL, label, 9),
               tsv(BLEND, "value", section="in_sample", blend="equal", figure=cls), digits=3),
    ]
NO_EXO = "macro w/o Exosome"
FIGURES += [
    Figure("card.eval.no_exo.default", CARD, Cell(EVAL, NO_EXO, 10), tsv(BLEND, "value", section="in_sample", blend="stacked",
                                                                         figure="without_exosome"), digits=3),
    Figure("card.eval.no_exo.fast", CARD, Cell(EVAL, NO_EXO, 7), tsv(BOOT_FAST, "reference_auroc", **{"class": "macro_without_exosome"}),
           digits=3),
    Figure("card.eval.no_exo.equal", CARD, Cell(EVAL, NO_EXO, 9),
           tsv(BLEND, "value", section="in_sample", blend="equal", figure="without_exosome"), digits=3),
    Figure("card.eval.no_exo.kmer", CARD, Cell(EVAL, NO_EXO, 1), tsv_mean(KMER, "auroc", NOT_EXOSOME, "class", method=KMER_METHOD),
           digits=3),
    Figure("card.eval.no_exo.kmer_coding", CARD, Cell(EVAL, NO_EXO, 2),
           tsv_mean(KMER_CODING, "auroc", NOT_EXOSOME, "class", method=KMER_CODING_METHOD), digits=3),
    Figure("card.eval.no_exo.log_length", CARD, Cell(EVAL, NO_EXO, 3),
           tsv_mean(KMER, "auroc", NOT_EXOSOME, "class", method="log_length"), digits=3),
    Figure("card.eval.oof.default", CARD, Cell(EVAL, "macro out of fold", 10),
           tsv(BLEND, "value", section="out_of_fold", blend="stacked", figure="macro"), digits=3),
    Figure("card.eval.oof.default_no_exo", CARD, Cell(EVAL, "macro out of fold", 10),
           tsv(BLEND, "value", section="out_of_fold", blend="stacked", figure="without_exosome"), nth=1, digits=3),
    Figure("card.eval.oof.equal", CARD, Cell(EVAL, "macro out of fold", 9),
           tsv(BLEND, "value", section="out_of_fold", blend="equal", figure="macro"), digits=3),
    Figure("card.eval.oof.equal_no_exo", CARD, Cell(EVAL, "macro out of fold", 9),
           tsv(BLEND, "value", section="out_of_fold", blend="equal", figure="without_exosome"), nth=1, digits=3),
]

# MODEL_CARD "How sure" bootstrap table
for cls, key in ((c, c) for c in (*CLASSES, "macro")):
    FIGURES += [
        Figure(f"card.boot.{cls}.auroc", CARD, Cell(BOOTTABLE, cls, 1), tsv(BOOT, "model_auroc", **{"class": key}), digits=3),
        Figure(f"card.boot.{cls}.ci_low", CARD, Cell(BOOTTABLE, cls, 1), tsv(BOOT, "model_ci95", 0, **{"class": key}), nth=1, digits=3),
        Figure(f"card.boot.{cls}.ci_high", CARD, Cell(BOOTTABLE, cls, 1), tsv(BOOT, "model_ci95", 1, **{"class": key}), nth=2, digits=3),
        Figure(f"card.boot.{cls}.resamples", CARD, Cell(BOOTTABLE, cls, 5), tsv(BOOT, "resamples_model_ge_0.75", **{"class": key}),
               scale=100),
    ]
    for col, path in ((2, BOOT), (3, BOOT_FAST), (4, BOOT_PREV)):
        FIGURES += [Figure(f"card.boot.{cls}.gain{col}.{i}", CARD, Cell(BOOTTABLE, cls, col),
                           tsv(path, "gain" if i == 0 else "gain_ci95", max(i - 1, 0), **{"class": key}), nth=i, digits=3)
                    for i in range(3)]
FIGURES += [
    Figure("card.boot.no_exo.auroc", CARD, Cell(BOOTTABLE, "macro without Exosome", 1),
           tsv(BOOT, "model_auroc", **{"class": "macro_without_exosome"}), digits=3),
    Figure("card.boot.oof", CARD, Cell(BOOTTABLE, "macro out of fold", 1),
           tsv(BLEND, "value", section="out_of_fold", blend="stacked", figure="macro"), digits=3),
    Figure("card.boot.oof_no_exo", CARD, Cell(BOOTTABLE, "without Exosome, out of fold", 1),
           tsv(BLEND, "value", section="out_of_fold", blend="stacked", figure="without_exosome"), digits=3),
    Figure("card.boot.oof_gain", CARD, Cell(BOOTTABLE, "macro out of fold", 4),
           tsv(BLEND, "value", section="out_of_fold_gain", figure="macro"), digits=3),
]

# MODEL_CARD specificity table: the Nucleus-only vs Cytosol-only and Membrane-only vs ER-only rows
SPEC_COLS = ((1, "default"), (2, "previous"), (3, "fast"), (4, "kmer_lr"), (5, "kmer_coding_lr"))
for row, section, name in (("(514 vs 151 records)", "pair_auroc", NC), ("same, on log-odds (=", "pair_auroc_log_odds", NC),
                           ("(448 vs 248)", "pair_auroc", ME), ("same, on log-odds", "pair_auroc_log_odds", ME)):
    for col, model in SPEC_COLS:
        FIGURES.append(Figure(f"card.spec.{section}.{name}.{model}", CARD, Cell(SPECTABLE, row, col),
                              tsv(SPEC, model, section=section, name=name), digits=3))
for row, pair in (("(514 vs 151 records)", NC), ("(448 vs 248)", ME)):
    for col, model in SPEC_COLS[:2]:
        FIGURES += [Figure(f"card.spec.ci.{pair}.{model}.{end}", CARD, Cell(SPECTABLE, row, col),
                           tsv(SPEC, model, section=f"pair_auroc_ci95_{end}", name=pair), nth=n, digits=3)
                    for n, end in ((1, "low"), (2, "high"))]
FIGURES += [Figure(f"card.spec.ci.log_odds.{NC}.{model}.{end}", CARD, Cell(SPECTABLE, "same, on log-odds (=", col),
                   tsv(SPEC, model, section=f"pair_auroc_log_odds_ci95_{end}", name=NC), nth=n, digits=3)
            for col, model in SPEC_COLS[:2] for n, end in ((1, "low"), (2, "high"))]
for col, model in SPEC_COLS:
    FIGURES += [
        Figure(f"card.spec.same_count.{model}.p", CARD, Cell(SPECTABLE, "Nucleus-only vs Cytosol-only, pairs with the same", col),
               tsv(SPEC, model, section="pair_auroc_same_count", name=NC), digits=3),
        Figure(f"card.spec.same_count.{model}.log_odds", CARD, Cell(SPECTABLE, "Nucleus-only vs Cytosol-only, pairs with the same", col),
               tsv(SPEC, model, section="pair_auroc_same_count", name=NC) if model.startswith("kmer") else
               tsv(SPEC, model, section="pair_auroc_log_odds_same_count", name=NC), nth=1, digits=3),
        Figure(f"card.spec.corr.{model}", CARD, Cell(SPECTABLE, "correlation Nucleus~Cytosol", col),
               tsv(SPEC, model, section="correlation", name="Nucleus~Cytosol"), digits=3),
    ]
    for cls in NOT_EXOSOME:
        FIGURES += [
            Figure(f"card.spec.{cls}.{model}.auroc", CARD, Cell(SPECTABLE, f"{cls} AUROC", col),
                   tsv(SPEC, model, section="auroc", name=cls), digits=3),
            Figure(f"card.spec.{cls}.{model}.sum", CARD, Cell(SPECTABLE, f"{cls} AUROC", col),
                   tsv(SPEC, model, section="sum_of_scores_auroc", name=cls), nth=1, digits=3),
        ]
# the same figures in the card's text
FIGURES += [
    Figure("card.text.nc_log_odds", CARD, Text(r"On log-odds the same model separates the\s+two groups at \*\*(0\.\d+)\*\*"),
           tsv(SPEC, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.text.nc_log_odds_user", CARD, Text(r"mRNAs at (0\.\d+) \(95 % interval 0\.\d+–0\.\d+\)"),
           tsv(SPEC, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.text.er_corr", CARD, Text(r"probabilities correlate at \*\*(0\.\d+)\*\*"),
           tsv(SPEC, "default", section="correlation", name="Nucleus~Cytosol"), digits=3),
]

# MODEL_CARD thresholds table (refit reports)
for index, cls in enumerate(CLASSES):
    if cls == "Exosome":  # neither bundled model labels Exosome (release --no-label Exosome)
        continue
    FIGURES += [Figure(f"card.thresholds.{cls}.default.threshold", CARD, Cell(THRESH, cls, 1),
                       js(CROSSFIT_BLEND, "thresholds", index), digits=3)]
    FIGURES += [Figure(f"card.thresholds.{cls}.default.{field}", CARD, Cell(THRESH, cls, 2 + i),
                       cf("estimate", cls, figure=field), digits=3) for i, field in enumerate(("precision", "recall"))]
    FIGURES += [Figure(f"card.thresholds.{cls}.fast.threshold", CARD, Cell(THRESH, cls, 4),
                       js(REFIT_FAST, "classes", ("class", cls), "threshold"), digits=3)]
    FIGURES += [Figure(f"card.thresholds.{cls}.fast.{field}", CARD, Cell(THRESH, cls, 5 + i),
                       cf_fast("estimate", cls, figure=field), digits=3) for i, field in enumerate(("precision", "recall"))]
FIGURES += [
    Figure("card.thresholds.exosome_mcc", CARD, Text(r"label had MCC\s+(0\.\d+) at its threshold"), cf("estimate", "Exosome", figure="mcc"),
           digits=3),
    Figure("card.thresholds.exosome_mcc_low", CARD, Text(r"at its threshold \(95%\s+interval ([−-]?0\.\d+) to [−-]?0\.\d+\)"),
           cf("estimate", "Exosome", "low", figure="mcc"), digits=3),
    Figure("card.thresholds.exosome_mcc_high", CARD, Text(r"at its threshold \(95%\s+interval [−-]?0\.\d+ to (0\.\d+)\)"),
           cf("estimate", "Exosome", "high", figure="mcc"), digits=3),
    Figure("card.thresholds.exosome_precision", CARD, Text(r"precision (0\.\d+) for a prevalence of"),
           cf("estimate", "Exosome", figure="precision"), digits=3),
    Figure("card.thresholds.exosome_prevalence", CARD, Text(r"for a prevalence of\s+(0\.\d+);"),
           cf("estimate", "Exosome", figure="prevalence"), digits=3),
    Figure("card.thresholds.fast_exosome_mcc", CARD, Text(r"`fast`'s MCC (0\.\d+)\. What a label means"),
           cf_fast("estimate", "Exosome", figure="mcc"), digits=3),
    Figure("card.thresholds.er_precision_pct", CARD, Text(r"fold, (\d+)% of the mRNAs labelled ER"),
           cf("estimate", "ER", figure="precision"), scale=100),
    Figure("card.thresholds.er_prevalence_pct", CARD, Text(r"annotated ER \(prevalence (\d+)%\)"),
           cf("estimate", "ER", figure="prevalence"), scale=100),
    Figure("card.thresholds.membrane_precision_pct", CARD, Text(r"and (\d+)% of those\s+labelled Membrane"),
           cf("estimate", "Membrane", figure="precision"), scale=100),
    Figure("card.thresholds.membrane_prevalence_pct", CARD, Text(r"annotated Membrane \(prevalence (\d+)%\)"),
           cf("estimate", "Membrane", figure="prevalence"), scale=100),
]

# ---- MODEL_CARD "This release": the cross-fitted default's out-of-fold figures (benchmarks/results/crossfit/report.tsv),
# the previous release's valid and held-out columns, and which members earn their place
OOF_TABLE = "out-of-fold AUROC (95% CI)"
HELDOUT = "docs/model_card/heldout.tsv"  # one row per release, scored outside this repository (issue 33)
HELDOUT_PREVIOUS = "2026-11-29 (d1bd70c: four members, stacked on valid)"
MEMBER_VALUE = "experiments/results/crossfit_member_value_folds0123.tsv"  # python experiments/crossfit_member_value.py
for cls in (*CLASSES, "macro"):
    for col, figure in ((1, "auroc"), (2, "auprc"), (3, "mcc")):
        FIGURES += [Figure(f"card.oof.{cls}.{figure}.{part}", CARD, Cell(OOF_TABLE, cls, col), cf("estimate", cls, part, figure),
                           nth=nth, digits=3) for nth, part in enumerate(("value", "low", "high"))]
    FIGURES += [
        Figure(f"card.oof.{cls}.no_mixing", CARD, Cell(OOF_TABLE, cls, 4), cf0("estimate", cls), digits=3),
        Figure(f"card.oof.{cls}.forest", CARD, Cell(OOF_TABLE, cls, 5), cf("member:forest", cls), digits=3),
        Figure(f"card.oof.{cls}.previous_valid", CARD, Cell(OOF_TABLE, cls, 6), tsv(PREVIOUS_METRICS, "auroc", **{"class": cls}),
               digits=3),
        Figure(f"card.oof.{cls}.previous_heldout", CARD, Cell(OOF_TABLE, cls, 7), tsv(HELDOUT, cls, release=HELDOUT_PREVIOUS),
               digits=3),
    ]
for members in ("qrnn_motif_long + qrnn_motif_coding + regression + forest", "qrnn_motif_coding + regression + forest",
                "regression + forest", "qrnn_motif_long + regression"):
    where = {"members": members.replace(" + ", "+")}
    FIGURES += [Figure(f"card.members.{members}.{column}", CARD, Cell("| members | macro AUROC |", f"({members})", i + 1),
                       tsv(MEMBER_VALUE, column, **where), digits=d)
                for i, (column, d) in enumerate((("macro_auroc", 4), ("nucleus_only_vs_cytosol_only_auroc", 4),
                                                 ("corr_logit_nucleus_cytosol", 3)))]
FIGURES += [
    Figure("card.oof.nc_pair", CARD, Text(r"logit\(pNucleus\) − logit\(pCytosol\) with AUROC\s+(0\.\d+) \("),
           cf("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("card.oof.nc_pair_low", CARD, Text(r"with AUROC\s+0\.\d+ \((0\.\d+)–"), cf("estimate_specificity", "Nucleus-Cytosol", "low"),
           digits=3),
    Figure("card.oof.nc_pair_high", CARD, Text(r"with AUROC\s+0\.\d+ \(0\.\d+–(0\.\d+)\)"),
           cf("estimate_specificity", "Nucleus-Cytosol", "high"), digits=3),
    Figure("card.oof.nc_same", CARD, Text(r"(0\.\d+) within equal label counts, and the"),
           cf("estimate_specificity", "Nucleus-Cytosol", figure="auroc_same_label_count"), digits=3),
    Figure("card.oof.nc_corr", CARD, Text(r"log-odds correlate at (0\.\d+): the scores still rank"),
           cf("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("card.oof.previous_heldout_pair", CARD, Text(r"\(the previous release: (0\.\d+) and"),
           tsv(HELDOUT, "nucleus_only_vs_cytosol_only_logit", release=HELDOUT_PREVIOUS), digits=3),
    Figure("card.oof.in_sample_valid", CARD, Text(r"`docs/model_card/metrics\.tsv`,\s+macro (0\.\d+), says"),
           tsv(METRICS, "auroc", **{"class": "macro"}), digits=3),
    Figure("card.oof.forest_alone", CARD, Text(r"The trees alone score (0\.\d+) macro out of fold"), cf("member:forest", "macro"), digits=3),
    Figure("card.oof.blend", CARD, Text(r"and the regression (0\.\d+) without the class mixing"), cf0("estimate", "macro"), digits=3),
    Figure("card.oof.blend_mixing", CARD, Text(r"without the class mixing and (0\.\d+) with it\. Each member"), cf("estimate", "macro"),
           digits=3),
    Figure("card.oof.member_qrnn", CARD, Text(r"\(`member:\*` rows\): QRNN (0\.\d+)"), cf("member:qrnn_motif_coding", "macro"), digits=3),
    Figure("card.oof.member_regression", CARD, Text(r"rows\): QRNN 0\.\d+, regression (0\.\d+)"), cf("member:regression", "macro"),
           digits=3),
    Figure("card.oof.member_trees", CARD, Text(r"regression 0\.\d+, trees\s+(0\.\d+)\s+macro"), cf("member:forest", "macro"), digits=3),
    Figure("card.arch.member1_gain", CARD, Text(r"it adds \+(0\.\d+) macro AUROC to the three members"),
           difference(tsv(MEMBER_VALUE, "macro_auroc", members="qrnn_motif_long+qrnn_motif_coding+regression+forest"),
                      tsv(MEMBER_VALUE, "macro_auroc", members="qrnn_motif_coding+regression+forest")), digits=3),
]

# MODEL_CARD "This release": with vs without the class mixing (crossfit_mixing vs crossfit), and the cross-fitted fast
MIXING = r"\*\*What the class mixing adds, and what it does not\.\*\*"
SPECIFIC = r"The mixing does \*\*not\*\* make the scores more specific"
FAST_OOF = r"\*\*`fast`\*\*, cross-fitted the same way"
MIX_W = (CROSSFIT_BLEND, "mixing", "weight")  # row: the output class, column: the input class's log-odds
MIXING_GAIN = "experiments/results/class_mixing_gain.tsv"  # python experiments/class_mixing_gain.py (paired, nested, 2,000 resamples)
GAIN = r"([+−]0\.\d+)\s+\((?:95 % interval\s+)?([+−]0\.\d+)\s+to\s+([+−]0\.\d+)\)"
FIGURES += [
    Figure("card.mixing.without", CARD, Para(MIXING, r"without the mixing, score (0\.\d+) macro"), cf0("estimate", "macro"), digits=3),
    Figure("card.mixing.gain", CARD, Para(MIXING, r"with it, \+(0\.\d+)\."),
           difference(cf("estimate", "macro"), cf0("estimate", "macro")), digits=3),
    Figure("card.mixing.exosome_from", CARD, Para(MIXING, r"Exosome's,\s+(0\.\d+) →"), cf0("estimate", "Exosome"), digits=3),
    Figure("card.mixing.exosome_to", CARD, Para(MIXING, r"Exosome's,\s+0\.\d+ → (0\.\d+)"), cf("estimate", "Exosome"), digits=3),
    Figure("card.mixing.exosome_membrane", CARD, Para(MIXING, r"puts (0\.\d+) on Membrane's"), js(*MIX_W, 1, 4), digits=2),
    Figure("card.mixing.exosome_nucleus", CARD, Para(MIXING, r"and (0\.\d+) on\s+Nucleus's"), js(*MIX_W, 1, 0), digits=2),
    Figure("card.mixing.exosome_own", CARD, Para(MIXING, r"beside (0\.\d+) on its own"), js(*MIX_W, 1, 1), digits=2),
    Figure("card.mixing.five", CARD, Para(MIXING, r"move by\s+\+(0\.\d+) on average"),
           difference(tsv_mean(CROSSFIT_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc"),
                      tsv_mean(NO_MIXING_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc")), digits=3),
    # the paired gain (python experiments/class_mixing_gain.py): "+0.006 (+0.004 to +0.009)", three numbers per figure
    *[Figure(f"card.mixing.paired.{key}.{column}", CARD, Para(MIXING, head + GAIN), tsv(MIXING_GAIN, column, figure=key), nth=i, digits=3)
      for key, head in (("macro", r"macro \*\*"), ("macro_without_exosome", r"without\s+Exosome "),
                        ("Exosome", r"(?<!without\s)Exosome "), *((cls, rf"\b{cls} ") for cls in ("Membrane", "Cytosol", "ER")))
      for i, column in enumerate(("gain", "gain_low", "gain_high"))],
    Figure("card.mixing.nc_pair", CARD, Para(SPECIFIC, r"stays where it was \((0\.\d+), was"),
           cf("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("card.mixing.nc_pair_was", CARD, Para(SPECIFIC, r"stays where it was \(0\.\d+, was (0\.\d+)\)"),
           cf0("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("card.mixing.corr", CARD, Para(SPECIFIC, r"correlate at (0\.\d+) \(was"),
           cf("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("card.mixing.corr_was", CARD, Para(SPECIFIC, r"correlate at 0\.\d+ \(was (0\.\d+)\)"),
           cf0("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("card.mixing.nucleus_row", CARD, Para(SPECIFIC, r"Nucleus's row\s+puts (0\.\d+) on Cytosol's"), js(*MIX_W, 0, 2), digits=2),
    Figure("card.mixing.cytosol_row", CARD, Para(SPECIFIC, r"Cytosol's (0\.\d+) on Nucleus's"), js(*MIX_W, 2, 0), digits=2),
    Figure("card.mixing.C", CARD, Text(r"its penalty C = (\d\.\d+) chosen"), js(CROSSFIT_BLEND, "mixing", "C")),
    Figure("card.limits.mixing_exosome", CARD, Text(r"for the class mixing, out of fold \(Exosome \+(0\.\d+) of"),
           difference(cf("estimate", "Exosome"), cf0("estimate", "Exosome")), digits=3),
    Figure("card.limits.mixing_macro", CARD, Text(r"\(Exosome \+0\.\d+ of \+(0\.\d+) x 6,\s+the five others"),
           difference(cf("estimate", "macro"), cf0("estimate", "macro")), digits=3),
    Figure("card.limits.mixing_five", CARD, Text(r"of \+0\.\d+ x 6,\s+the five others \+(0\.\d+)\)\."),
           difference(tsv_mean(CROSSFIT_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc"),
                      tsv_mean(NO_MIXING_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc")), digits=3),
    Figure("card.fast.macro", CARD, Para(FAST_OOF, r"\*\*(0\.\d+) macro AUROC out of fold"), cf_fast("estimate", "macro"), digits=3),
    Figure("card.fast.low", CARD, Para(FAST_OOF, r"out of fold\s+\((0\.\d+)–"), cf_fast("estimate", "macro", "low"), digits=3),
    Figure("card.fast.high", CARD, Para(FAST_OOF, r"out of fold\s+\(0\.\d+–(0\.\d+)\)"), cf_fast("estimate", "macro", "high"), digits=3),
    Figure("card.fast.no_mixing", CARD, Para(FAST_OOF, r"(0\.\d+) without the class mixing"),
           tsv(FAST_NO_MIXING_REPORT, "value", section="estimate", figure="auroc", **{"class": "macro"}), digits=3),
    *[Figure(f"card.fast.{cls}", CARD, Para(FAST_OOF, rf"\b{cls} (0\.\d+)"), cf_fast("estimate", cls), digits=3)
      for cls in CLASSES if cls != "Nucleus"],
    Figure("card.fast.Nucleus", CARD, Para(FAST_OOF, r"\bNucleus (0\.\d+), Exosome"), cf_fast("estimate", "Nucleus"), digits=3),
    Figure("card.fast.nc_pair", CARD, Para(FAST_OOF, r"Nucleus-only vs Cytosol-only (0\.\d+)"),
           cf_fast("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("card.fast.corr", CARD, Para(FAST_OOF, r"log-odds correlation (0\.\d+)"),
           cf_fast("estimate_specificity", "Nucleus-Cytosol", figure="pearson_nucleus_cytosol"), digits=3),
    Figure("card.fast.previous", CARD, Para(FAST_OOF, r"scored (0\.\d+)\s+\(0\.\d+–"), cf_fast0("estimate", "macro"), digits=3),
    Figure("card.fast.previous_low", CARD, Para(FAST_OOF, r"scored 0\.\d+\s+\((0\.\d+)–"), cf_fast0("estimate", "macro", "low"),
           digits=3),
    Figure("card.fast.previous_high", CARD, Para(FAST_OOF, r"scored 0\.\d+\s+\(0\.\d+–(0\.\d+)\)"),
           cf_fast0("estimate", "macro", "high"), digits=3),
    *gain_with_interval("card.fast.gain", CARD, Para(FAST_OOF, rf"the new one gains ({INTERVAL})"), FAST_GAIN, figure="macro"),
    *gain_with_interval("card.fast.gain_pair", CARD, Para(FAST_OOF, rf"moves Nucleus-only vs Cytosol-only by ({INTERVAL})"),
                        FAST_GAIN, figure="nucleus_only_vs_cytosol_only"),
    Figure("card.fast.in_sample", CARD, Para(FAST_OOF, r"`docs/model_card/fast/metrics\.tsv`, macro (0\.\d+)\)"),
           tsv(FAST_METRICS, "auroc", **{"class": "macro"}), digits=3),
]

# MODEL_CARD "Evaluation" table: the three-member default and member 4 alone (research runs' results)
TREE_MEMBERS = "experiments/results/tree_members.tsv"  # python experiments/forest_variants.py / tree_heads.py
UTR_FOREST = "experiments/results/utr_forest.tsv"  # python experiments/utr_forest.py
for cls in (*CLASSES, "macro"):
    FIGURES += [
        Figure(f"card.eval.{cls}.three_member", CARD, Cell(EVAL, cls, 8),
               tsv(TREE_MEMBERS, cls, variant="qrnn+qrnn_coding+regression"), digits=3),
        Figure(f"card.eval.{cls}.member4", CARD, Cell(EVAL, cls, 6), tsv(UTR_FOREST, cls, members="kmer_coding_utr forest alone"),
               digits=3),
    ]
FIGURES += [
    Figure("card.eval.no_exo.three_member", CARD, Cell(EVAL, NO_EXO, 8),
           tsv(TREE_MEMBERS, "without_exosome", variant="qrnn+qrnn_coding+regression"), digits=3),
    Figure("card.eval.no_exo.member4", CARD, Cell(EVAL, NO_EXO, 6),
           tsv(UTR_FOREST, "without_exosome", members="kmer_coding_utr forest alone"), digits=3),
]

# "Why four members" and "Why the UTR k-mers": paired bootstrap gains in the text
FOUR = r"\*\*Why four members, not the three before\*\*"
BOOT_FOREST = "benchmarks/results/bootstrap_forest_vs_three_member.tsv"
FIGURES += [
    Figure("card.four.macro", CARD, Para(FOUR, r"AUROC by \*\*(\+0\.\d+) \(95 % interval"), tsv(BOOT_FOREST, "gain", **{"class": "macro"})),
    Figure("card.four.macro_low", CARD, Para(FOUR, r"95 % interval (\+0\.\d+) to"), tsv(BOOT_FOREST, "gain_ci95", 0, **{"class": "macro"})),
    Figure("card.four.macro_high", CARD, Para(FOUR, r"95 % interval \+0\.\d+ to (\+0\.\d+)\)"),
           tsv(BOOT_FOREST, "gain_ci95", 1, **{"class": "macro"})),
    Figure("card.four.no_exo", CARD, Para(FOUR, r"than Exosome by (\+0\.\d+ \(\+0\.\d+ to \+0\.\d+\))"),
           tsv(BOOT_FOREST, "gain", **{"class": "macro_without_exosome"})),
    Figure("card.four.no_exo_low", CARD, Para(FOUR, r"than Exosome by (\+0\.\d+ \(\+0\.\d+ to \+0\.\d+\))"),
           tsv(BOOT_FOREST, "gain_ci95", 0, **{"class": "macro_without_exosome"}), nth=1),
    Figure("card.four.no_exo_high", CARD, Para(FOUR, r"than Exosome by (\+0\.\d+ \(\+0\.\d+ to \+0\.\d+\))"),
           tsv(BOOT_FOREST, "gain_ci95", 1, **{"class": "macro_without_exosome"}), nth=2),
    *[Figure(f"card.four.{cls}", CARD, Para(FOUR, rf"{cls} (\+0\.\d+)"), tsv(BOOT_FOREST, "gain", **{"class": cls}))
      for cls in CLASSES],
    Figure("card.four.ribosome_low", CARD, Para(FOUR, r"Ribosome \+0\.\d+ with an interval from (−0\.\d+)"),
           tsv(BOOT_FOREST, "gain_ci95", 0, **{"class": "Ribosome"})),
]
UTR = r"\*\*Why the UTR k-mers\*\*"
BOOT_UTR = "benchmarks/results/bootstrap_utr_forest_vs_forest.tsv"
for name, key, head in (("macro", "macro", r"macro AUROC \*\*"), ("no_exo", "macro_without_exosome", r"than Exosome \*\*"),
                        *((cls, cls, rf"\b{cls} ") for cls in CLASSES if cls != "Membrane"), ("Membrane", "Membrane", r"\*\*Membrane ")):
    gain = r"([+−]0\.\d+)\s+\((?:95 % interval\s+)?([+−]0\.\d+)\s+to\s+([+−]0\.\d+)\)"
    FIGURES += [Figure(f"card.utr.{name}.{i}", CARD, Para(UTR, head + gain),
                       tsv(BOOT_UTR, "gain" if i == 0 else "gain_ci95", max(i - 1, 0), **{"class": key}), nth=i)
                for i in range(3)]

# MODEL_CARD specificity: the other rows, and the table by label count
for col, model in SPEC_COLS:
    FIGURES += [
        Figure(f"card.spec.me_same_count.{model}.p", CARD, Cell(SPECTABLE, "Membrane-only vs ER-only, same label count", col),
               tsv(SPEC, model, section="pair_auroc_same_count", name=ME), digits=3),
        Figure(f"card.spec.me_same_count.{model}.log_odds", CARD, Cell(SPECTABLE, "Membrane-only vs ER-only, same label count", col),
               tsv(SPEC, model, section="pair_auroc_log_odds_same_count", name=ME), nth=1, digits=3),
        Figure(f"card.spec.rel_corr.{model}", CARD, Cell(SPECTABLE, "of the relative profile", col),
               tsv(SPEC, f"{model}/profile", section="correlation", name="Nucleus~Cytosol"), digits=3),
    ]
BYCOUNT = "default, 2 labels (475 records)"
for cls in NOT_EXOSOME:
    for col, model, section in ((1, "default", "auroc_two_labels"), (2, "default", "auroc_three_plus"),
                                (3, "kmer_lr", "auroc_two_labels"), (4, "kmer_lr", "auroc_three_plus")):
        FIGURES += [Figure(f"card.bycount.{cls}.{model}.{section}.{n}", CARD, Cell(BYCOUNT, cls, col),
                           tsv(SPEC, model + suffix, section=section, name=cls), nth=n, digits=3)
                    for n, suffix in ((0, ""), (1, "/profile"))]

# MODEL_CARD: Exosome's MCC, the --profile overhead, the model files' sizes
FIGURES += [
    Figure("card.profile_overhead_low", CARD, Text(r"(\d\.\d+)–\d\.\d+× the time without it"),
           txt("benchmarks/results/profile_overhead.txt", r"ratio (\d\.\d+)", min)),
    Figure("card.profile_overhead_high", CARD, Text(r"\d\.\d+–(\d\.\d+)× the time without it"),
           txt("benchmarks/results/profile_overhead.txt", r"ratio (\d\.\d+)", max)),
    *[Figure(f"card.size.{name}", CARD, Text(pattern), kib(f"rnaloc_infer/models/{name}"))
      for name, pattern in (("default.onnx", r"`rnaloc_infer/models/default\.onnx` \(([\d,]+) KiB"),
                            ("default.fp16.onnx", r"`default\.fp16\.onnx` \(([\d,]+) KiB"),
                            ("default.int8.onnx", r"`default\.int8\.onnx` \(([\d,]+) KiB"),
                            ("default.ism.npz", r"`default\.ism\.npz` \(([\d,]+) KiB"),
                            ("fast.onnx", r"`fast\.onnx` \(([\d,]+) KiB"),
                            ("fast.fp16.onnx", r"`fast\.fp16\.onnx` \(([\d,]+) KiB"),
                            ("fast.int8.onnx", r"`fast\.int8\.onnx` \(([\d,]+) KiB"))],
]

# MODEL_CARD: the "which" figures of the earlier defaults (their specificity tables, kept under other names)
SPEC_FOREST = "benchmarks/results/specificity_valid_forest_vs_three_member.tsv"  # default = trees without UTR k-mers, previous = three members
SPEC_UTR = "benchmarks/results/specificity_valid_utr_forest.tsv"  # default = equal-weight UTR-forest default, previous = SPEC_FOREST's default
FIRST = r"The first trees \(whole-record k-mers and protein features\)"
FIGURES += [
    Figure("card.four.nc_from", CARD, Para(FOUR, r"on log-odds moves from (0\.\d+) to"),
           tsv(SPEC_FOREST, "previous", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.four.nc_to", CARD, Para(FOUR, r"on log-odds moves from 0\.\d+ to\s+(0\.\d+)"),
           tsv(SPEC_FOREST, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.utr.nc", CARD, Para(UTR, r"on log-odds (0\.\d+) \(was"), tsv(SPEC_UTR, "default", section="pair_auroc_log_odds", name=NC),
           digits=3),
    Figure("card.utr.nc_was", CARD, Para(UTR, r"on log-odds 0\.\d+ \(was\s+(0\.\d+)\)"),
           tsv(SPEC_UTR, "previous", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.utr.nc_same", CARD, Para(UTR, r"(0\.\d+) within equal label counts \(was"),
           tsv(SPEC_UTR, "default", section="pair_auroc_log_odds_same_count", name=NC), digits=3),
    Figure("card.utr.nc_same_was", CARD, Para(UTR, r"within equal label counts \(was (0\.\d+)\)"),
           tsv(SPEC_UTR, "previous", section="pair_auroc_log_odds_same_count", name=NC), digits=3),
    Figure("card.first.nc", CARD, Para(FIRST, r"\((0\.\d+) vs 0\.\d+ on log-odds"),
           tsv(SPEC_FOREST, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.first.nc_three", CARD, Para(FIRST, r"\(0\.\d+ vs (0\.\d+) on log-odds"),
           tsv(SPEC_FOREST, "previous", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.first.same", CARD, Para(FIRST, r"(0\.\d+) vs 0\.\d+ within equal label counts\)"),
           tsv(SPEC_FOREST, "default", section="pair_auroc_log_odds_same_count", name=NC), digits=3),
    Figure("card.first.same_three", CARD, Para(FIRST, r"0\.\d+ vs (0\.\d+) within equal label counts\)"),
           tsv(SPEC_FOREST, "previous", section="pair_auroc_log_odds_same_count", name=NC), digits=3),
    Figure("card.first.best", CARD, Para(FIRST, r"its best yet \((0\.\d+) on log-odds"),
           tsv(SPEC_UTR, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.first.best_p", CARD, Para(FIRST, r"(0\.\d+) on probabilities\), all within"),
           tsv(SPEC_UTR, "default", section="pair_auroc", name=NC), digits=3),
    Figure("card.first.stacked", CARD, Para(FIRST, r"gives back part of that: (0\.\d+) on log-odds"),
           tsv(SPEC, "default", section="pair_auroc_log_odds", name=NC), digits=3),
    Figure("card.first.stacked_same", CARD, Para(FIRST, r"(0\.\d+) within equal label counts, 0\.\d+ on\s+probabilities \(0"),
           tsv(SPEC, "default", section="pair_auroc_log_odds_same_count", name=NC), digits=3),
    Figure("card.first.stacked_p", CARD, Para(FIRST, r"(0\.\d+) on\s+probabilities \(0\.\d+ on log-odds out of fold"),
           tsv(SPEC, "default", section="pair_auroc", name=NC), digits=3),
]

# MODEL_CARD: the forest's share of the stacked weights ("0.34-0.56 of each class's weight", twice)
FOREST_SHARES = [tsv(BLEND, "value", section="weight_share", blend="stacked", figure=f"{c}/forest") for c in CLASSES]
for anchor, name in ((r"\*\*Why stacked weights\*\*", "why"), (FIRST, "first")):
    FIGURES += [
        Figure(f"card.forest_share.{name}.low", CARD, Para(anchor, r"(0\.\d+-0\.\d+) of each class's weight"),
               lambda: min(r() for r in FOREST_SHARES), digits=2),
        Figure(f"card.forest_share.{name}.high", CARD, Para(anchor, r"(0\.\d+-0\.\d+) of each class's weight"),
               lambda: max(r() for r in FOREST_SHARES), nth=1, digits=2),
    ]
for f in FIGURES[-4:]:
    f.read.source = BLEND  # type: ignore[attr-defined]

# ---- docs/RESULTS.md, "Cross-fitting": the bundled default, the blend without the class mixing, fast, "Class mixing"
RESULTS = "docs/RESULTS.md"
R_DEFAULT = r"\*\*Figures \(2026-12-06\), the bundled default\.\*\*"
R_PLAIN = r"The same members without the class mixing \(the first release of the day"
R_FAST = r"\*\*`fast`, cross-fitted \(shipped 2026-12-06; replaced on 2026-12-07"
R_WHAT = r"What it did: macro"
R_WHERE = r"Where to put it, an exploratory check"
R_PAIRED = r"Paired gain \(`python experiments/class_mixing_gain\.py"
NC_CORR = dict(figure="pearson_nucleus_cytosol")


def _report_figures(prefix: str, anchor: str, read: Callable[..., Callable[[], float]], in_sample: bool) -> List[Figure]:
    """One results paragraph's per-class AUROCs, macro with its interval, the pair and the correlation."""
    figures = [
        Figure(f"{prefix}.macro", RESULTS, Para(anchor, r"\*\*(?:macro AUROC )?(0\.\d+) \("), read("estimate", "macro"), digits=3),
        Figure(f"{prefix}.low", RESULTS, Para(anchor, r"\*\*(?:macro AUROC )?0\.\d+ \((?:95 % interval )?(0\.\d+)–"),
               read("estimate", "macro", "low"), digits=3),
        Figure(f"{prefix}.high", RESULTS, Para(anchor, r"\*\*(?:macro AUROC )?0\.\d+ \((?:95 % interval )?0\.\d+–(0\.\d+)\)"),
               read("estimate", "macro", "high"), digits=3),
        *[Figure(f"{prefix}.{cls}", RESULTS, Para(anchor, rf"\b{cls}\s+(0\.\d+)"), read("estimate", cls), digits=3) for cls in CLASSES],
        Figure(f"{prefix}.nc_pair", RESULTS, Para(anchor, r"Nucleus-only vs Cytosol-only(?: by the logit difference)?\s+(0\.\d+)"),
               read("estimate_specificity", "Nucleus-Cytosol"), digits=3),
        Figure(f"{prefix}.corr", RESULTS, Para(anchor, r"correlat(?:e at|ion)\s+(0\.\d+)"),
               read("estimate_specificity", "Nucleus-Cytosol", **NC_CORR), digits=3),
    ]
    if in_sample:
        figures.append(Figure(f"{prefix}.in_sample", RESULTS, Para(anchor, r"(?:the macro is|in sample)\s+(0\.\d+)"),
                              read("in_sample", "macro"), digits=3))
    return figures


FIGURES += [
    *_report_figures("results.default", R_DEFAULT, cf, True),
    Figure("results.default.auprc", RESULTS, Para(R_DEFAULT, r"macro\s+AUPRC (0\.\d+)"), cf("estimate", "macro", figure="auprc"), digits=3),
    Figure("results.default.mcc", RESULTS, Para(R_DEFAULT, r"macro MCC (0\.\d+)"), cf("estimate", "macro", figure="mcc"), digits=3),
    Figure("results.default.exosome_mcc", RESULTS, Para(R_DEFAULT, r"\(MCC (0\.\d+)\)"), cf("estimate", "Exosome", figure="mcc"), digits=3),
    *_report_figures("results.plain", R_PLAIN, cf0, True),
    Figure("results.plain.overstate", RESULTS, Para(R_PLAIN, r"overstate it by (0\.\d+)"),
           difference(cf0("in_sample", "macro"), cf0("estimate", "macro")), digits=3),
    *[f for f in _report_figures("results.fast", R_FAST, cf_fast0, False) if not f.id.endswith(".corr")],
    Figure("results.fast.corr", RESULTS, Para(R_FAST, r"log-odds correlation (0\.\d+)\s+\("),
           cf_fast0("estimate_specificity", "Nucleus-Cytosol", **NC_CORR), digits=3),
    Figure("results.fast.plain", RESULTS, Para(R_FAST, r"Without the mixing (0\.\d+)"),
           tsv(PREVIOUS_FAST_NO_MIXING, "value", section="estimate", figure="auroc", **{"class": "macro"}), digits=3),
    Figure("results.fast.plain_low", RESULTS, Para(R_FAST, r"Without the mixing 0\.\d+\s+\((0\.\d+)–"),
           tsv(PREVIOUS_FAST_NO_MIXING, "low", section="estimate", figure="auroc", **{"class": "macro"}), digits=3),
    Figure("results.fast.plain_high", RESULTS, Para(R_FAST, r"Without the mixing 0\.\d+\s+\(0\.\d+–(0\.\d+)\)"),
           tsv(PREVIOUS_FAST_NO_MIXING, "high", section="estimate", figure="auroc", **{"class": "macro"}), digits=3),
    Figure("results.fast.plain_corr", RESULTS, Para(R_FAST, r"correlation (0\.\d+) \(`benchmarks/results/crossfit_fast/"),
           tsv(PREVIOUS_FAST_NO_MIXING, "value", section="estimate_specificity", figure="pearson_nucleus_cytosol",
               **{"class": "Nucleus-Cytosol"}), digits=3),
    Figure("results.mixing.gain", RESULTS, Para(R_WHAT, r"macro \+(0\.\d+) out of fold"),
           difference(cf("estimate", "macro"), cf0("estimate", "macro")), digits=3),
    Figure("results.mixing.from", RESULTS, Para(R_WHAT, r"\((0\.\d+) → 0\.\d+\), Exosome"), cf0("estimate", "macro"), digits=3),
    Figure("results.mixing.to", RESULTS, Para(R_WHAT, r"\(0\.\d+ → (0\.\d+)\), Exosome"), cf("estimate", "macro"), digits=3),
    Figure("results.mixing.exosome", RESULTS, Para(R_WHAT, r"Exosome \+(0\.\d+)"),
           difference(cf("estimate", "Exosome"), cf0("estimate", "Exosome")), digits=3),
    Figure("results.mixing.exosome_from", RESULTS, Para(R_WHAT, r"Exosome \+0\.\d+ \((0\.\d+) →"), cf0("estimate", "Exosome"), digits=3),
    Figure("results.mixing.exosome_to", RESULTS, Para(R_WHAT, r"Exosome \+0\.\d+ \(0\.\d+ → (0\.\d+)\)"), cf("estimate", "Exosome"),
           digits=3),
    Figure("results.mixing.five", RESULTS, Para(R_WHAT, r"five other classes \+(0\.\d+) on average"),
           difference(tsv_mean(CROSSFIT_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc"),
                      tsv_mean(NO_MIXING_REPORT, "value", NOT_EXOSOME, "class", section="estimate", figure="auroc")), digits=3),
    *[Figure(f"results.mixing.{cls}", RESULTS, Para(R_WHAT, rf"{cls} ([+−]0\.\d+)"), difference(cf("estimate", cls), cf0("estimate", cls)),
             digits=3) for cls in ("Membrane", "ER")],
    Figure("results.mixing.corr", RESULTS, Para(R_WHAT, r"correlate at (0\.\d+) \(was"),
           cf("estimate_specificity", "Nucleus-Cytosol", **NC_CORR), digits=3),
    Figure("results.mixing.corr_was", RESULTS, Para(R_WHAT, r"correlate at 0\.\d+ \(was (0\.\d+)\)"),
           cf0("estimate_specificity", "Nucleus-Cytosol", **NC_CORR), digits=3),
    Figure("results.mixing.pair", RESULTS, Para(R_WHAT, r"is unchanged \((0\.\d+), was"), cf("estimate_specificity", "Nucleus-Cytosol"),
           digits=3),
    Figure("results.mixing.pair_was", RESULTS, Para(R_WHAT, r"is unchanged \(0\.\d+, was (0\.\d+)\)"),
           cf0("estimate_specificity", "Nucleus-Cytosol"), digits=3),
    Figure("results.mixing.exploratory_blend", RESULTS, Para(R_WHERE, r"gave (0\.\d+) macro"), cf("estimate", "macro"), digits=4),
    *[Figure(f"results.mixing.paired.{key}.{column}", RESULTS, Para(R_PAIRED, head + GAIN), tsv(MIXING_GAIN, column, figure=key), nth=i,
             digits=3)
      for key, head in (("macro", r"\): macro "), ("macro_without_exosome", r"without Exosome\s+"), ("Exosome", r"\), Exosome "),
                        ("nucleus_only_vs_cytosol_only", r"Nucleus-only vs Cytosol-only\s+"), ("corr_logit_nucleus_cytosol", r"correlation "))
      for i, column in enumerate(("gain", "gain_low", "gain_high"))],
    Figure("results.mixing.C", RESULTS, Text(r"\(C = (0\.\d+) for both models;"), js(CROSSFIT_BLEND, "mixing", "C")),
    Figure("results.mixing.C_fast", RESULTS, Text(r"\(C = (0\.\d+) for both models;"),
           js("benchmarks/results/crossfit_fast_lr1e3_mixing/blend.json", "mixing", "C")),
    Figure("results.mixing.exosome_negatives", RESULTS, Text(r"has few negatives \((\d+) of 13,837\)"),
           difference(js(CROSSFIT_BLEND, "records"), cf("estimate", "Exosome", figure="positives"))),
]

# ---- docs/EXPLAIN.md and the explain example (benchmarks/explain_example.py)
FIGURES += [
    Figure("explain.example_p_er", EXPLAIN, Text(r"P\(ER\) = (0\.\d+)\), made with"), js(EXAMPLE, "probabilities", "ER"), digits=3),
    Figure("explain.example_length", EXPLAIN, Text(r"NM_001278636 \(EBPL, ([\d,]+) nt"), js(EXAMPLE, "length")),
    Figure("explain.example_seconds", EXPLAIN, Text(r"bundled default model \(about (\d+) s on two cores\)"), js(EXAMPLE, "seconds"),
           digits=0),
]

# ---- docs/EXPLAIN.md: the numpy engine's speed with the bundled fast (benchmarks/ism_speed.py --model fast)
ISM_FAST = "benchmarks/results/ism_speed_fast.tsv"
ISM_FAST_PARA = r"The bundled `fast` model \(one network \+ regression; rerun on 2026-12-07"
_3KB, _10KB = dict(length="2999"), dict(length="10005")
FIGURES += [
    Figure(f"explain.fast.{name}", EXPLAIN, Para(ISM_FAST_PARA, pattern), tsv(ISM_FAST, column, workers=workers, **size), digits=digits)
    for name, pattern, column, workers, size, digits in (
        ("3kb_one", r"3 kb (\d+\.\d) s with one worker", "fast_s", "1", _3KB, 1),
        ("3kb_two", r"and (\d+\.\d) s with two", "fast_s", "2", _3KB, 1),
        ("3kb_cpu", r"with two \((\d+\.\d) CPU-s\)", "fast_cpu_s", "2", _3KB, 1),
        ("3kb_brute", r"CPU-s\) against (\d+\.\d) s", "brute_s", "1", _3KB, 1),
        ("10kb_one", r"10 kb (\d+\.\d) s and", "fast_s", "1", _10KB, 1),
        ("10kb_two", r"10 kb \d+\.\d s and\s+(\d+\.\d) s", "fast_s", "2", _10KB, 1),
        ("10kb_brute", r"s against (\d+) s, 16", "brute_s", "1", _10KB, None),
        ("speedup.0", r"(\d+)-\d+x; 10 kb", "speedup", "1", _3KB, None),
        ("speedup.1", r"\d+-(\d+)x; 10 kb", "speedup", "2", _3KB, None),
        ("speedup.2", r"(\d+)-\d+x; max error", "speedup", "1", _10KB, None),
        ("speedup.3", r"\d+-(\d+)x; max error", "speedup", "2", _10KB, None),
        ("work_3kb", r"the engine did (\d\.\d)x \(3 kb\)", "work_ratio", "1", _3KB, 1),
        ("work_10kb", r"and (\d\.\d)x \(10 kb\)", "work_ratio", "1", _10KB, 1))
]
FIGURES += [Figure("explain.fast.error", EXPLAIN, Para(ISM_FAST_PARA, r"max error (\d\.\de-7)"),
                   tsv(ISM_FAST, "max_abs_error", workers="1", **_10KB), check="bound")]

# ---- docs/GENOME.md: the isoform report's worked example (commands in docs/isoforms/README.md)
GENOME = "docs/GENOME.md"
ISO, ISO_PRED = "docs/isoforms/isoforms.tsv", "docs/isoforms/predictions.tsv"
ISO_PROFILE, ISO_SEG = "docs/isoforms/pair_profile.tsv", "docs/isoforms/segment_effects.tsv"
C9_LONG, C9_SHORT = "NM_001001938.long", "NM_001001938.short"
FIGURES += [
    Figure("genome.iso_l1_min", GENOME, Text(r"L1 distances run from (0\.\d+) \(NEDD9\)"),
           tsv(ISO, "l1_distance", gene_id="4739", gene_name="NEDD9"), digits=4),
    Figure("genome.iso_l1_max", GENOME, Text(r"to (0\.\d+) for C9orf47"), tsv(ISO, "l1_distance", gene_id="286223"), digits=4),
    Figure("genome.iso_long_nt", GENOME, Text(r"Its long isoform has ([\d,]+) nt"), tsv(ISO_PRED, "length", id=C9_LONG)),
    Figure("genome.iso_short_nt", GENOME, Text(r"its short one ([\d,]+) nt"), tsv(ISO_PRED, "length", id=C9_SHORT)),
    Figure("genome.iso_own_nt", GENOME, Text(r"\(([\d,]+) nt of 3'UTR\)"),
           tsv(ISO_SEG, "nt", transcript=C9_LONG, part="own_only", **{"class": "Nucleus"})),
    Figure("genome.iso_own_nt_explain", GENOME, Text(r"summed\s+over the ([\d,]+) nt only the long isoform has"),
           tsv(ISO_SEG, "nt", transcript=C9_LONG, part="own_only", **{"class": "Nucleus"})),
    Figure("genome.iso_p_nucleus_long", GENOME, Text(r"P\(Nucleus\) (0\.\d+) against"), tsv(ISO_PRED, "Nucleus", id=C9_LONG), digits=4),
    Figure("genome.iso_p_nucleus_short", GENOME, Text(r"P\(Nucleus\) 0\.\d+ against (0\.\d+)"), tsv(ISO_PRED, "Nucleus", id=C9_SHORT),
           digits=4),
    Figure("genome.iso_spread_nucleus", GENOME, Text(r"`spread_Nucleus` (0\.\d+)"), tsv(ISO, "spread_Nucleus", gene_id="286223"), digits=4),
    Figure("genome.iso_spread_cytosol", GENOME, Text(r"`spread_Cytosol` (0\.\d+)"), tsv(ISO, "spread_Cytosol", gene_id="286223"), digits=4),
    Figure("genome.iso_spread_er", GENOME, Text(r"`spread_ER` (0\.\d+)"), tsv(ISO, "spread_ER", gene_id="286223"), digits=4),
    Figure("genome.iso_level_long", GENOME, Text(r"`level` falls from (\S+) to"), tsv(ISO_PROFILE, "level", id=C9_LONG), digits=4),
    Figure("genome.iso_level_short", GENOME, Text(r"`level` falls from \S+ to (\S+)"), tsv(ISO_PROFILE, "level", id=C9_SHORT),
           digits=4),
    Figure("genome.iso_rel_ribosome_long", GENOME, Text(r"rel_Ribosome rises from (\S+) to"), tsv(ISO_PROFILE, "rel_Ribosome", id=C9_LONG),
           digits=4),
    Figure("genome.iso_rel_ribosome_short", GENOME, Text(r"rel_Ribosome rises from \S+ to (\d\.\d+)"),
           tsv(ISO_PROFILE, "rel_Ribosome", id=C9_SHORT), digits=4),
    Figure("genome.iso_spread_exosome", GENOME, Text(r"\(Exosome by (0\.\d+)\)"), tsv(ISO, "spread_Exosome", gene_id="286223"), digits=4),
    Figure("genome.iso_segment_start", GENOME, Text(r"`a_only_exons` is `pseudo:(\d+)-\d+\(-\)`"),
           tsv(ISO, "a_only_exons", gene_id="286223")),
    Figure("genome.iso_segment_end", GENOME, Text(r"`a_only_exons` is `pseudo:\d+-(\d+)\(-\)`"),
           tsv(ISO, "a_only_exons", 1, gene_id="286223")),
    Figure("genome.iso_ism_nucleus", GENOME, Text(r"P\(Nucleus\) the sum over the piece is only (\+\d\.\d+)"),
           tsv(ISO_SEG, "summed_effect", transcript=C9_LONG, part="own_only", **{"class": "Nucleus"}), digits=4),
    Figure("genome.iso_ism_ribosome", GENOME, Text(r"that of\s+P\(Ribosome\) is (\S+) \(the"),
           tsv(ISO_SEG, "summed_effect", transcript=C9_LONG, part="own_only", **{"class": "Ribosome"}), digits=4),
    # the ER and Ribosome side of the pair (the cross-fitted default's largest changes)
    Figure("genome.iso_p_er_long", GENOME, Text(r"P\(ER\) (0\.\d+) against"), tsv(ISO_PRED, "ER", id=C9_LONG), digits=4),
    Figure("genome.iso_p_er_short", GENOME, Text(r"P\(ER\) 0\.\d+ against (0\.\d+)"), tsv(ISO_PRED, "ER", id=C9_SHORT), digits=4),
    Figure("genome.iso_p_ribosome_long", GENOME, Text(r"P\(Ribosome\) rises from (0\.\d+)"), tsv(ISO_PRED, "Ribosome", id=C9_LONG),
           digits=4),
    Figure("genome.iso_p_ribosome_short", GENOME, Text(r"P\(Ribosome\) rises from 0\.\d+ to (0\.\d+)"),
           tsv(ISO_PRED, "Ribosome", id=C9_SHORT), digits=4),
    Figure("genome.iso_spread_ribosome", GENOME, Text(r"`spread_Ribosome` (0\.\d+)"), tsv(ISO, "spread_Ribosome", gene_id="286223"),
           digits=4),
    Figure("genome.iso_nucleus_drop", GENOME, Text(r"removing the piece lowers it by (0\.\d+)"),
           tsv(ISO, "spread_Nucleus", gene_id="286223"), digits=4),
    Figure("genome.iso_rel_er_long", GENOME, Text(r"rel_ER falls from (\S+) to"), tsv(ISO_PROFILE, "rel_ER", id=C9_LONG), digits=4),
    Figure("genome.iso_rel_er_short", GENOME, Text(r"rel_ER falls from \S+ to\s+(\d\.\d+)"), tsv(ISO_PROFILE, "rel_ER", id=C9_SHORT),
           digits=4),
    Figure("genome.iso_ism_er", GENOME, Text(r"the point-mutation change of P\(ER\) is (\S+)\s+\(negative"),
           tsv(ISO_SEG, "summed_effect", transcript=C9_LONG, part="own_only", **{"class": "ER"}), digits=4),
]


def _other_rel_moves() -> float:
    """The largest |change| of a rel_ value other than Ribosome and ER between the C9orf47 pair."""
    rows = {r["id"]: r for r in _rows(ISO_PROFILE)}
    return max(abs(float(rows[C9_LONG][f"rel_{c}"]) - float(rows[C9_SHORT][f"rel_{c}"])) for c in CLASSES
               if c not in ("Ribosome", "ER"))


_other_rel_moves.source = ISO_PROFILE  # type: ignore[attr-defined]
FIGURES.append(Figure("genome.iso_other_rel_bound", GENOME, Text(r"the other `rel_` values\s+move by less than (0\.\d+)"),
                      _other_rel_moves, check="bound"))

# ---- docs/VARIANTS.md: rnaloc-variants' speed (benchmarks/variants_speed.py) and how large a D is
VARIANTS = "docs/VARIANTS.md"
VAR_SPEED = "benchmarks/results/variants_speed.tsv"  # python benchmarks/variants_speed.py --sizes ... --rounds 2
VAR_PCT = "benchmarks/results/variant_delta_percentiles.tsv"  # python benchmarks/variant_delta_percentiles.py
SPEEDTABLE = "| re-scoring: wall s (CPU s) | ISM engine"
for snvs, transcripts in ((10_000, 200), (5_000, 100)):
    for rnd in ("1", "2"):
        label = f"{snvs:,} / {transcripts}, round {rnd}"
        where = dict(snvs=str(snvs), transcripts=str(transcripts), round=rnd)
        FIGURES += [
            Figure(f"variants.speed.{snvs}.{rnd}.rescore_wall", VARIANTS, Cell(SPEEDTABLE, label, 1),
                   tsv(VAR_SPEED, "wall_s", engine="rescore", **where), digits=0),
            Figure(f"variants.speed.{snvs}.{rnd}.rescore_cpu", VARIANTS, Cell(SPEEDTABLE, label, 1),
                   tsv(VAR_SPEED, "cpu_s", engine="rescore", **where), nth=1, digits=0),
            Figure(f"variants.speed.{snvs}.{rnd}.ism_wall", VARIANTS, Cell(SPEEDTABLE, label, 2),
                   tsv(VAR_SPEED, "wall_s", engine="ism", **where), digits=0),
            Figure(f"variants.speed.{snvs}.{rnd}.ism_cpu", VARIANTS, Cell(SPEEDTABLE, label, 2),
                   tsv(VAR_SPEED, "cpu_s", engine="ism", **where), nth=1, digits=0),
            Figure(f"variants.speed.{snvs}.{rnd}.wall_ratio", VARIANTS, Cell(SPEEDTABLE, label, 3),
                   tsv(VAR_SPEED, "wall_ratio", engine="ism", **where), digits=1),
            Figure(f"variants.speed.{snvs}.{rnd}.cpu_ratio", VARIANTS, Cell(SPEEDTABLE, label, 3),
                   tsv(VAR_SPEED, "cpu_ratio", engine="ism", **where), nth=1, digits=1),
            Figure(f"variants.speed.{snvs}.{rnd}.load", VARIANTS, Cell(SPEEDTABLE, label, 4),
                   tsv(VAR_SPEED, "load_1min", engine="ism", **where), digits=0),
        ]
# docs/VARIANTS.md: the full sizes on the idle machine
VAR_IDLE, VAR_IDLE_50K = "benchmarks/results/variants_speed_idle.tsv", "benchmarks/results/variants_speed_idle_50k.tsv"
IDLETABLE = "| SNVs / transcripts (idle) |"
FIGURES += [
    Figure("variants.idle.100k.ism_wall", VARIANTS, Cell(IDLETABLE, "100,000 / 2,000", 1), tsv(VAR_IDLE, "wall_s", snvs="100000"), digits=0),
    Figure("variants.idle.100k.ism_cpu", VARIANTS, Cell(IDLETABLE, "100,000 / 2,000", 1), tsv(VAR_IDLE, "cpu_s", snvs="100000"), nth=1,
           digits=0),
    Figure("variants.idle.50k.ism_wall", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 1),
           tsv(VAR_IDLE_50K, "wall_s", engine="ism"), digits=0),
    Figure("variants.idle.50k.ism_cpu", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 1),
           tsv(VAR_IDLE_50K, "cpu_s", engine="ism"), nth=1, digits=0),
    Figure("variants.idle.50k.rescore_wall", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 2),
           tsv(VAR_IDLE_50K, "wall_s", engine="rescore"), digits=0),
    Figure("variants.idle.50k.rescore_cpu", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 2),
           tsv(VAR_IDLE_50K, "cpu_s", engine="rescore"), nth=1, digits=0),
    Figure("variants.idle.50k.wall_ratio", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 3),
           tsv(VAR_IDLE_50K, "wall_ratio", engine="ism"), digits=1),
    Figure("variants.idle.50k.cpu_ratio", VARIANTS, Cell(IDLETABLE, "50,000 / 1,000", 3),
           tsv(VAR_IDLE_50K, "cpu_ratio", engine="ism"), nth=1, digits=1),
    Figure("variants.idle.100k.text", VARIANTS, Text(r"All three targets are met: (\d+) s for 100,000"),
           tsv(VAR_IDLE, "wall_s", snvs="100000"), digits=0),
    Figure("variants.idle.50k.text", VARIANTS, Text(r"s \(target 120 s\), (\d+) s for 50,000"),
           tsv(VAR_IDLE_50K, "wall_s", engine="ism"), digits=0),
]
PCTTABLE = "of every SNV | median"
for cls in (*CLASSES, "any class"):
    FIGURES += [Figure(f"variants.pct.{cls}.{col}", VARIANTS, Cell(PCTTABLE, cls, i + 1), tsv(VAR_PCT, col, **{"class": cls}))
                for i, col in enumerate(("p50", "p90", "p99", "p99.9", "max"))]
FIGURES += [
    Figure("variants.pct.snvs", VARIANTS, Text(r"nt, \*\*([\d,]+) SNVs\*\*"), tsv(VAR_PCT, "snvs", **{"class": "any class"})),
    Figure("variants.pct.nt", VARIANTS, Text(r"mRNAs of\s+DM3Loc \(([\d,]+) nt, \*\*"), tsv(VAR_PCT, "nt", **{"class": "any class"})),
    Figure("variants.pct.records", VARIANTS, Text(r"SNV \(3 per position\) of (\d+) validation mRNAs"),
           tsv(VAR_PCT, "records", **{"class": "any class"})),
]

# RESULTS "Stronger networks (issue 33)": stride 4 and width 128 in the blend, on fold 0
NETWORK_VARIANTS = "experiments/results/network_variants_fold0.tsv"  # python experiments/network_variants_fold0.py
VARTABLE = "| network in the blend | member alone, macro (without Exosome)"
for row, network in (("released", "qrnn_motif_coding"), ("stride 4", "qrnn_motif_coding_s4"),
                     ("hidden 128", "qrnn_motif_coding_w128")):
    cells = [(1, "member_auroc", "macro", 0), (1, "member_auroc", "macro_without_exosome", 1),
             (2, "blend_auroc", "macro", 0), (4, "blend_auroc", "macro_without_exosome", 0)]
    if network != "qrnn_motif_coding":
        cells += [(3, column, "macro", n) for n, column in enumerate(("blend_gain", "gain_low", "gain_high"))]
        cells += [(5, column, "macro_without_exosome", n) for n, column in enumerate(("blend_gain", "gain_low", "gain_high"))]
    FIGURES += [Figure(f"results.network_variants.{network}.{col}.{figure}.{n}", RESULTS, Cell(VARTABLE, row, col),
                       tsv(NETWORK_VARIANTS, column, network=network, figure=figure), nth=n, digits=3)
                for col, column, figure, n in cells]

FIGURES += [Figure(f"card.network_variants.{network}.{n}", CARD, Text(pattern), tsv(NETWORK_VARIANTS, column, network=network,
                                                                                  figure="macro"), nth=n, digits=3)
            for network, pattern in (("qrnn_motif_coding_s4", r"changes the macro\s+AUROC by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"),
                                     ("qrnn_motif_coding_w128", r"\) and ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\)), at 2-3x"))
            for n, column in enumerate(("blend_gain", "gain_low", "gain_high"))]

# RESULTS "A bag of forests": the bagged forest in the blend, paired and nested over all folds (not shipped)
FOREST_BAG = "experiments/results/forest_bag_gain.tsv"  # python experiments/forest_bag_gain.py
BAG_REPORT = "benchmarks/results/crossfit_bag3/report.tsv"  # rnaloc-train crossfit-blend on artifacts/crossfit_bag3
BAG_SPEED = "benchmarks/results/end_to_end_2026-12-07_forest_bag3.md"  # benchmarks/end_to_end.py, candidate vs shipped
BAGTABLE = "| AUROC, out of fold, nested | one forest (released)"
for row, figure in (*((c, c) for c in CLASSES), ("macro", "macro"), ("macro without Exosome", "macro_without_exosome"),
                    ("Nucleus-only vs Cytosol-only", "nucleus_only_vs_cytosol_only")):
    FIGURES += [Figure(f"results.forest_bag.{figure}.{column}.{n}", RESULTS, Cell(BAGTABLE, row, col),
                       tsv(FOREST_BAG, column, figure=figure), nth=n)
                for col, column, n in ((1, "one_forest", 0), (2, "bag_of_forests", 0), (3, "gain", 0), (3, "gain_low", 1),
                                       (3, "gain_high", 2))]
BAG_PARA = r"\*\*A bag of forests \(2026-12-07\)"
FIGURES += [
    Figure("results.forest_bag.member_bag", RESULTS, Para(BAG_PARA, r"forest alone scores (0\.\d+) macro"),
           cf("member:forest", "macro", report=BAG_REPORT), digits=3),
    Figure("results.forest_bag.member_single", RESULTS, Para(BAG_PARA, r"against the single forest's (0\.\d+)"),
           cf("member:forest", "macro"), digits=3),
    Figure("results.forest_bag.gain_text", RESULTS, Para(r"Every class gains a little", r"the gain, ([+]0\.\d+), falls short"),
           tsv(FOREST_BAG, "gain", figure="macro"), digits=4),
    Figure("results.forest_bag.speed_valid", RESULTS, Para(r"Every class gains a little", r"(\d\.\d+)x on the\s+validation set"),
           txt(BAG_SPEED, r"valid, default: baseline / this branch, wall [\d. ]+\(median ([\d.]+)x\)", max), digits=2),
    Figure("results.forest_bag.speed_pieces", RESULTS, Para(r"Every class gains a little", r"and (\d\.\d+)x on 100,000"),
           txt(BAG_SPEED, r"pieces, default: baseline / this branch, wall [\d. ]+\(median ([\d.]+)x\)", max), digits=2),
]

# RESULTS "Two candidates on top of the bag": preregistered (experiments/PREREGISTERED.md), neither counts.
# Each member alone: crossfit_progress.py on the candidate's folder, whose other members are the bag's
# (so the regression before B is in A's file and the bagged forest before A in B's).
CANDIDATES = "| candidate, out of fold, nested"
PROGRESS_A = "experiments/results/crossfit_progress_forest_max_features.tsv"
PROGRESS_B = "experiments/results/crossfit_progress_regression_utr.tsv"
for label, row, gain, column_name, member, progress, before in (
        ("forest_max_features", "A: each of the forest's splits", "experiments/results/forest_max_features_gain.tsv",
         "bag_max_features_0.5", "forest", PROGRESS_A, PROGRESS_B),
        ("regression_utr", "B: the regression reads", "experiments/results/regression_utr_gain.tsv",
         "regression_utr", "regression", PROGRESS_B, PROGRESS_A)):
    FIGURES += [
        Figure(f"results.candidates.{label}.alone", RESULTS, Cell(CANDIDATES, row, 1), tsv(progress, "macro", member=member),
               digits=3),
        Figure(f"results.candidates.{label}.alone_before", RESULTS, Cell(CANDIDATES, row, 1),
               tsv(before, "macro", member=member), nth=1, digits=3),
        Figure(f"results.candidates.{label}.blend", RESULTS, Cell(CANDIDATES, row, 2), tsv(gain, column_name, figure="macro"),
               digits=4),
        *[Figure(f"results.candidates.{label}.{figure}.{column}", RESULTS, Cell(CANDIDATES, row, col),
                 tsv(gain, column, figure=figure), nth=n, digits=4)
          for col, figure in ((3, "macro"), (4, "macro_without_exosome"))
          for n, column in enumerate(("gain", "gain_low", "gain_high"))],
    ]
FIGURES += [
    Figure("results.candidates.regression_utr.alone_gain", RESULTS, Para(r"Column sampling moves nothing", r"alone \(([+]0\.\d+) macro\)"),
           difference(tsv(PROGRESS_B, "macro", member="regression"), tsv(PROGRESS_A, "macro", member="regression")), digits=3),
]

# RESULTS "New columns for the forest": exploratory on fold 0, candidate C judged on folds 1-4
EXTRA_FOLD0 = "experiments/results/forest_extra_features_fold0.tsv"  # experiments/forest_extra_features_fold0.py
UTR3_K6_FOLDS1234 = "experiments/results/forest_utr3_k6_gain_folds1234.tsv"  # forest_bag_gain.py --folds 1 2 3 4
EXTRA_PARA = r"\*\*New columns for the forest \(2026-12-07\)"
FIGURES += [
    *[Figure(f"results.extra_columns.{variant}.{column}", RESULTS, Para(EXTRA_PARA, pattern),
             tsv(EXTRA_FOLD0, column, variant=variant, figure="macro"), nth=n, digits=4)
      for variant, pattern in (
          ("utr3_k6", r"6-mer frequencies\s+([+−]0\.\d+ macro \([+−]0\.\d+ to [+−]0\.\d+\))"),
          ("cds_k45", r"4- and 5-mers ([+−]0\.\d+ \([+−]0\.\d+ to\s+[+−]0\.\d+\))"),
          ("utr3_ends", r"of the 3' UTR ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"))
      for n, column in enumerate(("blend_gain", "gain_low", "gain_high"))],
    *gain_with_interval("results.extra_columns.candidate_c", RESULTS, Para(EXTRA_PARA, rf"AUROC by\s+({INTERVAL})"),
                        UTR3_K6_FOLDS1234, figure="macro"),
    Figure("results.extra_columns.records", RESULTS, Para(EXTRA_PARA, r"paired over their ([\d,]+) records"),
           tsv(UTR3_K6_FOLDS1234, "records", figure="macro")),
]

# RESULTS "A member for which": candidate D, a Nucleus-vs-Cytosol specialist (experiments/nc_specialist_crossfit.py)
NC_GAIN = "experiments/results/nc_specialist_gain.tsv"  # forest_bag_gain.py --candidate-members ... nc_specialist
NC_ALONE = "experiments/results/nc_specialist_alone.tsv"  # nc_specialist_crossfit.py --results
NC_PARA = r"\*\*A member for \"which\" \(2026-12-07\)"
FIGURES += [
    Figure("results.nc_specialist.first_only", RESULTS, Para(NC_PARA, r"Cytosol-only records \(([\d,]+) and"),
           tsv(NC_ALONE, "first_only", member="nc_specialist")),
    Figure("results.nc_specialist.second_only", RESULTS, Para(NC_PARA, r"Cytosol-only records \([\d,]+ and ([\d,]+) over"),
           tsv(NC_ALONE, "second_only", member="nc_specialist")),
    Figure("results.nc_specialist.alone", RESULTS, Para(NC_PARA, r"records with AUROC (0\.\d+) out of fold"),
           tsv(NC_ALONE, "first_score_auroc", member="nc_specialist"), digits=3),
    *[Figure(f"results.nc_specialist.{member}_difference", RESULTS, Para(NC_PARA, pattern),
             tsv(NC_ALONE, "difference_auroc", member=member), digits=3)
      for member, pattern in (("forest", r"Cytosol\s+score \((0\.\d+)\)"), ("regression", r"the regression (0\.\d+)"),
                              ("qrnn_motif_coding", r"the network (0\.\d+)"))],
    *[Figure(f"results.nc_specialist.{figure}.{column}", RESULTS, Para(NC_PARA, pattern), tsv(NC_GAIN, column, figure=figure),
             nth=n, digits=4)
      for figure, pattern in (("nucleus_only_vs_cytosol_only", r"it moves Nucleus-only vs\s+Cytosol-only by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"),
                              ("macro", r"the macro AUROC by ([+−]0\.\d+ \([+−]0\.\d+ to\s+[+−]0\.\d+\))"))
      for n, column in enumerate(("gain", "gain_low", "gain_high"))],
    Figure("results.nc_specialist.heldout_interval_low", RESULTS, Para(NC_PARA, r"out-of-fold interval\s+\((0\.\d+)"),
           cf("estimate_specificity", "Nucleus-Cytosol", "low"), digits=3),
    Figure("results.nc_specialist.heldout_interval_high", RESULTS, Para(NC_PARA, r"out-of-fold interval\s+\(0\.\d+–(0\.\d+)\)"),
           cf("estimate_specificity", "Nucleus-Cytosol", "high"), digits=3),
    Figure("card.nc_specialist.alone", CARD, Text(r"ranks them no better alone\s+\(AUROC (0\.\d+)\)"),
           tsv(NC_ALONE, "first_score_auroc", member="nc_specialist"), digits=3),
    Figure("card.nc_specialist.forest", CARD, Text(r"Nucleus minus Cytosol score \((0\.\d+)\), and in the blend"),
           tsv(NC_ALONE, "difference_auroc", member="forest"), digits=3),
    *gain_with_interval("card.nc_specialist.pair", CARD, Text(rf"moves that pair's AUROC by ({INTERVAL})"), NC_GAIN,
                        figure="nucleus_only_vs_cytosol_only"),
]

# RESULTS "Trees as the stacker": candidate E (experiments/tree_stacker_gain.py)
TREE_STACKER = "experiments/results/tree_stacker_gain.tsv"
STACKER_PARA = r"\*\*Trees as the stacker \(2026-12-07\)"
FIGURES += [
    *gain_with_interval("results.tree_stacker.macro", RESULTS, Para(STACKER_PARA, rf"macro ({INTERVAL})"), TREE_STACKER,
                        figure="macro"),
    Figure("results.tree_stacker.exosome", RESULTS, Para(STACKER_PARA, r"Exosome ([+−]0\.\d+) \("),
           tsv(TREE_STACKER, "gain", figure="Exosome"), digits=3),
    Figure("results.tree_stacker.pair", RESULTS, Para(STACKER_PARA, r"Cytosol-only ([+−]0\.\d+)\. The"),
           tsv(TREE_STACKER, "gain", figure="nucleus_only_vs_cytosol_only"), digits=3),
]

# RESULTS "Shared long k-mers": candidate F (experiments/homology_knn_crossfit.py)
KNN_GAIN = "experiments/results/homology_knn_gain.tsv"
KNN_ALONE = "experiments/results/crossfit_progress_homology_knn.tsv"
KNN_PARA = r"\*\*Shared long k-mers \(2026-12-07\)"
FIGURES += [
    Figure("results.homology_knn.alone", RESULTS, Para(KNN_PARA, r"ranks at (0\.\d+) macro AUROC"),
           tsv(KNN_ALONE, "macro", member="homology_knn"), digits=3),
    *[Figure(f"results.homology_knn.{figure}.{column}", RESULTS, Para(KNN_PARA, pattern), tsv(KNN_GAIN, column, figure=figure),
             nth=n, digits=4)
      for figure, pattern in (("macro", r"moves the macro by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"),
                              ("nucleus_only_vs_cytosol_only", r"Cytosol-only by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"))
      for n, column in enumerate(("gain", "gain_low", "gain_high"))],
]
# RESULTS "RNA structure": exploratory on fold 0, candidate G judged on folds 1-4, and its cost
STRUCTURE_FOLD0 = "experiments/results/forest_structure_fold0.tsv"  # forest_extra_features_fold0.py --variant structure
STRUCTURE_FOLDS1234 = "experiments/results/forest_structure_gain_folds1234.tsv"  # forest_bag_gain.py --folds 1 2 3 4
STRUCTURE_SPEED = "benchmarks/results/structure_speed.txt"  # benchmarks/structure_speed.py
STRUCTURE_PARA = r"\*\*RNA structure \(2026-12-07\)"
FIGURES += [
    *[Figure(f"results.structure.fold0.{column}", RESULTS, Para(STRUCTURE_PARA, r"it gained ([+−]0\.\d+ macro \([+−]0\.\d+ to\s+[+−]0\.\d+\))"),
             tsv(STRUCTURE_FOLD0, column, variant="structure", figure="macro"), nth=n, digits=4)
      for n, column in enumerate(("blend_gain", "gain_low", "gain_high"))],
    Figure("results.structure.fold0.exosome", RESULTS, Para(STRUCTURE_PARA, r"([+−]0\.\d+) of it Exosome's"),
           tsv(STRUCTURE_FOLD0, "blend_gain", variant="structure", figure="Exosome"), digits=4),
    *gain_with_interval("results.structure.folds1234", RESULTS, Para(STRUCTURE_PARA, rf"moves the macro AUROC by ({INTERVAL})"),
                        STRUCTURE_FOLDS1234, figure="macro"),
    Figure("results.structure.cost", RESULTS, Para(STRUCTURE_PARA, r"costs (\d+) times the CPU"),
           txt(STRUCTURE_SPEED, r"folding / runtime (\d+)x", max)),
]
FIGURES += [Figure(f"card.more_candidates.{name}", CARD, Text(pattern), tsv(path, "gain", figure="macro"), digits=4)
            for name, path, pattern in (
                ("tree_stacker", TREE_STACKER, r"trees as the stacker\s+\(macro ([+−]0\.\d+)\)"),
                ("homology_knn", KNN_GAIN, r"share 16-mers\s+\(([+−]0\.\d+)\)"),
                ("structure", STRUCTURE_FOLDS1234, r"RNA structure in the forest \(([+−]0\.\d+) on the four"))]
# RESULTS "A slower learning rate": candidate H (configs/qrnn_motif_coding_lr1e3.toml, forest_bag_gain.py)
LR_GAIN = "experiments/results/network_lr1e3_gain.tsv"  # H in place of the network in the bag's blend
LR_WITH_BAG = "experiments/results/bag_and_network_lr1e3_gain.tsv"  # the bag and H against the released blend
LR_ALONE = "experiments/results/crossfit_progress_network_lr1e3.tsv"
LR_PARA = r"\*\*A slower learning rate \(2026-12-07\)"
FIGURES += [
    *[Figure(f"results.network_lr1e3.alone.{member}", RESULTS, Para(LR_PARA, pattern), tsv(LR_ALONE, "macro", member=member),
             digits=3)
      for member, pattern in (("qrnn_motif_coding_lr1e3", r"alone it ranks at (0\.\d+) macro AUROC"),
                              ("qrnn_motif_coding", r"against the released\s+network's (0\.\d+)"),
                              ("regression", r"above the regression \((0\.\d+)\)"),
                              ("forest", r"below the bag of forests \((0\.\d+)\)"))],
    *gain_with_interval("results.network_lr1e3.macro", RESULTS, Para(LR_PARA, rf"moves the macro AUROC by\s+({INTERVAL})"),
                        LR_GAIN, figure="macro"),
    *gain_with_interval("results.network_lr1e3.without_exosome", RESULTS, Para(LR_PARA, rf"without Exosome by ({INTERVAL})"),
                        LR_GAIN, figure="macro_without_exosome"),
    *gain_with_interval("results.network_lr1e3.with_bag", RESULTS, Para(LR_PARA, rf"the two gain ({INTERVAL})"),
                        LR_WITH_BAG, figure="macro"),
    Figure("card.network_lr1e3.alone", CARD, Text(r"\(macro AUROC (0\.\d+) against 0\.\d+ out of fold\)"),
           tsv(LR_ALONE, "macro", member="qrnn_motif_coding_lr1e3"), digits=3),
    Figure("card.network_lr1e3.released", CARD, Text(r"\(macro AUROC 0\.\d+ against (0\.\d+) out of fold\)"),
           tsv(LR_ALONE, "macro", member="qrnn_motif_coding"), digits=3),
    *gain_with_interval("card.network_lr1e3.gain", CARD, Text(rf"moves the bag's blend by only ({INTERVAL})"), LR_GAIN,
                        figure="macro"),
]
# RESULTS "H's network in fast": candidate I, shipped as fast (artifacts/release_fast_2026-12-07/)
FAST_I_PARA = r"\*\*H's network in `fast` \(2026-12-07\)"
FAST_I_SPEED = "benchmarks/results/end_to_end_2026-12-07_fast_lr1e3.md"  # benchmarks/end_to_end.py, side by side
FIGURES += [
    *gain_with_interval("results.fast_i.macro", RESULTS, Para(FAST_I_PARA, rf"the macro AUROC gains ({INTERVAL})"), FAST_GAIN,
                        figure="macro"),
    *gain_with_interval("results.fast_i.pair", RESULTS, Para(FAST_I_PARA, rf"Cytosol-only moves by\s+({INTERVAL})"), FAST_GAIN,
                        figure="nucleus_only_vs_cytosol_only"),
    *[Figure(f"results.fast_i.{cls}", RESULTS, Para(FAST_I_PARA, rf"{cls} \(([+−]0\.\d+)\)"), tsv(FAST_GAIN, "gain", figure=cls),
             digits=4) for cls in ("Nucleus", "Exosome", "ER")],
    *[Figure(f"results.fast_i.speed_{case}", RESULTS, Para(FAST_I_PARA, pattern),
             txt(FAST_I_SPEED, rf"{case}, fast: baseline / this branch, wall [\d. ]+\(median ([\d.]+)x\)", max), digits=2)
      for case, pattern in (("valid", r"runs at\s+([\d.]+)x the previous one's speed"), ("pieces", r"and ([\d.]+)x on 100,000"))],
    Figure("results.fast_i.estimate", RESULTS, Para(FAST_I_PARA, r"scores \*\*(0\.\d+) macro AUROC"), cf_fast("estimate", "macro"),
           digits=3),
    Figure("results.fast_i.previous", RESULTS, Para(FAST_I_PARA, r"against the previous `fast`'s\s+(0\.\d+)"),
           cf_fast0("estimate", "macro"), digits=3),
    Figure("results.fast_i.default", RESULTS, Para(FAST_I_PARA, r"and the default's (0\.\d+)"), cf("estimate", "macro"), digits=3),
]
LIMITS_PARA = r"\*\*The inputs, not the fitting \(2026-12-07\)"
FIGURES += [
    Figure("results.limits.bag_gain", RESULTS, Para(LIMITS_PARA, r"A bag of forests gains ([+]0\.\d+) macro"),
           tsv(FOREST_BAG, "gain", figure="macro"), digits=4),
    Figure("results.limits.worst", RESULTS, Para(LIMITS_PARA, r"move the blend by ([−]0\.\d+) to"),
           tsv(TREE_STACKER, "gain", figure="macro"), digits=3),
    Figure("results.limits.best", RESULTS, Para(LIMITS_PARA, r"move the blend by [−]0\.\d+ to ([+]0\.\d+)"),
           tsv("experiments/results/regression_utr_gain.tsv", "gain", figure="macro"), digits=3),
    Figure("results.limits.structure", RESULTS, Para(LIMITS_PARA, r"either \(([−]0\.\d+) on the four folds"),
           tsv(STRUCTURE_FOLDS1234, "gain", figure="macro"), digits=4),
    Figure("results.limits.structure_cost", RESULTS, Para(LIMITS_PARA, r"costs (\d+) times the runtime's CPU"),
           txt(STRUCTURE_SPEED, r"folding / runtime (\d+)x", max)),
    Figure("results.limits.network_lr1e3", RESULTS, Para(LIMITS_PARA, r"much better alone \((0\.\d+) against"),
           tsv(LR_ALONE, "macro", member="qrnn_motif_coding_lr1e3"), digits=3),
    Figure("results.limits.network", RESULTS, Para(LIMITS_PARA, r"much better alone \(0\.\d+ against (0\.\d+)\)"),
           tsv(LR_ALONE, "macro", member="qrnn_motif_coding"), digits=3),
    *gain_with_interval("results.limits.network_lr1e3_gain", RESULTS, Para(LIMITS_PARA, rf"adds ({INTERVAL}) to the\s+blend"),
                        LR_GAIN, figure="macro"),
    Figure("results.limits.bag_alone", RESULTS, Para(LIMITS_PARA, r"(0\.\d+) for the bag of\s+forests\)"),
           tsv(KNN_ALONE, "macro", member="forest"), digits=3),
]

FIGURES += [Figure(f"card.forest_bag.{n}", CARD, Text(r"the bag moves the macro AUROC by ([+]0\.\d+ \([+]0\.\d+ to [+]0\.\d+\))"),
                   tsv(FOREST_BAG, column, figure="macro"), nth=n, digits=4)
            for n, column in enumerate(("gain", "gain_low", "gain_high"))]

FIGURES += [Figure(f"card.candidates.{label}.{n}", CARD, Text(pattern), tsv(gain, column, figure="macro"), nth=n, digits=4)
            for label, gain, pattern in (
                ("forest_max_features", "experiments/results/forest_max_features_gain.tsv",
                 r"forest moves the macro AUROC by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"),
                ("regression_utr", "experiments/results/regression_utr_gain.tsv",
                 r"regression by ([+−]0\.\d+ \([+−]0\.\d+ to [+−]0\.\d+\))"))
            for n, column in enumerate(("gain", "gain_low", "gain_high"))]

# README "BED" and docs/GENOME.md "Scores": BED score and top_class over valid (python benchmarks/bed_scores.py)
BED_SCORES = "benchmarks/results/bed_scores_valid.tsv"
FIGURES += [
    Figure("readme.bed.lift_p5", README, Text(r"on the validation mRNAs (\d+) to \d+"), tsv(BED_SCORES, "value", figure="bed_score_lift", key="p5")),
    Figure("readme.bed.lift_p95", README, Text(r"on the validation mRNAs \d+ to (\d+)"), tsv(BED_SCORES, "value", figure="bed_score_lift", key="p95")),
    Figure("readme.bed.prob_p5", README, Text(r"for every record and score (\d+)–\d+"),
           tsv(BED_SCORES, "value", figure="bed_score_top_probability", key="p5")),
    Figure("readme.bed.prob_p95", README, Text(r"for every record and score \d+–(\d+)"),
           tsv(BED_SCORES, "value", figure="bed_score_top_probability", key="p95")),
    Figure("genome.scores.exosome_highest", GENOME, Text(r"has the highest probability for \*\*([\d,]+) of"),
           tsv(BED_SCORES, "value", figure="highest_probability", key="Exosome")),
    Figure("genome.scores.records", GENOME, Text(r"has the highest probability for \*\*[\d,]+ of\s+([\d,]+)\*\*"),
           tsv(BED_SCORES, "value", figure="records", key="all")),
    Figure("genome.scores.prob_p5", GENOME, Text(r"scored (\d+) \(5th percentile\) to \d+"),
           tsv(BED_SCORES, "value", figure="bed_score_top_probability", key="p5")),
    Figure("genome.scores.prob_p95", GENOME, Text(r"\(5th percentile\) to (\d+) \(95th\)"),
           tsv(BED_SCORES, "value", figure="bed_score_top_probability", key="p95")),
    *[Figure(f"genome.scores.lift.{q}", GENOME, Cell("| BED score | 5th pct", "round(1000 × tanh(rel / 2)) (now)", i + 1),
             tsv(BED_SCORES, "value", figure="bed_score_lift", key=q)) for i, q in enumerate(("p5", "p25", "p50", "p75", "p95"))],
    *[Figure(f"genome.scores.prob.{q}", GENOME, Cell("| BED score | 5th pct", "1000 × top probability (before)", col),
             tsv(BED_SCORES, "value", figure="bed_score_top_probability", key=q)) for col, q in ((1, "p5"), (3, "p50"), (5, "p95"))],
    *[Figure(f"genome.scores.top_class.{cls}", GENOME, Text(rf"{cls} ([\d,]+)[,.]"), tsv(BED_SCORES, "value", figure="top_class", key=cls))
      for cls in ("Nucleus", "ER", "Ribosome", "Membrane", "Cytosol")],
    Figure("genome.scores.exosome_would_lead", GENOME, Text(r"Its lift would have led for ([\d,]+) records"),
           tsv(BED_SCORES, "value", figure="top_class_if_every_class_could_lead", key="Exosome")),
]

# Figures the docs give without a committed results file: (doc, text that must stay beside them).
NOT_BACKED = [
    (CARD, "0.755 (0.760)"),
    (CARD, "**Not backed by a results file**: `fast`'s out-of-fold figures, its equal-weight figures and its\n0.80 ER weight"),
    (CARD, "**Not backed by a results file**: the member 1 and member 2 columns"),
    (README, "at about 250 MiB (measured, no results file: docs/PERFORMANCE.md)"),
    ("docs/RESULTS.md", "a mixing on all 18 member scores (0.7711)"),
    ("docs/RESULTS.md", "Where to put it, an exploratory check on the out-of-fold files (no results file)"),
]


def _check(figure: Figure) -> None:
    text = figure.where.find(figure.doc)
    found = numbers(text)
    assert len(found) > figure.nth, f"{figure.id}: no number #{figure.nth} in {text!r} ({figure.doc})"
    shown, decimals = found[figure.nth]
    value = figure.read() * figure.scale
    source = getattr(figure.read, "source", "?")
    if figure.check == "bound":
        assert value <= shown, f"{figure.id}: {figure.doc} says within {shown}, {source} has {value}"
        return
    if figure.digits is not None:
        assert decimals == figure.digits, f"{figure.id}: {figure.doc} shows {text!r} with {decimals} decimals, want {figure.digits}"
    half = 0.5 * 10 ** -decimals
    assert abs(shown - value) <= half + 1e-9, (
        f"{figure.id}: {figure.doc} says {shown} ({text.strip()!r}), {source} has {value:.6g}: update the doc")


@pytest.mark.parametrize("figure", FIGURES, ids=[f.id for f in FIGURES])
def test_doc_figure_is_the_results_file_value(figure: Figure) -> None:
    _check(figure)


def test_figure_ids_are_unique_and_results_files_committed() -> None:
    ids = [f.id for f in FIGURES]
    assert len(ids) == len(set(ids))
    for f in FIGURES:
        source = getattr(f.read, "source", None)
        assert source and (ROOT / source).is_file(), f"{f.id}: results file {source} missing"


@pytest.mark.parametrize("doc,text", NOT_BACKED)
def test_figures_without_a_results_file_say_so(doc: str, text: str) -> None:
    flat = " ".join(doc_text(doc).split())
    assert " ".join(text.split()) in flat, f"{doc}: the not-backed figure {text!r} (or its mark) is gone; back it with a results file"


def test_a_changed_results_value_fails_the_check() -> None:
    """The check is not vacuous: the same doc text against a value one unit off fails."""
    figure = next(f for f in FIGURES if f.id == "readme.nc_log_odds")
    _check(figure)
    off = Figure(figure.id, figure.doc, figure.where, lambda: figure.read() + 0.002, digits=3)
    with pytest.raises(AssertionError, match="update the doc"):
        _check(off)


def test_numbers_parses_ranges_signs_and_thousands() -> None:
    assert numbers("0.800 (0.783-0.816)") == [(0.8, 3), (0.783, 3), (0.816, 3)]
    assert numbers("+0.002 (−0.001 to +0.005)") == [(0.002, 3), (-0.001, 3), (0.005, 3)]
    assert numbers("2,631 and 99.9%") == [(2631.0, 0), (99.9, 1)]
    assert numbers("-0.0007-+0.0049") == [(-0.0007, 4), (0.0049, 4)]


def test_packaged_model_card_is_the_docs_copy() -> None:
    assert (ROOT / "rnaloc_infer" / "data" / "MODEL_CARD.md").read_bytes() == (ROOT / CARD).read_bytes()


@pytest.mark.parametrize("name", ["default.onnx", "fast.onnx"])
def test_model_card_sha256_is_the_bundled_file(name: str) -> None:
    import hashlib

    digest = hashlib.sha256((ROOT / "rnaloc_infer" / "models" / name).read_bytes()).hexdigest()
    pattern = rf"`{re.escape(name)}`? \(\d[\d,]* KiB,? sha256\s+`([0-9a-f]{{64}})`|`rnaloc_infer/models/{re.escape(name)}`.*?sha256 `([0-9a-f]{{64}})`"
    match = re.search(pattern, doc_text(CARD), re.S)
    assert match, f"{CARD}: no sha256 for {name}"
    assert (match.group(1) or match.group(2)) == digest, f"{CARD}: sha256 of {name} is {digest}"


def test_heldout_table_has_a_row_for_the_bundled_default() -> None:
    """docs/model_card/heldout.tsv keeps one row per release, the bundled default's included
    (its sha256 prefix), so a release cannot ship without a place for its held-out scores."""
    import hashlib

    digest = hashlib.sha256((ROOT / "rnaloc_infer" / "models" / "default.onnx").read_bytes()).hexdigest()
    rows = [r for r in _rows(HELDOUT) if r["default_sha256"] and digest.startswith(r["default_sha256"])]
    assert len(rows) == 1, f"{HELDOUT}: {len(rows)} rows for the bundled default.onnx ({digest[:12]}), want 1"
    assert rows[0]["scored_by"] and (rows[0]["macro"] or rows[0]["scored_by"] == "not scored yet")


def test_explain_example_top_region_is_the_results_file_one() -> None:
    """EXPLAIN.md names the example's top ER region by its sequence (regions.tsv rank 1)."""
    example = json.loads((ROOT / EXAMPLE).read_text())
    shown = Text(r"regions\.tsv rank 1, `([ACGT]+)`").find(EXPLAIN)
    assert shown == example["top_region"]["ER"]["sequence"]
    assert example["record"] in doc_text(EXPLAIN) and example["gene"] in doc_text(EXPLAIN)
