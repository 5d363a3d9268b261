"""Core-count detection (affinity, cgroup v1/v2 quotas from fake files) and the threaded
runtime: several worker threads give exactly the one-thread output, in input order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rnaloc_infer.batching import BatchConfig, predict_stream
from rnaloc_infer.fasta import Record
from rnaloc_infer.parallel import available_cpus, run_jobs, worker_count
from rnaloc_infer.parallel.cores import cgroup_cpu_limit, parse_cfs, parse_cpu_max
from rnaloc_infer.session import ModelSession


@pytest.mark.parametrize("text, cores", [("max 100000\n", None), ("200000 100000\n", 2.0), ("150000 100000", 1.5),
                                         ("50000 100000", 0.5), ("max", None)])
def test_cgroup_v2_cpu_max(text, cores):
    assert parse_cpu_max(text) == cores


def test_cgroup_v1_cfs():
    assert parse_cfs("-1\n", "100000\n") is None
    assert parse_cfs("250000", "100000") == 2.5


def test_the_tightest_quota_of_the_cgroup_and_its_parents_wins(tmp_path):
    (tmp_path / "job" / "step").mkdir(parents=True)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "job" / "cpu.max").write_text("300000 100000\n")
    (tmp_path / "job" / "step" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path, "0::/job/step\n") == 3.0
    assert cgroup_cpu_limit(tmp_path, "0::/\n") is None


def test_cgroup_v1_is_read_when_there_is_no_v2(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path, "12:cpu,cpuacct:/docker/abc\n") == 1.5


def test_available_cpus_is_affinity_capped_by_the_quota():
    four = lambda: {0, 1, 2, 3}  # noqa: E731
    assert available_cpus(four, lambda: None) == 4
    assert available_cpus(four, lambda: 1.5) == 2  # a fractional quota still gets its partial core
    assert available_cpus(four, lambda: 0.2) == 1
    assert available_cpus(four, lambda: 16.0) == 4
    assert available_cpus(lambda: {5}, lambda: None) == 1
    assert 1 <= available_cpus() <= len(__import__("os").sched_getaffinity(0))


def test_worker_count():
    assert worker_count(3) == 3
    assert worker_count(3, "cuda") == 1 and worker_count(None, "cuda") == 1
    assert worker_count(None) == available_cpus()
    with pytest.raises(ValueError):
        worker_count(0)


def test_run_jobs_runs_everything_once_and_raises_a_jobs_error():
    seen = []
    lock = threading.Lock()

    def job(k):
        def run():
            with lock:
                seen.append(k)
            return k * k
        return run

    assert sorted(run_jobs([job(k) for k in range(20)], workers=3)) == [k * k for k in range(20)]
    assert sorted(seen) == list(range(20))
    assert list(run_jobs([job(k) for k in range(5)], workers=1)) == [0, 1, 4, 9, 16]  # in order, no thread

    def boom():
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(run_jobs([job(1), boom, job(2)], workers=2))


def test_several_workers_give_the_one_worker_output_in_input_order(tcn_model):
    """Short batches and chunked long records, several windows: identical rows, same order."""
    rng = np.random.default_rng(5)
    lengths = list(rng.integers(1, 400, 150)) + [3_000, 5_000, 2_500]
    rng.shuffle(lengths)
    records = [Record(f"r{i}", f"r{i}", rng.integers(0, 5, int(n)).astype(np.uint8), "<test>", i + 1)
               for i, n in enumerate(lengths)]
    session = ModelSession(tcn_model, device="cpu")
    config = BatchConfig(batch_nt=2_000, window_records=60, window_nt=40_000, chunk_nt=1_000)
    one = list(predict_stream(iter(records), session, config, workers=1))
    three = list(predict_stream(iter(records), session, config, workers=3))
    assert [s.id for s in three] == [r.id for r in records]
    np.testing.assert_array_equal(np.stack([s.probs for s in three]), np.stack([s.probs for s in one]))


def test_the_batch_budget_is_shared_only_beyond_four_workers():
    from rnaloc_infer.parallel import shared_budget

    assert [shared_budget(65_536, w) for w in (1, 2, 4)] == [65_536] * 3
    assert shared_budget(65_536, 8) == 32_768 and shared_budget(65_536, 16) == 16_384
    assert shared_budget(65_536, 1_000) == 4_096  # a floor, so calls stay worth making
    assert shared_budget(1_000, 64) == 1_000  # never above what was asked


def test_many_workers_share_the_budget_and_agree_with_one(tcn_model):
    rng = np.random.default_rng(9)
    records = [Record(f"r{i}", f"r{i}", rng.integers(0, 4, int(n)).astype(np.uint8), "<test>", i + 1)
               for i, n in enumerate(rng.integers(20, 300, 200))]
    session = ModelSession(tcn_model, device="cpu")
    config = BatchConfig(batch_nt=40_000)
    one = np.stack([s.probs for s in predict_stream(iter(records), session, config, workers=1)])
    eight = np.stack([s.probs for s in predict_stream(iter(records), session, config, workers=8)])
    np.testing.assert_allclose(eight, one, rtol=0, atol=1e-6)


def test_run_windows_reads_one_window_ahead_and_gives_every_windows_results():
    """Window k+1 is taken from the iterable (read) before window k's results are handed
    out; every job runs once; a job's error surfaces from its window's results."""
    from rnaloc_infer.parallel import run_windows

    events = []

    def windows(count):
        for k in range(count):
            events.append(f"read {k}")
            yield k, [lambda k=k, j=j: (k, j) for j in range(5)]

    for workers in (1, 3):
        events.clear()
        got = {}
        for key, results in run_windows(windows(4), workers):
            events.append(f"results {key}")
            got[key] = sorted(results)
        assert got == {k: [(k, j) for j in range(5)] for k in range(4)}
        if workers == 1:  # no thread: one window after the other
            assert events == ["read 0", "results 0", "read 1", "results 1", "read 2", "results 2", "read 3", "results 3"]
        else:
            assert events == ["read 0", "read 1", "results 0", "read 2", "results 1", "read 3", "results 2", "results 3"]

    def boom():
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        for _, results in run_windows(iter([(0, [lambda: 1]), (1, [boom])]), workers=2):
            list(results)


def test_a_bad_record_stops_a_threaded_stream(tcn_model):
    from rnaloc_infer.errors import InputError
    from rnaloc_infer.fasta import RecordError

    rng = np.random.default_rng(3)
    items = [Record(f"r{i}", f"r{i}", rng.integers(0, 4, 100).astype(np.uint8), "<test>", i + 1) for i in range(30)]
    items.insert(25, RecordError("<test>", 26, "bad", "empty sequence"))
    session = ModelSession(tcn_model, device="cpu")
    config = BatchConfig(batch_nt=1_000, window_records=10)
    with pytest.raises(InputError, match="empty sequence"):
        list(predict_stream(iter(items), session, config, workers=2))
    skipped = list(predict_stream(iter(items), session, config, on_error="skip", workers=2))
    assert [getattr(s, "id") for s in skipped] == [item.id for item in items]


def test_a_consumer_that_stops_early_leaves_no_model_thread(tcn_model):
    rng = np.random.default_rng(4)
    records = [Record(f"r{i}", f"r{i}", rng.integers(0, 4, 200).astype(np.uint8), "<test>", i + 1) for i in range(60)]
    session = ModelSession(tcn_model, device="cpu")
    stream = predict_stream(iter(records), session, BatchConfig(batch_nt=1_000, window_records=10), workers=2)
    assert next(stream).id == "r0"
    assert any(t.name.startswith("rnaloc-model") for t in threading.enumerate())
    stream.close()
    assert not any(t.name.startswith("rnaloc-model") for t in threading.enumerate())
