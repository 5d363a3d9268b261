"""Issue 32 (cases 3, 4): the genome's index is checked against the genome before use. A
genome re-wrapped (or reordered, truncated, re-compressed) with its old index left newer is
re-indexed, not read at the old offsets; in a read-only folder a missing or stale index is
one line with the command that fixes it; the index is written whole or not at all."""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from rnaloc_infer.genome import fai as fai_module
from rnaloc_infer.genome import index as index_module
from rnaloc_infer.genome.index import GenomeError, IndexedGenome

HAS_PYFAIDX = importlib.util.find_spec("pyfaidx") is not None
HAS_BGZF = importlib.util.find_spec("Bio") is not None
pytestmark = pytest.mark.skipif(not HAS_PYFAIDX, reason="needs the [genome] extra (pyfaidx)")
BACKEND = "pyfaidx"  # the [genome] extra's backend; pysam builds through `samtools faidx` (not installed here)

SIZES = (("chrA", 3000), ("chrB", 1000), ("chrC", 1500), ("chrD", 1000))


def _contigs() -> dict:
    rnd = random.Random(3)
    return {name: "".join(rnd.choice("ACGTacgtN") for _ in range(size)) for name, size in SIZES}


def _write(path: Path, contigs: dict, width: int, order=None, newline: str = "\n") -> Path:
    with open(path, "w", newline="") as fh:
        for name in order or contigs:
            seq = contigs[name]
            fh.write(f">{name} test contig{newline}")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + newline)
    return path


def _bgzip(src: Path, dst: Path) -> Path:
    from Bio import bgzf

    with open(src, "rb") as fin, bgzf.BgzfWriter(str(dst), "wb") as fout:
        fout.write(fin.read())
    return dst


def _fetch_all(path: Path, contigs: dict) -> bool:
    with IndexedGenome(path, backend=BACKEND, window=0) as genome:
        return all(genome.fetch(name, 0, len(seq)) == seq for name, seq in contigs.items()) and \
            all(genome.fetch(name, 900, 990) == seq[900:990] for name, seq in contigs.items())


def _index_files(path: Path) -> dict:
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name + ".")}


def _newer(*paths: Path) -> None:
    """Date the old index after the genome, as a copy that keeps dates or a later touch does."""
    later = time.time() + 3600
    for path in paths:
        os.utime(path, (later, later))


def _fresh_index(tmp_path: Path, genome: Path) -> dict:
    """The index a clean build gives for the genome's current bytes."""
    clean = tmp_path / "clean"
    clean.mkdir(exist_ok=True)
    copy = shutil.copyfile(genome, clean / genome.name)
    with IndexedGenome(copy, backend=BACKEND):
        pass
    return _index_files(copy)


@pytest.mark.parametrize("change", ["rewrap", "rewrap_crlf", "reorder", "truncate", "grow"])
def test_a_stale_index_newer_than_its_genome_is_rebuilt(tmp_path, caplog, change):
    contigs = _contigs()
    genome = _write(tmp_path / "g.fa", contigs, 70)
    assert _fetch_all(genome, contigs)
    old = _index_files(genome)
    if change == "rewrap":
        _write(genome, contigs, 60)
    elif change == "rewrap_crlf":  # same line width in bases, one more byte per line
        _write(genome, contigs, 70, newline="\r\n")
    elif change == "reorder":  # chrB and chrD have the same length: same file size, other offsets
        _write(genome, contigs, 70, order=["chrA", "chrD", "chrC", "chrB"])
    elif change == "truncate":
        del contigs["chrD"]
        _write(genome, contigs, 70)
    else:
        contigs["chrE"] = "ACGT" * 300
        _write(genome, contigs, 70)
    assert _index_files(genome) == old
    _newer(genome.with_name("g.fa.fai"))
    with caplog.at_level(logging.WARNING, logger="rnaloc_infer.genome.index"):
        assert _fetch_all(genome, contigs)
    assert "g.fa.fai does not match it" in caplog.text and "rebuilding the index" in caplog.text
    assert _index_files(genome) == _fresh_index(tmp_path, genome)
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_a_matching_index_is_used_as_is(tmp_path, caplog):
    contigs = _contigs()
    genome = _write(tmp_path / "g.fa", contigs, 70)
    with IndexedGenome(genome, backend=BACKEND):
        pass
    fai = genome.with_name("g.fa.fai")
    inode = fai.stat().st_ino
    _newer(genome)  # the genome touched after indexing: same bytes, nothing to rebuild
    with caplog.at_level(logging.INFO, logger="rnaloc_infer.genome.index"):
        assert _fetch_all(genome, contigs)
    assert fai.stat().st_ino == inode and "index" not in caplog.text


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder read-only (root ignores the mode, so os.access says it too)."""
    folders = []

    def make(folder: Path) -> None:
        os.chmod(folder, 0o555)
        folders.append(folder)

    real = os.access
    monkeypatch.setattr(index_module.os, "access",
                        lambda path, mode, **kw: False if Path(path) in folders and mode & os.W_OK else real(path, mode, **kw))
    yield make
    for folder in folders:
        os.chmod(folder, 0o755)


@pytest.mark.parametrize("stale", [False, True])
def test_read_only_folder_gets_the_command_line_fix(tmp_path, read_only, stale):
    contigs = _contigs()
    folder = tmp_path / "ro"
    folder.mkdir()
    genome = _write(folder / "g.fa", contigs, 70)
    if stale:
        with IndexedGenome(genome, backend=BACKEND):
            pass
        _write(genome, contigs, 60)
        _newer(genome.with_name("g.fa.fai"))
    before = _index_files(genome)
    read_only(folder)
    with pytest.raises(GenomeError) as info:
        IndexedGenome(genome, backend=BACKEND)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"genome {genome}: ")
    assert f"samtools faidx {genome}" in message and "ln -s" in message
    assert ("does not match it" in message) == stale and ("no index g.fa.fai" in message) == (not stale)
    assert "rebuild=False" not in message and "Fasta(" not in message  # not pyfaidx's Python hint
    assert _index_files(genome) == before


def test_read_only_folder_with_a_matching_older_index_is_read(tmp_path, read_only):
    """Before: pyfaidx saw the genome newer than its index and tried to rewrite it (its
    Python hint); the index matches, so it is used."""
    contigs = _contigs()
    folder = tmp_path / "ro"
    folder.mkdir()
    genome = _write(folder / "g.fa", contigs, 70)
    with IndexedGenome(genome, backend=BACKEND):
        pass
    _newer(genome)
    read_only(folder)
    assert _fetch_all(genome, contigs)


def test_an_unindexable_genome_leaves_no_index(tmp_path):
    genome = tmp_path / "bad.fa"
    genome.write_text(">a\nACGTACGT\nAC\nACGTACGT\n>b\nACGT\n")  # a short line inside a record
    with pytest.raises(GenomeError, match=r"^cannot index genome .*bad\.fa: .*[Ii]nconsistent"):
        IndexedGenome(genome, backend=BACKEND)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa"]


@pytest.mark.skipif(not HAS_BGZF, reason="needs Biopython (bgzip)")
@pytest.mark.parametrize("keep", ["both", "gzi_only"])
def test_bgzip_genome_with_a_stale_index_is_rebuilt(tmp_path, caplog, keep):
    contigs = {name: seq * 40 for name, seq in _contigs().items()}  # ~260 kb: several BGZF blocks
    plain = tmp_path / "plain.fa"
    genome = _bgzip(_write(plain, contigs, 70), tmp_path / "g.fa.gz")
    assert _fetch_all(genome, contigs)
    old = _index_files(genome)
    assert set(old) == {"g.fa.gz.fai", "g.fa.gz.gzi"}
    _bgzip(_write(plain, contigs, 60), genome)
    if keep == "gzi_only":  # a .fai rebuilt by hand, the .gzi left over
        genome.with_name("g.fa.gz.fai").unlink()
        with IndexedGenome(_bgzip(plain, tmp_path / "other.fa.gz"), backend=BACKEND):
            pass
        shutil.copyfile(tmp_path / "other.fa.gz.fai", genome.with_name("g.fa.gz.fai"))
    _newer(genome.with_name("g.fa.gz.fai"), genome.with_name("g.fa.gz.gzi"))
    with caplog.at_level(logging.WARNING, logger="rnaloc_infer.genome.index"):
        assert _fetch_all(genome, contigs)
    assert "rebuilding the index" in caplog.text
    assert _index_files(genome) == _fresh_index(tmp_path, genome)


@pytest.mark.skipif(not HAS_BGZF, reason="needs Biopython (bgzip)")
def test_bgzip_index_check_reads_the_uncompressed_bytes(tmp_path):
    contigs = {name: seq * 40 for name, seq in _contigs().items()}
    genome = _bgzip(_write(tmp_path / "plain.fa", contigs, 70), tmp_path / "g.fa.gz")
    assert fai_module.index_problem(genome, bgzf=True) == "it has no index g.fa.gz.fai"
    with IndexedGenome(genome, backend=BACKEND):
        pass
    assert fai_module.index_problem(genome, bgzf=True) is None
    gzi = genome.with_name("g.fa.gz.gzi")
    gzi.write_bytes(gzi.read_bytes()[:-16])  # the last block's entry lost
    assert "gzi does not match it" in fai_module.index_problem(genome, bgzf=True)


def test_fai_sequence_end_and_sampling():
    entry = fai_module.FaiEntry("x", length=10, offset=3, line_bases=4, line_width=5)
    assert entry.sequence_end() == 3 + 2 * 5 + 2  # lines of 4, 4, 2 bases
    assert fai_module.FaiEntry("x", 8, 3, 4, 5).sequence_end() == 3 + 5 + 4
    assert fai_module._sample(5) == [0, 1, 2, 3, 4]
    picked = fai_module._sample(1000)
    assert len(picked) == fai_module.SAMPLE and picked[0] == 0 and picked[-1] == 999


def test_cli_refuses_a_stale_index_in_a_read_only_folder_in_one_line(tmp_path, read_only, tcn_model):
    from click.testing import CliRunner

    from rnaloc_infer.cli.predict import main

    contigs = _contigs()
    folder = tmp_path / "ro"
    folder.mkdir()
    genome = _write(folder / "g.fa", contigs, 70)
    with IndexedGenome(genome, backend=BACKEND):
        pass
    _write(genome, contigs, 60)
    _newer(genome.with_name("g.fa.fai"))
    read_only(folder)
    gtf = tmp_path / "a.gtf"
    gtf.write_text('chrA\tT\texon\t101\t400\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n')
    out = tmp_path / "out.tsv"
    res = CliRunner().invoke(main, [str(genome), "--annotation", str(gtf), "--model", str(tcn_model), "-o", str(out)])
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not match it" in lines[0] and f"samtools faidx {genome}" in lines[0], res.output
    assert "Traceback" not in res.output and not out.exists()
