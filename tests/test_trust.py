"""Issue 18: no output overwrites an input; applicability flags; thresholds a user can act on;
honest ends of runs (all skipped, true lengths, truncated archives, stdout on interruption)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import CLI, cli_env, default_sigint, random_seq, rewrite_model, write_fasta
from rnaloc_infer.alphabet import count_ambiguous
from rnaloc_infer.applicability import ApplicabilityRules, derive_rules, flag_text
from rnaloc_infer.cli.predict import main
from rnaloc_infer.evaluation import metrics
from rnaloc_infer.fasta import read_fasta

DATA = Path(__file__).parent / "data"
RULES = ApplicabilityRules(min_length=186, max_length=5000, max_n_fraction=0.05, min_orf_codons=36,
                           max_ambiguous_fraction=0.05)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line(result, code, *needles, prefix="rnaloc-infer: error: "):
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if "warning:" not in line]
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def ruled_model(tcn_model, tmp_path_factory):
    """The tiny model carrying applicability rules in its metadata, as a new export would."""
    target = tmp_path_factory.mktemp("ruled") / "ruled.onnx"
    return rewrite_model(tcn_model, target, set_props={"rnaloc.applicability": RULES.to_json()})


def mrna(rng, length=900):
    """A sequence with a long ATG ORF (no in-frame stop), like a training mRNA."""
    body = "".join(rng.choice(["GCA", "GCC", "AAG", "CTG", "TCC"], size=(length - 6) // 3))
    return "CC" + "ATG" + body + "TAA"


# --- 1. no path overwrites an input -------------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "absolute", "symlink", "hardlink"])
def test_output_onto_input_is_refused_however_reached(how, tcn_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fasta = write_fasta(tmp_path / "copy.fa", [("a", "ACGT" * 30)])
    before = fasta.read_bytes()
    inp = {"same": "copy.fa", "absolute": str(fasta), "symlink": "link.fa", "hardlink": "hard.fa"}[how]
    if how == "symlink":
        os.symlink("copy.fa", "link.fa")
    if how == "hardlink":
        os.link("copy.fa", "hard.fa")
    result = invoke(inp, "--model", tcn_model, "-o", "copy.fa")
    one_line(result, 2, "refusing to write output copy.fa", "same file as the input", "nothing was written")
    assert fasta.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"copy.fa", inp} - {str(fasta)})


def test_errors_file_and_model_are_protected_too(tcn_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [("a", "ACGT" * 30)])
    one_line(invoke(fasta, "--model", tcn_model, "--on-error", "skip", "--errors-file", fasta), 2, "errors file")
    one_line(invoke(fasta, "--model", tcn_model, "-o", tmp_path / "x.tsv", "--errors-file", tmp_path / "x.tsv",
                    "--on-error", "skip"), 2, "same file as the output")
    model_bytes = Path(tcn_model).read_bytes()
    one_line(invoke(fasta, "--model", tcn_model, "-o", tcn_model), 2, "same file as the model")
    assert Path(tcn_model).read_bytes() == model_bytes
    assert not (tmp_path / "x.tsv").exists()


def test_annotation_file_is_protected(tcn_model, tmp_path):
    genome = write_fasta(tmp_path / "g.fa", [("chr1", "ACGT" * 100)])
    gtf = tmp_path / "a.gtf"
    gtf.write_text('chr1\tx\texon\t1\t100\t.\t+\t.\tgene_id "g"; transcript_id "t";\n')
    one_line(invoke(genome, "--annotation", gtf, "--model", tcn_model, "-o", gtf), 2, "same file as the annotation")
    assert gtf.read_text().startswith("chr1")


def test_dev_null_output_is_not_refused(tcn_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [("a", "ACGT" * 30)])
    assert invoke(fasta, "--model", tcn_model, "-o", os.devnull, "-q").exit_code == 0


def _checkpoint(path: Path) -> Path:
    pytest.importorskip("torch")
    from conftest import _tiny_model
    from rnaloc_infer.training.checkpoint import save_checkpoint

    save_checkpoint(path, _tiny_model("tcn"), thresholds=[0.5] * 6)
    return path


def test_export_never_writes_onto_its_checkpoint_and_needs_force(tmp_path):
    from rnaloc_infer.cli.export import main as export_main

    run = tmp_path / "run"
    run.mkdir()
    ckpt = _checkpoint(run / "best.pt")
    before = ckpt.read_bytes()
    result = CliRunner().invoke(export_main, [str(ckpt), "--format", "both", "-o", str(run)])
    assert result.exit_code == 2, result.output
    assert "same file as the checkpoint" in result.output and len(result.output.strip().splitlines()) == 1
    assert ckpt.read_bytes() == before and sorted(p.name for p in run.iterdir()) == ["best.pt"]
    # An existing output is replaced only with --force.
    out = tmp_path / "out"
    out.mkdir()
    (out / "best.onnx").write_text("keep me")
    result = CliRunner().invoke(export_main, [str(ckpt), "-o", str(out)])
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "best.onnx").read_text() == "keep me"
    result = CliRunner().invoke(export_main, [str(ckpt), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "best.onnx").read_bytes()[:4] != b"keep"


def test_train_subcommands_refuse_to_overwrite_inputs(tmp_path):
    pytest.importorskip("torch")
    from rnaloc_infer.cli.train import main as train_main

    ckpt = _checkpoint(tmp_path / "a.pt")
    before = ckpt.read_bytes()
    result = CliRunner().invoke(train_main, ["average", str(ckpt), "--out", str(ckpt)])
    assert result.exit_code == 2 and "same file as the checkpoint" in result.output, result.output
    fasta = write_fasta(tmp_path / "t.fa", [("a", "ACGT" * 30)])
    result = CliRunner().invoke(train_main, ["kmers", "--fasta", str(fasta), "--out", str(fasta)])
    assert result.exit_code == 2 and "same file as the training FASTA" in result.output, result.output
    assert ckpt.read_bytes() == before and fasta.read_text().startswith(">a")


def test_evaluate_report_never_replaces_its_labels(tcn_model, tmp_path):
    from rnaloc_infer.cli.evaluate import evaluate

    fasta = write_fasta(tmp_path / "v.fa", [("a", "ACGT" * 30)])
    labels = tmp_path / "metrics.tsv"
    labels.write_text("id\tNucleus\tExosome\tCytosol\tRibosome\tMembrane\tER\na\t1\t1\t0\t0\t0\t0\n")
    result = CliRunner().invoke(evaluate, [str(tcn_model), str(fasta), str(labels), "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "same file as the labels" in result.output, result.output
    assert labels.read_text().startswith("id\tNucleus")


# --- 2. applicability ------------------------------------------------------------------------------


def test_rules_flag_the_issue_examples_and_pass_an_mrna():
    rng = np.random.default_rng(0)

    def flags(seq):
        from rnaloc_infer.alphabet import encode
        return RULES.check(encode(seq), count_ambiguous(seq))

    assert flags(mrna(rng)) == ()
    assert "too_short" in flags("A")
    assert {"too_short", "many_n", "no_orf"} <= set(flags("N" * 10))
    assert "protein_like" in flags("MKRSHWCDAVG")
    assert "protein_like" in flags("MKRSHWCDAVG" * 40) and "too_short" not in flags("MKRSHWCDAVG" * 40)
    assert flags(mrna(rng, 6000)) == ("too_long",)
    assert flags("ATG" + "TAA" * 100) == ("no_orf",)
    assert flag_text(()) == "ok" and flag_text(None) == "-" and flag_text(("a", "b")) == "a,b"


def test_rules_round_trip_and_bad_metadata_is_refused(tcn_model, tmp_path):
    assert ApplicabilityRules.from_json(RULES.to_json()) == RULES
    with pytest.raises(ValueError):
        ApplicabilityRules.from_json('{"min_length": 5}')
    bad = rewrite_model(tcn_model, tmp_path / "bad.onnx", set_props={"rnaloc.applicability": "[1]"})
    fasta = write_fasta(tmp_path / "in.fa", [("a", "ACGT")])
    one_line(invoke(fasta, "--model", bad), 1, "rnaloc.applicability")


def test_derive_rules_from_a_training_fasta(tmp_path):
    rng = np.random.default_rng(1)
    short, long = mrna(rng, 300), mrna(rng, 1200) + "NNRY"
    fasta = write_fasta(tmp_path / "train.fa", [("a", short), ("b", long)])
    rules, stats = derive_rules([fasta])
    assert (stats.records, stats.min_length, stats.max_length) == (2, len(short), len(long))
    assert stats.max_ambiguous_fraction == pytest.approx(2 / len(long))
    assert rules.min_length == len(short) and rules.max_length == len(long)
    assert rules.max_n_fraction == pytest.approx(round(4 / len(long) + 0.05, 4))
    assert rules.min_orf_codons == stats.min_orf_codons > 90


def test_column_and_jsonl_field_after_labels(ruled_model, tmp_path):
    rng = np.random.default_rng(2)
    fasta = write_fasta(tmp_path / "in.fa", [("good", mrna(rng)), ("one", "A"), ("tenN", "N" * 10),
                                               ("pep", "MKRSHWCDAVG")])
    out = invoke(fasta, "--model", ruled_model, "-q").output.splitlines()
    header = out[0].split("\t")
    assert header[header.index("labels") + 1] == "applicability"
    flags = {row.split("\t")[0]: row.split("\t")[header.index("applicability")] for row in out[1:]}
    assert flags["good"] == "ok"
    assert flags["one"] == "too_short,no_orf" and flags["tenN"] == "too_short,many_n,no_orf"
    assert flags["pep"] == "too_short,many_n,no_orf,protein_like"
    rows = [json.loads(line) for line in invoke(fasta, "--model", ruled_model, "-q", "--format", "jsonl").output.splitlines()]
    assert [r["applicability"] for r in rows] == [flags[r["id"]] for r in rows]
    assert all(len(r["probabilities"]) == 6 for r in rows)  # flagged records still get probabilities


def test_model_without_rules_says_dash(tcn_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [("a", "A")])
    assert invoke(fasta, "--model", tcn_model, "-q").output.splitlines()[1].endswith("\t-")


def test_out_of_range_drop_and_error(ruled_model, tmp_path):
    rng = np.random.default_rng(3)
    fasta = write_fasta(tmp_path / "in.fa", [("good", mrna(rng)), ("one", "A")])
    result = invoke(fasta, "--model", ruled_model, "--out-of-range", "drop")
    assert result.exit_code == 0 and [r.split("\t")[0] for r in result.stdout.splitlines()[1:]] == ["good"]
    assert "1 dropped" in result.stderr
    out = tmp_path / "o.tsv"
    one_line(invoke(fasta, "--model", ruled_model, "--out-of-range", "error", "-o", out), 1,
             "'one' (#2)", "outside the model's training range (too_short,no_orf")
    assert not out.exists()
    errors = tmp_path / "e.tsv"
    result = invoke(fasta, "--model", ruled_model, "--out-of-range", "error", "--on-error", "skip", "-o", out,
                    "--errors-file", errors)
    assert result.exit_code == 0
    assert "too_short" in errors.read_text() and len(out.read_text().splitlines()) == 2  # header + good


def test_api_prediction_carries_flags(ruled_model, tmp_path):
    from rnaloc_infer.api import Predictor

    fasta = write_fasta(tmp_path / "in.fa", [("one", "A")])
    [prediction] = list(Predictor(ruled_model).predict_fasta(fasta))
    assert prediction.applicability == ("too_short", "no_orf")


# --- 3. thresholds -----------------------------------------------------------------------------------


def test_policy_uses_prevalence_when_a_class_has_few_negatives():
    rng = np.random.default_rng(4)
    y = np.ones(1000)
    y[:20] = 0  # 20 negatives: too few to trust an MCC optimum
    s = rng.random(1000) * 0.2 + 0.8
    s[:20] = rng.random(20) * 0.2 + 0.85  # negatives score high: the MCC optimum sits at the very top
    t = metrics.policy_threshold(y, s)
    assert np.sum(s >= t) == 980  # as many labelled as carry the label
    assert np.sum((s < t) & (y == 1)) <= 20
    assert metrics.best_mcc_threshold(y, s) > t  # the old rule would leave most positives unlabelled
    balanced = (rng.random(1000) < 0.5).astype(float)
    scores = balanced * 0.3 + rng.random(1000)
    assert metrics.policy_threshold(balanced, scores) == metrics.best_mcc_threshold(balanced, scores)


def test_refit_rewrites_only_metadata(tcn_model, tmp_path):
    pytest.importorskip("onnx")
    import onnx

    from rnaloc_infer.api import Predictor
    from rnaloc_infer.export.metadata import rewrite_onnx_metadata

    copy = tmp_path / "m.onnx"
    copy.write_bytes(Path(tcn_model).read_bytes())
    seqs = ["ACGT" * 50, "GGGCCCAAAT" * 7]
    before = Predictor(copy).predict(seqs)
    rewrite_onnx_metadata(copy, {"rnaloc.thresholds": json.dumps([0.1] * 6), "rnaloc.applicability": RULES.to_json()})
    assert onnx.load(str(copy)).graph == onnx.load(str(tcn_model)).graph
    predictor = Predictor(copy)
    assert np.array_equal(predictor.predict(seqs), before)
    assert predictor.thresholds == (0.1,) * 6 and predictor.info.applicability == RULES


# --- 4. honest ends of runs ----------------------------------------------------------------------------


def test_everything_skipped_is_exit_5_without_output(tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    result = invoke(DATA / "protein.fa", "--model", tcn_model, "--on-error", "skip", "-o", out)
    assert result.exit_code == 5, result.stderr
    assert "no results: all 1 records were left out (1 skipped as bad records" in result.stderr
    assert not out.exists()


def test_everything_dropped_is_exit_5(ruled_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [("one", "A"), ("two", "AC")])
    result = invoke(fasta, "--model", ruled_model, "--out-of-range", "drop")
    assert result.exit_code == 5 and result.stdout == ""
    assert "2 dropped by --out-of-range drop" in result.stderr


def test_annotation_all_skipped_says_why(tcn_model, tmp_path):
    pytest.importorskip("pyfaidx")
    genome = write_fasta(tmp_path / "genome.fa", [("chr1", "ACGT" * 100)])
    gtf = tmp_path / "a.gtf"
    gtf.write_text('chrX\tx\texon\t1\t100\t.\t+\t.\tgene_id "g"; transcript_id "t1";\n'
                   'chrY\tx\texon\t1\t100\t.\t+\t.\tgene_id "g2"; transcript_id "t2";\n')
    out = tmp_path / "o.tsv"
    result = invoke(genome, "--annotation", gtf, "--skip-missing-contigs", "--model", tcn_model, "-o", out)
    assert result.exit_code == 5, result.stderr
    assert "no records found" not in result.stderr
    assert "has 2, 2 pass the filters, and --skip-missing-contigs skipped all of them" in result.stderr
    assert "chrX, chrY" in result.stderr and not out.exists()
    result = invoke(genome, "--annotation", gtf, "--genes", "nope", "--model", tcn_model)
    assert result.exit_code == 5 and "none passes the filters" in result.stderr


def test_truncated_gzip_counts_whole_records_before_the_damage(tcn_model, tmp_path):
    rng = np.random.default_rng(5)
    text = "".join(f">r{i}\n{random_seq(rng, 3000)}\n" for i in range(400)).encode()
    data = gzip.compress(text)
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(data[: len(data) // 2])
    import zlib
    decoded = zlib.decompressobj(31).decompress(data[: len(data) // 2])
    whole = decoded.count(b"\n>")  # headers after the first = records followed by another header
    assert whole > 100
    with pytest.raises(Exception) as info:
        list(read_fasta(cut))
    assert f"{whole:,} whole records read before the damage" in str(info.value)


def test_genome_warning_reports_the_true_length(tmp_path):
    from rnaloc_infer.genome.index import looks_like_genome

    big = tmp_path / "g.fa"
    with open(big, "w") as fh:
        fh.write(">chr1\n")
        line = "ACGT" * 15 + "\n"
        fh.write(line * (12_000_000 // 60))
        fh.write(">chr2\nACGT\n")
    assert looks_like_genome(big, peek_bytes=1 << 20) == "record 'chr1' is 12,000,000 nt long"


def test_stdout_has_no_header_before_the_first_result(tcn_model, tmp_path):
    """Interrupted before any result, standard output is empty (nothing that looks complete)."""
    proc = subprocess.Popen(CLI + ["-", "--model", str(tcn_model)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), preexec_fn=default_sigint)
    proc.stdin.write(b">a\nACGTACGT\n")  # stdin stays open: the first window never fills
    proc.stdin.flush()
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stdout == b""


def test_empty_input_still_gets_a_header(tcn_model, tmp_path):
    result = invoke(DATA / "empty.fa", "--model", tcn_model)
    assert result.exit_code == 0 and result.stdout.splitlines() == [result.stdout.splitlines()[0]]
    assert result.stdout.startswith("id\tlength")


def test_troubleshooting_lists_the_new_messages():
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "TROUBLESHOOTING.md").read_text()
    code = "".join((root / p).read_text() for p in ("cli/predict.py", "cli/genome_options.py", "cli/export.py",
                                                     "rnaloc_infer/output/files.py", "rnaloc_infer/output/run.py", "rnaloc_infer/output/formats.py", "rnaloc_infer/output/errors_report.py", "rnaloc_infer/fasta.py",
                                                     "rnaloc_infer/applicability.py", "rnaloc_infer/genome/transcripts.py",
                                                     "rnaloc_infer/genome/annotation.py", "rnaloc_infer/genome/index.py"))
    stems = ["refusing to write", "nothing was written", "no results: all",
             "whole records read before the damage", "outside the model's training range", "no transcripts to predict",
             "none passes the filters", "--skip-missing-contigs skipped all of them", "looks like a genome",
             "is gzip- but not bgzip-compressed", "unstranded feature read as '+' strand",
             "occur on several contigs", "wrong genome build?", "genome FASTA not found", "cannot index genome",
             "must be a JSON object with"]
    for stem in stems:
        assert stem in code, f"message no longer in the code: {stem!r}"
        assert stem in doc, f"message missing from docs/TROUBLESHOOTING.md: {stem!r}"
