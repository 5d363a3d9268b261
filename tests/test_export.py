"""Export parity: eager PyTorch vs TorchScript vs ONNX Runtime (fp32 and fp16), chunking, metadata, CLI."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from rnaloc_infer import __version__
from rnaloc_infer.alphabet import PAD_CODE
from rnaloc_infer.cli.export import main as export_cli
from rnaloc_infer.export.metadata import parse_metadata
from rnaloc_infer.export.onnx_export import build_onnx, export_onnx, export_onnx_from_checkpoint
from rnaloc_infer.export.scan import FORMULATIONS, non_default_domains
from rnaloc_infer.export.torchscript_export import export_torchscript, load_torchscript
from rnaloc_infer.training.checkpoint import save_checkpoint
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

ATOL = 1e-4
FP16_ATOL = 2e-3  # documented in docs/EXPORT.md
LENGTHS = (1, 7, 1000, 20000)
KINDS = ("qrnn", "tcn", "lstm", "qrnn_motif")
CONFIGS = {
    "qrnn": ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2),
    "tcn": ModelConfig(kind="tcn", hidden=12, layers=3, stride=8, kernel_size=3),
    "lstm": ModelConfig(kind="lstm", hidden=8, layers=2, stride=4),
    # the default model's front end: a causal motif convolution whose context is a carried state
    "qrnn_motif": ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2, front_kernel=7),
}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Spinning intra-op threads on a shared 2-core box cost more than they save on tiny models."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _session(model) -> ort.InferenceSession:
    """Single-threaded CPU session from a path or an in-memory ModelProto."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def _tokens(lengths, seed=0):
    rng = np.random.default_rng(seed)
    width = max(lengths)
    tokens = np.full((len(lengths), width), PAD_CODE, dtype=np.uint8)
    for row, n in enumerate(lengths):
        tokens[row, :n] = rng.integers(0, 5, n)
    return tokens, np.asarray(lengths, dtype=np.int64)


class Exported:
    def __init__(self, kind, tmp):
        torch.manual_seed({"qrnn": 1, "tcn": 2, "lstm": 3, "qrnn_motif": 4}[kind])
        self.model = LocalizationModel(CONFIGS[kind]).eval()
        meta = {"thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "train_data_sha256": "deadbeef"}
        self.onnx_path = export_onnx(self.model, tmp / f"{kind}.onnx", **meta)
        self.session = _session(self.onnx_path)
        self.ts_path = export_torchscript(self.model, tmp / f"{kind}.pt", **meta)
        self.scripted, self.ts_meta = load_torchscript(self.ts_path)

    def states(self, batch):
        return self.model.zero_states(batch)

    def eager(self, tokens, lengths, states=None):
        states = self.states(len(lengths)) if states is None else [torch.from_numpy(s) for s in states]
        with torch.no_grad():
            logits, new = self.model(torch.from_numpy(tokens), torch.from_numpy(lengths), states)
        return torch.sigmoid(logits).numpy(), [s.numpy() for s in new]

    def torchscript(self, tokens, lengths):
        with torch.no_grad():
            probs, new = self.scripted(torch.from_numpy(tokens), torch.from_numpy(lengths), self.states(len(lengths)))
        return probs.numpy(), [s.numpy() for s in new]

    def onnx(self, tokens, lengths, states=None, session=None):
        states = [s.numpy() for s in self.states(len(lengths))] if states is None else states
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update({f"state_in_{i}": s for i, s in enumerate(states)})
        out = (session or self.session).run(None, feed)
        return out[0], out[1:]


@pytest.fixture(scope="module", params=KINDS)
def exported(request, tmp_path_factory):
    return Exported(request.param, tmp_path_factory.mktemp(request.param))


def _close(a, b, atol=ATOL):
    assert a.shape == b.shape
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    assert diff <= atol, f"max abs diff {diff:.3g} > {atol}"


def _close_states(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=ATOL, rtol=1e-5)  # sums grow with length


@pytest.mark.parametrize("length", LENGTHS)
def test_single_sequence_parity(exported, length):
    tokens, lengths = _tokens([length], seed=length)
    ref, ref_states = exported.eager(tokens, lengths)
    for probs, states in (exported.torchscript(tokens, lengths), exported.onnx(tokens, lengths)):
        _close(probs, ref)
        _close_states(states, ref_states)


def test_padded_batch_parity(exported):
    tokens, lengths = _tokens([7, 20000, 1, 1000], seed=5)
    ref, _ = exported.eager(tokens, lengths)
    _close(exported.torchscript(tokens, lengths)[0], ref)
    _close(exported.onnx(tokens, lengths)[0], ref)
    for row in range(len(lengths)):  # padding changes nothing
        n = int(lengths[row])
        alone, _ = exported.eager(tokens[row : row + 1, :n], lengths[row : row + 1])
        _close(ref[row : row + 1], alone)


def test_chunked_onnx_equals_one_shot(exported):
    stride = exported.model.config.stride
    total = stride * 600 + 3
    tokens, lengths = _tokens([total, stride * 38 + 1], seed=11)
    one_shot, _ = exported.onnx(tokens, lengths)
    states = [s.numpy() for s in exported.states(2)]
    bounds = [0, stride, stride * 38, stride * 41, stride * 600, total]  # awkward cuts, ragged tail
    for lo, hi in zip(bounds, bounds[1:]):
        chunk_lengths = np.clip(lengths - lo, 0, hi - lo).astype(np.int64)
        probs, states = exported.onnx(np.ascontiguousarray(tokens[:, lo:hi]), chunk_lengths, states)
    _close(probs, one_shot)


def test_graph_is_standard_onnx(exported):
    model = onnx.load(str(exported.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert non_default_domains(model) == []
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    ops = [n.op_type for n in model.graph.node]
    assert "Loop" not in ops
    if exported.model.config.kind == "qrnn":
        scans = [n for n in model.graph.node if n.op_type == "Scan"]
        assert len(scans) == exported.model.config.layers
        for scan in scans:  # default is the fused form: (1 - f) * z computed inside the body
            body = next(a.g for a in scan.attribute if a.name == "body")
            body_ops = [n.op_type for n in body.node]
            assert body_ops[:2] == ["Sub", "Mul"], body_ops
    inputs = {i.name: i for i in exported.session.get_inputs()}
    n_states = len(exported.model.state_shapes())
    assert list(inputs) == ["tokens", "lengths"] + [f"state_in_{i}" for i in range(n_states)]
    assert inputs["tokens"].type == "tensor(uint8)" and inputs["lengths"].type == "tensor(int64)"
    assert [o.name for o in exported.session.get_outputs()] == ["probs"] + [f"state_out_{i}" for i in range(n_states)]
    assert all(isinstance(d, str) for d in inputs["tokens"].shape)  # dynamic batch and length


def test_metadata(exported):
    model = onnx.load(str(exported.onnx_path))
    raw = {p.key: p.value for p in model.metadata_props}
    meta = parse_metadata(raw)
    cfg = exported.model.config
    assert meta["format_version"] == 1
    assert meta["classes"] == list(cfg.classes)
    assert meta["thresholds"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert meta["alphabet"] == "ACGTN" and meta["pad_code"] == PAD_CODE and meta["stride"] == cfg.stride
    assert meta["model_kind"] == cfg.kind and ModelConfig.from_dict(meta["hparams"]) == cfg
    assert meta["train_data_sha256"] == "deadbeef"
    assert meta["package_version"] == __version__ and meta["precision"] == "fp32"
    assert exported.session.get_modelmeta().custom_metadata_map == raw
    assert exported.ts_meta == raw


def test_fp16_within_tolerance(exported, tmp_path):
    path = export_onnx(exported.model, tmp_path / "m16.onnx", precision="fp16")
    session = _session(path)
    assert parse_metadata(session.get_modelmeta().custom_metadata_map)["precision"] == "fp16"
    assert [i.type for i in session.get_inputs()][:3] == ["tensor(uint8)", "tensor(int64)", "tensor(float)"]
    tokens, lengths = _tokens([20000, 1000, 7, 1], seed=3)
    ref, _ = exported.eager(tokens, lengths)
    probs, _ = exported.onnx(tokens, lengths, session=session)
    assert probs.dtype == np.float32
    _close(probs, ref, atol=FP16_ATOL)


def test_caller_model_untouched(exported):
    before = {k: v.clone() for k, v in exported.model.state_dict().items()}
    build_onnx(exported.model)
    tokens, lengths = _tokens([50], seed=1)
    exported.eager(tokens, lengths)  # still callable (weight-norm class not damaged)
    after = exported.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_alternative_formulation_matches():
    torch.manual_seed(0)
    model = LocalizationModel(CONFIGS["qrnn"]).eval()
    tokens, lengths = _tokens([999, 40], seed=2)
    outs = []
    for formulation in FORMULATIONS:
        proto = build_onnx(model, formulation=formulation)
        session = _session(proto)
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update({f"state_in_{i}": s.numpy() for i, s in enumerate(model.zero_states(2))})
        outs.append(session.run(None, feed)[0])
    for other in outs[1:]:
        _close(outs[0], other, atol=1e-6)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, LocalizationModel(CONFIGS["tcn"]), thresholds=[0.25] * 6, train_data_sha256="cafe")
    return path


def test_export_from_checkpoint(checkpoint, tmp_path):
    path = export_onnx_from_checkpoint(checkpoint, tmp_path / "c.onnx")
    meta = parse_metadata({p.key: p.value for p in onnx.load(str(path)).metadata_props})
    assert meta["thresholds"] == [0.25] * 6 and meta["train_data_sha256"] == "cafe"


def test_cli_writes_files(checkpoint, tmp_path):
    result = CliRunner().invoke(export_cli, [str(checkpoint), "--format", "both", "--fp16", "-o", str(tmp_path),
                                             "--name", "m"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m.fp16.onnx", "m.onnx", "m.pt"]
    assert result.output.split() == [str(tmp_path / n) for n in ("m.onnx", "m.fp16.onnx", "m.pt")]


def test_cli_garbage_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04 definitely not a checkpoint")
    result = CliRunner().invoke(export_cli, [str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "bad.pt" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
