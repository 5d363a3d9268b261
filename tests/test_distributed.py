"""Distributed prediction on Ray (issue 11): same rows, same order, same numbers as the runtime.

Shard planning is checked without Ray; everything else runs on one small local Ray
(num_cpus=2, shut down at the end of the module) and is skipped when the ``[ray]`` extra is
not installed.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import random_seq, write_fasta
from rnaloc_infer.cli.predict import RunOptions, run
from rnaloc_infer.errors import InputError
from rnaloc_infer.fasta import Record, read_file
from rnaloc_infer.distributed.shards import plan_shards, read_shard


def _items(items):
    return [(type(i).__name__, i.source, i.number, i.id, i.codes.tobytes() if isinstance(i, Record) else i.problem) for i in items]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three small FASTA files (the second gzipped), ~100 records each, 20-400 nt."""
    folder = tmp_path_factory.mktemp("dist_inputs")
    rng = np.random.default_rng(11)
    paths = []
    for k in range(3):
        records = [(f"f{k}_r{i} sample {k}", random_seq(rng, int(rng.integers(20, 400)))) for i in range(100)]
        path = write_fasta(folder / f"part{k}.fa", records, width=70, newline="\r\n" if k == 2 else "\n")
        if k == 1:
            gz = folder / "part1.fa.gz"
            gz.write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
            path = gz
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist_bad")
    rng = np.random.default_rng(5)
    records = [(f"ok{i}", random_seq(rng, 60 + i)) for i in range(30)]
    records[7] = ("protein7", "MKVLEFIPQ" * 5)
    records[20] = ("empty20", "")
    return str(write_fasta(folder / "bad.fa", records))


# -- shard planning: no Ray needed --------------------------------------------------------------
def test_byte_range_shards_read_like_read_file(tmp_path, inputs, bad_input):
    odd = tmp_path / "odd.fa"
    odd.write_bytes(b"\n  \n>a one\r\nACGU\r\nacgt\r\n\r\n>b\n>c\nNNRY\n\n>d two\nAC GT\n>e")
    for path in [*inputs, bad_input, str(odd)]:
        shards = plan_shards([path], shard_bytes=40)
        if path.endswith(".gz"):
            assert len(shards) == 1 and shards[0].end is None  # compressed: one shard, whole file
        else:
            assert len(shards) > 1
        got = [item for shard in shards for item in read_shard(shard)]
        assert _items(got) == _items(read_file(path))


def test_planning_fails_like_the_runtime(tmp_path):
    fastq = tmp_path / "reads.fq"
    fastq.write_text("@r1\nACGT\n+\nIIII\n")
    with pytest.raises(InputError, match="looks like FASTQ"):
        plan_shards([str(fastq)])
    with pytest.raises(InputError, match="no such file"):
        plan_shards([str(tmp_path / "missing.fa")])


def test_import_does_not_need_ray():
    code = "import sys, rnaloc_infer, rnaloc_infer.distributed.engine; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_ray_is_one_line(monkeypatch):
    from rnaloc_infer.distributed import engine as distributed

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(distributed.RayNotInstalled, match=r"pip install 'rnaloc-infer\[ray\]'") as info:
        distributed.require_ray()
    assert "\n" not in str(info.value)


# -- on Ray ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'rnaloc-infer[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'rnaloc-infer[ray]')")
    # address="local": a private cluster even when another local Ray runs on the machine (ray.init
    # would otherwise find it via /tmp/ray/ray_current_cluster and refuse num_cpus).
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, logging_level="WARNING")
    yield ray
    ray.shutdown()


def _local(inputs, model, output, **kwargs) -> str:
    assert run(RunOptions(inputs=list(inputs), output=str(output), model=str(model), progress=False, **kwargs)) == 0
    return Path(output).read_text()


def _distributed(inputs, model, output, shard_dir=None, **kwargs):
    from rnaloc_infer.distributed.engine import predict_distributed

    # Tiny shards and blocks so that even this small input is split across tasks and actors.
    options = RunOptions(inputs=[str(i) for i in inputs], output=str(output), model=str(model), num_workers=2,
                         progress=False, **kwargs)
    return predict_distributed(options, shard_dir=shard_dir, shard_bytes=8_000, block_records=40)


def test_merged_output_and_shards_equal_single_process(ray_local, tcn_model, inputs, tmp_path):
    import pyarrow.parquet as pq

    from rnaloc_infer.api import Predictor

    summary = _distributed(inputs, tcn_model, tmp_path / "ray.tsv", shard_dir=str(tmp_path / "shards"))
    assert summary.records == 300 and summary.shards > 3
    local = _local(inputs, tcn_model, tmp_path / "local.tsv")
    assert (tmp_path / "ray.tsv").read_text() == local  # header, rows, order, formatting

    # Parquet shards hold full float32 probabilities: compare with the Python API.
    table = pq.read_table(tmp_path / "shards").sort_by([("file_index", "ascending"), ("record_number", "ascending")])
    expected = list(Predictor(tcn_model).predict_fasta(inputs))
    assert table.column("id").to_pylist() == [p.id for p in expected]
    assert table.column("length").to_pylist() == [p.length for p in expected]
    for name in expected[0].probabilities:
        got = table.column(name).to_numpy()
        want = np.array([p.probabilities[name] for p in expected])
        assert np.abs(got - want).max() <= 1e-6


def test_profile_columns_equal_the_local_runtime(ray_local, tcn_model, inputs, tmp_path):
    """--profile on the Ray engine writes the same relative profile as the local engine, and a
    model without training prevalence is refused before any work, as locally."""
    from conftest import rewrite_model
    from rnaloc_infer.errors import ModelError

    profiled = rewrite_model(tcn_model, tmp_path / "p.onnx",
                             set_props={"rnaloc.prevalence": "[0.69, 0.99, 0.56, 0.3, 0.19, 0.11]"})
    _distributed(inputs, profiled, tmp_path / "ray.tsv", profile=True)
    local = _local(inputs, profiled, tmp_path / "local.tsv", profile=True)
    assert (tmp_path / "ray.tsv").read_text() == local
    assert local.splitlines()[0].endswith("\tlevel\trel_Nucleus\trel_Exosome\trel_Cytosol\trel_Ribosome\trel_Membrane\trel_ER")
    with pytest.raises(ModelError, match="rnaloc.prevalence"):
        _distributed(inputs, tcn_model, tmp_path / "none.tsv", profile=True)
    assert not (tmp_path / "none.tsv").exists()


def test_every_option_gives_the_local_engines_bytes(ray_local, tcn_model, inputs, tmp_path):
    """Issue 31's done-when: --out-of-range drop --profile (and the other per-row options) write
    byte-identical output on both engines, sidecar columns and counts included."""
    import json

    from conftest import rewrite_model

    rules = '{"min_length": 200, "max_length": 100000, "max_n_fraction": 0.05, "min_orf_codons": 0, "max_ambiguous_fraction": 0.05}'
    model = rewrite_model(tcn_model, tmp_path / "ruled.onnx", set_props={
        "rnaloc.prevalence": "[0.69, 0.99, 0.56, 0.3, 0.19, 0.11]", "rnaloc.applicability": rules})
    # (tsv/csv: 4 decimals; jsonl's 6 can differ in the last digit, as batches differ between engines)
    for extra in ({"out_of_range": "drop", "profile": True}, {"out_of_range": "keep", "fmt": "csv"},
                  {"out_of_range": "label", "precision": "fp32"}):
        suffix = ".csv" if extra.get("fmt") == "csv" else ".tsv"
        ray_out, local_out = tmp_path / f"ray{suffix}", tmp_path / f"local{suffix}"
        summary = _distributed(inputs, model, ray_out, **extra)
        local = _local(inputs, model, local_out, **extra)
        assert ray_out.read_text() == local, extra
        ray_meta = json.loads((tmp_path / f"ray{suffix}.json").read_text())
        local_meta = json.loads((tmp_path / f"local{suffix}.json").read_text())
        assert ray_meta["summary"]["records"] == local_meta["summary"]["records"] == summary.records
        assert ray_meta["summary"]["dropped"] == local_meta["summary"]["dropped"]
        assert ray_meta["model"]["precision"] == local_meta["model"]["precision"]
        if extra["out_of_range"] == "drop":
            assert local_meta["summary"]["dropped"] > 0 and local.splitlines()[0].endswith("rel_ER")


def test_skipped_records_match_runtime(ray_local, tcn_model, inputs, bad_input, tmp_path):
    files = [inputs[0], bad_input]
    summary = _distributed(files, tcn_model, tmp_path / "ray.csv", fmt="csv", on_error="skip", errors_file=str(tmp_path / "ray.err"))
    assert summary.skipped == 2
    local = _local(files, tcn_model, tmp_path / "local.csv", fmt="csv", on_error="skip", errors_file=str(tmp_path / "local.err"))
    assert (tmp_path / "ray.csv").read_text() == local
    assert (tmp_path / "ray.err").read_text() == (tmp_path / "local.err").read_text()


def test_bad_record_fails_naming_it(ray_local, tcn_model, inputs, bad_input, tmp_path):
    with pytest.raises(InputError) as local:
        _local([inputs[0], bad_input], tcn_model, tmp_path / "local.tsv")
    with pytest.raises(InputError) as distributed:
        _distributed([inputs[0], bad_input], tcn_model, tmp_path / "ray.tsv")
    assert str(distributed.value) == str(local.value)
    assert "protein7" in str(distributed.value)
    assert not (tmp_path / "ray.tsv").exists()  # atomic: no partial output


def test_truncated_archive_error_comes_back_from_worker(ray_local, tcn_model, tmp_path):
    # 6 Mnt of repeats compress to a few kB; planning reads only the first block (fine), so the
    # truncation is met by the Ray read task and must come back as the runtime's one-line error.
    broken = tmp_path / "broken.fa.gz"
    data = gzip.compress(b">small\nACGT\n>big\n" + b"ACGT" * 1_500_000 + b"\n>tail\nACGT\n")
    broken.write_bytes(data[:-200])
    with pytest.raises(InputError, match="truncated or corrupt compressed file") as info:
        _distributed([str(broken)], tcn_model, tmp_path / "ray.tsv")
    assert str(info.value).startswith(str(broken))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "ray.tsv").exists()


class _FakeRay:
    """Records what ray_session passes to ray.init (no Ray needed)."""

    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)

    def shutdown(self):
        self.calls.append("shutdown")


@pytest.mark.parametrize("env, address, expected", [
    (None, None, {"address": "local", "num_cpus": 3}),      # own local cluster, never a stray one
    ("10.0.0.5:6379", None, {"address": "10.0.0.5:6379"}),   # Ray's convention: $RAY_ADDRESS joins it
    ("10.0.0.5:6379", "auto", {"address": "auto"}),           # --address wins over the environment
])
def test_ray_session_chooses_the_cluster(monkeypatch, env, address, expected):
    from rnaloc_infer.distributed import engine

    fake = _FakeRay()
    monkeypatch.setattr(engine, "require_ray", lambda: fake)
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    with engine.ray_session(address, num_cpus=3):
        pass
    kwargs = {k: v for k, v in fake.calls[0].items() if k in ("address", "num_cpus")}
    assert kwargs == expected
    assert fake.calls[-1] == "shutdown"


def test_quiet_ray_run_prints_nothing(tcn_model, inputs, tmp_path):
    """-q is quiet on the Ray engine too: no Ray log lines, warnings or C++ core messages."""
    pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'rnaloc-infer[ray]')")
    out = tmp_path / "o.tsv"
    proc = subprocess.run([sys.executable, "-m", "rnaloc_infer.cli.predict", *map(str, inputs), "--model", str(tcn_model),
                           "-o", str(out), "--engine", "ray", "--num-workers", "1", "-q"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and len(out.read_text().splitlines()) == 301
