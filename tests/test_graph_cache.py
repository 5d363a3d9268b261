"""The cached optimised graph (rnaloc_infer.graph_cache): made on first load, used on the next,
same probabilities; verified before use, written only for models that passed validation,
bounded, private; a cache that cannot be written or fails a check changes nothing but the
load time."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat

import numpy as np
import pytest

from conftest import _fixture_model, rewrite_model
from rnaloc_infer import graph_cache
from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.errors import ModelError
from rnaloc_infer.session import CACHE_ENV, ModelSession, optimized_graph_path


def _probs(model, **options) -> np.ndarray:
    rng = np.random.default_rng(2)
    tokens, lengths = pad_batch([rng.integers(0, 5, n).astype(np.uint8) for n in (40, 90, 7)])
    return ModelSession(model, device="cpu", **options).run(tokens, lengths)[0]


def _record(cached):
    return json.loads(cached.with_name(cached.name + ".json").read_text())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def test_first_load_writes_the_cache_and_the_second_reads_it(any_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert optimized_graph_path(any_model) is None
    plain = _probs(any_model)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cached = optimized_graph_path(any_model)
    assert cached is not None and not cached.exists()
    first = _probs(any_model)
    assert cached.is_file() and [p.name for p in cached.parent.iterdir()] != []
    assert not [p for p in cached.parent.iterdir() if "tmp" in p.name]
    record = _record(cached)
    assert record["bytes"] == cached.stat().st_size and len(record["sha256"]) == 64
    inode = cached.stat().st_ino
    second = _probs(any_model)
    assert cached.stat().st_ino == inode and _record(cached) == record  # read, not rewritten
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
    assert cached.stat().st_size > 100 and _record(cached)["bytes"] == cached.stat().st_size  # rebuilt


@pytest.mark.parametrize("with_record", [False, True])
def test_a_replaced_cache_file_is_not_run(tcn_model, model_dir, cache, caplog, with_record):
    """Issue 32: another model's optimised graph put in this model's place (alone, or with its
    record) is detected and rebuilt; the run scores with the model it names."""
    other = _fixture_model("qrnn", model_dir)
    plain, other_plain = _probs(tcn_model), _probs(other)
    assert not np.allclose(plain, other_plain)
    mine, theirs = optimized_graph_path(tcn_model), optimized_graph_path(other)
    shutil.copyfile(theirs, mine)
    if with_record:
        shutil.copyfile(theirs.with_name(theirs.name + ".json"), mine.with_name(mine.name + ".json"))
    with caplog.at_level(logging.WARNING, logger="rnaloc_infer.graph_cache"):
        np.testing.assert_array_equal(_probs(tcn_model), plain)
    assert f"cached graph {mine}" in caplog.text and "rebuilding it" in caplog.text
    assert mine.read_bytes() != theirs.read_bytes() and _record(mine)["sha256"] != _record(theirs)["sha256"]
    caplog.clear()
    np.testing.assert_array_equal(_probs(tcn_model), plain)  # the rebuilt entry checks out
    assert "rebuilding" not in caplog.text


def test_a_record_for_another_runtime_is_rebuilt(tcn_model, cache, caplog):
    plain = _probs(tcn_model)
    cached = optimized_graph_path(tcn_model)
    record = _record(cached)
    cached.with_name(cached.name + ".json").write_text(json.dumps({**record, "runtime": "onnxruntime 0.0"}))
    with caplog.at_level(logging.WARNING, logger="rnaloc_infer.graph_cache"):
        np.testing.assert_array_equal(_probs(tcn_model), plain)
    assert "another runtime" in caplog.text and _record(cached) == record


def test_a_rejected_model_leaves_no_cache_entry(tcn_model, tmp_path, cache):
    bad = rewrite_model(tcn_model, tmp_path / "bad.onnx", set_props={"rnaloc.classes": '["A", "B"]', "rnaloc.thresholds": "[0.5, 0.5]"})
    with pytest.raises(ModelError, match="classes"):
        ModelSession(bad, device="cpu")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_stale_twins_graph_is_not_cached(tcn_model, tmp_path, cache, caplog):
    model = shutil.copyfile(tcn_model, tmp_path / "m.onnx")
    shutil.copyfile(tcn_model, tmp_path / "m.int8.onnx")  # records no fp32 sha256: not m's twin
    with caplog.at_level(logging.INFO):
        session = ModelSession(model, device="cpu")
    assert session.info.path.name == "m.onnx" and "stale twin" in caplog.text
    assert sorted(p.name.split(".")[0:2] == ["m", "int8"] for p in graph_cache.iter_entries(cache)) == [False]


def test_the_cache_keeps_the_most_recent_entries(tcn_model, model_dir, cache, monkeypatch):
    monkeypatch.setattr(graph_cache, "MAX_ENTRIES", 2)
    models = [_fixture_model(kind, model_dir) for kind in ("tcn", "qrnn", "lstm")]
    for model in models:
        _probs(model)
    kept = {p.name for p in graph_cache.iter_entries(cache)}
    assert kept == {optimized_graph_path(m).name for m in models[1:]}
    assert {p.name for p in cache.iterdir()} == kept | {name + ".json" for name in kept}
    _probs(models[1])  # used again: now the most recent, so the next write evicts lstm's
    _probs(models[0])
    assert {p.name for p in graph_cache.iter_entries(cache)} == {optimized_graph_path(m).name for m in models[:2]}


def test_evict_respects_the_byte_cap(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for i, size in enumerate((300, 300, 300)):
        graph = folder / f"m{i}.k{SUFFIX}"
        graph.write_bytes(b"x" * size)
        graph.with_name(graph.name + ".json").write_text("{}")
        os.utime(graph, ns=(i * 10**9, i * 10**9))
    (folder / f"gone.k{SUFFIX}.json").write_text("{}")  # a record without its graph
    removed = graph_cache.evict(folder, max_entries=10, max_bytes=700)
    assert [p.name for p in removed] == [f"m0.k{SUFFIX}"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"m{i}.k{SUFFIX}{e}" for i in (1, 2) for e in ("", ".json"))


SUFFIX = graph_cache.SUFFIX


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_the_cache_is_private(tcn_model, cache):
    cache.mkdir(mode=0o755)
    os.chmod(cache, 0o755)
    _probs(tcn_model)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert len(files) == 2 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_another_users_cache_folder_is_not_used(tcn_model, cache, monkeypatch, caplog):
    plain = _probs(tcn_model)
    before = sorted(p.name for p in cache.iterdir())
    for p in cache.iterdir():
        p.write_bytes(b"planted")
    monkeypatch.setattr(graph_cache.os, "getuid", lambda: os.stat(cache).st_uid + 1)
    with caplog.at_level(logging.WARNING, logger="rnaloc_infer.graph_cache"):
        np.testing.assert_array_equal(_probs(tcn_model), plain)
    assert "belongs to another user" in caplog.text
    assert sorted(p.name for p in cache.iterdir()) == before and all(p.read_bytes() == b"planted" for p in cache.iterdir())


def test_a_graph_ort_cannot_save_runs_without_the_cache(tcn_model, cache, monkeypatch, tmp_path, caplog):
    plain = _probs(tcn_model)
    shutil.rmtree(cache)
    real = graph_cache.begin

    def begin(entry):
        pending = real(entry)
        pending.path = tmp_path / "no" / "such" / "folder.onnx"  # ORT fails to write it
        return pending

    monkeypatch.setattr(graph_cache, "begin", begin)
    with caplog.at_level(logging.DEBUG, logger="rnaloc_infer.session"):
        np.testing.assert_array_equal(_probs(tcn_model), plain)
    assert "loading without the cache" in caplog.text and list(cache.iterdir()) == []
