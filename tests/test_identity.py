"""A model's label for people: name, version and a short sha256 (rnaloc_infer.modelfile.identity)."""

from __future__ import annotations

import hashlib

from rnaloc_infer.modelfile.identity import SHORT_SHA256, describe_model, model_label, model_name, short_sha256

from conftest import FIXTURES


def test_label_format():
    digest = "f1840d0c" + "0" * 56
    assert model_label("default", "0.1.0", digest) == "default 0.1.0 (sha256 f1840d0c)"
    assert model_label("m.onnx", "", "") == "m.onnx unknown (sha256 unknown)"
    assert short_sha256(digest) == "f1840d0c" and SHORT_SHA256 == 8


def test_same_version_different_weights_differ(tmp_path):
    """The point of the digest: two files with the same name and version get different labels."""
    class Info:
        package_version = "0.1.0"

    first, second = tmp_path / "a" / "m.onnx", tmp_path / "b" / "m.onnx"
    for path, payload in ((first, b"weights one"), (second, b"weights two")):
        path.parent.mkdir()
        path.write_bytes(payload)
    labels = {describe_model(path, path, Info()) for path in (first, second)}
    assert labels == {f"m.onnx 0.1.0 (sha256 {hashlib.sha256(p).hexdigest()[:8]})" for p in (b"weights one", b"weights two")}


def test_bundled_name_or_file_name():
    path = FIXTURES / "tcn.onnx"
    assert model_name("default", path) == "default"  # a bundled name resolved to a file
    assert model_name(str(path), path) == "tcn.onnx"
