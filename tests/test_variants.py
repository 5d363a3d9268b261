"""rnaloc-variants: VCF annotation with p(alt transcript) - p(ref transcript), checked against
brute force (the spliced alt and ref transcripts predicted directly with the fp32 model).

The expected alt transcripts are built here independently of rnaloc_infer.variants: the
allele is written into a copy of the contig, the exons after it are shifted by the length
change, and the result is spliced and reverse-complemented with a str.translate table.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

pysam = pytest.importorskip("pysam")
pytest.importorskip("pyfaidx")

from click.testing import CliRunner  # noqa: E402

from rnaloc_infer.cli.variants import main  # noqa: E402
from rnaloc_infer.genome.annotation import Transcript  # noqa: E402
from rnaloc_infer.variants.alleles import BOUNDARY, INTRONIC, Edit, exon_offset, minimal_edit  # noqa: E402

_RC = str.maketrans("ACGTNacgtn", "TGCANtgcan")
CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]

# (tid, gene, strand, exons 0-based half-open)
TRANSCRIPTS = [
    ("TP", "GeneP", "+", [(100, 300), (500, 700), (900, 1100)]),
    ("TP2", "GeneP", "+", [(100, 300), (900, 1000)]),
    ("TM", "GeneM", "-", [(1500, 1650), (1800, 2000), (2200, 2400)]),
]


def _contig(seed: int = 11, size: int = 3000) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice("ACGT") for _ in range(size))


G = _contig()


def _other(base: str, k: int = 1) -> str:
    return "ACGT"[("ACGT".index(base) + k) % 4]


# (0-based position, REF, ALTs, ID): sorted by position
RECORDS = [
    (150, G[150], [_other(G[150])], "snv_plus_two_tx"),
    (298, G[298:303], [G[298]], "del_boundary"),
    (400, G[400], [_other(G[400])], "intronic"),
    (600, G[600], [_other(G[600], 1), _other(G[600], 2)], "multi"),
    (950, G[950:953], [G[950]], "del_plus"),
    (1600, G[1600], [G[1600] + "GA"], "ins_minus"),
    (1850, G[1850], [_other(G[1850])], "snv_minus"),
    (1900, G[1900], [_other(G[1900], 2)], "snv_minus_2"),  # two SNVs of one minus-strand transcript: order matters
    (2300, G[2300:2304], [G[2300]], "del_minus"),
    (2500, G[2500], ["<DEL>"], "symbolic"),
    (2800, G[2800], [_other(G[2800])], "intergenic"),
]


def _write_inputs(folder: Path, records=RECORDS, contig_name: str = "chrA") -> dict:
    fa = folder / "genome.fa"
    fa.write_text(">chrA\n" + "\n".join(G[i:i + 60] for i in range(0, len(G), 60)) + "\n")
    gtf = folder / "genes.gtf"
    lines = []
    for tid, gene, strand, exons in TRANSCRIPTS:
        attrs = f'gene_id "{gene}.1"; transcript_id "{tid}"; gene_name "{gene}"; transcript_type "protein_coding";'
        for s, e in exons:
            lines.append(f"chrA\tTEST\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}")
    gtf.write_text("\n".join(lines) + "\n")
    vcf = folder / "in.vcf"
    head = ["##fileformat=VCFv4.2", f"##contig=<ID={contig_name},length={len(G)}>",
            '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
            '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    body = [f"{contig_name}\t{p + 1}\t{rid}\t{ref}\t{','.join(alts)}\t50\tPASS\tDP={i + 10}"
            + (";SVTYPE=DEL" if alts == ["<DEL>"] else "")
            for i, (p, ref, alts, rid) in enumerate(records)]
    vcf.write_text("\n".join(head + body) + "\n")
    return {"fa": fa, "gtf": gtf, "vcf": vcf}


def _spliced(contig: str, strand: str, exons) -> str:
    seq = "".join(contig[s:e] for s, e in sorted(exons))
    return seq.translate(_RC)[::-1] if strand == "-" else seq


def _alt_transcript(pos0: int, ref: str, alt: str, strand: str, exons) -> str:
    shift = len(alt) - len(ref)
    contig = G[:pos0] + alt + G[pos0 + len(ref):]
    moved = [(s if s <= pos0 else s + shift, e if e <= pos0 else e + shift) for s, e in exons]
    return _spliced(contig, strand, moved)


def _expected_entries() -> dict:
    """(record id, allele, transcript) -> exon-contained variants only (the test's own geometry)."""
    out = {}
    for pos0, ref, alts, rid in RECORDS:
        for alt in alts:
            if alt.startswith("<"):
                continue
            for tid, _gene, strand, exons in TRANSCRIPTS:
                changed = (pos0 + 1, pos0 + len(ref)) if len(ref) > 1 else (pos0, pos0 + 1)
                if len(alt) > 1:  # insertion after the padding base
                    changed = (pos0 + 1, pos0 + 1)
                if any(s < changed[0] and changed[1] < e if changed[0] == changed[1] else s <= changed[0] and changed[1] <= e
                       for s, e in exons):
                    out[(rid, alt, tid)] = (_alt_transcript(pos0, ref, alt, strand, exons), _spliced(G, strand, exons))
    return out


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _entries(path: Path) -> dict:
    found = {}
    with pysam.VariantFile(str(path)) as vf:
        for rec in vf:
            for entry in rec.info.get("RNALOC", ()):
                fields = entry.split("|")
                found[(rec.id, fields[0], fields[2])] = fields
    return found


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _write_inputs(tmp_path_factory.mktemp("variants"))


def test_deltas_match_brute_force_on_both_strands(inputs, tcn_model, tmp_path):
    from rnaloc_infer import Predictor

    out = tmp_path / "out.vcf"
    result = invoke(inputs["vcf"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model, "-o", out)
    assert result.exit_code == 0, result.output
    found = _entries(out)
    expected = _expected_entries()
    # the geometry covers what the issue asks for: SNV, deletion and insertion on each strand, multi-allelic
    assert {("snv_plus_two_tx", "TP"), ("snv_plus_two_tx", "TP2"), ("del_plus", "TP"), ("del_plus", "TP2"),
            ("snv_minus", "TM"), ("del_minus", "TM"), ("ins_minus", "TM")} <= {(r, t) for r, _, t in expected}
    assert set(found) == set(expected)
    predictor = Predictor(tcn_model, precision="fp32")
    for key, (alt_seq, ref_seq) in expected.items():
        probs = predictor.predict([alt_seq, ref_seq])
        want = probs[0].astype(np.float64) - probs[1]
        fields = found[key]
        assert fields[1] == ("GeneM" if key[2] == "TM" else "GeneP")
        got = np.array([float(x) for x in fields[3:3 + len(CLASSES)]])
        assert np.abs(got - want).max() <= 1e-4, (key, got, want)
        assert fields[-1]  # FLAGS: ok, codes joined with &, or '-'
    # the deltas are not all zero (else the comparison above proves little)
    assert max(abs(float(x)) for f in found.values() for x in f[3:3 + len(CLASSES)]) > 0


def test_scorer_deltas_exact_at_full_precision(inputs, any_model):
    """The API's deltas (before the 4-decimal rounding of the VCF) equal brute force to float precision."""
    from rnaloc_infer import Predictor
    from rnaloc_infer.genome.annotation import read_annotation
    from rnaloc_infer.genome.index import IndexedGenome
    from rnaloc_infer.variants.scoring import Variant, VariantScorer

    predictor = Predictor(any_model, precision="fp32")
    expected = _expected_entries()
    with IndexedGenome(inputs["fa"]) as genome:
        scorer = VariantScorer(genome, read_annotation(inputs["gtf"]), predictor.session, chunk_records=3)
        variants = [(Variant("chrA", p + 1, ref, tuple(alts), rid, i + 1), None) for i, (p, ref, alts, rid) in enumerate(RECORDS)]
        results = list(scorer.annotate(variants))
    assert [r.variant.label for r in results] == [r[3] for r in RECORDS]
    got = {(r.variant.label, e.allele, e.transcript.transcript_id): e.delta for r in results for e in r.entries}
    assert set(got) == set(expected)
    for key, (alt_seq, ref_seq) in expected.items():
        probs = predictor.predict([alt_seq, ref_seq]).astype(np.float64)
        np.testing.assert_allclose(got[key], probs[0] - probs[1], atol=1e-6, err_msg=str(key))
    assert scorer.tally.references == len(TRANSCRIPTS)  # each reference scored once, across chunks
    # SNVs go through explain's exact ISM engine when the model has a numpy companion (QRNN kinds)
    from rnaloc_infer.explain.ism import numpy_model_for

    snvs = sum(1 for (rid, _, _) in expected if rid in ("snv_plus_two_tx", "multi", "snv_minus", "snv_minus_2"))
    assert snvs == 6
    assert scorer.tally.by_ism == (snvs if numpy_model_for(predictor.session) is not None else 0)


def test_multi_allelic_one_entry_per_allele_and_transcript(inputs, tcn_model, tmp_path):
    out = tmp_path / "out.vcf"
    assert invoke(inputs["vcf"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model,
                  "-o", out).exit_code == 0
    with pysam.VariantFile(str(out)) as vf:
        info = {rec.id: rec.info.get("RNALOC") for rec in vf}
        description = vf.header.info["RNALOC"].description
    multi = info["multi"]
    assert sorted(e.split("|")[0] for e in multi) == sorted(RECORDS[3][2])
    assert {e.split("|")[2] for e in multi} == {"TP"}
    assert len(info["snv_plus_two_tx"]) == 2
    assert description.endswith("Format: ALLELE|GENE|TRANSCRIPT|" + "|".join(f"D_{c}" for c in CLASSES) + "|FLAGS")
    # the header says where to read how large a D is, and that section exists
    assert "all SNVs of 100 mRNAs: docs/VARIANTS.md#reading-a-d). Format:" in description
    doc = (Path(__file__).resolve().parent.parent / "docs" / "VARIANTS.md").read_text()
    assert "\n## Reading a D\n" in doc
    for entry in multi:
        assert len(entry.split("|")) == 3 + len(CLASSES) + 1


def test_every_record_kept_unannotated_where_not_in_exons(inputs, tcn_model, tmp_path):
    out = tmp_path / "out.vcf.gz"
    result = invoke(inputs["vcf"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model, "-o", out)
    assert result.exit_code == 0, result.output
    assert Path(str(out) + ".tbi").is_file()
    with pysam.VariantFile(str(out)) as vf:
        records = list(vf)
        fetched = [r.id for r in vf.fetch("chrA", 1800, 1880)]  # the tabix index works
    assert [r.id for r in records] == [r[3] for r in RECORDS]
    assert [r.info["DP"] for r in records] == [i + 10 for i in range(len(RECORDS))]
    symbolic = next(r for r in records if r.id == "symbolic")
    assert symbolic.info["SVTYPE"] == "DEL" and symbolic.alts == ("<DEL>",)
    unannotated = {r.id for r in records if "RNALOC" not in r.info}
    # records without an entry come out as they went in (no END added to the symbolic one)
    import gzip

    written = [line for line in gzip.open(out, "rt").read().splitlines() if not line.startswith("#")]
    original = [line for line in Path(inputs["vcf"]).read_text().splitlines() if not line.startswith("#")]
    for before, after in zip(original, written):
        if before.split("\t")[2] in unannotated:
            assert after == before
    assert unannotated == {"del_boundary", "intronic", "symbolic", "intergenic"}
    assert fetched == ["snv_minus"]
    assert "1 outside exons (intronic)" in result.output and "1 spans an exon boundary" in result.output
    assert "1 symbolic or non-nucleotide ALT" in result.output


def test_tsv_lists_entries_and_reasons(inputs, tcn_model, tmp_path):
    out = tmp_path / "out.tsv"
    assert invoke(inputs["vcf"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model,
                  "-o", out).exit_code == 0
    lines = out.read_text().splitlines()
    columns = lines[0].split("\t")
    assert columns == ["chrom", "pos", "id", "ref", "allele", "gene", "transcript", "strand"] + \
        [f"D_{c}" for c in CLASSES] + ["flags", "note"]
    rows = [dict(zip(columns, line.split("\t"))) for line in lines[1:]]
    assert {r["id"] for r in rows} == {r[3] for r in RECORDS}
    notes = {r["id"]: r["note"] for r in rows if r["note"]}
    assert notes == {"del_boundary": BOUNDARY, "intronic": INTRONIC, "symbolic": "symbolic or non-nucleotide ALT",
                     "intergenic": "outside any transcript"}
    assert {r["strand"] for r in rows if r["id"] == "snv_minus"} == {"-"}


def test_ref_mismatch_is_an_error_naming_the_record(tmp_path, tcn_model):
    bad = list(RECORDS)
    bad[6] = (1850, _other(G[1850]), [G[1850]], "wrong_ref")
    files = _write_inputs(tmp_path, bad)
    out = tmp_path / "out.vcf"
    result = invoke(files["vcf"], "--genome", files["fa"], "--annotation", files["gtf"], "--model", tcn_model, "-o", out)
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if "error:" in line]
    assert len(error) == 1 and "'wrong_ref' (#7)" in error[0] and "disagrees with the genome" in error[0]
    assert not out.exists() and not list(tmp_path.glob(".out.vcf*"))
    result = invoke(files["vcf"], "--genome", files["fa"], "--annotation", files["gtf"], "--model", tcn_model, "-o", out,
                    "--on-error", "skip")
    assert result.exit_code == 0, result.output
    with pysam.VariantFile(str(out)) as vf:
        records = {r.id: r for r in vf}
    assert len(records) == len(RECORDS) and "RNALOC" not in records["wrong_ref"].info


def test_contig_naming_mismatch_says_so(tmp_path, tcn_model):
    files = _write_inputs(tmp_path, RECORDS[:1], contig_name="A")
    result = invoke(files["vcf"], "--genome", files["fa"], "--annotation", files["gtf"], "--model", tcn_model,
                    "-o", tmp_path / "out.vcf", "--on-error", "skip")
    assert result.exit_code == 1
    assert "different contig naming" in result.output and "'chrA'" in result.output


def test_refusals_before_work(inputs, tcn_model, tmp_path):
    result = invoke(inputs["vcf"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model,
                    "-o", tmp_path / "out.bed")
    assert result.exit_code == 2 and ".vcf, .vcf.gz or .tsv" in result.output
    copy = tmp_path / "in.vcf"
    copy.write_text(Path(inputs["vcf"]).read_text())
    result = invoke(copy, "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model, "-o", copy)
    assert result.exit_code == 2 and "same file" in result.output
    assert copy.read_text() == Path(inputs["vcf"]).read_text()


def test_bad_vcf_and_unsorted_vcf_gz_write_nothing(inputs, tcn_model, tmp_path):
    result = invoke(inputs["fa"], "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model,
                    "-o", tmp_path / "out.vcf")
    assert result.exit_code == 1 and "cannot read as VCF" in result.output
    text = Path(inputs["vcf"]).read_text().splitlines()
    unsorted = tmp_path / "unsorted.vcf"
    body = [line for line in text if not line.startswith("#")]
    unsorted.write_text("\n".join([line for line in text if line.startswith("#")] + body[::-1]) + "\n")
    out = tmp_path / "out.vcf.gz"
    result = invoke(unsorted, "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model, "-o", out)
    assert result.exit_code == 1 and "must be sorted by position" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unsorted.vcf"]  # no output, no index, no temporary file
    result = invoke(unsorted, "--genome", inputs["fa"], "--annotation", inputs["gtf"], "--model", tcn_model,
                    "-o", tmp_path / "out.vcf")
    assert result.exit_code == 0  # plain VCF: written in input order
    with pysam.VariantFile(str(tmp_path / "out.vcf")) as vf:
        assert [r.id for r in vf] == [r[3] for r in RECORDS][::-1]


def test_minimal_edit_and_exon_offset():
    assert minimal_edit(99, "A", "G") == Edit(99, 100, "G")
    assert minimal_edit(99, "ATT", "A") == Edit(100, 102, "")
    assert minimal_edit(99, "A", "AGG") == Edit(100, 100, "GG")
    assert minimal_edit(99, "ACGT", "AGGT") == Edit(100, 101, "G")  # an MNV written with padding
    from array import array

    t = Transcript("T", "G", "G", "x", "chr", "+", array("q", [10, 20, 30, 40]), frozenset())
    assert exon_offset(t, Edit(12, 14, "")) == (2, "")
    assert exon_offset(t, Edit(30, 31, "A")) == (10, "")
    assert exon_offset(t, Edit(19, 21, "")) == (None, BOUNDARY)
    assert exon_offset(t, Edit(25, 26, "A")) == (None, INTRONIC)
    assert exon_offset(t, Edit(20, 20, "A")) == (None, BOUNDARY)  # insertion at an exon edge
    assert exon_offset(t, Edit(15, 15, "A")) == (5, "")


def test_troubleshooting_lists_the_variants_messages():
    """Every message of rnaloc_infer/variants is in docs/TROUBLESHOOTING.md (by a stem of it)."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "TROUBLESHOOTING.md").read_text()
    for stem in ("disagrees with the genome", "is outside the contig", "different contig naming, e.g. chr1 vs 1",
                 "cannot read as VCF", "not a VCF file (htslib reads it as", "cannot read record #N",
                 "must be sorted by position for .vcf.gz (bcftools sort), or write .vcf",
                 "its name must end in .vcf, .vcf.gz or .tsv", "pip install 'rnaloc-infer[variants]'",
                 "already has INFO RNALOC: replaced by this run's", "warning: skipped VCF: record"):
        assert stem in doc, stem
