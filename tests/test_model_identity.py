"""Issue 31: one ONNX metadata reader (rnaloc_infer.modelfile.metadata) and each model file hashed
once per run (rnaloc_infer.modelfile.digest)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rnaloc_infer.modelfile import digest
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.modelfile.metadata import MetadataError, fp32_problem, read_metadata, require_fp32
from rnaloc_infer.output.sidecar import model_identity
from rnaloc_infer.session import ModelSession


@pytest.fixture
def count_hashes(monkeypatch):
    """Files whose bytes digest.file_sha256 actually reads (memo misses), in order."""
    digest.forget()
    hashed = []
    real = digest._hash_handle

    def counting(handle, sha, chunk=digest.CHUNK):
        hashed.append(Path(handle.name).name)
        real(handle, sha, chunk)

    monkeypatch.setattr(digest, "_hash_handle", counting)
    yield hashed
    digest.forget()


def test_file_sha256_is_the_sha256_and_is_remembered_while_the_file_is_unchanged(tmp_path, count_hashes):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"first")
    assert digest.file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    assert digest.file_sha256(str(path)) == digest.file_sha256(path) and count_hashes == ["m.onnx"]
    stamp = path.stat()
    path.write_bytes(b"other")  # same size, date put back (as `cp -p` or a download tool does)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert digest.file_sha256(path) == hashlib.sha256(b"other").hexdigest() and len(count_hashes) == 2


def test_files_sha256_hashes_the_files_in_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"12")
    b.write_bytes(b"34")
    assert digest.files_sha256([a, b]) == hashlib.sha256(b"1234").hexdigest() != digest.files_sha256([b, a])


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_a_run_hashes_each_model_file_once(precision, count_hashes):
    """A rnaloc-infer start-up: the session (graph cache key, int8 twin's tie to its fp32 file)
    and the sidecar's model identity. Before: default.onnx twice and its int8 twin once
    (auto), default.onnx twice (fp32)."""
    path = resolve_model("default")
    reduced = precision == "auto"
    session = ModelSession(path, device="cpu", prefer_fp16=reduced, prefer_int8=reduced)
    identity = model_identity("default", path, session.info)
    assert identity["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    expected = ["default.int8.onnx", "default.onnx"] if reduced else ["default.onnx"]
    assert count_hashes == expected


def test_the_metadata_reader_reads_a_path_a_session_and_a_mapping_alike(any_model):
    from_path = read_metadata(any_model)
    assert from_path["rnaloc.format_version"] == "1" and "rnaloc.classes" in from_path
    session = ModelSession(any_model, device="cpu")
    assert read_metadata(session._session) == from_path == read_metadata(dict(from_path))


def test_the_metadata_reader_matches_onnx_on_the_bundled_files():
    onnx = pytest.importorskip("onnx")
    for path in sorted(resolve_model("default").parent.glob("*.onnx")):
        assert read_metadata(path) == read_metadata(onnx.load(str(path))), path


@pytest.mark.parametrize("data", [b"", b"\x08", b"PK\x03\x04 not a model", b"\x72\xff\xff\xff\x0f"])
def test_the_metadata_reader_refuses_what_is_not_onnx(tmp_path, data):
    path = tmp_path / "x.onnx"
    path.write_bytes(data)
    if data == b"":
        assert read_metadata(path) == {}  # an empty message: ORT refuses it when loading
        return
    with pytest.raises(MetadataError, match="not an ONNX model"):
        read_metadata(path)


def test_the_fp32_check_is_one_check():
    assert fp32_problem({}, "quantising") == "" and fp32_problem({"rnaloc.precision": "fp32"}, "x") == ""
    assert fp32_problem({"rnaloc.precision": "int8"}, "quantising") == "quantising needs the model's fp32 file, not its int8 twin"
    with pytest.raises(ValueError, match=r"^m\.fp16\.onnx: the numpy engine needs the model's fp32 file, not its fp16 twin$"):
        require_fp32({"rnaloc.precision": "fp16"}, "m.fp16.onnx", "the numpy engine")
    assert read_metadata(resolve_model("default").with_name("default.fp16.onnx"))["rnaloc.precision"] == "fp16"
