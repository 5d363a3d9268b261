"""Shared fixtures: tiny exported ONNX models (all three kinds) and FASTA helpers.

Models are exported once per test session with the project's own exporter
(rnaloc_infer.export.onnx_export.export_onnx); if that is unavailable a minimal TCN export
following docs/DESIGN.md is used instead. torch/onnx are needed here only, never by the
runtime under test.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import pytest

KINDS = ("qrnn", "tcn", "lstm")
CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
STRIDE = 4


def _tiny_model(kind: str):
    import torch

    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    torch.manual_seed(7)
    return LocalizationModel(ModelConfig(kind=kind, hidden=8, layers=2, stride=STRIDE, dropout=0.0)).eval()


def _manual_export(model, path: Path) -> Path:
    """Fallback exporter (TCN/LSTM only): the contract of docs/DESIGN.md by hand."""
    import onnx
    import torch

    shapes = model.state_shapes()

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, tokens, lengths, *states):
            logits, new = self.inner(tokens, lengths, list(states))
            return (torch.sigmoid(logits), *new)

    batch, length = 2, 16
    args = (torch.ones((batch, length), dtype=torch.uint8), torch.full((batch,), length, dtype=torch.int64),
            *[torch.zeros([batch] + s) for s in shapes])
    ins = ["tokens", "lengths"] + [f"state_in_{i}" for i in range(len(shapes))]
    outs = ["probs"] + [f"state_out_{i}" for i in range(len(shapes))]
    dyn = {"tokens": {0: "batch", 1: "length"}, "lengths": {0: "batch"}, "probs": {0: "batch"}}
    for i in range(len(shapes)):
        dyn[f"state_in_{i}"] = {0: "batch"}
        dyn[f"state_out_{i}"] = {0: "batch"}
    torch.onnx.export(Wrapper(model), args, str(path), input_names=ins, output_names=outs, dynamic_axes=dyn, opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    cfg = model.config
    onnx.helper.set_model_props(proto, {
        "rnaloc.format_version": "1", "rnaloc.classes": json.dumps(cfg.classes), "rnaloc.thresholds": json.dumps([0.5] * 6),
        "rnaloc.alphabet": "ACGTN", "rnaloc.pad_code": "5", "rnaloc.stride": str(cfg.stride), "rnaloc.model_kind": cfg.kind,
        "rnaloc.hparams": json.dumps(cfg.to_dict()), "rnaloc.train_data_sha256": "", "rnaloc.package_version": "test",
        "rnaloc.precision": "fp32",
    })
    onnx.save(proto, str(path))
    return path


def export_tiny(kind: str, path: Path) -> Path:
    import warnings

    model = _tiny_model(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from rnaloc_infer.export.onnx_export import export_onnx
        except ImportError:
            if kind == "qrnn":
                pytest.skip("qrnn export needs rnaloc_infer.export.onnx_export")
            return _manual_export(model, path)
        # Thresholds spread out so some classes are predicted and some are not.
        return Path(export_onnx(model, path, thresholds=[0.3, 0.4, 0.5, 0.5, 0.6, 0.7], train_data_sha256="ab" * 32))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tcn_model(model_dir) -> Path:
    """The default fixture model: fastest to export and run."""
    return export_tiny("tcn", model_dir / "tcn.onnx")


@pytest.fixture(scope="session", params=KINDS)
def any_model(request, model_dir) -> Path:
    path = model_dir / f"{request.param}.onnx"
    if not path.exists():
        export_tiny(request.param, path)
    return path


def rewrite_model(source: Path, target: Path, *, set_props: Optional[Dict[str, str]] = None, drop: Sequence[str] = ()) -> Path:
    """Copy a model with changed metadata_props (for bad-model tests)."""
    import onnx

    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    for key in drop:
        props.pop(key, None)
    props.update(set_props or {})
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(target))
    return target


def random_seq(rng: np.random.Generator, length: int, letters: str = "ACGT") -> str:
    return "".join(rng.choice(list(letters), size=length))


def write_fasta(path: Path, records: Iterable[Tuple[str, str]], width: int = 60, newline: str = "\n") -> Path:
    with open(path, "w", newline="") as fh:
        for name, seq in records:
            fh.write(f">{name}{newline}")
            for start in range(0, len(seq), width):
                fh.write(seq[start : start + width] + newline)
    return path


def read_table(text: str):
    """Parse rnaloc-infer tsv output into (columns, rows): the header is the first line."""
    lines = text.splitlines()
    assert lines[0].startswith("id\tlength\t"), lines[0]
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


CLI = [sys.executable, "-m", "rnaloc_infer.cli.predict"]


def cli_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def _write_split(folder: Path, split: str, n: int, rng: np.random.Generator) -> None:
    fasta = folder / f"tiny_{split}.fa.gz"
    rows = ["id\tgene_id\tgene_name\t" + "\t".join(CLASSES)]
    with gzip.open(fasta, "wt") as handle:
        for i in range(n):
            seq = "".join(rng.choice(list("ACGT"), size=int(rng.integers(20, 120))))
            labels = (rng.random(len(CLASSES)) < 0.4).astype(int)
            labels[i % len(CLASSES)] = 1
            labels[(i + 1) % len(CLASSES)] = 0  # every class has both label values
            handle.write(f">{split}{i} gene{i} loc=x\n{seq}\n")
            rows.append(f"{split}{i}\t{i}\tG{i}\t" + "\t".join(map(str, labels)))
    (folder / f"tiny_{split}_labels.tsv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    _write_split(data, "train", 24, rng)
    _write_split(data, "valid", 12, rng)
    return data


@pytest.fixture(autouse=True)
def _restore_root_log_level():
    """CLIs run in-process (CliRunner) set the root logger's level (`--quiet` -> WARNING);
    restore it so one test's flags do not hide another test's log records."""
    import logging

    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
