"""Issue #32: the README's promises on the newer paths (runtime only: no torch, no onnx).

Each test is one case of the issue, tried as an adversarial user would: standard streams
that are the input, quoting, the errors file when everything is bad, the sidecar, output
names, interruptions on standard output, stale temporary files, out-of-range records.
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import lzma
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import CLI, cli_env, default_sigint, random_seq, write_fasta
from rnaloc_infer.cli.predict import main


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


@pytest.fixture()
def fasta(tmp_path) -> Path:
    rng = np.random.default_rng(7)
    return write_fasta(tmp_path / "a.fa", [(f"r{i}", random_seq(rng, 300 + 40 * i)) for i in range(6)])


def _run(args, stdin=None, stdout=None):
    return subprocess.run(CLI + [str(a) for a in args], stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, env=cli_env(), timeout=120)


# --- case 2: standard input and output are checked like named files ------------------------------
def test_stdin_redirected_from_the_output_is_refused(tcn_model, fasta):
    before = fasta.read_bytes()
    for extra in (["-o", fasta], ["-o", fasta.with_suffix(".tsv"), "--on-error", "skip", "--errors-file", fasta]):
        with open(fasta, "rb") as stdin:
            proc = _run(["-", "--model", tcn_model, *extra], stdin=stdin)
        assert proc.returncode == 2, proc.stderr
        assert b"same file as the input standard input" in proc.stderr and b"Traceback" not in proc.stderr
        assert fasta.read_bytes() == before
    assert not fasta.with_suffix(".tsv").exists()


def test_stdout_appended_to_the_input_is_refused(tcn_model, fasta):
    before = fasta.read_bytes()
    with open(fasta, "ab") as out:  # rnaloc-infer a.fa >> a.fa
        proc = _run([fasta, "--model", tcn_model], stdout=out)
    assert proc.returncode == 2, proc.stderr
    assert b"refusing to write output standard output: it is the same file as the input" in proc.stderr
    assert fasta.read_bytes() == before


def test_stdout_to_another_file_still_works(tcn_model, fasta, tmp_path):
    with open(tmp_path / "out.tsv", "wb") as out:
        proc = _run([fasta, "--model", tcn_model, "-q"], stdout=out)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "out.tsv").read_text().splitlines()) == 7


# --- case 5: every text field quoted or escaped, so readers see the right rows --------------------
def test_ids_with_quotes_and_delimiters_read_back_exactly(tcn_model, tmp_path):
    rng = np.random.default_rng(3)
    ids = ['"quoted', 'plain', 'with,comma', "it's", '"a"b"', 'last']
    fa = write_fasta(tmp_path / "q.fa", [(i, random_seq(rng, 400)) for i in ids])
    for suffix, delimiter in ((".tsv", "\t"), (".csv", ",")):
        out = tmp_path / f"q{suffix}"
        assert invoke(fa, "--model", tcn_model, "-o", out, "-q").exit_code == 0
        rows = list(csv.reader(io.StringIO(out.read_text()), delimiter=delimiter))
        assert [r[0] for r in rows[1:]] == ids and {len(r) for r in rows} == {len(rows[0])}
        pandas = pytest.importorskip("pandas") if suffix == ".csv" else None
        if pandas is not None:
            frame = pandas.read_csv(out, sep=delimiter, dtype={"id": str})
            assert frame["id"].tolist() == ids
    pandas = pytest.importorskip("pandas")
    assert pandas.read_csv(tmp_path / "q.tsv", sep="\t")["id"].tolist() == ids  # 6 rows, not 4


def test_control_characters_in_ids_are_bad_records(tcn_model, tmp_path):
    fa = tmp_path / "nul.fa"
    fa.write_bytes(b">ok\n" + b"ACGT" * 60 + b"\n>bad\x00id\n" + b"ACGT" * 60 + b"\n")
    result = invoke(fa, "--model", tcn_model, "-o", tmp_path / "o.tsv")
    assert result.exit_code == 1 and "control character (\\x00)" in result.stderr
    assert not (tmp_path / "o.tsv").exists()


# --- case 6: the errors file is written whenever it is asked for ---------------------------------
def test_errors_file_written_when_every_record_is_bad(tcn_model, tmp_path):
    fa = tmp_path / "bad.fa"
    fa.write_text("".join(f">p{i}\nMKVLEFPQ\n" for i in range(200)))
    errors = tmp_path / "errors.tsv"
    result = invoke(fa, "--model", tcn_model, "-o", tmp_path / "o.tsv", "--on-error", "skip", "--errors-file", errors)
    assert result.exit_code == 5 and f"and in {errors}" in result.stderr
    rows = list(csv.reader(io.StringIO(errors.read_text()), delimiter="\t"))
    assert len(rows) == 201 and rows[1][2] == "p0"
    assert not (tmp_path / "o.tsv").exists() and not (tmp_path / "o.tsv.json").exists()


# --- case 7: the sidecar describes exactly the output beside it ----------------------------------
def test_sidecar_names_the_outputs_digest_and_is_written_after_it(tcn_model, fasta, tmp_path):
    import hashlib

    out = tmp_path / "o.tsv.gz"
    assert invoke(fasta, "--model", tcn_model, "-o", out, "-q").exit_code == 0
    meta = json.loads((tmp_path / "o.tsv.gz.json").read_text())
    assert meta["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert meta["output"]["compression"] == "gzip"
    assert os.stat(tmp_path / "o.tsv.gz.json").st_mtime_ns >= os.stat(out).st_mtime_ns


def test_failed_run_leaves_no_sidecar_and_removes_none_it_did_not_replace(tcn_model, fasta, tmp_path):
    out = tmp_path / "o.tsv"
    assert invoke(fasta, "--model", tcn_model, "-o", out, "-q").exit_code == 0
    old_meta = (tmp_path / "o.tsv.json").read_text()
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nMKVLEFPQ\n")
    assert invoke(bad, "--model", tcn_model, "-o", out).exit_code == 1
    assert (tmp_path / "o.tsv.json").read_text() == old_meta  # still the table's own


def test_sidecar_on_stdout_carries_the_digest_of_what_went_out(tcn_model, fasta, tmp_path):
    import hashlib

    result = invoke(fasta, "--model", tcn_model, "-q", "--metadata", tmp_path / "run.json")
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["output"]["sha256"] == hashlib.sha256(result.stdout.encode()).hexdigest()


def test_unwritable_metadata_path_fails_before_any_work(tcn_model, fasta, tmp_path):
    result = invoke(fasta, "--model", tcn_model, "-o", tmp_path / "o.tsv", "--metadata", tmp_path / "missing" / "m.json")
    assert result.exit_code == 3 and "metadata file" in result.stderr and "does not exist" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fa"]


# --- case 8: output names do not lie -------------------------------------------------------------
@pytest.mark.parametrize("name,opener", [("o.tsv.bz2", bz2.open), ("o.csv.xz", lzma.open)])
def test_compressed_extensions_compress(tcn_model, fasta, tmp_path, name, opener):
    assert invoke(fasta, "--model", tcn_model, "-o", tmp_path / name, "-q").exit_code == 0
    with opener(tmp_path / name, "rt") as handle:
        assert handle.readline().startswith("id" + ("\t" if ".tsv" in name else ","))


@pytest.mark.parametrize("name", ["o.json", "o.out", "results", "o.tsv.zst"])
def test_names_without_a_format_are_usage_errors(tcn_model, fasta, tmp_path, name):
    import importlib.util

    if name.endswith(".zst") and importlib.util.find_spec("zstandard") is not None:
        pytest.skip("zstandard installed: .zst is written")
    result = invoke(fasta, "--model", tcn_model, "-o", tmp_path / name)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fa"]


# --- case 9: interruptions say what happened; stale temporary files are cleaned -------------------
def test_interrupt_while_writing_to_stdout_says_how_many_rows_went_out(tcn_model, tmp_path):
    import threading

    env = {**cli_env(), "PYTHONUNBUFFERED": "1"}  # rows reach the pipe as they are written
    proc = subprocess.Popen(CLI + ["-", "--model", str(tcn_model), "--window-records", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=default_sigint)

    def feed() -> None:  # more than one 4 MB read block, from a thread: the rows must be read meanwhile
        try:
            proc.stdin.write(b">a\nACGTACGTAAGGCCACGTACGTAAGGCCACGTACGTAAGGCC\n" * 120_000)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    first = proc.stdout.readline()  # the header went out, rows follow
    assert first.startswith(b"id\tlength")
    second = proc.stdout.readline() + proc.stdout.readline()  # two rows: the first is surely counted
    assert second.startswith(b"a\t") and second.count(b"\n") == 2
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130 and b"no output written" not in stderr, stderr
    assert b"output incomplete:" in stderr and b"rows written to standard output" in stderr, stderr
    assert (first + second + rest).count(b"\n") >= 3


def test_stale_temporary_files_of_dead_runs_are_removed(tcn_model, fasta, tmp_path):
    stale = tmp_path / ".o.tsv.999999999.deadbeef.rnaloc-tmp.tsv"  # a pid no process has
    stale.write_text("half a table")
    result = invoke(fasta, "--model", tcn_model, "-o", tmp_path / "o.tsv")
    assert result.exit_code == 0 and not stale.exists()
    assert "left by an interrupted run" in result.stderr


# --- case 10: out-of-range records keep probabilities, get no labels by default -------------------
def test_out_of_range_records_get_no_labels_unless_asked(tmp_path):
    from rnaloc_infer.bundled import resolve_model  # the bundled default carries applicability rules

    fa = write_fasta(tmp_path / "t.fa", [("toy", "ACGTACGTAC")])
    model = resolve_model("fast")
    keep = invoke(fa, "--model", model, "-q")
    header, row = [line.split("\t") for line in keep.stdout.splitlines()]
    fields = dict(zip(header, row))
    assert fields["labels"] == "NA" and "too_short" in fields["applicability"] and float(fields["Exosome"]) > 0
    labelled = invoke(fa, "--model", model, "-q", "--out-of-range", "label")
    fields = dict(zip(*[line.split("\t") for line in labelled.stdout.splitlines()]))
    assert fields["labels"] not in ("NA", "")


def test_api_returns_applicability_beside_probabilities():
    from rnaloc_infer import Predictor

    predictor = Predictor("fast")
    probs, flags = predictor.predict(["ACGUAGCUAGCUAGGCUA", "GGGCCCAUAUAUGCGC"], flags=True)
    assert probs.shape == (2, len(predictor.classes))
    assert all("too_short" in f for f in flags)


def test_iupac_rich_dna_is_not_called_protein():
    from rnaloc_infer.applicability import ApplicabilityRules
    from rnaloc_infer.alphabet import encode
    from rnaloc_infer.alphabet import count_ambiguous

    rules = ApplicabilityRules(10, 10_000, 0.05, 0, 0.05)
    rng = np.random.default_rng(0)
    dna = "".join(rng.choice(list("ACGT"), 900)) + "RYKMSWRYKM" * 10  # 10% IUPAC codes
    flags = rules.check(encode(dna), count_ambiguous(dna))
    assert "many_n" in flags and "protein_like" not in flags
    peptide = "MKRSHWCDAVGKRSHWVDMKRS" * 5
    assert "protein_like" in rules.check(encode(peptide), count_ambiguous(peptide))


def test_x_in_dna_is_named_as_masking_not_protein(tcn_model, tmp_path):
    fa = tmp_path / "x.fa"
    fa.write_text(">masked\n" + "ACGT" * 50 + "XXXX" + "ACGT" * 50 + "\n")
    result = invoke(fa, "--model", tcn_model, "-o", tmp_path / "o.tsv")
    assert result.exit_code == 1 and "masked bases? write them as N" in result.stderr
    assert "protein" not in result.stderr


def test_api_predict_fasta_follows_the_same_out_of_range_rule(tmp_path):
    from rnaloc_infer import Predictor
    from rnaloc_infer.data import example_fasta
    from rnaloc_infer.errors import InputError

    fa = tmp_path / "mixed.fa"
    fa.write_text(example_fasta().read_text() + ">toy\nACGTACGTAC\n")
    predictor = Predictor("fast")
    kept = list(predictor.predict_fasta(fa))
    assert kept[-1].id == "toy" and kept[-1].labels is None and "too_short" in kept[-1].applicability
    assert all(p.labels is not None for p in kept[:-1])
    assert list(predictor.predict_fasta(fa, out_of_range="label"))[-1].labels is not None
    assert [p.id for p in predictor.predict_fasta(fa, out_of_range="drop")] == [p.id for p in kept[:-1]]
    with pytest.raises(InputError, match="outside the model's training range"):
        list(predictor.predict_fasta(fa, out_of_range="error"))
    errors = []
    assert len(list(predictor.predict_fasta(fa, out_of_range="error", on_error="skip", errors=errors))) == len(kept) - 1
    assert [e.id for e in errors] == ["toy"]
