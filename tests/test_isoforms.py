"""rnaloc-infer GENOME --annotation A --isoforms REPORT.tsv: the per-gene isoform report.

Checked against the main output and the test's own geometry: the spread is max - min of the
main output's printed probabilities (decimal arithmetic on the printed text), the pair is the
one farthest apart in L1 by a brute-force search written here, and the exon pieces one isoform
has and the other lacks come from sets of genomic positions, not from interval code.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import random
from decimal import Decimal
from itertools import combinations
from pathlib import Path

import pytest

from rnaloc_infer.genome.annotation import read_annotation
from rnaloc_infer.genome.isoforms import (
    IsoformReport, exon_difference, format_segments, most_different_pair, parse_segments, report_columns)

HAS_BACKEND = any(importlib.util.find_spec(m) is not None for m in ("pyfaidx", "pysam"))
requires_backend = pytest.mark.skipif(not HAS_BACKEND, reason="needs the [genome] extra (pyfaidx or pysam)")

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
# (transcript, gene, gene name, strand, exons 0-based half-open), in file order: the genes'
# first transcripts come G3, GM, G1, so the report lists G3 then GM (G1 has one isoform).
TRANSCRIPTS = [
    ("T3a", "G3", "THREE", "+", [(100, 300), (500, 700), (900, 1100)]),
    ("TMa", "GM", "MINUS", "-", [(2000, 2200), (2400, 2600), (2800, 3000)]),
    ("T3b", "G3", "THREE", "+", [(100, 300), (900, 1100)]),  # skips exon 2: 400 nt
    ("T1", "G1", "ONE", "+", [(1500, 1800)]),
    ("TMb", "GM", "MINUS", "-", [(2000, 2200), (2800, 3000)]),  # differs from TMa by one exon
    ("T3c", "G3", "THREE", "+", [(100, 300), (500, 650), (900, 1200)]),  # shorter exon 2, longer last exon
]
MULTI = {"G3": 3, "GM": 2}


def _contig(seed: int = 5, size: int = 3500) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice("ACGT") for _ in range(size))


def _write_gtf(path: Path) -> Path:
    lines = []
    for tid, gene, name, strand, exons in TRANSCRIPTS:
        attrs = f'gene_id "{gene}"; transcript_id "{tid}"; gene_name "{name}"; transcript_type "protein_coding";'
        lines += [f"chrA\tTEST\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}" for s, e in exons]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_gff3(path: Path) -> Path:
    lines, genes = ["##gff-version 3"], set()
    for tid, gene, name, strand, exons in TRANSCRIPTS:
        span = [e for _, _, _, _, ex in (t for t in TRANSCRIPTS if t[1] == gene) for e in ex]
        lo, hi = min(s for s, _ in span), max(e for _, e in span)
        if gene not in genes:
            genes.add(gene)
            lines.append(f"chrA\tTEST\tgene\t{lo + 1}\t{hi}\t.\t{strand}\t.\tID=gene:{gene};Name={name};biotype=protein_coding")
        lines.append(f"chrA\tTEST\tmRNA\t{exons[0][0] + 1}\t{exons[-1][1]}\t.\t{strand}\t.\t"
                     f"ID=transcript:{tid};Parent=gene:{gene};transcript_id={tid}")
        lines += [f"chrA\tTEST\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent=transcript:{tid}" for s, e in exons]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def genome(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("isoforms")
    contig = _contig()
    fa = root / "genome.fa"
    fa.write_text(">chrA\n" + "\n".join(contig[i:i + 60] for i in range(0, len(contig), 60)) + "\n")
    return {"fa": fa, "gtf": _write_gtf(root / "genes.gtf"), "gff3": _write_gff3(root / "genes.gff3")}


def _expected_pieces(a: list, b: list) -> str:
    """The genomic positions exonic in a and not in b, as runs of consecutive positions
    (1-based inclusive), the report's text form on chrA; built from position sets."""
    only = sorted({p for s, e in a for p in range(s, e)} - {p for s, e in b for p in range(s, e)})
    runs = []
    for p in only:
        if runs and runs[-1][1] == p - 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return runs


def _as_text(runs: list, strand: str) -> str:
    return ",".join(f"chrA:{s + 1}-{e + 1}({strand})" for s, e in runs) or "-"


def _table(path: Path) -> list:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def invoke(*args):
    from click.testing import CliRunner

    from rnaloc_infer.cli.predict import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _ruled_model(tcn_model: Path, tmp_path: Path) -> Path:
    """The tiny model with applicability rules that flag transcripts under 450 nt (T3b, TMb, T1)."""
    from conftest import rewrite_model

    from rnaloc_infer.applicability import ApplicabilityRules

    rules = ApplicabilityRules(min_length=450, max_length=100_000, max_n_fraction=1.0, min_orf_codons=0,
                               max_ambiguous_fraction=1.0)
    return rewrite_model(tcn_model, tmp_path / "ruled.onnx", set_props={"rnaloc.applicability": rules.to_json()})


# ------------------------------------------------------------------ pure functions


def test_exon_difference_is_the_position_set_difference_on_both_strands(tmp_path):
    transcripts = {t.transcript_id: t for t in read_annotation(_write_gtf(tmp_path / "a.gtf"))}
    by_id = {t[0]: t for t in TRANSCRIPTS}
    for x, y in [("T3a", "T3b"), ("T3b", "T3a"), ("T3a", "T3c"), ("T3c", "T3a"), ("T3b", "T3c"), ("TMa", "TMb"),
                 ("TMb", "TMa")]:
        got = format_segments(exon_difference(transcripts[x], transcripts[y]))
        assert got == _as_text(_expected_pieces(by_id[x][4], by_id[y][4]), by_id[x][3]), (x, y)
    assert format_segments(exon_difference(transcripts["TMa"], transcripts["TMb"])) == "chrA:2401-2600(-)"
    assert format_segments(exon_difference(transcripts["T3c"], transcripts["T3a"])) == "chrA:1101-1200(+)"
    assert format_segments(exon_difference(transcripts["T3a"], transcripts["T3c"])) == "chrA:651-700(+)"


def test_segments_round_trip_and_malformed_entries():
    segments = [("chr1", 99, 200, "+"), ("HLA:1", 0, 1, "-")]
    assert format_segments(segments) == "chr1:100-200(+),HLA:1:1-1(-)"
    assert parse_segments(format_segments(segments)) == segments
    assert parse_segments("-") == [] and format_segments([]) == "-"
    with pytest.raises(ValueError, match="not a segment"):
        parse_segments("chr1:100-200")


def test_most_different_pair_is_the_largest_l1_first_on_ties():
    import numpy as np

    probs = np.array([[0.1, 0.5], [0.3, 0.5], [0.1, 0.9], [0.3, 0.9]])
    assert most_different_pair(probs)[:2] == (0, 3)  # L1 0.6
    tied = np.array([[0.2, 0.2], [0.4, 0.2], [0.2, 0.4]])  # (0,1) and (0,2): 0.2 each; (1,2): 0.4
    assert most_different_pair(tied)[:2] == (1, 2)
    even = np.array([[0.0], [0.5], [0.0], [0.5]])
    assert most_different_pair(even)[:2] == (0, 1)


def test_report_object_groups_in_input_order_and_ignores_unknown_ids(tmp_path):
    import numpy as np

    transcripts = read_annotation(_write_gtf(tmp_path / "a.gtf"))
    report = IsoformReport(transcripts, CLASSES)
    for k, t in enumerate(reversed(transcripts)):  # rows in any order: genes follow the annotation
        report.add(t.transcript_id, np.full(len(CLASSES), 0.1 * k), ("too_short",) if t.transcript_id == "T3b" else None)
    report.add("unknown", np.ones(len(CLASSES)))
    genes = report.genes()
    assert [(g.gene_id, g.n_isoforms) for g in genes] == [("G3", 3), ("GM", 2)]
    assert genes[0].out_of_range == (("T3b", "too_short"),)
    stream = io.StringIO()
    assert report.write(stream) == 2
    lines = stream.getvalue().splitlines()
    assert lines[0].split("\t") == report_columns(CLASSES) and len(lines) == 3


# ------------------------------------------------------------------ the command


def _check_report(report: Path, main: Path) -> list:
    """Every report row against the main output: count, spread, pair, segments."""
    rows = _table(report)
    predictions = {r["id"]: r for r in _table(main)}
    by_id = {t[0]: t for t in TRANSCRIPTS}
    assert [r["gene_id"] for r in rows] == list(MULTI)
    for row in rows:
        tids = [t[0] for t in TRANSCRIPTS if t[1] == row["gene_id"] and t[0] in predictions]
        assert int(row["n_isoforms"]) == MULTI[row["gene_id"]] == len(tids)
        assert row["gene_name"] == by_id[tids[0]][2]
        values = {tid: [Decimal(predictions[tid][c]) for c in CLASSES] for tid in tids}
        for k, c in enumerate(CLASSES):
            column = [values[tid][k] for tid in tids]
            assert Decimal(row[f"spread_{c}"]) == max(column) - min(column), (row["gene_id"], c)
        distance = {(x, y): sum(abs(p - q) for p, q in zip(values[x], values[y])) for x, y in combinations(tids, 2)}
        best = max(distance.values())
        pair = next(p for p in distance if distance[p] == best)  # combinations: input order, first on ties
        assert (row["isoform_a"], row["isoform_b"]) == pair
        assert Decimal(row["l1_distance"]) == best
        a, b = by_id[pair[0]], by_id[pair[1]]
        assert row["a_only_exons"] == _as_text(_expected_pieces(a[4], b[4]), a[3])
        assert row["b_only_exons"] == _as_text(_expected_pieces(b[4], a[4]), b[3])
        for side in ("a_only_exons", "b_only_exons"):
            assert all(s[3] == a[3] for s in parse_segments(row[side]))
    return rows


@requires_backend
@pytest.mark.parametrize("fmt", ["gtf", "gff3"])
def test_report_matches_main_output(genome, tcn_model, tmp_path, fmt):
    out, report = tmp_path / "pred.tsv", tmp_path / "isoforms.tsv"
    result = invoke(genome["fa"], "--annotation", genome[fmt], "--model", tcn_model, "-q", "-o", out, "--isoforms", report)
    assert result.exit_code == 0, result.output
    assert report.read_text().split("\n", 1)[0].split("\t") == report_columns(CLASSES)
    rows = _check_report(report, out)
    # the tiny model does tell the isoforms apart (else the spread check proves little)
    assert max(Decimal(r[f"spread_{c}"]) for r in rows for c in CLASSES) > 0
    # the main output is the same as without --isoforms, and its sidecar records the option
    plain = tmp_path / "plain.tsv"
    assert invoke(genome["fa"], "--annotation", genome[fmt], "--model", tcn_model, "-q", "-o", plain).exit_code == 0
    assert plain.read_text() == out.read_text()
    import json

    assert json.loads((tmp_path / "pred.tsv.json").read_text())["options"]["isoforms"] == str(report)


@requires_backend
def test_gtf_and_gff3_give_the_same_report(genome, tcn_model, tmp_path):
    texts = []
    for fmt in ("gtf", "gff3"):
        report = tmp_path / f"{fmt}.isoforms.tsv.gz"
        assert invoke(genome["fa"], "--annotation", genome[fmt], "--model", tcn_model, "-q", "-o", tmp_path / f"{fmt}.tsv",
                      "--isoforms", report).exit_code == 0
        import gzip

        texts.append(gzip.decompress(report.read_bytes()).decode())
    assert texts[0] == texts[1] and texts[0].count("\n") == 3


@requires_backend
def test_out_of_range_isoforms_carry_the_flag_or_are_left_out(genome, tcn_model, tmp_path):
    model = _ruled_model(tcn_model, tmp_path)
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    assert invoke(genome["fa"], "--annotation", genome["gtf"], "--model", model, "-q", "-o", out, "--isoforms", report).exit_code == 0
    rows = {r["gene_id"]: r for r in _check_report(report, out)}
    assert rows["G3"]["out_of_range"] == "T3b:too_short" and rows["GM"]["out_of_range"] == "TMb:too_short"
    # --out-of-range drop: the flagged transcripts have no row, so they are no isoforms; GM keeps one
    assert invoke(genome["fa"], "--annotation", genome["gtf"], "--model", model, "-q", "-o", out, "--isoforms", report,
                  "--out-of-range", "drop").exit_code == 0
    rows = _table(report)
    assert [(r["gene_id"], r["n_isoforms"], r["out_of_range"]) for r in rows] == [("G3", "2", "-")]
    assert {r["isoform_a"] for r in rows} | {r["isoform_b"] for r in rows} == {"T3a", "T3c"}


@requires_backend
def test_failed_run_leaves_neither_output_nor_report(genome, tcn_model, tmp_path):
    model = _ruled_model(tcn_model, tmp_path)
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", model, "-q", "-o", out, "--isoforms", report,
                    "--out-of-range", "error")
    assert result.exit_code == 1 and "T3b" in result.output
    assert not out.exists() and not report.exists()
    assert not [p for p in tmp_path.iterdir() if "rnaloc-tmp" in p.name]


@requires_backend
def test_report_write_failure_keeps_both_back(genome, tcn_model, tmp_path, monkeypatch):
    import errno

    def full(self, stream):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(IsoformReport, "write", full)
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "-o", out, "--isoforms", report)
    assert result.exit_code == 3
    assert f"cannot write isoform report {report}: No space left on device" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@requires_backend
def test_existing_report_is_replaced_whole(genome, tcn_model, tmp_path):
    """Like the table, its errors file and its sidecar, a rerun replaces the report (atomically)."""
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    report.write_text("old\n")
    assert invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "-o", out,
                  "--isoforms", report).exit_code == 0
    assert report.read_text().startswith("gene_id\t")


@requires_backend
@pytest.mark.parametrize("case", ["annotation", "genome", "model", "output", "errors", "index"])
def test_report_that_is_an_input_or_output_is_refused_before_any_work(genome, tcn_model, tmp_path, case):
    out = tmp_path / "pred.tsv"
    target = {"annotation": genome["gtf"], "genome": genome["fa"], "model": tcn_model, "output": out,
              "errors": tmp_path / "errors.tsv", "index": Path(str(genome["fa"]) + ".fai")}[case]
    before = target.read_bytes() if target.exists() else None
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "-o", out,
                    "--errors-file", tmp_path / "errors.tsv", "--on-error", "skip", "--isoforms", target)
    assert result.exit_code == 2, result.output
    assert "refusing to write" in result.output and "nothing was written" in result.output
    assert (target.read_bytes() if target.exists() else None) == before
    assert not out.exists() or case == "output" and before is None


@requires_backend
def test_report_path_problems_are_found_before_any_work(genome, tcn_model, tmp_path):
    out = tmp_path / "pred.tsv"
    base = [genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "-o", out]
    result = invoke(*base, "--isoforms", tmp_path / "missing" / "iso.tsv")
    assert result.exit_code == 3 and "directory" in result.output and "does not exist" in result.output
    result = invoke(*base, "--isoforms", tmp_path / "iso.csv")
    assert result.exit_code == 2 and "it is a TSV table" in result.output
    result = invoke(*base, "--isoforms", tmp_path)
    assert result.exit_code == 3 and "is a directory" in result.output
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "--isoforms", "-")
    assert result.exit_code == 2 and "standard output" in result.output
    assert not out.exists()
    result = invoke(genome["fa"], "--model", tcn_model, "-q", "-o", out, "--isoforms", tmp_path / "iso.tsv")
    assert result.exit_code == 2 and "--isoforms needs --annotation" in result.output
    result = invoke(*base, "--canonical", "--isoforms", tmp_path / "iso.tsv")
    assert result.exit_code == 2 and "--canonical" in result.output
    assert not out.exists() and not (tmp_path / "iso.tsv").exists()


@requires_backend
def test_report_to_standard_output_beside_a_file(genome, tcn_model, tmp_path):
    out = tmp_path / "pred.tsv"
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-q", "-o", out, "--isoforms", "-")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == report_columns(CLASSES) and [x.split("\t")[0] for x in lines[1:]] == ["G3", "GM"]


@requires_backend
def test_no_results_leaves_no_report(genome, tcn_model, tmp_path):
    """Every transcript dropped (--out-of-range drop, all under the ruled model's minimum): exit 5, no report."""
    from conftest import rewrite_model

    from rnaloc_infer.applicability import ApplicabilityRules

    rules = ApplicabilityRules(min_length=5_000, max_length=100_000, max_n_fraction=1.0, min_orf_codons=0,
                               max_ambiguous_fraction=1.0)
    model = rewrite_model(tcn_model, tmp_path / "strict.onnx", set_props={"rnaloc.applicability": rules.to_json()})
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", model, "-q", "-o", out, "--isoforms", report,
                    "--out-of-range", "drop")
    assert result.exit_code == 5
    assert not out.exists() and not report.exists()


@requires_backend
def test_one_isoform_per_gene_gives_a_header_only_report(genome, tcn_model, tmp_path, caplog):
    out, report = tmp_path / "pred.tsv", tmp_path / "iso.tsv"
    result = invoke(genome["fa"], "--annotation", genome["gtf"], "--model", tcn_model, "-o", out, "--isoforms", report,
                    "--transcripts", "T3a,TMa,T1")
    assert result.exit_code == 0
    assert report.read_text() == "\t".join(report_columns(CLASSES)) + "\n"
    assert "the isoform report has its header only" in result.output
