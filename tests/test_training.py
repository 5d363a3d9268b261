"""Data pipeline, loss, checkpoints and an end-to-end ``rnaloc-train fit`` on a tiny generated dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner

from rnaloc_infer.cli.train import main
from rnaloc_infer.training.checkpoint import load_checkpoint, save_checkpoint
from rnaloc_infer.training.data import (
    read_split,
    token_budget_batches,
    truncate_keep_ends,
)
from rnaloc_infer.modelfile.digest import files_sha256
from rnaloc_infer.training.losses import FocalBCELoss, make_loss, positive_weights
from rnaloc_infer.training.models import CLASSES, LocalizationModel, ModelConfig

torch.set_num_threads(2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batches_respect_budget_and_cover_every_record_once(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 3000, size=500)
    lengths[:3] = 9000  # longer than the budget: must still appear, alone
    budget = 8000
    batches = token_budget_batches(lengths, budget, np.random.default_rng(seed), pool_size=128)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    for batch in batches:
        cost = int(lengths[batch].max()) * len(batch)
        assert cost <= budget or len(batch) == 1
    eval_batches = token_budget_batches(lengths, budget, rng=None)
    assert sorted(np.concatenate(eval_batches).tolist()) == list(range(len(lengths)))


def test_batches_change_between_epochs_but_are_seeded():
    lengths = np.random.default_rng(0).integers(1, 500, size=300)
    first = token_budget_batches(lengths, 2000, np.random.default_rng(1), pool_size=64)
    again = token_budget_batches(lengths, 2000, np.random.default_rng(1), pool_size=64)
    other = token_budget_batches(lengths, 2000, np.random.default_rng(2), pool_size=64)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(first, other))


def test_truncation_keeps_both_ends():
    codes = np.arange(100, dtype=np.uint8)
    cut = truncate_keep_ends(codes, 11)
    assert len(cut) == 11
    np.testing.assert_array_equal(cut[:6], codes[:6])
    np.testing.assert_array_equal(cut[6:], codes[-5:])
    assert truncate_keep_ends(codes, 100) is codes
    assert truncate_keep_ends(codes, None) is codes


def test_positive_weights_are_neg_over_pos_and_clipped():
    labels = np.zeros((100, 3))
    labels[:20, 0] = 1  # 80/20 = 4
    labels[:1, 1] = 1  # 99 -> clipped to 20
    labels[:, 2] = 1  # 0 -> clipped to 0.5
    np.testing.assert_allclose(positive_weights(labels), [4.0, 20.0, 0.5])


def test_focal_with_gamma_zero_is_weighted_bce():
    logits, targets = torch.randn(8, 6), (torch.rand(8, 6) < 0.3).float()
    pw = torch.rand(6) + 0.5
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw)
    torch.testing.assert_close(FocalBCELoss(0.0, pw)(logits, targets), expected)
    assert FocalBCELoss(2.0, pw)(logits, targets) < expected


@pytest.mark.parametrize("kind", ["qrnn", "tcn", "lstm"])
def test_loss_falls_when_overfitting(kind):
    torch.manual_seed(0)
    model = LocalizationModel(ModelConfig(kind=kind, hidden=16, layers=2, stride=4, dropout=0.0))
    tokens = torch.randint(0, 5, (6, 48), dtype=torch.uint8)
    lengths = torch.tensor([48, 40, 33, 20, 48, 12])
    labels = (torch.rand(6, len(CLASSES)) < 0.4).float()
    loss_fn = make_loss("bce")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):
        loss = loss_fn(model.predict_logits(tokens, lengths), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4)).eval()
    opt = torch.optim.AdamW(model.parameters())
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, thresholds=[0.1] * 6, train_data_sha256="abc", metrics={"macro_auroc": 0.7},
                    epoch=3, optimizer=opt, extra={"torch_rng": torch.get_rng_state(), "step": 5})
    loaded, payload = load_checkpoint(path)
    tokens = torch.randint(0, 5, (2, 30), dtype=torch.uint8)
    lengths = torch.tensor([30, 17])
    torch.testing.assert_close(loaded.predict_logits(tokens, lengths), model.predict_logits(tokens, lengths))
    assert payload["thresholds"] == [pytest.approx(0.1)] * 6
    assert payload["train_data_sha256"] == "abc" and payload["epoch"] == 3
    assert payload["extra"]["step"] == 5


def test_read_split_and_digest(tiny_data):
    data = read_split(tiny_data / "tiny_train.fa.gz", tiny_data / "tiny_train_labels.tsv", CLASSES)
    assert len(data) == 24 and data.labels.shape == (24, 6) and data.ids[0] == "train0"
    assert data.codes[0].dtype == np.uint8
    digest = files_sha256([tiny_data / "tiny_train.fa.gz"])
    assert len(digest) == 64 and digest != files_sha256([tiny_data / "tiny_valid.fa.gz"])


def test_fit_cli_end_to_end_and_resume(tiny_data, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(
        'seed = 3\n[model]\nkind = "qrnn"\nhidden = 8\nlayers = 1\nstride = 4\n'
        '[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
        "[optim]\nepochs = 1\nwarmup_steps = 2\npatience = 5\n"
    )
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["fit", str(config), "--out", str(out), "--data-dir", str(tiny_data), "--quiet"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    _, best = load_checkpoint(out / "best.pt")
    assert len(best["thresholds"]) == 6 and len(best["train_data_sha256"]) == 64
    assert best["train_data_sha256"] == files_sha256([tiny_data / "tiny_train.fa.gz", tiny_data / "tiny_train_labels.tsv"])

    result = runner.invoke(main, args + ["--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2]
    assert {"train_loss", "macro_auroc", "auroc", "auprc", "epoch_seconds", "train_nt_per_s"} <= set(log[0])
    _, last = load_checkpoint(out / "last.pt")
    assert last["epoch"] == 2 and "optimizer" in last


def test_head_features_come_from_whole_records(tiny_trainer, monkeypatch):
    """A network that reads the coding features in its head trains on features of the whole
    records (not of the truncated training windows), scaled with train statistics."""
    from rnaloc_infer.features.coding import coding_feature_matrix

    trainer = tiny_trainer(model='head_features = "coding-v1"\n')
    whole = coding_feature_matrix(trainer.train_set.codes)
    np.testing.assert_allclose(trainer.model.feature_mean.numpy(), whole.mean(axis=0), rtol=1e-5, atol=1e-6)
    seen = []
    original = LocalizationModel.predict_logits

    def spy(self, tokens, lengths, features=None):
        seen.append(features)
        return original(self, tokens, lengths, features)

    monkeypatch.setattr(LocalizationModel, "predict_logits", spy)
    trainer.train_epoch()
    assert seen and all(f is not None and f.shape[1] == whole.shape[1] for f in seen)
    for batch in seen:  # every row is the feature row of a whole record
        distance = np.abs(whole[None, :, :] - batch.numpy()[:, None, :]).max(axis=2).min(axis=1)
        assert (distance < 1e-6).all()
    assert max(trainer.train_set.lengths) > 64  # the windows were truncated, the features were not
    fit = trainer.fit()
    model, _ = load_checkpoint(fit.out_dir / "best.pt")
    assert model.config.head_features == "coding-v1" and torch.equal(model.feature_mean, trainer.model.feature_mean)


def test_config_json_of_older_versions_still_trains(tmp_path):
    """config.json written before the ensemble moved out of ModelConfig carries its empty fields:
    accepted; a non-empty one names the command that builds ensembles; typos stay errors."""
    from rnaloc_infer.training.config import load_config

    old = {"model": {"kind": "lstm", "hidden": 8, "linear_ks": [], "members": [], "features": ""}, "seed": 2}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert load_config(path).model.hidden == 8
    path.write_text(json.dumps({"model": {"kind": "lstm", "linear_ks": [1]}}))
    with pytest.raises(ValueError, match="rnaloc-train ensemble"):
        load_config(path)
    path.write_text(json.dumps({"model": {"kind": "lstm", "hiden": 8}}))
    with pytest.raises(ValueError, match="hiden"):
        load_config(path)
