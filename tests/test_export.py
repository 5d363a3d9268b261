"""Export parity: eager PyTorch vs TorchScript vs ONNX Runtime (fp32 and fp16), chunking, metadata, CLI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from click.testing import CliRunner

from rnaloc_infer import __version__
from rnaloc_infer.alphabet import PAD_CODE
from rnaloc_infer.cli.export import main as export_cli
from rnaloc_infer.export.metadata import parse_metadata
from rnaloc_infer.export.onnx_export import build_onnx, export_onnx, export_onnx_from_checkpoint
from rnaloc_infer.export.scan import BLOCK, HYBRID_MAX_BATCH, non_default_domains
from rnaloc_infer.export.torchscript_export import export_torchscript, load_torchscript
from rnaloc_infer.session import ModelSession
from rnaloc_infer.training.checkpoint import model_from_config, save_checkpoint
from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

REPO = Path(__file__).resolve().parent.parent

ATOL = 1e-4
FP16_ATOL = 2e-3  # documented in docs/EXPORT.md
LENGTHS = (1, 7, 1000, 20000)
KINDS = ("qrnn", "tcn", "lstm", "qrnn_motif", "qrnn_kmer", "lstm_kmer", "qrnn_ensemble", "network_ensemble",
         "coding_ensemble", "head_features")
CONFIGS = {
    "qrnn": ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2),
    "tcn": ModelConfig(kind="tcn", hidden=12, layers=3, stride=8, kernel_size=3),
    "lstm": ModelConfig(kind="lstm", hidden=8, layers=2, stride=4),
    # the default model's front end: a causal motif convolution whose context is a carried state
    "qrnn_motif": ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2, front_kernel=7),
    # k-mer embedding encoder + k-mer bag (tables as Gathers, k-mer contexts as carried states)
    "qrnn_kmer": ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2, front_kernel=5,
                             kmer_k=4, kmer_dim=6, bag_k=3, bag_dim=4),
    "lstm_kmer": ModelConfig(kind="lstm", hidden=8, layers=1, stride=4, kmer_k=3, kmer_dim=5),
    # network + in-graph k-mer regression (k = 1 and 3), blended (tables filled at random below)
    "qrnn_ensemble": EnsembleConfig(ModelConfig(kind="qrnn", hidden=16, layers=2, stride=4, window=2, front_kernel=5),
                                    linear_ks=[1, 3]),
    # several networks (QRNN + LSTM + TCN members) and the regression, blended in one graph
    "network_ensemble": EnsembleConfig(ModelConfig(kind="qrnn", hidden=16, layers=1, stride=4, window=2, front_kernel=5),
                                       members=[ModelConfig(kind="lstm", hidden=8, layers=1, stride=4, front_kernel=3),
                                                ModelConfig(kind="tcn", hidden=8, layers=2, stride=4)],
                                       linear_ks=[2]),
    # a network reading the encoded protein's features in its head (standardised with stored statistics)
    "head_features": ModelConfig(kind="lstm", hidden=8, layers=1, stride=4, front_kernel=3, head_features="coding-v1"),
    # the regression also reads the features (a graph input the runtime fills), so does a member's head
    "coding_ensemble": EnsembleConfig(ModelConfig(kind="qrnn", hidden=16, layers=1, stride=4, window=2, front_kernel=5),
                                      members=[ModelConfig(kind="qrnn", hidden=8, layers=1, stride=4,
                                                           head_features="coding-v1")],
                                      linear_ks=[1], features="coding-v1"),
}


def _build(config):
    return EnsembleModel(config) if isinstance(config, EnsembleConfig) else LocalizationModel(config)


def _networks(model):
    return [model.network, *model.members] if isinstance(model, EnsembleModel) else [model]


def _formulations():
    """The benchmark's fo-pooling alternatives (benchmarks/fo_pooling_formulations.py)."""
    spec = importlib.util.spec_from_file_location("fo_pooling_formulations",
                                                  REPO / "benchmarks" / "fo_pooling_formulations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def _zero_states(session: ort.InferenceSession, batch: int) -> list:
    """Zero carried states shaped as the file declares them: an exported motif context has one
    channel more than the training model's (the padding channel, export/pad_channel.py)."""
    inputs = [i for i in session.get_inputs() if i.name.startswith("state_in_")]
    return [np.zeros([batch, *i.shape[1:]], dtype=np.float16 if i.type == "tensor(float16)" else np.float32)
            for i in inputs]


def _without_pad_channel(onnx_states, eager_states):
    """ONNX states comparable with eager ones: a motif context's padding channel (last) dropped."""
    return [x[:, : y.shape[1]] if x.ndim == 3 and x.shape[1] == y.shape[1] + 1 else x
            for x, y in zip(onnx_states, eager_states)]


def _tokens(lengths, seed=0):
    rng = np.random.default_rng(seed)
    width = max(lengths)
    tokens = np.full((len(lengths), width), PAD_CODE, dtype=np.uint8)
    for row, n in enumerate(lengths):
        tokens[row, :n] = rng.integers(0, 5, n)
    return tokens, np.asarray(lengths, dtype=np.int64)


class Exported:
    def __init__(self, kind, tmp):
        torch.manual_seed(KINDS.index(kind) + 1)
        self.model = _build(CONFIGS[kind]).eval()
        with torch.no_grad():
            if isinstance(self.model, EnsembleModel):
                for member in self.model.regression.kmers:
                    member.table.uniform_(-0.5, 0.5)
                    member.table[:, -1] = 1.0
                self.model.blend.uniform_(-1.5, 1.5)
                self.model.regression.feature_weights.normal_(0.0, 0.3)
            for network in _networks(self.model):
                network.feature_mean.normal_(0.0, 0.5)
                network.feature_scale.uniform_(0.5, 2.0)
        meta = {"thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "train_data_sha256": "deadbeef"}
        self.onnx_path = export_onnx(self.model, tmp / f"{kind}.onnx", **meta)
        self.session = _session(self.onnx_path)
        self.ts_path = export_torchscript(self.model, tmp / f"{kind}.pt", **meta)
        self.scripted, self.ts_meta = load_torchscript(self.ts_path)

    def states(self, batch):
        return self.model.zero_states(batch)

    def features(self, tokens, lengths):
        """Per-record features of whole records (None for models without them)."""
        features = self.model.record_features(torch.from_numpy(tokens), torch.from_numpy(lengths))
        return None if features is None else features.numpy()

    def eager(self, tokens, lengths, states=None):
        states = self.states(len(lengths)) if states is None else [torch.from_numpy(s) for s in states]
        features = self.model.record_features(torch.from_numpy(tokens), torch.from_numpy(lengths))
        with torch.no_grad():
            logits, new = self.model(torch.from_numpy(tokens), torch.from_numpy(lengths), states, features)
        return torch.sigmoid(logits).numpy(), [s.numpy() for s in new]

    def torchscript(self, tokens, lengths):
        features = self.model.record_features(torch.from_numpy(tokens), torch.from_numpy(lengths))
        with torch.no_grad():
            probs, new = self.scripted(torch.from_numpy(tokens), torch.from_numpy(lengths), self.states(len(lengths)),
                                       features)
        return probs.numpy(), [s.numpy() for s in new]

    def onnx(self, tokens, lengths, states=None, session=None, features=None):
        """``features`` default to those of ``tokens`` as whole records."""
        session = session or self.session
        states = _zero_states(session, len(lengths)) if states is None else states
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update({f"state_in_{i}": s for i, s in enumerate(states)})
        if self.model.n_features:
            feed["features"] = self.features(tokens, lengths) if features is None else features
        out = session.run(None, feed)
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
        np.testing.assert_allclose(x, y, atol=ATOL, rtol=1e-4)  # sums over 20,000 positions: fp32 summation order


@pytest.mark.parametrize("length", LENGTHS)
def test_single_sequence_parity(exported, length):
    tokens, lengths = _tokens([length], seed=length)
    ref, ref_states = exported.eager(tokens, lengths)
    for probs, states in (exported.torchscript(tokens, lengths), exported.onnx(tokens, lengths)):
        _close(probs, ref)
        _close_states(_without_pad_channel(states, ref_states), ref_states)


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
    states = _zero_states(exported.session, 2)
    features = exported.features(tokens, lengths)  # of the whole records, fed with every chunk
    bounds = [0, stride, stride * 38, stride * 41, stride * 600, total]  # awkward cuts, ragged tail
    for lo, hi in zip(bounds, bounds[1:]):
        chunk_lengths = np.clip(lengths - lo, 0, hi - lo).astype(np.int64)
        probs, states = exported.onnx(np.ascontiguousarray(tokens[:, lo:hi]), chunk_lengths, states, features=features)
    _close(probs, one_shot)


def test_graph_is_standard_onnx(exported):
    model = onnx.load(str(exported.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert non_default_domains(model) == []
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    ops = [n.op_type for n in model.graph.node]
    assert "Loop" not in ops
    layers = sum(network.config.layers for network in _networks(exported.model) if network.config.kind == "qrnn")
    # per QRNN layer If(batch <= 8): blocked16 (Splits 16-way, x = (1 - f) * z formed from the
    # time-major f and z, Scan over blocks) else the per-step Scan forming x in its body
    ifs = [n for n in model.graph.node if n.op_type == "If"]
    assert len(ifs) == layers
    for node in ifs:
        then, other = (next(a.g for a in node.attribute if a.name == key) for key in ("then_branch", "else_branch"))
        assert _split_counts(then).count(BLOCK) == 2 and any(n.name.endswith("_omf") for n in then.node)
        scan = next(n for n in other.node if n.op_type == "Scan")
        body = next(a.g for a in scan.attribute if a.name == "body")
        assert [n.op_type for n in body.node][:2] == ["Sub", "Mul"]
    inputs = {i.name: i for i in exported.session.get_inputs()}
    n_states = len(exported.model.state_shapes())
    features = ["features"] if exported.model.n_features else []
    assert list(inputs) == ["tokens", "lengths"] + [f"state_in_{i}" for i in range(n_states)] + features
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
    assert meta["model_kind"] == cfg.kind and type(cfg).from_dict(meta["hparams"]) == cfg
    assert type(model_from_config(meta["hparams"])) is type(exported.model)
    assert meta["train_data_sha256"] == "deadbeef"
    assert meta["package_version"] == __version__ and meta["precision"] == "fp32"
    assert meta["features"] == ("coding-v1" if exported.model.n_features else "")
    # the runtime accepts the file: its inputs match what the metadata promises
    assert ModelSession(exported.onnx_path, device="cpu", intra_op_threads=1).info.features == meta["features"]
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


def test_benchmark_formulations_match():
    """The alternatives benchmarks/onnx_fo_pooling.py measures against the shipped one agree."""
    torch.manual_seed(0)
    model = LocalizationModel(CONFIGS["qrnn"]).eval()
    tokens, lengths = _tokens([999, 40], seed=2)
    outs = []
    for lower in _formulations().LOWERINGS.values():
        proto = build_onnx(model, lower_fo_pool=lower)
        session = _session(proto)
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update({f"state_in_{i}": s.numpy() for i, s in enumerate(model.zero_states(2))})
        outs.append(session.run(None, feed)[0])
    for other in outs[1:]:
        _close(outs[0], other, atol=1e-6)


def _split_counts(graph):
    """Output counts of every Split node, in the graph and in Scan bodies."""
    counts = []
    for node in graph.node:
        if node.op_type == "Split":
            counts.append(len(node.output))
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                counts += _split_counts(attr.g)
    return counts


@pytest.mark.parametrize("formulation", ["scan_tbh_unrolled16", "shipped"])
def test_blocked_formulations_match_reference(formulation):
    """K = 16 steps per Scan iteration (benchmark alternative) / per block (shipped, batch 1 takes
    blocked16); step counts that are not multiples of 16 (and 1) are padded in-graph with f = 1
    and sliced back; chunked calls carry the state exactly."""
    k = 16
    torch.manual_seed(0)
    model = LocalizationModel(CONFIGS["qrnn"]).eval()
    lower = {"lower_fo_pool": _formulations().LOWERINGS[formulation]} if formulation != "shipped" else {}
    proto = build_onnx(model, **lower)
    if formulation.startswith("scan_tbh_unrolled"):
        scans = [n for n in proto.graph.node if n.op_type == "Scan"]
        assert len(scans) == CONFIGS["qrnn"].layers
        bodies = [a.g for n in scans for a in n.attribute if a.name == "body"]
        assert all(sum(1 for m in b.node if m.op_type == "Split" and len(m.output) == k) == 2 for b in bodies)
        assert all(sum(1 for m in b.node if m.op_type == "Sub") == 1 for b in bodies)  # fused (1 - f) * z
    else:
        assert _split_counts(proto.graph).count(k) == 2 * CONFIGS["qrnn"].layers
    session = _session(proto)
    stride = CONFIGS["qrnn"].stride
    feed_states = [s.numpy() for s in model.zero_states(1)]
    for length in (1, 7, 5 * stride, 999, 37 * stride + 3):  # 1, 2, 5, 250, 38 steps: none a multiple of 16
        tokens, lengths = _tokens([length], seed=length)
        with torch.no_grad():
            logits, ref_states = model(torch.from_numpy(tokens), torch.from_numpy(lengths), model.zero_states(1))
        feed = {"tokens": tokens, "lengths": lengths, **{f"state_in_{i}": s for i, s in enumerate(feed_states)}}
        out = session.run(None, feed)
        _close(torch.sigmoid(logits).numpy(), out[0], atol=1e-5)
        _close_states([s.numpy() for s in ref_states], out[1:])
    # chunked (cut at 13 steps, not a multiple of K) equals one-shot
    tokens, lengths = _tokens([999], seed=3)
    one_shot = session.run(None, {"tokens": tokens, "lengths": lengths,
                                  **{f"state_in_{i}": s for i, s in enumerate(feed_states)}})[0]
    states, cut = feed_states, 13 * stride
    for start in range(0, 999, cut):
        piece = tokens[:, start:start + cut]
        out = session.run(None, {"tokens": piece, "lengths": np.array([piece.shape[1]], np.int64),
                                 **{f"state_in_{i}": s for i, s in enumerate(states)}})
        states = out[1:]
    _close(one_shot, out[0])
    # the fp16 export builds and runs with the same formulation
    half = _session(build_onnx(model, precision="fp16", **lower))
    half_out = half.run(None, {"tokens": tokens, "lengths": lengths,
                               **{f"state_in_{i}": s for i, s in enumerate(feed_states)}})[0]
    _close(one_shot, half_out, atol=FP16_ATOL)


def test_hybrid_formulation_both_branches():
    """hybrid16 takes blocked16 for batch <= 8 and the per-step Scan above; both match eager."""
    torch.manual_seed(0)
    model = LocalizationModel(CONFIGS["qrnn"]).eval()
    session = _session(build_onnx(model))
    small, large = HYBRID_MAX_BATCH, HYBRID_MAX_BATCH + 1
    for batch, length in ((1, 999), (small, 37), (large, 999), (12, 1)):
        tokens, lengths = _tokens([length] * batch, seed=batch)
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(tokens), torch.from_numpy(lengths), model.zero_states(batch))
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update({f"state_in_{i}": s.numpy() for i, s in enumerate(model.zero_states(batch))})
        _close(torch.sigmoid(logits).numpy(), session.run(None, feed)[0], atol=1e-5)


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


def test_cli_writes_the_training_prevalence(checkpoint, tmp_path):
    """--train-labels puts each class's positive rate into the metadata (the reference of
    `rnaloc-infer --profile`); a class with no negatives is refused in one line."""
    from rnaloc_infer.session import ModelSession

    labels = tmp_path / "train_labels.tsv"
    header = "id\tgene\tNucleus\tExosome\tCytosol\tRibosome\tMembrane\tER\n"
    labels.write_text(header + "a\tg\t1\t1\t0\t0\t1\t0\nb\tg\t0\t1\t1\t1\t0\t0\n"
                      "c\tg\t1\t0\t1\t0\t0\t1\nd\tg\t1\t1\t0\t0\t0\t0\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(export_cli, [str(checkpoint), "-o", str(out), "--name", "m", "--train-labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert ModelSession(out / "m.onnx", device="cpu").info.prevalence == (0.75, 0.75, 0.5, 0.25, 0.25, 0.25)
    labels.write_text(header + "a\tg\t1\t1\t0\t0\t1\t0\nb\tg\t0\t1\t1\t1\t0\t1\n")  # Exosome: no negative
    result = CliRunner().invoke(export_cli, [str(checkpoint), "-o", str(tmp_path / "o2"), "--train-labels", str(labels)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "train_labels.tsv" in lines[0] and "positive and negative" in lines[0]
    assert not (tmp_path / "o2").exists()


def test_cli_garbage_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04 definitely not a checkpoint")
    result = CliRunner().invoke(export_cli, [str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "bad.pt" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_cli_writes_the_numpy_ism_companion_of_a_qrnn(tmp_path):
    """QRNN models get ``NAME.ism.npz`` beside the .onnx (explain's numpy engine); a TCN gets none (above)."""
    from rnaloc_infer.explain.numpy_model import load_companion

    from rnaloc_infer import Predictor
    from rnaloc_infer.alphabet import encode
    from rnaloc_infer.explain import brute_force, explain_codes

    torch.manual_seed(5)  # the shipped front end, but kernel 7 over stride 4: three pooled steps per substitution
    save_checkpoint(tmp_path / "q.pt", LocalizationModel(CONFIGS["qrnn_motif"]), thresholds=[0.5] * 6)
    out = tmp_path / "out"
    result = CliRunner().invoke(export_cli, [str(tmp_path / "q.pt"), "-o", str(out), "--name", "q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["q.ism.npz", "q.onnx"]
    assert result.output.split() == [str(out / "q.onnx"), str(out / "q.ism.npz")]
    assert load_companion(out / "q.onnx") is not None
    predictor = Predictor(out / "q.onnx", device="cpu", threads=1)
    sequence = "".join(np.random.default_rng(5).choice(list("ACGT"), 83))
    explanation = explain_codes(predictor.session, encode(sequence), engine="numpy")
    np.testing.assert_allclose(explanation.delta, brute_force(predictor.predict, sequence), atol=2e-6, rtol=0)
    assert np.abs(explanation.delta).max() > 1e-4


def test_padding_mask_is_folded_into_the_motif_convolution(tmp_path):
    """export/pad_channel.py: the exported motif convolution reads one more channel (padding)
    and no mask multiply precedes the max-pooling; the file scores padded batches as the file
    with the multiply does, and the training model's weights are recovered from it."""
    from rnaloc_infer.alphabet import ALPHABET
    from rnaloc_infer.export.from_onnx import model_from_onnx

    torch.manual_seed(0)
    model = LocalizationModel(CONFIGS["qrnn_motif"]).eval()
    folded, plain = export_onnx(model, tmp_path / "m.onnx"), export_onnx(model, tmp_path / "plain.onnx", fuse=False)

    def front(path):
        graph = onnx.load(str(path)).graph
        producers = {out: node for node in graph.node for out in node.output}
        pool = next(node for node in graph.node if node.op_type == "MaxPool")
        weight = next(i for i in graph.initializer if i.name == "model.motif.conv.weight")
        return producers[pool.input[0]].op_type, list(weight.dims)[1]

    assert front(folded) == ("Relu", len(ALPHABET) + 1)
    assert front(plain) == ("Mul", len(ALPHABET))
    tokens, lengths = _tokens([7, 20000, 1, 1000, 3000], seed=9)
    outputs = []
    for path in (folded, plain):
        session = _session(path)
        feed = {"tokens": tokens, "lengths": lengths, **{f"state_in_{i}": s for i, s in enumerate(_zero_states(session, 5))}}
        outputs.append(session.run(None, feed)[0])
    _close(outputs[0], outputs[1], atol=1e-6)
    rebuilt = model_from_onnx(folded)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("kind", ["qrnn_motif", "qrnn_ensemble"])
def test_padding_masks_as_max_min_give_the_same_outputs(kind, monkeypatch):
    """export/cheap_masks.py: no gate or pooling mask is a Where any more; probabilities are
    bit-identical to the graph with the Where nodes on a padded batch, and so is every state of
    a row that fills the call (the states a caller carries on)."""
    from rnaloc_infer.export import onnx_export

    torch.manual_seed(3)
    model = _build(CONFIGS[kind]).eval()
    cheap = build_onnx(model)
    monkeypatch.setattr(onnx_export, "rewrite_masks", lambda proto: 0)
    plain = build_onnx(model)

    def ops(proto):  # the rewrite's own small Where (the pooling's +-inf bound) not counted
        return [node.op_type for node in proto.graph.node if not node.name.startswith("cheap_mask")]

    assert ops(plain).count("Where") - ops(cheap).count("Where") == 3  # two QRNN layers' gates, the max-pooling
    assert ops(cheap).count("Max") - ops(plain).count("Max") == 2 and ops(cheap).count("Min") - ops(plain).count("Min") == 1
    tokens, lengths = _tokens([3000, 7, 1, 2999, 1000, 3000], seed=4)
    full = lengths == tokens.shape[1]
    got = []
    for proto in (cheap, plain):
        session = _session(proto)
        feed = {"tokens": tokens, "lengths": lengths, **{f"state_in_{i}": s for i, s in enumerate(_zero_states(session, 6))}}
        got.append(session.run(None, feed))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    for a, b in zip(got[0][1:], got[1][1:]):
        np.testing.assert_array_equal(a[full], b[full])


def test_mask_rewrite_leaves_other_where_nodes_alone():
    """Only Where(mask, Sigmoid, ones) and Where(not mask, -inf, h) are rewritten: a ones-masked
    ReLU (which could exceed 1) or a -1 fill keeps its Where."""
    from onnx import TensorProto, helper, numpy_helper

    from rnaloc_infer.export.cheap_masks import rewrite_masks

    ones = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["o"], value=ones), helper.make_node("Where", ["m", "r", "o"], ["y1"]),
             helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array(-1.0, np.float32))),
             helper.make_node("Not", ["m"], ["n"]), helper.make_node("Where", ["n", "k", "x"], ["y2"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                                           helper.make_tensor_value_info("m", TensorProto.BOOL, [2, 3])],
                              [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("y2", TensorProto.FLOAT, [2, 3])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert rewrite_masks(proto) == 0
    assert [n.op_type for n in proto.graph.node].count("Where") == 2


@pytest.mark.parametrize("name", ["default", "fast"])
def test_bundled_files_have_their_masks_as_max_min(name):
    """The shipped files and their twins were rewritten (python -m rnaloc_infer.export.cheap_masks):
    nothing is left to rewrite, and each int8 twin still records its fp32 file."""
    from rnaloc_infer.bundled import resolve_model, twin_path
    from rnaloc_infer.export.cheap_masks import rewrite_masks
    from rnaloc_infer.modelfile.digest import file_sha256
    from rnaloc_infer.modelfile.metadata import FP32_SHA256_KEY, read_metadata

    fp32 = resolve_model(name)
    for path in (fp32, twin_path(fp32, "fp16"), twin_path(fp32, "int8")):
        proto = onnx.load(str(path))
        assert rewrite_masks(proto) == 0, path.name
        assert [n.op_type for n in proto.graph.node].count("Max") >= 2, path.name
    assert read_metadata(twin_path(fp32, "int8"))[FP32_SHA256_KEY] == file_sha256(fp32)
