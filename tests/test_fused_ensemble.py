"""Fused ensemble members (training/fused_ensemble.py) compute what the unfused ensemble does,
eager, scripted, through ONNX Runtime in one shot and in chunks, and in fp16; a model rebuilt
from its ONNX file (export/from_onnx.py) scores like the model that was exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from rnaloc_infer.alphabet import encode
from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.features.registry import CODING
from rnaloc_infer.export.from_onnx import model_from_onnx, reexport
from rnaloc_infer.export.onnx_export import export_onnx
from rnaloc_infer.export.torchscript_export import script_model
from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel
from rnaloc_infer.training.fused_ensemble import FusedEnsembleModel, fuse_members
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

REPO = Path(__file__).resolve().parent.parent
TEXTS = ["CCATGGCTCTGCTGCTGTTTATTGCTGGA" * 9 + "TAAGG", "ACGTN" * 3, "A", "GATTACA" * 300]


def _network(**changes) -> ModelConfig:
    return ModelConfig(**{"kind": "qrnn", "hidden": 8, "layers": 2, "stride": 4, "front_kernel": 5, **changes})


def _random_ensemble(members, features: str = CODING, seed: int = 0, linear_ks=(1, 2),
                     forest: Optional[dict] = None) -> EnsembleModel:
    """Every weight, table, blend row and feature statistic random (so a misplaced block shows);
    ``forest``: the shape of a forest member, whose trees are left for the caller to load."""
    torch.manual_seed(seed)
    model = EnsembleModel(EnsembleConfig(_network(), list(members), list(linear_ks), features, forest or {})).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)
        for name, buffer in model.named_buffers():
            if name.endswith("feature_scale"):
                buffer.uniform_(0.5, 2.0)
            elif buffer.is_floating_point() and not name.endswith("one_hot") and not name.startswith("forests."):
                buffer.normal_(0.0, 0.5)
        readers = [m for m in model.members if m.n_head_features]
        for reader in readers[1:]:  # fusable: the readers share one standardisation
            reader.feature_mean.copy_(readers[0].feature_mean)
            reader.feature_scale.copy_(readers[0].feature_scale)
    return model


def _eager(model, texts=TEXTS) -> np.ndarray:
    with torch.no_grad():
        return np.stack([torch.sigmoid(model.predict_logits(torch.from_numpy(encode(t))[None], torch.tensor([len(t)])))[0].numpy()
                         for t in texts])


def _if_nodes(path: Path) -> int:
    return sum(node.op_type == "If" for node in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def ensemble() -> EnsembleModel:
    """Three isomorphic networks (two read the protein features in their heads) + regression."""
    return _random_ensemble([_network(head_features=CODING), _network(head_features=CODING)])


def test_fused_equals_unfused_eager_and_scripted(ensemble):
    fused = fuse_members(ensemble)
    assert isinstance(fused, FusedEnsembleModel) and fused.groups == 3 and len(fused.members) == 0
    assert fused.config == ensemble.config  # so the exported hparams are the ensemble's
    reference = _eager(ensemble)
    np.testing.assert_allclose(_eager(fused), reference, rtol=0, atol=1e-5)
    scripted = script_model(ensemble)  # fused by default
    with torch.no_grad():
        for text, expected in zip(TEXTS, reference):
            codes = torch.from_numpy(encode(text))[None]
            states = fused.zero_states(1)
            features = fused.record_features(codes, torch.tensor([codes.size(1)]))
            probs, _ = scripted(codes, torch.tensor([codes.size(1)]), states, features)
            np.testing.assert_allclose(probs[0].numpy(), expected, rtol=0, atol=1e-5)


def test_fused_onnx_one_shot_chunked_and_fp16(ensemble, tmp_path):
    reference = _eager(ensemble)
    fused = export_onnx(ensemble, tmp_path / "fused.onnx")
    plain = export_onnx(ensemble, tmp_path / "plain.onnx", fuse=False)
    half = export_onnx(ensemble, tmp_path / "fused.fp16.onnx", precision="fp16")
    # one recurrence per layer instead of one per layer and network
    assert (_if_nodes(fused), _if_nodes(plain)) == (2, 6)
    meta = [{p.key: p.value for p in onnx.load(str(path)).metadata_props} for path in (fused, plain)]
    assert meta[0] == meta[1]
    for chunk_nt in (1 << 16, 64):  # one batch; the long record in chunks carrying state
        for path in (fused, plain):
            got = Predictor(path, device="cpu", threads=1, chunk_nt=chunk_nt).predict(TEXTS)
            np.testing.assert_allclose(got, reference, rtol=0, atol=1e-5, err_msg=f"{path.name} chunk {chunk_nt}")
    got = Predictor(half, device="cpu", threads=1).predict(TEXTS)
    assert 0 < np.abs(got - reference).max() <= 1e-2


def test_ensembles_that_cannot_be_fused_export_as_they_are(tmp_path):
    cases = {
        "lstm member": [ModelConfig(kind="lstm", hidden=8, layers=1, stride=4)],
        "other width": [_network(hidden=16)],
        "no members": [],
    }
    for name, members in cases.items():
        model = _random_ensemble(members)
        assert fuse_members(model) is None, name
    different = _random_ensemble([_network(head_features=CODING), _network(head_features=CODING)])
    with torch.no_grad():
        different.members[1].feature_scale.mul_(2.0)
    assert fuse_members(different) is None  # one wide head standardises the features once
    path = export_onnx(different, tmp_path / "different.onnx")
    assert _if_nodes(path) == 6
    np.testing.assert_allclose(Predictor(path, device="cpu", threads=1).predict(TEXTS), _eager(different), atol=1e-5)


@pytest.mark.parametrize("fuse", [True, False])
def test_rebuilt_from_onnx_scores_like_the_exported_model(ensemble, tmp_path, fuse):
    path = export_onnx(ensemble, tmp_path / "m.onnx", fuse=fuse)
    rebuilt = model_from_onnx(path)
    assert type(rebuilt) is (FusedEnsembleModel if fuse else EnsembleModel)
    assert rebuilt.config == ensemble.config
    np.testing.assert_allclose(_eager(rebuilt), _eager(ensemble), rtol=0, atol=1e-6)
    if not fuse:  # every tensor recovered, constant-folded ones included
        for key, value in ensemble.state_dict().items():
            torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_rebuilt_plain_network_with_head_features(tmp_path):
    torch.manual_seed(3)
    network = LocalizationModel(_network(head_features=CODING)).eval()
    with torch.no_grad():
        network.feature_mean.normal_()
        network.feature_scale.uniform_(0.5, 2.0)
    rebuilt = model_from_onnx(export_onnx(network, tmp_path / "net.onnx"))
    assert type(rebuilt) is LocalizationModel
    for key, value in network.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_reexport_keeps_the_metadata(ensemble, tmp_path):
    source = export_onnx(ensemble, tmp_path / "src.onnx", thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                         train_data_sha256="abc", fuse=False)
    fp32, fp16, companion = reexport(source, tmp_path / "out" / "m.onnx")
    assert (fp16.name, companion.name) == ("m.fp16.onnx", "m.ism.npz")
    meta = [{p.key: p.value for p in onnx.load(str(path)).metadata_props} for path in (source, fp32, fp16)]
    assert meta[1] == meta[0]
    assert meta[2] == {**meta[0], "rnaloc.precision": "fp16"}
    assert _if_nodes(fp32) == 2
    with pytest.raises(ValueError, match="fp32"):
        model_from_onnx(fp16)


def test_bundled_default_rebuilds_to_its_expectation():
    """The shipped default (its checkpoint is not kept) rebuilt from its own file reproduces the
    eager probabilities recorded at release."""
    expected = json.loads((REPO / "tests/data/default_model_expected.json").read_text())
    model = model_from_onnx(resolve_model("default"))
    texts = {}
    from rnaloc_infer.fasta import Record, read_fasta

    for record in read_fasta(REPO / expected["fasta"]):
        assert isinstance(record, Record)
        texts[record.id] = record.codes
    with torch.no_grad():
        for record_id, probs in expected["probabilities"].items():
            codes = torch.from_numpy(texts[record_id].copy())[None]
            got = torch.sigmoid(model.predict_logits(codes, torch.tensor([codes.size(1)])))[0].numpy()
            np.testing.assert_allclose(got, probs, rtol=0, atol=1e-5, err_msg=record_id)


def test_export_cli_fuses_unless_told_not_to(ensemble, tmp_path):
    from click.testing import CliRunner

    from rnaloc_infer.cli.export import main
    from rnaloc_infer.training.checkpoint import save_checkpoint

    checkpoint = tmp_path / "ens.pt"
    save_checkpoint(checkpoint, ensemble)
    for flag, ifs in (([], 2), (["--no-fuse"], 6)):
        out = tmp_path / ("plain" if flag else "fused")
        result = CliRunner().invoke(main, [str(checkpoint), "-o", str(out), *flag])
        assert result.exit_code == 0, result.output
        assert _if_nodes(out / "ens.onnx") == ifs
        assert (out / "ens.ism.npz").is_file()  # explain's numpy engine reads fused files too


def test_numpy_ism_engine_reads_the_fused_file(ensemble, tmp_path):
    """export.ism_weights splits the fused network back into the ensemble's networks."""
    from rnaloc_infer.export.ism_weights import check_against_session, from_onnx

    path = export_onnx(ensemble, tmp_path / "fused.onnx")
    model = from_onnx(path)
    assert len(model.networks) == 3
    assert check_against_session(model, path) <= 1e-5


def test_member_checkpoints_from_an_unfused_file(ensemble, tmp_path):
    """The networks of a shipped ensemble, written back as checkpoints for `rnaloc-train ensemble`
    (how the four-member default was built without its members' training checkpoints)."""
    from rnaloc_infer.export.from_onnx import write_member_checkpoints
    from rnaloc_infer.training.checkpoint import load_checkpoint

    path = export_onnx(ensemble, tmp_path / "plain.onnx", fuse=False)
    written = write_member_checkpoints(path, tmp_path / "members")
    networks = [ensemble.network, *ensemble.members]
    assert [p.name for p in written] == [f"member{i}.pt" for i in range(1, len(networks) + 1)]
    for checkpoint, network in zip(written, networks):
        loaded, _ = load_checkpoint(checkpoint)
        assert loaded.config == network.config
        for key, value in network.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0, msg=key)
    from rnaloc_infer.errors import RnalocError

    onto_input = tmp_path / "members" / "member1.pt"  # the model file itself, wherever it is named
    onto_input.unlink()
    path.rename(onto_input)
    with pytest.raises(RnalocError, match="same file"):
        write_member_checkpoints(onto_input, tmp_path / "members")
    assert onnx.load(str(onto_input)).graph.node  # untouched
    with pytest.raises(ValueError, match="unfused ensemble"):
        write_member_checkpoints(export_onnx(ensemble, tmp_path / "fused.onnx"), tmp_path / "nope")
