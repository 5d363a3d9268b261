"""The cached optimised graph: made on first load, used on the next, same probabilities;
a cache that cannot be written or is damaged changes nothing but the load time."""

from __future__ import annotations

import numpy as np

from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.session import CACHE_ENV, ModelSession, optimized_graph_path


def _probs(model) -> np.ndarray:
    rng = np.random.default_rng(2)
    tokens, lengths = pad_batch([rng.integers(0, 5, n).astype(np.uint8) for n in (40, 90, 7)])
    return ModelSession(model, device="cpu").run(tokens, lengths)[0]


def test_first_load_writes_the_cache_and_the_second_reads_it(any_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert optimized_graph_path(any_model) is None
    plain = _probs(any_model)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cached = optimized_graph_path(any_model)
    assert cached is not None and not cached.exists()
    first = _probs(any_model)
    assert cached.is_file() and not list(cached.parent.glob("*.tmp"))
    stamp = cached.stat().st_mtime_ns
    second = _probs(any_model)
    assert cached.stat().st_mtime_ns == stamp  # read, not rewritten
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)


def test_unwritable_or_damaged_cache_falls_back(tcn_model, tmp_path, monkeypatch):
    plain = _probs(tcn_model)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    np.testing.assert_array_equal(_probs(tcn_model), plain)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cached = optimized_graph_path(tcn_model)
    cached.parent.mkdir()
    cached.write_bytes(b"garbage")
    np.testing.assert_array_equal(_probs(tcn_model), plain)
    assert cached.stat().st_size > 100  # rebuilt
