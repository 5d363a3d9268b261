"""`rnaloc-explain` keeps the file promises (issue #32, case 1).

It never deletes or replaces what it did not create in this run (an existing record
directory is refused unless --force, which replaces only explain's own files), never writes
onto or into a directory holding an input, maps ids to unique safe directory names recorded
in OUT_DIR/index.tsv, and reports every obstacle in one line with exit 2 or 3 (never 4).
Runs on the committed tiny ONNX model: no torch, no matplotlib (--no-plot).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnaloc_infer.explain.dirnames import (INDEX_HEADER, MAX_NAME, directory_names, format_index, id_hash,
                                           is_safe_name, parse_index)

from conftest import random_seq, write_fasta

ROOT = Path(__file__).resolve().parents[1]


def _explain(args, model, *extra):
    from rnaloc_infer.cli.explain import main

    return CliRunner().invoke(main, [str(a) for a in args] + ["--model", str(model), "--no-plot", "-q", *extra])


def _one_line_error(result, code: int, *needles: str) -> str:
    """The run failed with ``code`` and said so in exactly one line naming ``needles``."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and "Traceback" not in result.output and "internal error" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _fasta(path: Path, ids, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    return write_fasta(path, [(i, random_seq(rng, 40 + 7 * n)) for n, i in enumerate(ids)])


def _tree(folder: Path) -> dict:
    """Every file below ``folder`` (relative path -> bytes): what a refused run must not change."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _index(out: Path) -> dict:
    rows = parse_index((out / "index.tsv").read_text())
    assert rows is not None
    return rows


# --------------------------------------------------------------------- names
def test_directory_names_safe_unique_deterministic():
    ids = ["x/y", "x_y", "ABC", "abc", "..", ".hidden", "-rf", "data", "index.tsv", "INDEX.TSV", "CON", "nul.txt",
           "a\x01b", "tab\there", "gène", "z" * 500, "trail.", f"x_y.{id_hash('x/y')}", "NM_001.2"]
    names = directory_names(ids)
    assert set(names) == set(ids)
    folded = [n.casefold() for n in names.values()]
    assert len(set(folded)) == len(ids)  # unique, also on a case-insensitive file system
    for record_id, name in names.items():
        assert is_safe_name(name), (record_id, name)
        assert "/" not in name and not name.startswith((".", "-")) and name not in (".", "..")
        assert name.isascii() and name.isprintable() and len(name) <= MAX_NAME + 20
        assert name.casefold() != "index.tsv"
    assert names["x_y"] == "x_y" and names["NM_001.2"] == "NM_001.2" and names["data"] == "data"  # clean ids keep theirs
    assert names["x/y"].startswith("x_y.") and names["ABC"] == "ABC" and names["abc"] == f"abc.{id_hash('abc')}"
    assert directory_names(list(reversed(ids))) == names  # independent of input order
    assert directory_names(["x/y"])["x/y"] == f"x_y.{id_hash('x/y')}"  # the same whatever else runs


def test_directory_names_keep_recorded_names():
    recorded = {"ABC": "ABC", "x/y": "x_y.zzz"}
    names = directory_names(["abc", "x/y", "new"], recorded)
    assert names["x/y"] == "x_y.zzz"  # an id keeps its directory across runs
    assert names["abc"].casefold() != "abc" and names["new"] == "new"  # another id's recorded name is taken


def test_index_round_trip_and_foreign_files():
    rows = {"a\tb": "a_b.1", "back\\slash": "back_slash.2", "plain": "plain"}
    text = format_index(rows)
    assert text.startswith(INDEX_HEADER + "\n") and text.count("\n") == 4
    assert parse_index(text) == rows
    for foreign in ("hello\n", "", INDEX_HEADER + "\nid\t../escape\n", INDEX_HEADER + "\nid\t.hidden\n",
                    INDEX_HEADER + "\na\tsame\nb\tSAME\n", INDEX_HEADER + "\nonly-one-field\n", INDEX_HEADER + "\nbad\\q\tx\n"):
        assert parse_index(foreign) is None, foreign


# --------------------------------------------------------------- the bugs
def test_existing_directory_refused_and_force_keeps_other_files(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["data"])
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "keep.txt").write_text("a user's file\n")
    before = _tree(out)
    line = _one_line_error(_explain([fasta, "-o", out], tcn_model), 2, "data", "--force", "nothing was written")
    assert "existing directory" in line
    assert _tree(out) == before and not (out / "index.tsv").exists()  # refused before any work

    result = _explain([fasta, "-o", out], tcn_model, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "data" / "keep.txt").read_text() == "a user's file\n"
    assert (out / "data" / "ism.npz").is_file() and (out / "data" / "regions.tsv").is_file()
    assert _index(out) == {"data": "data"}
    assert not [p for p in out.rglob(".*")]  # no temporary file left


def test_out_dir_dot_keeps_data_directory(tcn_model, tmp_path, monkeypatch):
    """`-o .` with a record named `data` used to wipe ./data/."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "samples.csv").write_text("precious\n")
    fasta = _fasta(tmp_path / "in.fa", ["data"])
    monkeypatch.chdir(tmp_path)
    _one_line_error(_explain([fasta.name, "-o", "."], tcn_model), 2, "data")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["samples.csv"]
    assert _explain([fasta.name, "-o", "."], tcn_model, "--force").exit_code == 0
    assert (tmp_path / "data" / "samples.csv").read_text() == "precious\n"
    assert (tmp_path / "index.tsv").is_file()


@pytest.mark.parametrize("force", [False, True])
def test_input_inside_record_directory_refused(tcn_model, tmp_path, force):
    """`rnaloc-explain w/ID/in.fa -o w` deleted its own input."""
    (tmp_path / "w" / "ID").mkdir(parents=True)
    fasta = _fasta(tmp_path / "w" / "ID" / "in.fa", ["ID"])
    before = _tree(tmp_path / "w")
    extra = ["--force"] if force else []
    _one_line_error(_explain([fasta, "-o", tmp_path / "w"], tcn_model, *extra), 2, "in.fa", "lies inside", "record 'ID'")
    assert _tree(tmp_path / "w") == before


def test_model_inside_record_directory_refused(tcn_model, tmp_path):
    (tmp_path / "out" / "rec").mkdir(parents=True)
    model = tmp_path / "out" / "rec" / "model.onnx"
    model.write_bytes(Path(tcn_model).read_bytes())
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    _one_line_error(_explain([fasta, "-o", tmp_path / "out"], model, "--force"), 2, "model", "lies inside")
    assert sorted(p.name for p in (tmp_path / "out" / "rec").iterdir()) == ["model.onnx"]


def test_input_hard_linked_as_an_output_refused(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    (tmp_path / "out" / "rec").mkdir(parents=True)
    os.link(fasta, tmp_path / "out" / "rec" / "regions.tsv")
    text = fasta.read_text()
    _one_line_error(_explain([fasta, "-o", tmp_path / "out"], tcn_model, "--force"), 2, "regions.tsv",
                    "same file as the input")
    assert fasta.read_text() == text and not (tmp_path / "out" / "index.tsv").exists()


def test_standard_input_is_an_output_refused(tcn_model, tmp_path):
    """The same-file check reaches the file behind standard input (fstat), in a real process."""
    folder = tmp_path / "out" / "rec"
    folder.mkdir(parents=True)
    stdin_file = _fasta(folder / "regions.tsv", ["rec"])
    text = stdin_file.read_text()
    with open(stdin_file, "rb") as handle:
        done = subprocess.run([sys.executable, "-m", "rnaloc_infer.cli.explain", "-", "-o", str(tmp_path / "out"),
                               "--model", str(tcn_model), "--no-plot", "-q", "--force"],
                              stdin=handle, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "standard input" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert stdin_file.read_text() == text


def test_colliding_ids_get_their_own_directories(tcn_model, tmp_path):
    ids = ["x/y", "x_y", "ABC", "abc", "..", ".hidden", "index.tsv", "predictions.tsv"]
    fasta = _fasta(tmp_path / "in.fa", ids)
    out = tmp_path / "out"
    result = _explain([fasta, "-o", out], tcn_model)
    assert result.exit_code == 0, result.output
    rows = _index(out)
    assert list(rows) == ids  # the index follows the input order
    assert len({n.casefold() for n in rows.values()}) == len(ids)
    for record_id, name in rows.items():
        assert (out / name).parent == out and not name.startswith(".")
        with np.load(out / name / "ism.npz") as npz:
            assert str(npz["record_id"]) == record_id  # each directory holds its own record
    assert sorted(p.name for p in out.iterdir()) == sorted(list(rows.values()) + ["index.tsv", "predictions.tsv",
                                                                                   "predictions.tsv.json"])


def test_duplicate_ids_refused(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["same", "other", "same"])
    _one_line_error(_explain([fasta, "-o", tmp_path / "out"], tcn_model), 1, "'same' (#3)", "duplicate id")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ obstacles
def test_file_in_the_way(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "rec").write_text("not a directory\n")
    for extra in ([], ["--force"]):
        _one_line_error(_explain([fasta, "-o", out], tcn_model, *extra), 3, "out/rec", "file is in the way")
        assert (out / "rec").read_text() == "not a directory\n" and sorted(os.listdir(out)) == ["rec"]


def test_symlink_in_the_way(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "ism.npz").write_text("someone else's\n")
    (out / "rec").symlink_to(elsewhere)
    for extra in ([], ["--force"]):
        _one_line_error(_explain([fasta, "-o", out], tcn_model, *extra), 3, "symbolic link")
        assert (elsewhere / "ism.npz").read_text() == "someone else's\n" and (out / "rec").is_symlink()


def test_out_dir_obstacles(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    blocker = tmp_path / "file"
    blocker.write_text("x\n")
    _one_line_error(_explain([fasta, "-o", blocker], tcn_model), 3, "not a directory")
    _one_line_error(_explain([fasta, "-o", blocker / "sub"], tcn_model), 3, "not a directory")
    assert blocker.read_text() == "x\n"


def test_directory_in_the_way_of_a_file(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    (tmp_path / "out" / "rec" / "ism.npz").mkdir(parents=True)
    (tmp_path / "out" / "rec" / "ism.npz" / "inside").write_text("kept\n")
    _one_line_error(_explain([fasta, "-o", tmp_path / "out"], tcn_model, "--force"), 3, "ism.npz", "directory is in the way")
    assert (tmp_path / "out" / "rec" / "ism.npz" / "inside").read_text() == "kept\n"


def test_genome_subdirectory_obstacles(tmp_path):
    """With --force, a file or link where a record's genome/ must go is exit 3 too (checked
    by the planner directly: the CLI path needs pyfaidx)."""
    from rnaloc_infer.errors import OutputError
    from rnaloc_infer.explain.outdir import check_files, plan_outputs
    from rnaloc_infer.explain.report import report_files

    files = report_files(["Nucleus", "ER"], genome=True, plot=False)
    assert "genome/Nucleus.mean.bedgraph" in files and "ism.npz" in files and "ism.png" not in files
    (tmp_path / "out" / "TX1").mkdir(parents=True)
    (tmp_path / "out" / "TX1" / "genome").write_text("a file\n")
    plan = plan_outputs(tmp_path / "out", ["TX1"], force=True, inputs=[])
    assert plan.existing == {"TX1"} and plan.folder("TX1") == tmp_path / "out" / "TX1"
    with pytest.raises(OutputError, match="TX1/genome .*a file is in the way"):
        check_files(plan, {"TX1": files}, [])
    (tmp_path / "out" / "TX1" / "genome").unlink()
    (tmp_path / "out" / "TX1" / "genome").symlink_to(tmp_path)
    with pytest.raises(OutputError, match="symbolic link"):
        check_files(plan, {"TX1": files}, [])
    assert OutputError("x").exit_code == 3


def test_unwritable_out_dir(tcn_model, tmp_path, monkeypatch):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0:  # root writes anywhere: there the OS's answer is simulated below
        out.chmod(0o500)
        try:
            _one_line_error(_explain([fasta, "-o", out], tcn_model), 3, "not writable")
        finally:
            out.chmod(0o700)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == out else real_access(path, mode, **kw))
    _one_line_error(_explain([fasta, "-o", out], tcn_model), 3, "not writable")
    _one_line_error(_explain([fasta, "-o", out / "new"], tcn_model), 3, "cannot create", "not writable")
    assert not os.listdir(out)


# --------------------------------------------------- index and --force
def test_index_grows_across_runs_and_foreign_index_refused(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["A", "x/y"])
    out = tmp_path / "out"
    assert _explain([fasta, "-o", out, "--ids", "A"], tcn_model).exit_code == 0
    assert _explain([fasta, "-o", out, "--ids", "x/y"], tcn_model).exit_code == 0
    assert _index(out) == {"A": "A", "x/y": f"x_y.{id_hash('x/y')}"}
    _one_line_error(_explain([fasta, "-o", out, "--ids", "A"], tcn_model), 2, "out/A")  # a rerun needs --force
    assert _explain([fasta, "-o", out, "--ids", "A"], tcn_model, "--force").exit_code == 0
    assert _index(out) == {"A": "A", "x/y": f"x_y.{id_hash('x/y')}"}

    other = tmp_path / "other"
    other.mkdir()
    (other / "index.tsv").write_text("my own notes\n")
    _one_line_error(_explain([fasta, "-o", other], tcn_model), 2, "index.tsv", "not an rnaloc-explain index")
    assert (other / "index.tsv").read_text() == "my own notes\n" and sorted(os.listdir(other)) == ["index.tsv"]
    assert _explain([fasta, "-o", other], tcn_model, "--force").exit_code == 0
    assert set(_index(other)) == {"A", "x/y"}


def test_force_replaces_only_explains_files(tcn_model, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", ["rec"])
    out = tmp_path / "out"
    assert _explain([fasta, "-o", out], tcn_model).exit_code == 0
    folder = out / "rec"
    fresh = _tree(folder)
    (folder / "regions.tsv").write_text("stale\n")
    (folder / "notes.md").write_text("mine\n")
    outside = tmp_path / "target.txt"
    outside.write_text("outside\n")
    (folder / "ism.npz").unlink()
    (folder / "ism.npz").symlink_to(outside)  # a link at a file's place is replaced, its target untouched
    assert _explain([fasta, "-o", out], tcn_model, "--force").exit_code == 0
    assert (folder / "notes.md").read_text() == "mine\n" and outside.read_text() == "outside\n"
    assert not (folder / "ism.npz").is_symlink()
    assert {k: v for k, v in _tree(folder).items() if k != "notes.md"} == fresh  # the same outputs again


@pytest.mark.parametrize("force", [False, True])
def test_interrupted_record_leaves_directory_as_it_was(tcn_model, tmp_path, monkeypatch, force):
    """Ctrl-C in the middle of writing a record: no temporary file, nothing replaced, a
    directory made by this run removed again; the index lists only finished records."""
    import rnaloc_infer.explain.report as report

    fasta = _fasta(tmp_path / "in.fa", ["first", "second"])
    out = tmp_path / "out"
    if force:
        (out / "second").mkdir(parents=True)
        (out / "second" / "regions.tsv").write_text("old\n")
    before = _tree(out) if out.exists() else {}
    calls = []
    real = report.write_bedgraph

    def interrupted(out_stream, chrom, *args, **kwargs):
        calls.append(chrom)
        if chrom == "second" and calls.count("second") == 3:
            raise KeyboardInterrupt
        return real(out_stream, chrom, *args, **kwargs)

    monkeypatch.setattr(report, "write_bedgraph", interrupted)
    result = _explain([fasta, "-o", out], tcn_model, *(["--force"] if force else []))
    assert result.exit_code == 130, result.output
    assert (out / "first" / "ism.npz").is_file()
    assert _index(out) == {"first": "first"}
    after = {k: v for k, v in _tree(out).items() if not k.startswith(("first/", "index.tsv"))}
    assert after == before  # 'second' as it was: absent, or its old file unchanged
    assert not [p for p in out.rglob(".*")]  # no temporary file left


def test_troubleshooting_lists_the_explain_messages():
    doc = (ROOT / "docs" / "TROUBLESHOOTING.md").read_text()
    code = "".join((ROOT / p).read_text() for p in ("cli/explain.py", "rnaloc_infer/explain/outdir.py",
                                                    "rnaloc_infer/explain/report.py"))
    joined = re.sub(r'"\s*\n\s*f?"', "", code)  # implicitly concatenated string literals, as printed
    stems = ["refusing to write into the existing directory", "use --force to replace explain's files in it",
             "lies inside it; choose another -o", "it is not an rnaloc-explain index", "it exists and is not a directory",
             "directory is not writable", "a file is in the way (not a directory)", "it is a symbolic link",
             "a directory is in the way", "it appeared while explain ran", "rnaloc-explain writes one directory per id",
             "finished transcripts are complete, the current one was not written"]
    for stem in stems:
        assert stem in joined, f"no longer in the code: {stem!r}"
        assert stem in doc.replace("\n", " "), f"missing from docs/TROUBLESHOOTING.md: {stem!r}"
