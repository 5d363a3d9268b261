"""One run path (issue 31): `rnaloc-infer`, `rnaloc-explain` and `rnaloc-train evaluate` hand
their records to the same `output.run.RunPath`, so the same input gives the same rows, the
same one-line error and exit status, the same errors file and a sidecar of the same shape,
and a failed run leaves nothing behind. Runs on the committed tiny ONNX model (no torch);
the out-of-range cases rewrite its metadata and need onnx.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import CLASSES, random_seq, rewrite_model

COMMANDS = ("infer", "explain", "evaluate")
LENGTHS = (60, 150, 80, 200, 250, 120, 90, 180)  # < 100 nt: outside the ruled model's range
BAD = ("broken", "ACGT!!")


def _records(bad_at: int = -1) -> List[tuple]:
    rng = np.random.default_rng(31)
    records = [(f"r{i}", random_seq(rng, n)) for i, n in enumerate(LENGTHS)]
    if bad_at >= 0:
        records.insert(bad_at, BAD)
    return records


def _write(tmp_path: Path, records, name: str = "in.fa"):
    """The FASTA and a labels TSV with a row for every id (evaluate needs one; a bad record's
    row is allowed: it is never scored)."""
    fasta = tmp_path / name
    fasta.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in records))
    rng = np.random.default_rng(3)
    labels = tmp_path / (name + ".labels.tsv")
    rows = ["id\t" + "\t".join(CLASSES)]
    for n, (rid, _) in enumerate(records):
        y = rng.integers(0, 2, len(CLASSES))
        y[n % len(CLASSES)] = 1
        rows.append(rid + "\t" + "\t".join(map(str, y)))
    labels.write_text("\n".join(rows) + "\n")
    return fasta, labels


def _run(command: str, fasta: Path, labels: Path, model: Path, out: Path, *extra: str):
    """Run ``command`` on ``fasta``; returns (result, the table it writes)."""
    if command == "infer":
        from rnaloc_infer.cli.predict import main

        table = out.with_suffix(".tsv")
        args = [fasta, "-o", table, "--precision", "fp32"]
    elif command == "explain":
        from rnaloc_infer.cli.explain import main

        table = out / "predictions.tsv"
        args = [fasta, "-o", out, "--no-plot"]
    else:
        from rnaloc_infer.cli.evaluate import evaluate as main

        table = out / "predictions.tsv"
        args = [model, fasta, labels, "--out-dir", out, "--no-plots", "--precision", "fp32"]
    if command != "evaluate":
        args += ["--model", model]
    result = CliRunner().invoke(main, [str(a) for a in args] + ["--threads", "1", *extra])
    return result, table


def _error_line(result, prog: str) -> str:
    """The one line of a failed run, less its program prefix (the rest must be equal everywhere)."""
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    head = f"{prog}: error: "
    assert lines[0].startswith(head), lines[0]
    return lines[0][len(head):]


PROGS = {"infer": "rnaloc-infer", "explain": "rnaloc-explain", "evaluate": "rnaloc-train evaluate"}


def _left_behind(tmp_path: Path, before: set) -> set:
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")} - before


@pytest.fixture(scope="module")
def ruled_model(tmp_path_factory, tcn_model) -> Path:
    """The tiny TCN with applicability rules: a record under 100 nt is too_short."""
    from rnaloc_infer.applicability import ApplicabilityRules

    rules = ApplicabilityRules(min_length=100, max_length=100_000, max_n_fraction=1.0, min_orf_codons=0,
                               max_ambiguous_fraction=1.0)
    return rewrite_model(tcn_model, tmp_path_factory.mktemp("ruled") / "ruled.onnx",
                         set_props={"rnaloc.applicability": rules.to_json()})


def test_bad_record_same_one_line_error_and_nothing_written(tcn_model, tmp_path):
    fasta, labels = _write(tmp_path, _records(bad_at=2))
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    messages = {}
    for command in COMMANDS:
        result, _ = _run(command, fasta, labels, tcn_model, tmp_path / command)
        assert result.exit_code == 1, result.output
        messages[command] = _error_line(result, PROGS[command])
        assert not _left_behind(tmp_path, before), command  # no table, no sidecar, no folder, no temporary file
    assert len(set(messages.values())) == 1, messages
    assert "record 'broken' (#3)" in messages["infer"]


def _run_skipping(command: str, fasta, labels, tcn_model, tmp_path: Path):
    """(result, table, errors file) of ``command`` with ``--on-error skip --errors-file``."""
    errors_file = tmp_path / f"{command}.errors.tsv"
    result, table = _run(command, fasta, labels, tcn_model, tmp_path / command, "--on-error", "skip",
                         "--errors-file", str(errors_file))
    return result, table, errors_file


def test_skipped_records_same_errors_file_and_rows(tcn_model, tmp_path):
    fasta, labels = _write(tmp_path, _records(bad_at=2))
    tables, errors = {}, {}
    for command in COMMANDS:
        result, table, errors_file = _run_skipping(command, fasta, labels, tcn_model, tmp_path)
        assert result.exit_code == 0, result.output
        assert "skipped" in result.stderr and "record 'broken' (#3)" in result.stderr
        tables[command], errors[command] = table.read_text(), errors_file.read_text()
    assert tables["explain"] == tables["infer"] and tables["evaluate"] == tables["infer"]
    assert len(tables["infer"].splitlines()) == 1 + len(LENGTHS)
    assert errors["explain"] == errors["infer"] == errors["evaluate"]
    assert errors["infer"].splitlines()[1].split("\t")[2] == "broken"


def test_every_record_bad_is_no_results_everywhere(tcn_model, tmp_path):
    fasta, labels = _write(tmp_path, [BAD, ("worse", "AC!GT")])
    messages, errors = {}, {}
    for command in COMMANDS:
        result, table, errors_file = _run_skipping(command, fasta, labels, tcn_model, tmp_path)
        assert result.exit_code == 5, result.output
        assert not table.exists() and not Path(str(table) + ".json").exists()
        messages[command] = _error_line(result, PROGS[command]).replace(str(errors_file), "ERRORS")
        errors[command] = errors_file.read_text()  # written even so: when a pipeline needs it most
    assert len(set(messages.values())) == 1 and messages["infer"].startswith("no results: all 2 records")
    assert len(set(errors.values())) == 1


@pytest.mark.parametrize("policy", ["keep", "label", "drop"])
def test_out_of_range_rows_identical(ruled_model, tmp_path, policy):
    fasta, labels = _write(tmp_path, _records())
    tables = {}
    for command in COMMANDS:
        result, table = _run(command, fasta, labels, ruled_model, tmp_path / command, "--out-of-range", policy)
        assert result.exit_code == 0, result.output
        assert "outside the model's training range" in result.stderr  # the run path's one warning
        tables[command] = table.read_text()
    assert tables["explain"] == tables["infer"] and tables["evaluate"] == tables["infer"]
    rows = [line.split("\t") for line in tables["infer"].splitlines()]
    header, body = rows[0], {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    short = {f"r{i}" for i, n in enumerate(LENGTHS) if n < 100}
    if policy == "drop":
        assert set(body) == {f"r{i}" for i in range(len(LENGTHS))} - short
    else:
        assert all(("too_short" in body[rid]["applicability"]) == (rid in short) for rid in body)
        assert all((body[rid]["labels"] == "NA") == (policy == "keep" and rid in short) for rid in body)
    explained = sorted(p.name for p in (tmp_path / "explain").iterdir() if p.is_dir())
    assert explained == sorted(body)  # explain explains exactly the records that kept their row
    assert header[0] == "id"


def test_out_of_range_error_same_as_bad_record(ruled_model, tmp_path):
    fasta, labels = _write(tmp_path, _records())
    messages, errors = {}, {}
    for command in COMMANDS:
        result, table = _run(command, fasta, labels, ruled_model, tmp_path / command, "--out-of-range", "error")
        assert result.exit_code == 1 and not table.exists(), result.output
        messages[command] = _error_line(result, PROGS[command])
        errors_file = tmp_path / f"{command}.errors.tsv"
        skipped, _ = _run(command, fasta, labels, ruled_model, tmp_path / f"{command}-skip", "--out-of-range", "error",
                          "--on-error", "skip", "--errors-file", str(errors_file))
        assert skipped.exit_code == 0, skipped.output
        errors[command] = errors_file.read_text()
    assert len(set(messages.values())) == 1 and "outside the model's training range (too_short" in messages["infer"]
    assert len(set(errors.values())) == 1 and errors["infer"].count("too_short") == sum(n < 100 for n in LENGTHS)


def test_sidecars_have_one_shape(tcn_model, tmp_path):
    from rnaloc_infer.modelfile.digest import file_sha256
    from rnaloc_infer.output.run import RunOptions

    fasta, labels = _write(tmp_path, _records())
    sidecars: Dict[str, dict] = {}
    for command in COMMANDS:
        result, table = _run(command, fasta, labels, tcn_model, tmp_path / command)
        assert result.exit_code == 0, result.output
        sidecars[command] = json.loads(Path(str(table) + ".json").read_text())
        assert sidecars[command]["output"]["sha256"] == file_sha256(table)  # the table beside it, not another
        assert sidecars[command]["tool"] == PROGS[command]
    infer = sidecars["infer"]
    option_keys = set(RunOptions(inputs=[]).record()) | {"fmt"}
    for command, sidecar in sidecars.items():
        assert set(sidecar) == set(infer), command
        for section in ("model", "output", "summary"):
            assert set(sidecar[section]) == set(infer[section]), (command, section)
        assert option_keys <= set(sidecar["options"]), command
        assert sidecar["summary"]["records"] == len(LENGTHS) and sidecar["model"]["sha256"] == infer["model"]["sha256"]
    assert sidecars["explain"]["options"]["max_length"] > 0 and sidecars["evaluate"]["options"]["thresholds_mode"] == "model"


def test_evaluation_failing_late_leaves_nothing(tcn_model, tmp_path, monkeypatch):
    """A failure after the records were scored (here: computing the figures) publishes no
    table, no sidecar, no errors file and removes the folder the run made."""
    import rnaloc_infer.evaluation.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("figures failed")

    monkeypatch.setattr(report, "compute_table", broken)
    fasta, labels = _write(tmp_path, _records(bad_at=1))
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    result, _ = _run("evaluate", fasta, labels, tcn_model, tmp_path / "deep" / "out", "--on-error", "skip",
                     "--errors-file", str(tmp_path / "deep" / "out" / "errors.tsv"))
    assert result.exit_code == 4 and "internal error: RuntimeError: figures failed" in result.stderr
    assert not _left_behind(tmp_path, before)


def test_threads_means_cores_in_every_command():
    """--threads has one meaning and one help text in every command that runs the model."""
    from rnaloc_infer.cli.common import THREADS_HELP
    from rnaloc_infer.cli.evaluate import evaluate
    from rnaloc_infer.cli.explain import main as explain
    from rnaloc_infer.cli.predict import main as infer
    from rnaloc_infer.cli.variants import main as variants

    for command in (infer, explain, evaluate, variants):
        option = next(p for p in command.params if "--threads" in p.opts)
        assert option.help.startswith(THREADS_HELP) and option.default is None, command.name
    assert "CPU cores to use" in THREADS_HELP and "every core" in THREADS_HELP
    for command in (infer, explain, evaluate):  # and the run path's options, the same too
        names = {p.name: p for p in command.params}
        for name in ("on_error", "errors_file", "out_of_range"):
            assert names[name].help == {p.name: p for p in infer.params}[name].help, (command.name, name)
            assert names[name].default == {p.name: p for p in infer.params}[name].default


def test_release_evaluation_goes_through_the_run_path_without_a_table(tcn_model, tmp_path):
    """`rnaloc-train release` evaluates the model card with no table (os.devnull): the run path's
    rule still applies (a bad record stops it), and only the card's files are written."""
    from rnaloc_infer.cli.evaluate import evaluation_options, run_evaluation
    from rnaloc_infer.errors import InputError

    fasta, labels = _write(tmp_path, _records())
    card = tmp_path / "card"
    table = run_evaluation(evaluation_options(str(tcn_model), fasta, precision="fp32"), labels, card, plots=False)
    assert table.macro is not None
    assert sorted(p.name for p in card.iterdir()) == ["metrics.tsv", "specificity.tsv"]
    bad, bad_labels = _write(tmp_path, _records(bad_at=0), name="bad.fa")
    with pytest.raises(InputError, match="record 'broken' \\(#1\\)"):
        run_evaluation(evaluation_options(str(tcn_model), bad, precision="fp32"), bad_labels, tmp_path / "card2",
                       plots=False)
    assert not (tmp_path / "card2").exists()
