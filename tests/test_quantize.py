"""The int8 twin writer (rnaloc_infer.export.quantize) on the committed tiny fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import twin_path
from rnaloc_infer.export.quantize import quantise
from rnaloc_infer.errors import OverwriteError
from rnaloc_infer.modelfile.digest import file_sha256
from rnaloc_infer.session import ModelSession

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLE = ROOT / "examples" / "example.fa"


@pytest.mark.parametrize("name", ["qrnn", "ensemble"])
def test_twin_quantises_the_qrnn_convolutions_and_scores_close_to_fp32(tmp_path, name):
    fp32 = shutil.copy(FIXTURES / f"{name}.onnx", tmp_path / "m.onnx")
    twin = quantise(Path(fp32), EXAMPLE)
    assert twin == twin_path(Path(fp32), "int8") == tmp_path / "m.int8.onnx"
    graph = onnx.load(str(twin)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantised = [n for n in convs if n.input[1].endswith("_wd")]
    assert quantised and all("/body." in n.name for n in quantised)
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    meta = {p.key: p.value for p in onnx.load(str(twin)).metadata_props}
    assert meta["rnaloc.precision"] == "int8" and meta["rnaloc.fp32_sha256"] == file_sha256(fp32)

    assert ModelSession(fp32, device="cpu").info.precision == "int8"  # the runtime picks it on the CPU
    auto = Predictor(fp32, device="cpu").predict_fasta(EXAMPLE)
    exact = Predictor(fp32, device="cpu", precision="fp32").predict_fasta(EXAMPLE)
    a = np.array([list(p.probabilities.values()) for p in auto])
    b = np.array([list(p.probabilities.values()) for p in exact])
    assert a.shape == b.shape and 0 < np.abs(a - b).max() < 0.05  # int8, yet the same model


def test_a_model_without_qrnn_layers_or_a_reduced_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no QRNN convolution"):
        quantise(FIXTURES / "tcn.onnx", EXAMPLE, out=tmp_path / "t.int8.onnx")
    twin = quantise(shutil.copy(FIXTURES / "qrnn.onnx", tmp_path / "q.onnx"), EXAMPLE)
    with pytest.raises(ValueError, match="fp32 file"):
        quantise(twin, EXAMPLE, out=tmp_path / "again.onnx")
    fp32 = tmp_path / "q.onnx"
    before = fp32.read_bytes()
    for onto in (fp32, EXAMPLE):  # never onto its own inputs
        with pytest.raises(OverwriteError, match="nothing was written"):
            quantise(fp32, EXAMPLE, out=onto)
    assert fp32.read_bytes() == before


def test_checked_quantisation_drops_layers_until_within_the_bounds(tmp_path, monkeypatch):
    """quantise_checked: all QRNN layers first; over the bounds, one layer fewer; none kept if
    even one layer is over (the report's figures are faked here; the real ones need data)."""
    import rnaloc_infer.export.quantize as quantize

    fp32 = Path(shutil.copy(FIXTURES / "qrnn.onnx", tmp_path / "m.onnx"))
    seen = []

    def fake_report(model, twin, fasta, labels, reference=None, within=(1,)):
        quantised = [n.name for n in onnx.load(str(twin)).graph.node if n.op_type == "Conv" and n.input[1].endswith("_wd")]
        seen.append(len(quantised))
        return {"max_probability_difference": 0.0, "max_auroc_difference": 0.0, "within_bounds": len(quantised) in within}

    monkeypatch.setattr(quantize, "twin_report", fake_report)
    report = quantize.quantise_checked(fp32, EXAMPLE, EXAMPLE, EXAMPLE)
    assert (report["layers"], report["of_layers"], seen) == (1, 2, [2, 1])
    assert twin_path(fp32, "int8").is_file()
    monkeypatch.setattr(quantize, "twin_report", lambda *a, **k: fake_report(*a, within=()))
    assert quantize.quantise_checked(fp32, EXAMPLE, EXAMPLE, EXAMPLE)["twin"] is None
    assert not twin_path(fp32, "int8").exists()


def test_refitting_the_fp32_file_keeps_its_twin_tied_and_refitted(tiny_data, tmp_path):
    """refit-metadata rewrites the fp32 file's bytes (thresholds, rules): the int8 twin gets
    the same metadata and the new digest, so the runtime still loads it."""
    from rnaloc_infer.export.refit import refit_metadata

    fp32 = Path(shutil.copy(FIXTURES / "qrnn.onnx", tmp_path / "m.onnx"))
    twin = quantise(fp32, EXAMPLE)
    report = refit_metadata(fp32, tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv",
                            tiny_data / "tiny_train.fa.gz")
    assert str(twin) in report["written"]
    twin_info, fp32_info = ModelSession(fp32, device="cpu").info, ModelSession(fp32, device="cpu", prefer_int8=False).info
    assert twin_info.precision == "int8" and twin_info.thresholds == fp32_info.thresholds
    assert twin_info.applicability == fp32_info.applicability
