"""Every file `rnaloc-train` and `rnaloc-export` write follows one rule (issues #31, #32):
an existing output is refused (one line, exit 2, before any work) unless --force, an input
never (the same-file check), and writing is atomic; a run stores the data directory it read,
so a later export finds the training data; a run without data says where it looked."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from rnaloc_infer.output.files import TEMP_MARK

REPO = Path(__file__).resolve().parent.parent
TINY = ('seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
        '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
        "[optim]\nepochs = {epochs}\nwarmup_steps = 2\npatience = 5\n")


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_training_never_imports_export():
    """The release step lives on the export side: training -> export would be a cycle
    (export imports training), lazy imports inside functions included."""
    offending = [(path.name, name) for path in sorted((REPO / "training").glob("*.py")) for name in _imports(path)
                 if "export" in name.split(".")]
    assert offending == []
    assert not (REPO / "training" / "release.py").exists() and (REPO / "export" / "release.py").is_file()


def test_data_dir_is_resolved_absolute_with_its_source(tmp_path, monkeypatch):
    from rnaloc_infer.errors import InputError
    from rnaloc_infer.training.data import DEFAULT_DATA_DIR, require_splits, resolve_data_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNALOC_DATA_DIR", "from_env")
    assert resolve_data_dir(None) == (tmp_path / "from_env", "$RNALOC_DATA_DIR")
    assert resolve_data_dir("given") == (tmp_path / "given", "--data-dir")
    monkeypatch.delenv("RNALOC_DATA_DIR")
    assert resolve_data_dir(None) == (DEFAULT_DATA_DIR, "the default ../shared/data")
    with pytest.raises(InputError) as info:
        require_splits(tmp_path / "given", "--data-dir", ("train",), "tiny")
    message = str(info.value)
    assert message.startswith(str(tmp_path / "given" / "tiny_train.fa.gz"))
    assert "from --data-dir" in message and "--data-dir DIR" in message and "RNALOC_DATA_DIR" in message
    assert "\n" not in message


# --------------------------------------------------------------- torch from here
torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from rnaloc_infer.cli.train import main  # noqa: E402


def _config(tmp_path: Path, epochs: int = 1) -> Path:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(epochs=epochs))
    return config


def _refused(result, path: Path) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "refusing to replace the existing" in lines[0] and str(path) in lines[0] and "--force" in lines[0]


def _no_temps(folder: Path) -> None:
    assert not list(folder.rglob(f"*{TEMP_MARK}*"))


@pytest.fixture
def inputs(tmp_path):
    """Files that stand in for a command's inputs: refusal comes before any of them is read."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    paths = {name: folder / name for name in ("a.pt", "b.pt", "lr.npz", "f.npz", "m.onnx")}
    for path in paths.values():
        path.write_bytes(b"stand-in")
    return paths


@pytest.mark.parametrize("command", ["kmers", "regression", "forest", "ensemble", "average", "quantize"])
def test_existing_output_is_refused_before_any_work(command, tiny_data, inputs, tmp_path):
    """One line, exit 2, the file untouched; the stand-in inputs would fail if anything were read."""
    out = tmp_path / "existing.out"
    data = ["--data-dir", str(tiny_data), "--prefix", "tiny"]
    args = {
        "kmers": ["kmers", "--fasta", str(tiny_data / "tiny_train.fa.gz"), "--out", str(out)],
        "regression": ["regression", *data, "--out", str(out)],
        "forest": ["forest", *data, "--out", str(out)],
        "ensemble": ["ensemble", str(inputs["a.pt"]), "--logreg", str(inputs["lr.npz"]), *data, "--out", str(out)],
        "average": ["average", str(inputs["a.pt"]), str(inputs["b.pt"]), *data, "--out", str(out)],
        "quantize": ["quantize", str(inputs["m.onnx"]), *data],
    }[command]
    if command == "quantize":
        out = inputs["m.onnx"].with_name("m.int8.onnx")
    out.write_bytes(b"keep me")
    result = CliRunner().invoke(main, args)
    _refused(result, out)
    assert out.read_bytes() == b"keep me"


def test_force_replaces_and_never_an_input(tiny_data, tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "lr.npz"
    out.write_bytes(b"old")
    args = ["regression", "--data-dir", str(tiny_data), "--prefix", "tiny", "--c", "1", "--out", str(out)]
    _refused(CliRunner().invoke(main, args), out)
    result = CliRunner().invoke(main, args + ["--force"])
    assert result.exit_code == 0, result.output
    from rnaloc_infer.training.regression import load_logreg

    assert load_logreg(out).C == 1.0
    _no_temps(tmp_path)
    labels = tiny_data / "tiny_train_labels.tsv"
    before = labels.read_bytes()
    result = CliRunner().invoke(main, args[:-1] + [str(labels), "--force"])  # --force never reaches an input
    assert result.exit_code == 2 and "same file as the train data" in result.output
    assert labels.read_bytes() == before


def test_fit_refuses_a_run_directory_resumes_it_and_force_starts_afresh(tiny_data, tmp_path):
    config = _config(tmp_path)
    run = tmp_path / "run"
    args = ["fit", str(config), "--out", str(run), "--data-dir", str(tiny_data), "--quiet"]
    runner = CliRunner()
    assert runner.invoke(main, args).exit_code == 0
    best = (run / "best.pt").read_bytes()
    result = runner.invoke(main, args)  # a fresh run into a directory holding one
    assert result.exit_code == 2 and "refusing to replace the existing run file" in result.output
    assert (run / "best.pt").read_bytes() == best
    result = runner.invoke(main, args + ["--resume", "--epochs", "2"])  # continuing is not replacing
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["epoch"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2]
    result = runner.invoke(main, args + ["--force"])
    assert result.exit_code == 0, result.output
    # a fresh run's log holds its own epochs only
    assert [json.loads(line)["epoch"] for line in (run / "log.jsonl").read_text().splitlines()] == [1]
    _no_temps(run)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    config = _config(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["fit", str(config), "--out", str(tmp_path / "run"), "--data-dir", str(empty)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.output.strip()
    assert "\n" not in line and str(empty / "tiny_train.fa.gz") in line and "from --data-dir" in line
    assert "RNALOC_DATA_DIR" in line and not (tmp_path / "run").exists()
    monkeypatch.setenv("RNALOC_DATA_DIR", str(empty))
    result = CliRunner().invoke(main, ["fit", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "from $RNALOC_DATA_DIR" in result.output
    result = CliRunner().invoke(main, ["regression", "--prefix", "tiny", "--out", str(tmp_path / "lr.npz")])
    assert result.exit_code == 1 and str(empty / "tiny_train.fa.gz") in result.output


def test_run_stores_the_data_dir_from_the_environment_and_export_uses_it(tiny_data, tmp_path, monkeypatch):
    """RNALOC_DATA_DIR (relative, even) is stored as the absolute directory the run read; a later
    export, elsewhere and without the variable, derives the applicability rules and prevalence there."""
    onnx = pytest.importorskip("onnx")
    from rnaloc_infer.cli.export import main as export_cli
    from rnaloc_infer.training.checkpoint import load_checkpoint

    config = _config(tmp_path)
    monkeypatch.chdir(tiny_data.parent)
    monkeypatch.setenv("RNALOC_DATA_DIR", tiny_data.name)
    result = CliRunner().invoke(main, ["fit", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["data_dir"]
    _, payload = load_checkpoint(tmp_path / "run" / "best.pt")
    assert stored == payload["extra"]["train_config"]["data"]["data_dir"] == str(tiny_data.resolve())

    monkeypatch.delenv("RNALOC_DATA_DIR")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(export_cli, [str(tmp_path / "run" / "best.pt"), "-o", "out", "--name", "m"])
    assert result.exit_code == 0, result.output
    assert "no applicability rules" not in result.output and "no training prevalence" not in result.output
    keys = {p.key for p in onnx.load(str(elsewhere / "out" / "m.onnx")).metadata_props}
    assert {"rnaloc.applicability", "rnaloc.prevalence"} <= keys
    # the same export again: refused in one line (the companion too), then replaced with --force
    again = CliRunner().invoke(export_cli, [str(tmp_path / "run" / "best.pt"), "-o", "out", "--name", "m"])
    assert again.exit_code == 2 and len(again.output.strip().splitlines()) == 1 and "--force" in again.output
    forced = CliRunner().invoke(export_cli, [str(tmp_path / "run" / "best.pt"), "-o", "out", "--name", "m", "--force"])
    assert forced.exit_code == 0, forced.output
    _no_temps(elsewhere)


def test_release_refuses_an_existing_release(tmp_path, inputs, tiny_data):
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "example.fa").write_text(">a\nACGT\n")
    shipped = root / "rnaloc_infer" / "models" / "tiny.onnx"
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(b"the shipped model")
    result = CliRunner().invoke(main, ["release", str(inputs["a.pt"]), "--name", "tiny", "--root", str(root),
                                       "--data-dir", str(tiny_data), "--prefix", "tiny", "--no-evaluate"])
    _refused(result, shipped)
    assert shipped.read_bytes() == b"the shipped model"
    assert not (root / "tests").exists() and not (root / "benchmarks").exists()


def _few_label_sets(folder: Path, split: str, n: int) -> None:
    """Records with three label sets only: cross-fitting's stratified splits need strata of several records."""
    import gzip

    import numpy as np

    from rnaloc_infer.training.models import CLASSES

    sets = ([1, 1, 0, 1, 0, 0], [0, 1, 1, 0, 1, 0], [1, 0, 1, 0, 0, 1])
    rng = np.random.default_rng(len(split))
    rows = ["id\tgene_id\tgene_name\t" + "\t".join(CLASSES)]
    with gzip.open(folder / f"tiny_{split}.fa.gz", "wt") as handle:
        for i in range(n):
            handle.write(f">{split}{i}\n{''.join(rng.choice(list('ACGT'), size=int(rng.integers(20, 80))))}\n")
            rows.append(f"{split}{i}\t{i}\tG{i}\t" + "\t".join(map(str, sets[i % 3])))
    (folder / f"tiny_{split}_labels.tsv").write_text("\n".join(rows) + "\n")


def test_crossfit_stores_the_data_dir_and_continues_its_directory(tmp_path, monkeypatch):
    """Cross-fitting continues its own directory (no --force needed), records the absolute data
    directory it read, and writes its files through the one codec (no temporary left)."""
    pytest.importorskip("sklearn")
    from rnaloc_infer.training.crossfit import OOF_FILE, gather_oof, read_labelled, read_oof

    tiny_data = tmp_path / "data"
    tiny_data.mkdir()
    _few_label_sets(tiny_data, "train", 36)
    _few_label_sets(tiny_data, "valid", 12)
    config = _config(tmp_path)
    monkeypatch.setenv("RNALOC_DATA_DIR", str(tiny_data))
    out = tmp_path / "cf"
    args = ["crossfit", str(config), "--out", str(out), "--folds", "2", "--device", "cpu"]
    result = CliRunner().invoke(main, args + ["--fold", "0"])
    assert result.exit_code == 0, result.output
    fold0 = out / "tiny" / "fold0"
    stored = json.loads((fold0 / "config.json").read_text())["data"]["data_dir"]
    assert stored == str(tiny_data.resolve())
    assert json.loads((out / "tiny" / "source.json").read_text())["data_dir"] == str(tiny_data.resolve())
    before = (fold0 / OOF_FILE).read_bytes()
    result = CliRunner().invoke(main, args)  # continues: fold 0 is done, fold 1 runs
    assert result.exit_code == 0, result.output
    assert (fold0 / OOF_FILE).read_bytes() == before
    classes = json.loads((fold0 / "config.json").read_text())["model"]["classes"]
    data = read_labelled(tiny_data, classes, "tiny")
    assert read_oof(fold0 / OOF_FILE)["logits"].shape[1] == len(classes)
    assert gather_oof(out / "tiny", data.ids, 2).shape == (len(data.ids), 6)
    _no_temps(out)
