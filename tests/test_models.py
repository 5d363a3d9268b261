"""Model-level contracts: fo-pooling correctness, causality, batching and chunking invariance."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rnaloc_infer.training.fo_pooling import fo_pool, fo_pool_loop, fo_pool_reference
from rnaloc_infer.training.models import MODEL_KINDS, LocalizationModel, ModelConfig

torch.set_num_threads(2)


def _gates(b: int, h: int, t: int, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(b, h, t, generator=g, dtype=dtype)
    x = torch.randn(b, h, t, generator=g, dtype=dtype)
    c0 = torch.randn(b, h, generator=g, dtype=dtype)
    return f, x, c0


@pytest.mark.parametrize("t", [1, 2, 17])
def test_fo_pool_matches_reference(t):
    f, x, c0 = _gates(3, 5, t, seed=t)
    expected = fo_pool_reference(f, x, c0)
    torch.testing.assert_close(fo_pool(f, x, c0), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fo_pool_loop(f, x, c0), expected, rtol=1e-12, atol=1e-12)


def test_fo_pool_holds_state_through_padding():
    """Padded steps have f = 1 and x = 0, so the last output equals the state at the last real step."""
    f, x, c0 = _gates(2, 4, 10, seed=3)
    f[1, :, 6:] = 1.0
    x[1, :, 6:] = 0.0
    out = fo_pool(f, x, c0)
    torch.testing.assert_close(out[1, :, -1], fo_pool_reference(f[1:, :, :6], x[1:, :, :6], c0[1:])[0, :, -1])


def test_fo_pool_gradients_match_reference():
    f, x, c0 = _gates(2, 3, 6, seed=5)
    for tensor in (f, x, c0):
        tensor.requires_grad_(True)
    weight = torch.randn(2, 3, 6, dtype=torch.float64)
    grads_fast = torch.autograd.grad((fo_pool(f, x, c0) * weight).sum(), (f, x, c0))
    grads_ref = torch.autograd.grad((fo_pool_reference(f, x, c0) * weight).sum(), (f, x, c0))
    for fast, ref in zip(grads_fast, grads_ref):
        torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_fo_pool_gradcheck():
    f, x, c0 = _gates(2, 3, 5, seed=7)
    f = f.clamp(0.05, 0.95)
    assert torch.autograd.gradcheck(fo_pool, (f.requires_grad_(), x.requires_grad_(), c0.requires_grad_()))


def _model(kind: str, seed: int = 0, front_kernel: int = 0, encoder: str = "onehot") -> LocalizationModel:
    torch.manual_seed(seed)
    layers = 3 if kind == "tcn" else 2
    config = ModelConfig(kind=kind, hidden=8, layers=layers, stride=4, dropout=0.0, front_kernel=front_kernel,
                         **ENCODER_OPTIONS[encoder])
    return LocalizationModel(config).eval()


# 0: patch front end; 5: motif convolution (carries 4 nt of context across chunks).
FRONT_KERNELS = pytest.mark.parametrize("front_kernel", [0, 5])
# one-hot; k-mer embedding (carries k-1 codes); k-mer embedding + k-mer bag (a second context
# and an accumulator state). k = 5 > stride 4, so the k-mer context crosses a whole patch.
ENCODER_OPTIONS = {
    "onehot": {},
    "kmer": {"kmer_k": 5, "kmer_dim": 6},
    "kmer_bag": {"kmer_k": 3, "kmer_dim": 4, "bag_k": 5, "bag_dim": 3},
}
ENCODERS = pytest.mark.parametrize("encoder", list(ENCODER_OPTIONS))


def _tokens(length: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 5, (1, length), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _body_output(model: LocalizationModel, tokens: torch.Tensor) -> torch.Tensor:
    """Per-step body output before pooling (the part whose causality matters for streaming)."""
    captured = {}

    def grab(module, args):
        captured["h"] = args[0]

    handle = model.pool.register_forward_pre_hook(grab)
    model.predict_logits(tokens, torch.tensor([tokens.size(1)]))
    handle.remove()
    return captured["h"]


@ENCODERS
@FRONT_KERNELS
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_causality(kind, front_kernel, encoder):
    """Changing inputs after step t must not change body outputs up to t (whole patches)."""
    model = _model(kind, front_kernel=front_kernel, encoder=encoder)
    tokens = _tokens(64, seed=1)
    changed = tokens.clone()
    changed[0, 40:] = (changed[0, 40:] + 1) % 5
    with torch.no_grad():
        before, after = _body_output(model, tokens), _body_output(model, changed)
    step = 40 // model.stride  # first patch touched by the change
    torch.testing.assert_close(before[:, :, :step], after[:, :, :step], rtol=0, atol=0)
    assert not torch.allclose(before[:, :, step:], after[:, :, step:])


@ENCODERS
@FRONT_KERNELS
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_batching_invariance(kind, front_kernel, encoder):
    """A record alone equals the same record inside a right-padded batch."""
    model = _model(kind, front_kernel=front_kernel, encoder=encoder)
    lengths = [37, 64, 5, 1]
    records = [_tokens(n, seed=i)[0] for i, n in enumerate(lengths)]
    batch = torch.full((len(records), max(lengths)), 5, dtype=torch.uint8)
    for i, rec in enumerate(records):
        batch[i, : len(rec)] = rec
    with torch.no_grad():
        together = model.predict_logits(batch, torch.tensor(lengths))
        for i, rec in enumerate(records):
            alone = model.predict_logits(rec[None], torch.tensor([len(rec)]))
            torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-5, atol=1e-5)


@ENCODERS
@FRONT_KERNELS
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_chunked_equals_one_shot(kind, front_kernel, encoder):
    model = _model(kind, front_kernel=front_kernel, encoder=encoder)
    tokens = _tokens(75, seed=9)  # ragged last chunk
    with torch.no_grad():
        one_shot = model.predict_logits(tokens, torch.tensor([75]))
        states = model.zero_states(1)
        for start in range(0, 75, 16):  # chunk lengths are multiples of stride 4
            chunk = tokens[:, start : start + 16]
            logits, states = model(chunk, torch.tensor([chunk.size(1)]), states)
    torch.testing.assert_close(logits, one_shot, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_empty_record_gives_finite_logits(kind):
    model = _model(kind)
    logits = model.predict_logits(torch.full((2, 8), 5, dtype=torch.uint8), torch.tensor([8, 0]))
    assert torch.isfinite(logits).all()
