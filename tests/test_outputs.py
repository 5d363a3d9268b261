"""Outputs that drop into pipelines (issue 22): conventional tables, sidecar, BED/GFF3, summary.

Tables are read back with pandas' defaults, BED with pybedtools and GFF3 with gffutils
(real parsers, from the ``[test]`` extra), and compared with the TSV of the same run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import random_seq, write_fasta
from rnaloc_infer.cli.predict import main
from rnaloc_infer.output.formats import resolve_output

ROOT = Path(__file__).resolve().parents[1]
pd = pytest.importorskip("pandas")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    rng = np.random.default_rng(22)
    records = [(f"r{i} some description", random_seq(rng, int(n))) for i, n in enumerate(rng.integers(30, 900, 12))]
    return write_fasta(tmp_path_factory.mktemp("outputs") / "in.fa", records)


def documented_columns(classes) -> list:
    """Columns of a default (FASTA) run as README.md's output table lists them, in order."""
    section = (ROOT / "README.md").read_text().split("### Output", 1)[1].split("\n#", 1)[0]
    columns = []
    for line in section.splitlines():
        cells = line.split("|")
        if not line.startswith("| `") or cells[2].strip().startswith("only with"):
            continue
        columns += list(classes) if "…" in cells[1] else re.findall(r"`([^`]+)`", cells[1])
    return columns


def test_default_table_reads_with_pandas_defaults(tcn_model, fasta, tmp_path):
    out = tmp_path / "out.tsv"
    result = invoke(fasta, "--model", tcn_model, "-o", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t")
    sidecar = json.loads((tmp_path / "out.tsv.json").read_text())
    classes = sidecar["model"]["classes"]
    assert list(table.columns) == documented_columns(classes) == sidecar["output"]["columns"]
    assert table["id"].tolist() == [f"r{i}" for i in range(12)]
    assert table[classes].dtypes.map(lambda d: d.kind == "f").all()

    # The sidecar: model sha256 (of the file actually used), counts, options, times.
    assert sidecar["model"]["sha256"] == hashlib.sha256(Path(tcn_model).read_bytes()).hexdigest()
    summary = sidecar["summary"]
    assert summary["records"] == len(table) and summary["skipped"] == 0
    assert summary["nt"] == int(table["length"].sum())
    for name in classes:
        assert summary["labelled"][name] == int(table["labels"].str.split(",").map(lambda ls: name in ls).sum())
    assert summary["unlabelled"] == int((table["labels"] == "-").sum())
    assert sidecar["output"]["format"] == "tsv" and sidecar["inputs"][0]["bytes"] == fasta.stat().st_size
    assert sidecar["started"] <= sidecar["finished"]
    # ... and the same counts close the run on stderr.
    assert f"{len(table)} records scored, 0 skipped" in result.stderr and "Mnt/s" in result.stderr
    assert "labelled: " + ", ".join(f"{c} {summary['labelled'][c]}" for c in classes) in result.stderr


def test_format_follows_extension_and_gzip(tcn_model, fasta, tmp_path):
    invoke(fasta, "--model", tcn_model, "-o", tmp_path / "a.tsv")
    tsv = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    assert invoke(fasta, "--model", tcn_model, "-o", tmp_path / "b.csv").exit_code == 0
    assert (tmp_path / "b.csv").read_text().splitlines()[0].startswith("id,length,")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.csv"), tsv)
    assert invoke(fasta, "--model", tcn_model, "-o", tmp_path / "c.csv.gz").exit_code == 0
    assert (tmp_path / "c.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv.gz"), tsv)
    assert json.loads((tmp_path / "c.csv.gz.json").read_text())["output"]["compression"] == "gzip"
    # --format wins over the extension.
    assert invoke(fasta, "--model", tcn_model, "-o", tmp_path / "d.csv", "--format", "tsv").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "d.csv", sep="\t"), tsv)
    assert invoke(fasta, "--model", tcn_model, "-o", tmp_path / "e.jsonl.gz").exit_code == 0
    records = [json.loads(line) for line in gzip.decompress((tmp_path / "e.jsonl.gz").read_bytes()).splitlines()]
    sha = hashlib.sha256(Path(tcn_model).read_bytes()).hexdigest()
    assert [r["id"] for r in records] == tsv["id"].tolist()
    assert all(r["model_sha256"] == sha and r["model"] == "tcn.onnx" and r["rnaloc_infer_version"] for r in records)


@pytest.mark.parametrize(
    ("path", "fmt", "expected"),
    [(None, None, ("tsv", False)), ("x.TSV.GZ", None, ("tsv", True)), ("x.gff", None, ("gff3", False)),
     ("x.out", "csv", ("csv", False)), ("x.bed.gz", "csv", ("csv", True)), ("-", "jsonl", ("jsonl", False))],
)
def test_resolve_output(path, fmt, expected):
    spec = resolve_output(path, fmt)
    assert (spec.fmt, spec.gzip) == expected


@pytest.mark.parametrize(("path", "compression", "fmt"), [("x.tsv.bz2", "bz2", "tsv"), ("x.csv.xz", "xz", "csv"),
                                                          ("x.jsonl.bgz", "gzip", "jsonl"), ("x.txt", None, "tsv")])
def test_compressed_extensions_compress(path, compression, fmt):
    spec = resolve_output(path)
    assert (spec.fmt, spec.compression) == (fmt, compression)


@pytest.mark.parametrize(("path", "message"), [("x.json", "use JSON Lines (.jsonl)"), ("x.out", "cannot tell the output format"),
                                               ("results", "cannot tell the output format"), ("x.tsv.lz4", "cannot tell")])
def test_names_that_promise_another_format_are_usage_errors(path, message):
    from rnaloc_infer.errors import UsageProblem

    with pytest.raises(UsageProblem, match=re.escape(message)) as info:
        resolve_output(path)
    assert info.value.exit_code == 2


def test_stdout_has_no_sidecar_unless_asked(tcn_model, fasta, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(fasta, "--model", tcn_model, "-q")
    assert result.stdout.startswith("id\tlength\t") and list(tmp_path.iterdir()) == []
    result = invoke(fasta, "--model", tcn_model, "-q", "--metadata", "run.json")
    assert json.loads((tmp_path / "run.json").read_text())["output"]["path"] is None


def test_bed_without_annotation_is_a_usage_error(tcn_model, fasta, tmp_path):
    result = invoke(fasta, "--model", tcn_model, "-o", tmp_path / "x.bed")
    assert result.exit_code == 2 and "--annotation" in result.output
    assert not (tmp_path / "x.bed").exists()


def test_progress_reaches_the_compressed_size(tcn_model, fasta, tmp_path, monkeypatch):
    """The bar's total is the on-disk size; it ends exactly there, for gzip input too."""
    from rnaloc_infer.batching import BatchConfig, predict_stream
    from rnaloc_infer.cli import progress as progress_module
    from rnaloc_infer.fasta import ReadMeter, read_fasta
    from rnaloc_infer.session import ModelSession

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    gz = tmp_path / "in.fa.gz"
    gz.write_bytes(gzip.compress(fasta.read_bytes()))
    monkeypatch.setattr(progress_module.sys, "stderr", Terminal())
    meter = ReadMeter()
    total = fasta.stat().st_size + gz.stat().st_size
    bar = progress_module.RunProgress(enabled=True, total_bytes=total, meter=meter)
    positions = []
    original = bar.update

    def update(records, nt):
        original(records, nt)
        positions.append(bar._bar.n)

    session = ModelSession(tcn_model)
    items = list(predict_stream(read_fasta([fasta, gz], meter=meter), session, BatchConfig(batch_nt=2000, window_records=5), progress=update))
    bar.close()
    assert len(items) == 24 and meter.nt_read == sum(i.length for i in items)
    assert positions == sorted(positions) and positions[-1] == total == meter.bytes_read
    assert positions[0] < total / 2


# --------------------------------------------------------------------------- genome mode
def _genome_run(tcn_model, genome, out, *extra):
    result = invoke(genome / "genome.fa", "--annotation", genome / "ann.gtf", "--model", tcn_model, "-q", "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return out


def test_genome_table_has_coordinates(tcn_model, genome, tmp_path):
    from test_annotation import TRANSCRIPTS

    table = pd.read_csv(_genome_run(tcn_model, genome, tmp_path / "g.tsv"), sep="\t")
    assert table["id"].tolist() == [t[0] for t in TRANSCRIPTS] and "transcript_id" not in table.columns
    for (_, row), t in zip(table.iterrows(), TRANSCRIPTS):
        exons = t[6]
        assert (row.chrom, row.start, row.end, row.strand) == (t[4], min(s for s, _ in exons) + 1, max(e for _, e in exons), t[5])
        assert row.length == sum(e - s for s, e in exons)
    sidecar = json.loads((tmp_path / "g.tsv.json").read_text())
    assert sidecar["annotation"]["path"].endswith("ann.gtf") and sidecar["summary"]["records"] == len(TRANSCRIPTS)


def test_bed_reads_back_with_pybedtools(tcn_model, genome, tmp_path):
    pybedtools = pytest.importorskip("pybedtools")
    table = pd.read_csv(_genome_run(tcn_model, genome, tmp_path / "g.tsv"), sep="\t")
    bed = _genome_run(tcn_model, genome, tmp_path / "g.bed")
    classes = json.loads((tmp_path / "g.bed.json").read_text())["model"]["classes"]
    # pybedtools' own BED parser (the bedtools programs are not needed to read a file).
    intervals = list(pybedtools.BedTool(str(bed)))
    assert pybedtools.BedTool(str(bed)).file_type == "bed"
    assert [i.name for i in intervals] == table["id"].tolist()
    for interval, (_, row) in zip(intervals, table.iterrows()):
        assert (interval.chrom, interval.start, interval.end, interval.strand) == (row.chrom, row.start - 1, row.end, row.strand)
        top = max(classes, key=lambda c: row[c])
        assert int(interval.score) == round(1000 * row[top]) and 0 <= int(interval.score) <= 1000
        assert interval.fields[6:9] == [top, row["labels"], row["applicability"]]
        assert [float(x) for x in interval.fields[9:9 + len(classes)]] == [row[c] for c in classes]
        assert interval.length == row.end - row.start + 1


def test_gff3_reads_back_with_gffutils(tcn_model, genome, tmp_path):
    gffutils = pytest.importorskip("gffutils")
    table = pd.read_csv(_genome_run(tcn_model, genome, tmp_path / "g.tsv"), sep="\t")
    gff = _genome_run(tcn_model, genome, tmp_path / "g.gff3")
    assert gff.read_text().startswith("##gff-version 3\n")
    classes = json.loads((tmp_path / "g.gff3.json").read_text())["model"]["classes"]
    db = gffutils.create_db(str(gff), ":memory:", merge_strategy="error", keep_order=True)
    features = {f.id: f for f in db.all_features(featuretype="transcript")}
    assert sorted(features) == sorted(table["id"])
    for _, row in table.iterrows():
        f = features[row["id"]]
        assert (f.seqid, f.start, f.end, f.strand, f.source) == (row.chrom, row.start, row.end, row.strand, "rnaloc-infer")
        assert [float(f.attributes[f"prob_{c}"][0]) for c in classes] == [row[c] for c in classes]
        assert ",".join(f.attributes["labels"]) == row["labels"]
        assert ",".join(f.attributes["applicability"]) == row["applicability"]
        assert float(f.score) == pytest.approx(max(row[c] for c in classes), abs=1e-4)
        assert f.attributes["gene_id"][0] == row["gene_id"]
