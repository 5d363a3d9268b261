"""The one npz + JSON-header codec (rnaloc_infer.output.npz_json): round trip, atomic writes,
no unpickling, one-line errors naming the file. Needs numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from rnaloc_infer.output.files import TEMP_MARK
from rnaloc_infer.output.npz_json import HEADER, check_format, load_npz, require, save_npz


def test_round_trip_keeps_header_and_arrays(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array(["x", "y"]), "n": np.int64(4)}
    path = save_npz(tmp_path / "sub" / "f.npz", arrays, {"format": "demo", "format_version": 2, "ks": [1, 2]})
    header, loaded = load_npz(path, what="demo")
    assert header == {"format": "demo", "format_version": 2, "ks": [1, 2]}
    assert set(loaded) == {"a", "ids", "n"}  # the header is not among the arrays
    np.testing.assert_array_equal(loaded["a"], arrays["a"])
    assert loaded["ids"].tolist() == ["x", "y"] and int(loaded["n"]) == 4
    assert check_format(path, header, "demo", (1, 2)) == 2
    assert not list(tmp_path.rglob(f"*{TEMP_MARK}*"))


def test_any_suffix_and_no_header(tmp_path):
    """numpy appends .npz to a path without it; the codec writes exactly the name asked for."""
    path = save_npz(tmp_path / "weights.bin", {"w": np.ones(3)}, compressed=False)
    assert path.is_file() and not (tmp_path / "weights.bin.npz").exists()
    header, arrays = load_npz(path, what="weights", header=False)
    assert header is None and arrays["w"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"weights.bin: not a weights file \(no JSON header\)"):
        load_npz(path, what="weights")


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = save_npz(tmp_path / "f.npz", {"a": np.zeros(2)}, {"format": "demo", "format_version": 1})
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_npz(path, {"a": np.ones(2)}, {"format": "demo", "format_version": 1})
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(f"*{TEMP_MARK}*"))


def test_pickles_and_junk_are_one_line_errors(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, objects=np.array([object()], dtype=object), header=np.array("{}"))
    with pytest.raises(ValueError, match=r"pickled.npz: not a demo file") as info:
        load_npz(pickled, what="demo")
    assert "\n" not in str(info.value)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk.npz: not a demo file"):
        load_npz(junk, what="demo")
    with pytest.raises(ValueError, match=r"missing.npz: not a demo file"):
        load_npz(tmp_path / "missing.npz", what="demo")
    bad_json = tmp_path / "bad_json.npz"
    np.savez(bad_json, header=np.array("{not json"))
    with pytest.raises(ValueError, match="header is not JSON"):
        load_npz(bad_json, what="demo")


def test_format_and_required_arrays_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"f.npz: expected demo version 1, found other version 1"):
        check_format(tmp_path / "f.npz", {"format": "other", "format_version": 1}, "demo", (1,))
    with pytest.raises(ValueError, match=r"expected demo version 1 or 2, found demo version 3"):
        check_format("f.npz", {"format": "demo", "format_version": 3}, "demo", (1, 2))
    with pytest.raises(ValueError, match=r"f.npz: not a demo file \(no array 'coef'\)"):
        require("f.npz", {"mean": np.zeros(1)}, ("mean", "coef"), "demo")
    with pytest.raises(ValueError, match="JSON header's name"):
        save_npz(tmp_path / "g.npz", {HEADER: np.zeros(1)}, {"format": "demo"})
