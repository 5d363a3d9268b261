"""Genome + annotation input: parsing, splicing, filters, canonical choice, errors.

Expected sequences are built independently of the code under test: slices of the
in-memory contig strings, joined in transcript order, reverse-complemented with a
str.translate table written here.
"""

from __future__ import annotations

import gzip
import logging
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer.alphabet import encode
from rnaloc_infer.genome.annotation import AnnotationError, detect_format, parse_gtf_attributes, read_annotation
from rnaloc_infer.genome.index import (
    GenomeError,
    IndexedGenome,
    MissingGenomeDependency,
    genome_record_reason,
    looks_like_genome,
    reverse_complement,
)
from rnaloc_infer.genome.filters import (
    TranscriptFilter,
    apply_filters,
    parse_id_list,
    select_canonical,
)
from rnaloc_infer.genome.transcripts import AnnotatedSource, check_contigs, iter_transcript_sequences

BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(not _has, reason=f"{name} not installed"))
    for name, _has in (
        ("pyfaidx", __import__("importlib").util.find_spec("pyfaidx") is not None),
        ("pysam", __import__("importlib").util.find_spec("pysam") is not None),
    )
]
HAS_BGZF = __import__("importlib").util.find_spec("Bio") is not None
HAS_BACKEND = any(__import__("importlib").util.find_spec(m) is not None for m in ("pyfaidx", "pysam"))
requires_backend = pytest.mark.skipif(not HAS_BACKEND, reason="needs the [genome] extra (pyfaidx or pysam)")

_RC = str.maketrans("ACGTNacgtn", "TGCANtgcan")

# (tid, gid, gene_name, type, chrom, strand, exons 0-based half-open (genomic order), tags)
TRANSCRIPTS = [
    ("T1.1", "G1.3", "Alpha", "protein_coding", "chrA", "+", [(99, 250), (400, 520), (900, 1001)], ["basic", "Ensembl_canonical"]),
    ("T2.1", "G1.3", "Alpha", "protein_coding", "chrA", "+", [(99, 250), (400, 700), (900, 1100)], ["basic"]),
    ("T3.1", "G2.1", "Beta", "lncRNA", "chrA", "-", [(1500, 1620), (1700, 1790), (2000, 2222)], []),
    ("T4.1", "G2.1", "Beta", "lncRNA", "chrA", "-", [(1700, 1790), (2000, 2300)], []),
    ("T5.1", "G3.1", "Gamma", "protein_coding", "chrB", "-", [(10, 400)], ["MANE_Select"]),
    ("T6.1", "G3.1", "Gamma", "protein_coding", "chrB", "-", [(5, 30), (60, 900)], ["Ensembl_canonical"]),
    ("T7.1", "G4.1", "Delta", "snRNA", "chrC", "+", [(0, 140)], []),
    ("T8.1", "G4.1", "Delta", "snRNA", "chrC", "+", [(1360, 1500)], []),
]


def _contigs(seed: int = 7) -> dict:
    rnd = random.Random(seed)
    contigs = {}
    for name, size in (("chrA", 3000), ("chrB", 1000), ("chrC", 1500)):
        seq = [rnd.choice("ACGT") for _ in range(size)]
        for i in range(200, 260):  # soft-masked run: case must survive
            seq[i] = seq[i].lower()
        for i in range(450, 460):
            seq[i] = "N"
        contigs[name] = "".join(seq)
    return contigs


def _expected(contigs: dict, tx: tuple) -> str:
    _, _, _, _, chrom, strand, exons, _ = tx
    seq = "".join(contigs[chrom][s:e] for s, e in sorted(exons))
    return seq.translate(_RC)[::-1] if strand == "-" else seq


def _span(tx: tuple) -> tuple:
    """The transcript's genomic span as the output states it: chrom, 1-based start, end, strand."""
    _, _, _, _, chrom, strand, exons, _ = tx
    return chrom, min(s for s, _ in exons) + 1, max(e for _, e in exons), strand


def _write_fasta(path: Path, contigs: dict, width: int = 70) -> None:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name} test contig\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")


def _bgzip(src: Path, dst: Path) -> None:
    from Bio import bgzf

    with open(src, "rb") as fin, bgzf.BgzfWriter(str(dst), "wb") as fout:
        fout.write(fin.read())


def _shuffled(exons: list, seed: int) -> list:
    exons = list(exons)
    random.Random(seed).shuffle(exons)
    return exons


def _write_gtf(path: Path, transcripts=TRANSCRIPTS, with_transcript_rows: bool = True) -> None:
    lines = ["#!genome-build test", "##comment"]
    for k, (tid, gid, name, ttype, chrom, strand, exons, tags) in enumerate(transcripts):
        attrs = f'gene_id "{gid}"; transcript_id "{tid}"; gene_name "{name}"; transcript_type "{ttype}";'
        attrs += "".join(f' tag "{t}";' for t in tags)
        lo, hi = min(s for s, _ in exons), max(e for _, e in exons)
        if with_transcript_rows:
            lines.append(f"{chrom}\tTEST\ttranscript\t{lo + 1}\t{hi}\t.\t{strand}\t.\t{attrs}")
        for s, e in _shuffled(exons, k):  # out of order on purpose
            lines.append(f"{chrom}\tTEST\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs} exon_number 1;")
            lines.append(f"{chrom}\tTEST\tCDS\t{s + 1}\t{e}\t.\t{strand}\t0\t{attrs}")
    path.write_text("\n".join(lines) + "\n")


def _write_gff3_ensembl(path: Path) -> None:
    """Ensembl/GENCODE style: gene:/transcript: ID prefixes, biotype, comma tag list."""
    lines = ["##gff-version 3"]
    genes_done = set()
    for k, (tid, gid, name, ttype, chrom, strand, exons, tags) in enumerate(TRANSCRIPTS):
        lo, hi = min(s for s, _ in exons), max(e for _, e in exons)
        if gid not in genes_done:
            genes_done.add(gid)
            lines.append(f"{chrom}\tens\tgene\t{lo + 1}\t{hi}\t.\t{strand}\t.\tID=gene:{gid};Name={name};biotype={ttype}")
        tag = f";tag={','.join(tags)}" if tags else ""
        ftype = "mRNA" if ttype == "protein_coding" else ("lnc_RNA" if ttype == "lncRNA" else ttype)
        lines.append(
            f"{chrom}\tens\t{ftype}\t{lo + 1}\t{hi}\t.\t{strand}\t.\t"
            f"ID=transcript:{tid};Parent=gene:{gid};biotype={ttype};transcript_id={tid}{tag}"
        )
        for s, e in _shuffled(exons, k + 10):
            lines.append(f"{chrom}\tens\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent=transcript:{tid};Name=x%3By")
    lines.append("##FASTA")
    lines.append(">ignored")
    lines.append("ACGT")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("genome")
    contigs = _contigs()
    plain = root / "genome.fa"
    _write_fasta(plain, contigs)
    gtf = root / "ann.gtf"
    _write_gtf(gtf)
    gff = root / "ann.gff3"
    _write_gff3_ensembl(gff)
    out = {"contigs": contigs, "plain": plain, "gtf": gtf, "gff": gff, "root": root}
    if HAS_BGZF:
        bgz = root / "genome.fa.gz"
        _bgzip(plain, bgz)
        out["bgz"] = bgz
    return out


def _genome_path(data, compression: str) -> Path:
    if compression == "bgzip":
        if not HAS_BGZF:
            pytest.skip("Biopython (Bio.bgzf) not installed")
        return data["bgz"]
    return data["plain"]


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("compression", ["plain", "bgzip"])
@pytest.mark.parametrize("fmt", ["gtf", "gff"])
def test_spliced_sequences_match_independent_construction(data, backend, compression, fmt):
    transcripts = read_annotation(data[fmt])
    assert [t.transcript_id for t in transcripts] == [t[0] for t in TRANSCRIPTS]
    with IndexedGenome(_genome_path(data, compression), backend=backend) as genome:
        got = {r.id: r.sequence for r in iter_transcript_sequences(genome, transcripts)}
    for tx in TRANSCRIPTS:
        assert got[tx[0]] == _expected(data["contigs"], tx), tx[0]


@requires_backend
@pytest.mark.parametrize("window", [0, 64, 500, 1 << 20])
def test_read_ahead_window_is_transparent(data, window):
    """Random (unsorted) and sorted fetches give the same bytes whatever the window size."""
    contigs = data["contigs"]
    rnd = random.Random(window)
    requests = []
    for _ in range(300):
        chrom = rnd.choice(sorted(contigs))
        start = rnd.randrange(len(contigs[chrom]))
        requests.append((chrom, start, min(len(contigs[chrom]), start + rnd.randrange(0, 400))))
    requests += sorted(requests)
    with IndexedGenome(data["plain"], window=window) as genome:
        for chrom, start, end in requests:
            assert genome.fetch(chrom, start, end) == contigs[chrom][start:end]
        transcripts = read_annotation(data["gtf"])[::-1]
        got = {r.id: r.sequence for r in iter_transcript_sequences(genome, transcripts)}
    assert got == {tx[0]: _expected(contigs, tx) for tx in TRANSCRIPTS}


def test_exon_model_and_labels_gtf(data):
    by_id = {t.transcript_id: t for t in read_annotation(data["gtf"])}
    t3 = by_id["T3.1"]
    assert t3.exons == [(1500, 1620), (1700, 1790), (2000, 2222)]  # sorted although shuffled
    assert t3.exons_in_transcript_order == [(2000, 2222), (1700, 1790), (1500, 1620)]
    assert t3.length == 120 + 90 + 222
    assert t3.fields() == {"transcript_id": "T3.1", "gene_id": "G2.1", "gene_name": "Beta", "transcript_type": "lncRNA"}
    assert by_id["T1.1"].tags == frozenset({"basic", "Ensembl_canonical"})


def test_gff3_labels_strip_prefixes_and_decode(data):
    by_id = {t.transcript_id: t for t in read_annotation(data["gff"])}
    t1 = by_id["T1.1"]
    assert (t1.gene_id, t1.gene_name, t1.transcript_type) == ("G1.3", "Alpha", "protein_coding")
    assert t1.tags == frozenset({"basic", "Ensembl_canonical"})
    assert by_id["T3.1"].transcript_type == "lncRNA"


@requires_backend
def test_refseq_gff3_and_shared_exons(tmp_path, data):
    """RefSeq style: gene-/rna- IDs, no biotype on mRNA, 'MANE Select' tag, exon with two parents."""
    gff = tmp_path / "refseq.gff"
    gff.write_text(
        "##gff-version 3\n"
        "chrA\tRefSeq\tgene\t100\t1100\t.\t+\t.\tID=gene-ALPHA;Name=ALPHA;gene_biotype=protein_coding\n"
        "chrA\tRefSeq\tmRNA\t100\t1001\t.\t+\t.\tID=rna-NM_1.2;Parent=gene-ALPHA;gene=ALPHA;transcript_id=NM_1.2;tag=MANE Select\n"
        "chrA\tRefSeq\tlnc_RNA\t100\t1100\t.\t+\t.\tID=rna-NR_9.1;Parent=gene-ALPHA;gene=ALPHA;transcript_id=NR_9.1\n"
        "chrA\tRefSeq\texon\t100\t250\t.\t+\t.\tID=exon-1;Parent=rna-NM_1.2,rna-NR_9.1\n"
        "chrA\tRefSeq\texon\t901\t1001\t.\t+\t.\tID=exon-2;Parent=rna-NM_1.2\n"
        "chrA\tRefSeq\texon\t401\t520\t.\t+\t.\tID=exon-3;Parent=rna-NM_1.2\n"
        "chrA\tRefSeq\texon\t901\t1100\t.\t+\t.\tID=exon-4;Parent=rna-NR_9.1\n"
    )
    by_id = {t.transcript_id: t for t in read_annotation(gff)}
    assert set(by_id) == {"NM_1.2", "NR_9.1"}
    nm = by_id["NM_1.2"]
    assert (nm.gene_id, nm.gene_name, nm.transcript_type) == ("ALPHA", "ALPHA", "protein_coding")
    assert by_id["NR_9.1"].transcript_type == "lncRNA"
    assert by_id["NR_9.1"].exons == [(99, 250), (900, 1100)]
    assert select_canonical(list(by_id.values()))[0].transcript_id == "NM_1.2"  # 'MANE Select' tag
    with IndexedGenome(data["plain"]) as genome:
        seq = next(iter_transcript_sequences(genome, [nm])).sequence
    assert seq == _expected(data["contigs"], TRANSCRIPTS[0])


@requires_backend
def test_gtf_without_transcript_rows(tmp_path, data):
    gtf = tmp_path / "exons_only.gtf.gz"
    plain = tmp_path / "x.gtf"
    _write_gtf(plain, with_transcript_rows=False)
    gtf.write_bytes(gzip.compress(plain.read_bytes()))
    transcripts = read_annotation(gtf)
    assert detect_format(gtf) == "gtf"
    assert {t.transcript_id: t.gene_name for t in transcripts}["T5.1"] == "Gamma"
    with IndexedGenome(data["plain"]) as genome:
        got = {r.id: r.sequence for r in iter_transcript_sequences(genome, transcripts)}
    assert got == {tx[0]: _expected(data["contigs"], tx) for tx in TRANSCRIPTS}


def test_same_id_on_two_contigs_is_disambiguated(tmp_path):
    gtf = tmp_path / "par.gtf"
    a = 'gene_id "G"; transcript_id "T";'
    gtf.write_text(f"chrX\ts\texon\t1\t10\t.\t+\t.\t{a}\nchrY\ts\texon\t1\t10\t.\t+\t.\t{a}\n")
    assert sorted(t.transcript_id for t in read_annotation(gtf)) == ["T|chrX", "T|chrY"]


def test_inconsistent_transcript_is_skipped_with_warning(tmp_path, caplog):
    gtf = tmp_path / "bad.gtf"
    a = 'gene_id "G"; transcript_id "T";'
    b = 'gene_id "G"; transcript_id "U";'
    gtf.write_text(
        f"chrA\ts\texon\t1\t10\t.\t+\t.\t{a}\nchrA\ts\texon\t5\t20\t.\t+\t.\t{a}\n"
        f"chrA\ts\texon\t1\t10\t.\t+\t.\t{b}\nchrA\ts\texon\t1\t10\t.\t+\t.\t{b}\n"  # duplicate row: fine
    )
    with caplog.at_level(logging.WARNING):
        transcripts = read_annotation(gtf)
    assert [t.transcript_id for t in transcripts] == ["U"]
    assert transcripts[0].exons == [(0, 10)]
    assert "overlapping exons" in caplog.text and "T" in caplog.text


def test_reverse_complement_iupac():
    assert reverse_complement("ACGTUNacgtn") == "nacgtNAACGT"
    assert reverse_complement("RYKMSWBDHV") == "BDHVWSKMRY"
    assert reverse_complement("") == ""


def test_gtf_attribute_parser_handles_repeats_and_unquoted():
    attrs = parse_gtf_attributes('gene_id "G1"; level 2; tag "basic"; tag "MANE_Select"; note "a b";')
    assert attrs == {"gene_id": "G1", "level": "2", "tag": ["basic", "MANE_Select"], "note": "a b"}


# --------------------------------------------------------------------------- filters


def test_filters_types_and_ids(data, tmp_path):
    transcripts = read_annotation(data["gtf"])
    ids = lambda ts: [t.transcript_id for t in ts]  # noqa: E731
    flt = TranscriptFilter(transcript_types=frozenset({"lncRNA", "snRNA"}))
    assert ids(apply_filters(transcripts, flt)) == ["T3.1", "T4.1", "T7.1", "T8.1"]
    # gene filter: versioned id, unversioned id, or gene name
    flt = TranscriptFilter(gene_ids=parse_id_list("G1.3, G3,Delta"))
    assert ids(apply_filters(transcripts, flt)) == ["T1.1", "T2.1", "T5.1", "T6.1", "T7.1", "T8.1"]
    id_file = tmp_path / "ids.txt"
    id_file.write_text("# wanted\nT2\n\nT5.1\nNOT_THERE\n")
    flt = TranscriptFilter(transcript_ids=parse_id_list(str(id_file)))
    assert ids(apply_filters(transcripts, flt)) == ["T2.1", "T5.1"]
    assert parse_id_list(None) is None and parse_id_list(" ") is None
    assert apply_filters(transcripts, TranscriptFilter()) == transcripts


def test_canonical_selection(data):
    transcripts = read_annotation(data["gtf"])
    chosen = {t.gene_id: t.transcript_id for t in select_canonical(transcripts)}
    assert chosen == {
        "G1.3": "T1.1",  # Ensembl_canonical beats the longer T2.1
        "G2.1": "T3.1",  # untagged: longest spliced (432 vs 390)
        "G3.1": "T5.1",  # MANE_Select beats Ensembl_canonical
        "G4.1": "T7.1",  # equal length: smallest id
    }
    # types first, then one per gene among the survivors; order is input order
    flt = TranscriptFilter(transcript_types=frozenset({"protein_coding"}), canonical=True)
    assert [t.transcript_id for t in apply_filters(transcripts, flt)] == ["T1.1", "T5.1"]
    # deterministic whatever the input order
    assert {t.transcript_id for t in select_canonical(transcripts[::-1])} == set(chosen.values())


# --------------------------------------------------------------------------- errors


@requires_backend
def test_missing_contig_names_transcript(tmp_path, data):
    gtf = tmp_path / "other.gtf"
    gtf.write_text('A\ts\texon\t1\t10\t.\t+\t.\tgene_id "G9"; transcript_id "T_MISSING";\n')
    transcripts = read_annotation(gtf)
    with IndexedGenome(data["plain"]) as genome:
        with pytest.raises(GenomeError, match="transcript T_MISSING: contig 'A' is not in genome .*chrA"):
            check_contigs(genome, transcripts)
        assert check_contigs(genome, transcripts, skip_missing=True) == []
        with pytest.raises(GenomeError, match="T_MISSING"):
            list(iter_transcript_sequences(genome, transcripts))
    past_end = tmp_path / "past.gtf"
    past_end.write_text('chrB\ts\texon\t900\t1200\t.\t+\t.\tgene_id "G9"; transcript_id "T_LONG";\n')
    with pytest.raises(GenomeError, match="transcript T_LONG: exon end 1200 is past the end of chrB"):
        AnnotatedSource(data["plain"], past_end)


@pytest.mark.parametrize(
    "line, message",
    [
        ("chrA\ts\texon\t1\t10\t.\t+\tgene_id \"G\";", "expected 9 tab-separated columns, found 8"),
        ('chrA\ts\texon\tone\t10\t.\t+\t.\ttranscript_id "T";', "start/end must be integers"),
        ('chrA\ts\texon\t10\t5\t.\t+\t.\ttranscript_id "T";', "invalid interval 10-5"),
        ('chrA\ts\texon\t1\t10\t.\tx\t.\ttranscript_id "T";', "strand must be"),
        ('chrA\ts\texon\t1\t10\t.\t+\t.\tgene_id "G";', "exon row without a transcript_id"),
    ],
)
def test_malformed_gtf_line_names_file_and_line(tmp_path, line, message):
    gtf = tmp_path / "broken.gtf"
    good = 'chrA\ts\texon\t1\t10\t.\t+\t.\tgene_id "G"; transcript_id "T";'
    gtf.write_text(f"# header\n{good}\n{line}\n")
    with pytest.raises(AnnotationError) as info:
        read_annotation(gtf)
    assert str(info.value).startswith(f"{gtf}:3: ") and message in str(info.value)


def test_malformed_gff3_lines(tmp_path):
    gff = tmp_path / "broken.gff3"
    gff.write_text("##gff-version 3\nchrA\ts\texon\t1\t10\t.\t+\t.\tParent=t1;oops\n")
    with pytest.raises(AnnotationError, match=r"broken.gff3:2: attribute 'oops' has no '='"):
        read_annotation(gff)
    gff.write_text("##gff-version 3\nchrA\ts\tmRNA\t1\t10\t.\t+\t.\tID=t1\nchrA\ts\texon\t1\t10\t.\t+\t.\tParent=t2\n")
    with pytest.raises(AnnotationError, match=r"broken.gff3:3: exon Parent 't2' is not defined"):
        read_annotation(gff)


def test_plain_gzip_genome_is_refused_clearly(tmp_path, data):
    gz = tmp_path / "genome.fa.gz"
    gz.write_bytes(gzip.compress(data["plain"].read_bytes()))
    with pytest.raises(GenomeError, match="not bgzip-compressed.*bgzip"):
        IndexedGenome(gz)


def test_missing_backend_gives_install_hint(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "pyfaidx", None)
    monkeypatch.setitem(sys.modules, "pysam", None)
    with pytest.raises(MissingGenomeDependency, match=r"pip install 'rnaloc-infer\[genome\]'"):
        IndexedGenome(data["plain"])


def test_package_imports_without_genome_backend():
    code = (
        "import sys; sys.modules['pyfaidx'] = None; sys.modules['pysam'] = None\n"
        "import rnaloc_infer, rnaloc_infer.genome.annotation, rnaloc_infer.genome.transcripts, rnaloc_infer.genome.index\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- runtime glue


@requires_backend
def test_annotated_source_yields_runtime_records(data):
    flt = TranscriptFilter(canonical=True)
    with AnnotatedSource(data["plain"], data["gff"], flt) as src:
        records = list(src)
        fields = src.fields
    assert [r.id for r in records] == ["T1.1", "T3.1", "T5.1", "T7.1"]
    want = {tx[0]: tx for tx in TRANSCRIPTS}
    for number, rec in enumerate(records, 1):
        assert np.array_equal(rec.codes, encode(_expected(data["contigs"], want[rec.id])))
        assert rec.number == number and rec.source.endswith("ann.gff3")
        assert rec.header.startswith(f"{rec.id} gene_id=")
    t5 = next(t for t in src.transcripts if t.transcript_id == "T5.1")
    assert fields["T5.1"] == {"chrom": t5.chrom, "start": t5.start + 1, "end": t5.end, "strand": t5.strand,
                              "gene_id": "G3.1", "gene_name": "Gamma", "transcript_type": "protein_coding"}


def test_genome_detection(tmp_path, data):
    assert genome_record_reason("chr1", 6_000_000) is not None
    assert genome_record_reason("ENST0001.1", 3_000) is None
    assert genome_record_reason("1", 800) is None  # a test record named "1" is not a chromosome
    assert genome_record_reason("1", 248_956_422) is not None
    assert genome_record_reason("X", 1_000, "dna:chromosome chromosome:GRCh38:X:1:156040895:1 REF") is not None
    assert genome_record_reason("chr21", 300_000) is not None
    tx = tmp_path / "tx.fa"
    tx.write_text(">ENST1 x\nACGT\n>ENST2\nGGCC\n")
    assert looks_like_genome(tx) is None
    ens = tmp_path / "ens.fa"
    ens.write_text(">MT dna:chromosome chromosome:GRCh38:MT:1:16569:1 REF\nACGT\n")
    assert "dna:chromosome" in looks_like_genome(ens)
    big = tmp_path / "big.fa"
    with open(big, "w") as fh:
        fh.write(">scaffold_1\n")
        line = "ACGT" * 25 + "\n"
        fh.write(line * 52_000)  # 5.2 Mnt
    assert "5,200,000 nt" in looks_like_genome(big)
    fai = tmp_path / "small.fa"
    fai.write_text(">c\nACGT\n")
    Path(str(fai) + ".fai").write_text("c\t4\t3\t4\t5\nchr7\t159345973\t10\t60\t61\n")
    assert "chr7" in looks_like_genome(fai)


# --------------------------------------------------------------------------- CLI glue


@requires_backend
def test_cli_glue_usage_and_errors(tmp_path, data, monkeypatch, caplog):
    import click

    from rnaloc_infer.errors import RnalocError
    from rnaloc_infer.cli.genome_options import AnnotationOptions, check_usage, open_source, warn_if_genome

    with pytest.raises(click.UsageError, match="need --annotation"):
        check_usage(["x.fa"], AnnotationOptions(canonical=True))
    with pytest.raises(click.UsageError, match="exactly one INPUT"):
        check_usage(["a.fa", "b.fa"], AnnotationOptions(annotation="a.gtf"))
    check_usage(["x.fa"], AnnotationOptions())

    opts = AnnotationOptions(annotation=str(data["gtf"]), canonical=True, transcript_types="protein_coding")
    with open_source(str(data["plain"]), opts) as source:
        assert [r.id for r in source] == ["T1.1", "T5.1"]

    broken = tmp_path / "b.gtf"
    broken.write_text("chrA\tx\texon\n")
    with pytest.raises(RnalocError, match=r"b.gtf:1: expected 9"):
        open_source(str(data["plain"]), AnnotationOptions(annotation=str(broken)))
    other = tmp_path / "o.gtf"
    other.write_text('1\ts\texon\t1\t10\t.\t+\t.\ttranscript_id "TX9";\n')
    with pytest.raises(RnalocError, match="transcript TX9: contig '1'"):
        open_source(str(data["plain"]), AnnotationOptions(annotation=str(other)))
    monkeypatch.setitem(sys.modules, "pyfaidx", None)
    monkeypatch.setitem(sys.modules, "pysam", None)
    with pytest.raises(RnalocError, match=r"^--annotation needs the genome extra: pip install 'rnaloc-infer\[genome\]'$"):
        open_source(str(data["plain"]), AnnotationOptions(annotation=str(data["gtf"])))

    ens = tmp_path / "ens.fa"
    ens.write_text(">1 dna:chromosome chromosome:GRCh38:1:1:248956422:1 REF\nACGT\n")
    with caplog.at_level(logging.WARNING):
        assert warn_if_genome([str(ens), "-"]) is True
    assert "looks like a genome" in caplog.text and "--annotation" in caplog.text
    assert warn_if_genome([str(data["gtf"])]) is False


@requires_backend
def test_cli_annotation_matches_fasta_of_expected_transcripts(tcn_model, data, tmp_path):
    """`rnaloc-infer GENOME --annotation GTF` == `rnaloc-infer FASTA` of independently spliced transcripts."""
    from click.testing import CliRunner

    from rnaloc_infer.cli.predict import main

    wanted = ["T1.1", "T3.1", "T5.1", "T7.1"]  # --canonical
    fasta = tmp_path / "expected.fa"
    by_id = {tx[0]: tx for tx in TRANSCRIPTS}
    fasta.write_text("".join(f">{tid}\n{_expected(data['contigs'], by_id[tid])}\n" for tid in wanted))
    out_genome, out_fasta = tmp_path / "genome.tsv", tmp_path / "fasta.tsv"
    runner = CliRunner()
    res = runner.invoke(main, [str(data["plain"]), "--annotation", str(data["gff"]), "--canonical",
                               "--model", str(tcn_model), "-q", "-o", str(out_genome)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, [str(fasta), "--model", str(tcn_model), "-q", "-o", str(out_fasta)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    genome_rows = [r.split("\t") for r in out_genome.read_text().splitlines()]  # first line: the header
    fasta_rows = [r.split("\t") for r in out_fasta.read_text().splitlines()]
    header = genome_rows[0]
    assert header[: len(fasta_rows[0])] == fasta_rows[0]
    extra = header[len(fasta_rows[0]) :]
    assert extra == ["chrom", "start", "end", "strand", "gene_id", "gene_name", "transcript_type"]
    assert [r[0] for r in genome_rows[1:]] == wanted
    # Same scores as the FASTA of the independently spliced transcripts, plus the annotation columns.
    assert [r[: len(fasta_rows[0])] for r in genome_rows] == fasta_rows
    for row in genome_rows[1:]:
        fields = dict(zip(extra, row[len(fasta_rows[0]) :]))
        assert (fields["gene_id"], fields["gene_name"], fields["transcript_type"]) == by_id[row[0]][1:4]
        assert (fields["chrom"], int(fields["start"]), int(fields["end"]), fields["strand"]) == _span(by_id[row[0]])

    res = runner.invoke(main, [str(data["plain"]), "--canonical", "--model", str(tcn_model)])
    assert res.exit_code == 2 and "need --annotation" in res.output
    res = runner.invoke(main, [str(data["plain"]), "--annotation", str(tmp_path / "none.gtf"), "--model", str(tcn_model)])
    assert res.exit_code == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_unindexable_genome_is_a_genome_error(tmp_path, backend):
    bad = tmp_path / "ragged.fa"
    bad.write_text(">c1\nACGTACGT\nACG\nACGTACGT\n>c2\nAC\n")  # ragged lines: faidx cannot index
    with pytest.raises(GenomeError, match="cannot index genome"):
        IndexedGenome(bad, backend=backend)


def test_genome_peek_stops_after_a_few_transcript_records(tmp_path):
    """A transcript file is judged on its first records: a chromosome-length record further down
    is not read (it would be flagged if it came first)."""
    path = tmp_path / "tx.fa"
    with open(path, "w") as fh:
        for i in range(40):
            fh.write(f">tx{i}\n" + "ACGT" * 50 + "\n")
        fh.write(">chr1\n" + "ACGT" * (6_000_000 // 4) + "\n")
    assert looks_like_genome(path) is None
    assert "chr1" in looks_like_genome(path, peek_records=100)
