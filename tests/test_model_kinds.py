"""The model-kind registry (training/model_kinds.py): what each kind declares is what its layers
do, and the callers that used to test ``kind == "qrnn"`` ask it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnaloc_infer.training.model_kinds import KINDS, MODEL_KINDS, kinds_with, model_kind, supports

from conftest import FIXTURES


def test_capabilities_as_declared():
    assert MODEL_KINDS == ("qrnn", "tcn", "lstm")
    assert kinds_with("fusable") == kinds_with("int8") == kinds_with("numpy_ism") == ("qrnn",)
    assert supports("qrnn", "int8") and not supports("tcn", "numpy_ism") and not supports(None, "fusable")
    assert not supports("gru", "int8")
    with pytest.raises(ValueError, match="unknown model kind 'gru'; expected one of"):
        model_kind("gru")
    with pytest.raises(ValueError, match="unknown capability"):
        kinds_with("fast")
    for kind in KINDS.values():  # a capability's hook is there exactly when the flag is
        assert (kind.grouped is not None) == kind.fusable
        assert bool(kind.int8_conv) == kind.int8


def test_registry_imports_without_torch():
    """export/quantize.py and export/ism_weights.py read ONNX files without torch: the registry
    must not pull it in."""
    code = ("import sys; import rnaloc_infer.training.model_kinds as m; m.kinds_with('int8'); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name", MODEL_KINDS)
def test_declared_states_are_the_layers(name):
    """states_per_layer is what the built body modules carry; the network slices by it."""
    pytest.importorskip("torch")
    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    kind = model_kind(name)
    model = LocalizationModel(ModelConfig(kind=name, hidden=8, layers=3, stride=4))
    assert len(model.body) == kind.modules(model.config)
    assert all(isinstance(layer, kind.layer_class()) for layer in model.body)
    assert all(len(layer.state_shapes()) == kind.states_per_layer for layer in model.body)
    assert model.states_per_layer == kind.states_per_layer


def test_unknown_kind_refused_by_the_network():
    pytest.importorskip("torch")
    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    with pytest.raises(ValueError, match="unknown model kind 'gru'"):
        LocalizationModel(ModelConfig(kind="gru"))


@pytest.mark.parametrize("name, convs", [("qrnn", 2), ("ensemble", 1), ("tcn", 0), ("lstm", 0)])
def test_int8_convolutions_come_from_the_kinds(name, convs):
    """quantize finds the quantisable convolutions through the file's kinds: the QRNN layers'
    of a 2-layer QRNN and of an ensemble of two 1-layer QRNNs (exported fused: one grouped
    convolution); none in a TCN or LSTM."""
    onnx = pytest.importorskip("onnx")
    from rnaloc_infer.export.quantize import _qrnn_convs

    assert len(_qrnn_convs(onnx.load(str(FIXTURES / f"{name}.onnx")))) == convs
