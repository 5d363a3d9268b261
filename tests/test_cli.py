"""`rnaloc-infer` command line (issue 6)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import CLI, cli_env, random_seq, read_table, write_fasta
from rnaloc_infer.cli.predict import main


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("cli")
    recs = [(f"t{i} gene=G{i}", random_seq(rng, int(n))) for i, n in enumerate(rng.integers(1, 2500, 30))]
    return write_fasta(folder / "in.fa", recs)


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_tsv_output_columns_order_and_header(tcn_model, fasta, tmp_path):
    out = tmp_path / "out.tsv"
    result = invoke(fasta, "--model", tcn_model, "-o", out, "--batch-nt", 3000, "--window-records", 7, "--chunk-nt", 1000)
    assert result.exit_code == 0, result.stderr
    columns, rows = read_table(out.read_text())
    assert columns == ["id", "length", "Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER", "labels", "applicability"]
    assert [r[0] for r in rows] == [f"t{i}" for i in range(30)]
    for row in rows:
        probs = [float(x) for x in row[2:8]]
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert row[8] == "-" or all(c in columns for c in row[8].split(","))
    assert "30 records" in result.stderr and "nt/s" in result.stderr
    assert not list(tmp_path.glob(".out.tsv.*"))  # temp file renamed away


def test_stdin_and_gzip_match_plain_file(tcn_model, fasta, tmp_path):
    plain = subprocess.run(CLI + [str(fasta), "--model", str(tcn_model), "-q"], capture_output=True, env=cli_env(), check=True).stdout
    gz = tmp_path / "in.fa.gz"
    gz.write_bytes(gzip.compress(fasta.read_bytes()))
    zipped = subprocess.run(CLI + [str(gz), "--model", str(tcn_model), "-q"], capture_output=True, env=cli_env(), check=True).stdout
    piped = subprocess.run(CLI + ["-", "--model", str(tcn_model), "-q"], input=fasta.read_bytes(), capture_output=True, env=cli_env(), check=True).stdout
    piped_gz = subprocess.run(CLI + ["-", "--model", str(tcn_model), "-q"], input=gz.read_bytes(), capture_output=True, env=cli_env(), check=True).stdout
    assert plain.count(b"\n") == 31
    assert plain == zipped == piped == piped_gz


def test_csv_and_jsonl_formats_agree(tcn_model, fasta, tmp_path):
    invoke(fasta, "--model", tcn_model, "-o", tmp_path / "o.tsv")
    invoke(fasta, "--model", tcn_model, "-o", tmp_path / "o.csv", "--format", "csv")
    invoke(fasta, "--model", tcn_model, "-o", tmp_path / "o.jsonl", "--format", "jsonl")
    _, rows = read_table((tmp_path / "o.tsv").read_text())
    csv_lines = (tmp_path / "o.csv").read_text().splitlines()
    assert csv_lines[0].startswith("id,length,Nucleus")
    jsonl = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [j["id"] for j in jsonl] == [r[0] for r in rows]
    for j, r in zip(jsonl, rows):
        assert abs(j["probabilities"]["Nucleus"] - float(r[2])) < 1e-4
        assert (",".join(j["labels"]) or "-") == r[8]


def test_protein_fasta_fails_with_one_line_error_and_no_output(tcn_model, tmp_path, fasta):
    prot = tmp_path / "protein.fa"
    prot.write_text(">sp|P69905|HBA_HUMAN Hemoglobin\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\n")
    out = tmp_path / "out.tsv"
    proc = subprocess.run(CLI + [str(fasta), str(prot), "--model", str(tcn_model), "-o", str(out)], capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "protein.fa" in lines[0] and "'sp|P69905|HBA_HUMAN'" in lines[0] and "protein" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tsv*"))


def test_skip_mode_accounts_for_every_record(tcn_model, tmp_path):
    path = tmp_path / "mixed.fa"
    path.write_text(">a\nACGT\n>b\nMKLE\n>c\nGGGU\n>d\n>e\nNNNN\n")
    out, errs = tmp_path / "o.tsv", tmp_path / "e.tsv"
    result = invoke(path, "--model", tcn_model, "-o", out, "--on-error", "skip", "--errors-file", errs)
    assert result.exit_code == 0
    _, rows = read_table(out.read_text())
    err_rows = [line.split("\t") for line in errs.read_text().splitlines()]
    assert err_rows[0] == ["source", "record_number", "id", "problem"]
    assert [r[0] for r in rows] == ["a", "c", "e"]
    assert [(r[1], r[2]) for r in err_rows[1:]] == [("2", "b"), ("4", "d")]
    assert "2 skipped" in result.stderr


def test_errors_file_without_skip_mode_warns(tcn_model, tmp_path):
    path = tmp_path / "ok.fa"
    path.write_text(">a\nACGT\n")
    result = invoke(path, "--model", tcn_model, "-o", tmp_path / "o.tsv", "--errors-file", tmp_path / "e.tsv")
    assert result.exit_code == 0
    assert "--errors-file collects skipped records only with --on-error skip" in result.stderr
    quiet = invoke(path, "--model", tcn_model, "-o", tmp_path / "o2.tsv", "--on-error", "skip", "--errors-file", tmp_path / "e2.tsv")
    assert "--errors-file collects" not in quiet.stderr


def test_version_help_and_usage_errors(tcn_model, fasta):
    assert invoke("--version").exit_code == 0
    help_result = invoke("--help")
    assert help_result.exit_code == 0 and "Exit status" in help_result.stdout and "143" in help_result.stdout
    assert invoke().exit_code == 2
    assert invoke(fasta, "--format", "xml").exit_code == 2
    assert invoke(fasta, "--batch-nt", 0).exit_code == 2


def test_missing_default_model_is_a_clear_error(fasta, monkeypatch, tmp_path):
    from rnaloc_infer import bundled

    monkeypatch.setattr(bundled, "_models_dir", lambda: tmp_path)
    result = invoke(fasta)
    assert result.exit_code == 1 and "no bundled model named 'default'" in result.stderr


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-c", "from importlib.metadata import entry_points as e;"
                           "print([x.value for x in e(group='console_scripts') if x.name=='rnaloc-infer'])"],
                          capture_output=True, text=True, check=True)
    assert "rnaloc_infer.cli.predict:main" in proc.stdout


def test_broken_pipe_is_quiet(tcn_model, tmp_path):
    path = write_fasta(tmp_path / "many.fa", [(f"r{i}", "ACGT" * 5) for i in range(20000)])
    proc = subprocess.Popen(CLI + [str(path), "--model", str(tcn_model), "--window-records", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 141, stderr
    assert b"Traceback" not in stderr and b"error" not in stderr


def test_cli_defaults_match_batch_config():
    from rnaloc_infer.batching import BatchConfig
    from rnaloc_infer.cli.predict import RunOptions

    for name in ("batch_nt", "window_records", "window_nt", "chunk_nt"):
        assert getattr(RunOptions, name) == getattr(BatchConfig, name)


