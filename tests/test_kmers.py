"""k-mer index, word2vec vectors artefact, and training with a k-mer encoder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner

from rnaloc_infer.alphabet import PAD_CODE, encode
from rnaloc_infer.cli.train import main
from rnaloc_infer.training.checkpoint import load_checkpoint
from rnaloc_infer.training.kmer_vectors import KmerVectors, embedding_init, kmer_words, sentence_lines
from rnaloc_infer.training.kmers import kmer_index, vocabulary_size
from rnaloc_infer.training.trainer import selection_score


def _codes(text: str) -> torch.Tensor:
    return torch.from_numpy(encode(text)).unsqueeze(0)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_index_names_the_kmer_ending_at_each_position(k):
    text = "ACGTTGCANNACGTAC"
    words = kmer_words(k)
    index, _ = kmer_index(_codes(text), torch.zeros(1, k - 1), k)
    padded = "N" * (k - 1) + text  # the zero start state reads as N
    assert [words[i] for i in index[0].tolist()] == [padded[t : t + k] for t in range(len(text))]


def test_index_context_carries_across_calls_and_padding_counts_as_n():
    k = 4
    tokens = _codes("GATTACAGATTACA")
    whole, _ = kmer_index(tokens, torch.zeros(1, k - 1), k)
    first, context = kmer_index(tokens[:, :5], torch.zeros(1, k - 1), k)
    second, _ = kmer_index(tokens[:, 5:], context, k)
    assert torch.equal(torch.cat([first, second], dim=1), whole)
    padded = torch.cat([tokens, torch.full((1, 2), PAD_CODE, dtype=torch.uint8)], dim=1)
    index, _ = kmer_index(padded, torch.zeros(1, k - 1), k)
    assert kmer_words(k)[int(index[0, -1])] == "CANN"


def test_sentences_split_at_n_and_at_the_word_limit(monkeypatch):
    words = kmer_words(3)
    lines = list(sentence_lines(encode("ACGTNACGTA"), 3, words))
    assert lines == ["ACG CGT", "ACG CGT GTA"]
    monkeypatch.setattr("rnaloc_infer.training.kmer_vectors.MAX_SENTENCE", 2)
    assert list(sentence_lines(encode("ACGTA"), 3, words)) == ["ACG CGT", "GTA"]
    assert list(sentence_lines(encode("AC"), 3, words)) == []


def test_vectors_round_trip_and_reject_foreign_files(tmp_path):
    rng = np.random.default_rng(0)
    table = KmerVectors(3, rng.normal(size=(125, 4)).astype(np.float32), rng.random(125) < 0.5, {"dim": 4})
    loaded = KmerVectors.load(table.save(tmp_path / "v.npz"))
    assert loaded.k == 3 and loaded.dim == 4 and loaded.info["dim"] == 4
    np.testing.assert_array_equal(loaded.vectors, table.vectors)
    np.testing.assert_array_equal(loaded.present, table.present)
    init = embedding_init(loaded)
    assert math.isclose(float(np.sqrt(np.mean(init[loaded.present] ** 2))), 1.0, rel_tol=1e-5)

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, vectors=np.array([object()], dtype=object), present=np.zeros(1), header=np.array("{}"))
    with pytest.raises(ValueError, match="not a k-mer vectors file"):
        KmerVectors.load(pickled)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, vectors=np.zeros((125, 4)), present=np.zeros(125), header=np.array('{"format": "x"}'))
    with pytest.raises(ValueError, match="expected rnaloc-kmer-vectors"):
        KmerVectors.load(foreign)
    wrong = KmerVectors(3, np.zeros((64, 4), np.float32), np.zeros(64, bool))
    with pytest.raises(ValueError, match="does not match k = 3"):
        KmerVectors.load(wrong.save(tmp_path / "wrong.npz"))


def test_selection_score_leaves_out_named_classes():
    result = {"classes": ["A", "B", "C"], "auroc": [0.9, 0.5, float("nan")]}
    assert selection_score(result) == pytest.approx(0.7)
    assert selection_score(result, ["B"]) == pytest.approx(0.9)
    assert math.isnan(selection_score(result, ["A", "B"]))


def test_kmers_cli_then_fit_with_frozen_word2vec_encoder(tiny_data, tmp_path):
    pytest.importorskip("gensim")
    runner = CliRunner()
    vectors = tmp_path / "k3.npz"
    fasta = tiny_data / "tiny_train.fa.gz"
    result = runner.invoke(main, ["kmers", "--k", "3", "--dim", "4", "--epochs", "1", "--workers", "1",
                                  "--fasta", str(fasta), "--out", str(vectors)])
    assert result.exit_code == 0, result.output
    table = KmerVectors.load(vectors)
    words = kmer_words(3)
    has_n = np.array(["N" in w for w in words])
    assert table.vectors.shape == (vocabulary_size(3), 4)
    assert not table.present[has_n].any() and (table.vectors[has_n] == 0).all()
    assert 50 <= table.present.sum() <= 64 and (np.abs(table.vectors[table.present]).sum(axis=1) > 0).all()
    assert json.loads(result.output.strip().splitlines()[-1])["present"] == int(table.present.sum())

    config = tmp_path / "kmer.toml"
    model = '[model]\nkind = "lstm"\nhidden = 8\nlayers = 1\nstride = 4\nkmer_k = 3\nkmer_trainable = false\n'
    rest = ('[data]\nprefix = "tiny"\nmax_len = 64\ntoken_budget = 512\neval_token_budget = 1024\n'
            "[optim]\nepochs = 1\nwarmup_steps = 2\nselect_exclude = [\"Exosome\"]\n")
    config.write_text(f'kmer_vectors = "{vectors}"\n' + model + "kmer_dim = 5\n" + rest)
    args = ["fit", str(config), "--out", str(tmp_path / "run"), "--data-dir", str(tiny_data), "--quiet"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "dim = 4, but the model has kmer_k = 3, kmer_dim = 5" in result.output
    assert "Traceback" not in result.output

    config.write_text(f'kmer_vectors = "{vectors}"\n' + model + "kmer_dim = 4\n" + rest)
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    trained, _ = load_checkpoint(tmp_path / "run" / "best.pt")
    frozen = trained.kmer.table.weight.detach().numpy()
    np.testing.assert_allclose(frozen, embedding_init(table), rtol=1e-6)  # loaded, then never updated
    log = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert log["selection_score"] == pytest.approx(np.nanmean([v for c, v in log["auroc"].items() if c != "Exosome"]))


def test_runtime_scores_a_kmer_model_like_eager_pytorch(tmp_path):
    """The torch-free runtime needs nothing new: tables are Gathers, contexts are states."""
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.export.onnx_export import export_onnx
    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4, front_kernel=3, kmer_k=4, kmer_dim=5,
                         bag_k=3, bag_dim=3)
    model = LocalizationModel(config).eval()
    path = export_onnx(model, tmp_path / "kmer.onnx", thresholds=[0.5] * 6, train_data_sha256="x")
    sequences = ["ACGTNACGGT" * 30, "UUAGC", "G" * 70_001]  # the last one runs as chunks
    probs = Predictor(path, device="cpu").predict(sequences)
    for row, text in zip(probs, sequences):
        tokens = _codes(text)
        with torch.no_grad():
            expected = torch.sigmoid(model.predict_logits(tokens, torch.tensor([tokens.size(1)])))[0].numpy()
        np.testing.assert_allclose(row, expected, atol=1e-5)


def test_regression_counts_equal_a_table_row_per_position_and_carry_across_chunks():
    """KmerRegression scores every k from one scatter of the longest k-mer's counts; the oracle
    sums each k's own table row at every valid position (the form shipped files used before)."""
    from rnaloc_infer.training.ensemble_model import KmerRegression

    ks, classes = [1, 2, 4], 3
    regression = KmerRegression(ks, classes, "")
    generator = torch.Generator().manual_seed(0)
    for member in regression.kmers:
        member.table.copy_(torch.rand(member.table.shape, generator=generator, dtype=torch.float64) - 0.5)
        member.table[:, -1] = 1.0
    tokens = torch.randint(0, 5, (3, 40), generator=generator).to(torch.uint8)  # N included
    lengths = torch.tensor([40, 17, 1])
    tokens[1, 17:] = PAD_CODE
    tokens[2, 1:] = PAD_CODE
    states = [torch.zeros(3, s[0]) for s in regression.state_shapes()]

    score, _ = regression(tokens, lengths, states)

    valid = torch.arange(40).unsqueeze(0) < lengths.unsqueeze(1)
    expected = torch.zeros(3, classes, dtype=torch.float64)
    for k, member in zip(ks, regression.kmers):
        index, _ = kmer_index(tokens, torch.zeros(3, max(k - 1, 1)), k)
        rows = (member.table[index] * valid.unsqueeze(2)).sum(dim=1)
        expected += rows[:, :classes] / rows[:, classes:].clamp(min=1.0)
    assert torch.allclose(score.double(), expected, atol=1e-6)
    assert not torch.allclose(score[0], score[1])  # the records differ, so the test can tell them apart

    first, carried = regression(tokens[:, :23], torch.clamp(lengths, max=23), states)
    second, _ = regression(tokens[:, 23:], torch.clamp(lengths - 23, min=0), carried)
    assert torch.allclose(second, score, atol=1e-6)
