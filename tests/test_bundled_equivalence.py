"""What ships besides the fp32 graphs: the half-precision twins (run on CUDA in place of the
fp32 file) and the chunked path for long records, both against the fp32 file in one shot, on
the bundled example's real sequences.

Tolerances come from benchmarks/bundled_tolerances.py (figures in docs/EXPORT.md, "The shipped
twins"): fp16 differs by at most 7.8e-4 on examples/example.fa and
5.0e-3 on 500 validation records, so 1e-2 is allowed here; chunked scoring differs by at most
1.2e-7 on the example and 3.6e-7 on those 500 records, so 1e-5 is allowed.
"""

from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.session import ModelSession

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example.fa"
FP16_TOLERANCE = 1e-2
CHUNKED_TOLERANCE = 1e-5
CHUNK_NT = 1000


def _scores(model: Path, **options) -> tuple:
    predictor = Predictor(model, device="cpu", threads=1, **options)
    predictions = list(predictor.predict_fasta(EXAMPLE))
    return [p.length for p in predictions], np.array([list(p.probabilities.values()) for p in predictions])


@pytest.fixture(scope="module", params=("default", "fast"))
def fp32_reference(request):
    """(model path, record lengths, one-shot probabilities): every record in one model call."""
    path = resolve_model(request.param)
    lengths, probs = _scores(path, chunk_nt=1 << 20, batch_nt=1 << 20)
    return path, lengths, probs


def test_fp16_twin_matches_fp32(fp32_reference):
    path, _, reference = fp32_reference
    twin = path.with_name(path.name.replace(".onnx", ".fp16.onnx"))
    assert twin.is_file(), f"{twin.name} does not ship"
    fp16, fp32 = ModelSession(twin, device="cpu").info, ModelSession(path, device="cpu").info
    assert (fp16.precision, fp32.precision) == ("fp16", "fp32")
    for field in ("classes", "thresholds", "stride", "features", "train_data_sha256", "hparams"):
        assert getattr(fp16, field) == getattr(fp32, field), field
    _, half = _scores(twin, chunk_nt=1 << 20, batch_nt=1 << 20)
    assert half.shape == reference.shape
    difference = np.abs(half - reference).max()
    assert 0 < difference <= FP16_TOLERANCE  # 0 would mean the twin is not half precision at all


def test_long_records_chunked_equal_one_shot(fp32_reference, monkeypatch):
    path, lengths, reference = fp32_reference
    long_records = sum(n > CHUNK_NT for n in lengths)
    assert long_records >= 2, "the example needs records longer than the chunk"
    calls = []
    real = ModelSession.predict_long
    monkeypatch.setattr(ModelSession, "predict_long", lambda self, codes, chunk_nt: calls.append(codes.size) or real(self, codes, chunk_nt))
    got_lengths, chunked = _scores(path, chunk_nt=CHUNK_NT)
    assert got_lengths == lengths
    assert sorted(calls) == sorted(n for n in lengths if n > CHUNK_NT)  # every long record, and only those, went in chunks
    np.testing.assert_allclose(chunked, reference, rtol=0, atol=CHUNKED_TOLERANCE)
