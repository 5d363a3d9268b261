"""The network kinds (``ModelConfig.kind``): what each one's body is made of and what it supports.

Why a registry: what a kind is and what it can do used to be spread over kind checks in
:mod:`.models` (which layers to build), :mod:`.fused_ensemble` (only QRNNs fuse),
``export/quantize.py`` (only QRNN convolutions go to int8), ``export/ism_weights.py`` (only
QRNNs have a numpy ISM engine) and an unwritten rule that every body module carries exactly two
states. Each kind now declares those facts once, here; callers ask :func:`model_kind` or
:func:`kinds_with`. A new kind is one :class:`ModelKind` entry (plus its layer class in
:mod:`.layers`); a capability it lacks is refused by the callers with the usual message.

Importing this module does not import torch (``export/quantize.py`` and
``export/ism_weights.py`` read ONNX files and run without it): the layer classes are looked up
when a body is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

# ``.models.ModelConfig`` (its fields ``hidden``, ``layers``, ... are read here); not imported,
# not even for type checking: models imports this registry, and the import graph stays acyclic.
ModelConfig = Any


@dataclass(frozen=True)
class ModelKind:
    """One network kind.

    ``layer``: the name of its body module's class in :mod:`.layers`. ``modules``: how many
    body modules a config asks for (``build(config, index)`` makes module ``index``).
    ``states_per_layer``: carried states of each body module, in the order its ``forward``
    takes them. Capabilities: ``fusable`` (isomorphic networks of this kind run as one wide
    grouped network, :mod:`.fused_ensemble`; ``grouped`` builds such a module), ``int8``
    (``export/quantize.py`` quantises the convolutions whose ONNX node names match
    ``int8_conv``; the first group of the match is the body module's index), ``numpy_ism``
    (explain's numpy engine, ``rnaloc_infer/explain/numpy_ism.py``, implements it).
    """

    name: str
    layer: str
    states_per_layer: int
    modules: Callable[[ModelConfig], int]
    build: Callable[[ModelConfig, int], "nn.Module"]
    fusable: bool = False
    grouped: Optional[Callable[[ModelConfig, int], "nn.Module"]] = None
    int8: bool = False
    int8_conv: str = ""
    numpy_ism: bool = False

    def layer_class(self) -> type:
        """The body module's class (imports torch)."""
        from . import layers

        return getattr(layers, self.layer)

    def build_body(self, config: ModelConfig) -> List["nn.Module"]:
        """The body modules of a network of this kind, in order."""
        return [self.build(config, index) for index in range(self.modules(config))]


def _layers(name: str) -> Any:
    from . import layers

    return getattr(layers, name)


def _qrnn(config: ModelConfig, index: int) -> "nn.Module":
    return _layers("QRNNLayer")(config.hidden, config.hidden, config.window, config.zoneout, config.dropout)


def _qrnn_grouped(config: ModelConfig, groups: int) -> "nn.Module":
    """``groups`` QRNN layers side by side (``config.hidden`` channels in all), inference only."""
    return _layers("QRNNLayer")(config.hidden, config.hidden, config.window, 0.0, config.dropout, groups=groups)


def _tcn(config: ModelConfig, index: int) -> "nn.Module":
    return _layers("TCNBlock")(config.hidden, 2**index, config.kernel_size, config.dropout)


def _lstm(config: ModelConfig, index: int) -> "nn.Module":
    return _layers("LSTMStack")(config.hidden, config.hidden, config.layers, config.dropout)


def _per_layer(config: ModelConfig) -> int:
    return config.layers


def _one(config: ModelConfig) -> int:
    return 1


KINDS: Dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        # states per layer: convolution context, recurrent cell
        ModelKind("qrnn", "QRNNLayer", 2, _per_layer, _qrnn, fusable=True, grouped=_qrnn_grouped,
                  int8=True, int8_conv=r"/body\.(\d+)/conv/conv/Conv$", numpy_ism=True),
        # states per block: the contexts of its two dilated convolutions
        ModelKind("tcn", "TCNBlock", 2, _per_layer, _tcn),
        # one module for all layers; states: h and c of every layer
        ModelKind("lstm", "LSTMStack", 2, _one, _lstm),
    )
}
MODEL_KINDS: Tuple[str, ...] = tuple(KINDS)


def model_kind(name: str) -> ModelKind:
    """The registered kind ``name``; ValueError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown model kind {name!r}; expected one of {MODEL_KINDS}") from None


def kinds_with(capability: str) -> Tuple[str, ...]:
    """Names of the kinds with a capability flag set (``"fusable"``, ``"int8"``, ``"numpy_ism"``)."""
    if capability not in ("fusable", "int8", "numpy_ism"):
        raise ValueError(f"unknown capability {capability!r}")
    return tuple(name for name, kind in KINDS.items() if getattr(kind, capability))


def supports(name: Optional[str], capability: str) -> bool:
    """Whether kind ``name`` (as read from a config or an ONNX file's hparams) has ``capability``;
    False for an unknown or missing kind."""
    return name in kinds_with(capability)
