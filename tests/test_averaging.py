"""`snapshots = true` keeps every epoch; `rnaloc-train average` turns some into one network."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner

from rnaloc_infer.cli.train import main
from rnaloc_infer.training.averaging import average_weights
from rnaloc_infer.training.checkpoint import load_checkpoint
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

TINY = ('seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
        '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
        "[optim]\nepochs = 2\nwarmup_steps = 2\npatience = 5\nsnapshots = true\n")


def test_snapshots_then_average(tiny_data, tmp_path):
    runner = CliRunner()
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    run = tmp_path / "run"
    result = runner.invoke(main, ["fit", str(config), "--out", str(run), "--data-dir", str(tiny_data), "--quiet"])
    assert result.exit_code == 0, result.output
    snapshots = [run / "epoch_001.pt", run / "epoch_002.pt"]
    assert all(p.is_file() for p in snapshots)
    out = tmp_path / "avg.pt"
    result = runner.invoke(main, ["average", *map(str, snapshots), "--data-dir", str(tiny_data), "--prefix", "tiny",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    averaged, payload = load_checkpoint(out)
    first, second = (load_checkpoint(p)[0].state_dict() for p in snapshots)
    for key, value in averaged.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (first[key] + second[key]) / 2)
    assert payload["epoch"] == 2 and len(payload["thresholds"]) == 6
    assert summary["macro_auroc"] == pytest.approx(payload["metrics"]["macro_auroc"], abs=1e-4)


def test_average_refuses_different_architectures():
    with pytest.raises(ValueError, match="one architecture"):
        average_weights([LocalizationModel(ModelConfig(hidden=8)), LocalizationModel(ModelConfig(hidden=16))])
