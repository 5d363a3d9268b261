"""Runtime core: reader, batching, session, writers, API (issue 6)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import random_seq, write_fasta
from rnaloc_infer.alphabet import encode, pad_batch
from rnaloc_infer.api import Prediction, Predictor
from rnaloc_infer.batching import BatchConfig, Scored, plan_batches, predict_stream
from rnaloc_infer.errors import InputError
from rnaloc_infer.fasta import Record, RecordError, read_fasta
from rnaloc_infer.session import ModelSession


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(12345)


# --- reader -----------------------------------------------------------------------------


def test_reader_wrapped_lines_crlf_and_normalisation(tmp_path):
    path = tmp_path / "x.fa"
    path.write_bytes(b">a first record\r\nACGU\r\nacgu\r\n\r\n>b\nRYKM\nN-.\n>c  spaced\n AC GT \n")
    records = list(read_fasta(path))
    assert [r.id for r in records] == ["a", "b", "c"]
    assert records[0].header == "a first record"
    assert records[0].codes.tolist() == encode("ACGTACGT").tolist()
    assert records[1].codes.tolist() == [4] * 7
    assert records[2].codes.tolist() == [0, 1, 2, 3]
    assert [r.number for r in records] == [1, 2, 3]


def test_reader_several_files_and_gzip(tmp_path, rng):
    recs = [(f"r{i}", random_seq(rng, int(n))) for i, n in enumerate(rng.integers(1, 300, 20))]
    a = write_fasta(tmp_path / "a.fa", recs[:10])
    b = write_fasta(tmp_path / "b.fa", recs[10:])
    gz = tmp_path / "b.fa.gz"
    gz.write_bytes(gzip.compress(b.read_bytes()))
    got = [(r.id, r.length, r.source) for r in read_fasta([a, gz])]
    assert [g[:2] for g in got] == [(n, len(s)) for n, s in recs]
    assert got[0][2] == str(a) and got[-1][2] == str(gz)


def test_reader_small_blocks_equal_large(tmp_path, rng):
    """Records cut across read blocks come out whole."""
    from rnaloc_infer.fasta import read_file

    recs = [(f"r{i}", random_seq(rng, int(n))) for i, n in enumerate(rng.integers(1, 500, 30))]
    path = write_fasta(tmp_path / "a.fa", recs, width=7)
    for block in (1, 3, 64, 1 << 20):
        got = [(r.id, "".join("ACGTN"[c] for c in r.codes)) for r in read_file(path, block_size=block)]
        assert got == recs


def test_reader_errors_name_file_and_record(tmp_path):
    path = tmp_path / "p.fa"
    path.write_text(">ok\nACGT\n>prot1 some protein\nMKTLLPE\n>\nACGT\n>empty\n")
    items = list(read_fasta(path))
    assert isinstance(items[0], Record)
    assert isinstance(items[1], RecordError) and items[1].id == "prot1" and "protein" in items[1].problem
    assert str(path) in items[1].message and "'prot1'" in items[1].message
    assert isinstance(items[2], RecordError) and "#3" in items[2].message and "no id" in items[2].problem
    assert isinstance(items[3], RecordError) and "empty sequence" in items[3].problem


# --- batching ---------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 50, 1000, 10**9])
def test_plan_batches_covers_everything_within_budget(budget, rng):
    lengths = [int(x) for x in rng.integers(1, 400, 200)]
    batches = plan_batches(lengths, budget)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * width <= budget


def test_plan_batches_sorted_lengths_limit_padding(rng):
    lengths = [int(x) for x in rng.integers(1, 2000, 2000)]
    batches = plan_batches(lengths, 20_000)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded <= 1.1 * sum(lengths)  # sorting keeps padding waste small


def test_plan_batches_in_a_given_order_as_training_uses_it(rng):
    """Training cuts each length-sorted pool in ascending order: consecutive runs, each within budget."""
    lengths = [int(x) for x in rng.integers(1, 3000, 500)]
    ascending = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = plan_batches(lengths, 20_000, ascending)
    assert [i for b in batches for i in b] == ascending  # order kept, nothing lost or repeated
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 20_000
    for batch, following in zip(batches, batches[1:]):  # greedy: the next record would not have fit
        assert (len(batch) + 1) * lengths[following[0]] > 20_000


def test_skip_report_counts_names_first_ones_and_lists_all(caplog):
    """The skip path shared by the local and the Ray engine (rnaloc_infer.output.errors_report.SkipReport)."""
    import io

    from rnaloc_infer.output.errors_report import MAX_ERRORS_SHOWN, ErrorWriter, SkipReport

    buf = io.StringIO()
    report = SkipReport(ErrorWriter(buf), errors_file="bad.tsv")
    errors = [RecordError("in.fa", n, f"r{n}", "empty\tsequence") for n in range(1, MAX_ERRORS_SHOWN + 6)]
    with caplog.at_level("WARNING"):
        for error in errors:
            report.add(error)
        report.finish()
    assert report.count == len(errors)
    warnings = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("skipped ") for m in warnings) == MAX_ERRORS_SHOWN
    assert f"{len(errors)} records skipped in total (first {MAX_ERRORS_SHOWN} shown; all in bad.tsv)" in warnings
    import csv

    rows = list(csv.reader(io.StringIO(buf.getvalue()), delimiter="\t"))
    assert rows[0] == ["source", "record_number", "id", "problem"] and len(rows) == len(errors) + 1
    assert rows[1] == ["in.fa", "1", "r1", "empty\tsequence"]  # a tab inside a field is quoted, not a new column


def _records(seqs):
    return [Record(f"s{i}", f"s{i}", encode(s), "mem", i + 1) for i, s in enumerate(seqs)]


def test_session_intra_op_threads_and_its_deprecated_name(tcn_model):
    """``threads`` means the cores a command uses; a session's ORT threads are ``intra_op_threads``
    (``threads=`` still works here, with a DeprecationWarning, until every caller moved)."""
    from rnaloc_infer.errors import ModelError

    with pytest.warns(DeprecationWarning, match="intra_op_threads"):
        old = ModelSession(tcn_model, device="cpu", threads=2)
    assert old.info.classes == ModelSession(tcn_model, device="cpu", intra_op_threads=2).info.classes
    with pytest.raises(ModelError, match="give intra_op_threads only"):
        ModelSession(tcn_model, device="cpu", intra_op_threads=1, threads=2)
    with pytest.raises(ModelError, match="intra_op_threads must be >= 1"):
        ModelSession(tcn_model, device="cpu", intra_op_threads=0)


def test_output_order_equals_input_order_for_shuffled_lengths(tcn_model, rng):
    session = ModelSession(tcn_model, device="cpu", intra_op_threads=1)
    lengths = rng.permutation(np.concatenate([rng.integers(1, 50, 30), rng.integers(200, 900, 10), [3000, 5000]]))
    seqs = [random_seq(rng, int(n)) for n in lengths]
    config = BatchConfig(batch_nt=2000, window_records=7, window_nt=6000, chunk_nt=1000)
    out = list(predict_stream(_records(seqs), session, config))
    assert [o.id for o in out] == [f"s{i}" for i in range(len(seqs))]
    assert [o.length for o in out] == [int(n) for n in lengths]
    for o, seq in zip(out, seqs):
        alone, _ = session.run(encode(seq)[None, :], np.array([len(seq)], dtype=np.int64))
        assert np.abs(o.probs - alone[0]).max() <= 1e-4


def test_io_binding_path_equals_plain_run(any_model, rng):
    """The I/O-binding path (default on CUDA) gives the plain path's results; states come back
    as OrtValues that the next chunk takes as they are. Exercised on the CPU provider here."""
    plain = ModelSession(any_model, device="cpu", intra_op_threads=1)
    bound = ModelSession(any_model, device="cpu", intra_op_threads=1, io_binding=True)
    assert bound.io_binding and not plain.io_binding
    seqs = [random_seq(rng, int(n)) for n in (5, 300, 1200)]
    tokens, lengths = pad_batch([encode(s) for s in seqs])
    expected, _ = plain.run(tokens, lengths)
    got, states = bound.run(tokens, lengths)
    assert np.abs(got - expected).max() <= 1e-6
    assert all(type(state).__name__ == "OrtValue" for state in states)
    codes = encode(random_seq(rng, 5000))
    assert np.abs(bound.predict_long(codes, 1000) - plain.predict_long(codes, 1000)).max() <= 1e-6


def test_record_alone_equals_record_in_batch(any_model, rng):
    session = ModelSession(any_model, device="cpu", intra_op_threads=1)
    seqs = [random_seq(rng, int(n)) for n in rng.integers(1, 400, 25)]
    batched = list(predict_stream(_records(seqs), session, BatchConfig(batch_nt=10**7)))
    for seq, item in zip(seqs, batched):
        alone = list(predict_stream(_records([seq]), session, BatchConfig()))[0]
        assert np.abs(item.probs - alone.probs).max() <= 1e-5


def test_chunked_path_equals_one_shot(any_model, rng):
    session = ModelSession(any_model, device="cpu", intra_op_threads=1)
    seq = random_seq(rng, 20_003)
    codes = encode(seq)
    one_shot, _ = session.run(codes[None, :], np.array([codes.size], dtype=np.int64))
    for chunk_nt in (1000, 4097):  # 4097 is rounded down to a multiple of the stride
        chunked = session.predict_long(codes, chunk_nt)
        assert np.abs(chunked - one_shot[0]).max() <= 1e-4
    short = codes[:403]  # smallest chunks (one stride) and a ragged tail
    reference, _ = session.run(short[None, :], np.array([short.size], dtype=np.int64))
    assert np.abs(session.predict_long(short, 4) - reference[0]).max() <= 1e-4
    via_stream = list(predict_stream(_records([seq]), session, BatchConfig(chunk_nt=512)))[0]
    assert np.abs(via_stream.probs - one_shot[0]).max() <= 1e-4


def test_stream_fail_and_skip_modes(tcn_model):
    session = ModelSession(tcn_model, device="cpu")
    items = [_records(["ACGT"])[0], RecordError("f.fa", 2, "bad", "invalid character"), _records(["GGG"])[0]]
    with pytest.raises(InputError, match="f.fa: record 'bad' \\(#2\\): invalid character"):
        list(predict_stream(items, session))
    out = list(predict_stream(items, session, on_error="skip"))
    assert [type(o) for o in out] == [Scored, RecordError, Scored]


# --- session ----------------------------------------------------------------------------


def test_session_reads_contract_from_metadata(any_model):
    session = ModelSession(any_model, device="cpu")
    assert session.info.classes == ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")
    assert session.info.thresholds == (0.3, 0.4, 0.5, 0.5, 0.6, 0.7)
    assert session.info.stride == 4
    states = session.zero_states(3)
    assert states and all(s.shape[0] == 3 and s.dtype == np.float32 and not s.any() for s in states)
    assert session.chunk_length(10) == 8 and session.chunk_length(1) == 4
    assert session.providers == ["CPUExecutionProvider"]


# --- API --------------------------------------------------------------------------------


def test_predictor_predict_and_fasta_agree(tcn_model, tmp_path, rng):
    seqs = [random_seq(rng, int(n), "ACGUacgun") for n in rng.integers(1, 300, 12)]
    path = write_fasta(tmp_path / "x.fa", [(f"id{i} desc", s) for i, s in enumerate(seqs)])
    predictor = Predictor(tcn_model, device="cpu", threads=1)
    probs = predictor.predict(seqs)
    assert probs.shape == (12, 6) and probs.dtype == np.float32
    preds = list(predictor.predict_fasta(path))
    assert all(isinstance(p, Prediction) for p in preds)
    assert [p.id for p in preds] == [f"id{i}" for i in range(12)]
    for p, row in zip(preds, probs):
        assert np.allclose(list(p.probabilities.values()), row, atol=1e-6)
        assert set(p.labels) == {c for c, t, v in zip(predictor.classes, predictor.thresholds, row) if v >= t}
    assert predictor.predict([]).shape == (0, 6)
    with pytest.raises(ValueError, match="sequence 1: invalid character 'E'"):
        predictor.predict(["ACGT", "MEEP"])


def test_predictor_is_thread_safe(tcn_model, rng):
    predictor = Predictor(tcn_model, device="cpu", threads=1, batch_nt=500)
    seqs = [random_seq(rng, int(n)) for n in rng.integers(1, 200, 40)]
    expected = predictor.predict(seqs)
    results = [None] * 4

    def work(k):
        results[k] = predictor.predict(seqs)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert np.array_equal(r, expected)


def test_lazy_reexport_and_no_torch_in_runtime():
    code = (
        "import sys, rnaloc_infer\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "from rnaloc_infer import Predictor\n"
        "import rnaloc_infer.api, rnaloc_infer.cli.predict, rnaloc_infer.output.run, rnaloc_infer.bundled\n"
        "assert 'torch' not in sys.modules and 'onnx' not in sys.modules, sorted(m for m in sys.modules if 'onnx' in m or 'torch' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bundled_model_lookup(tmp_path, monkeypatch, tcn_model):
    from rnaloc_infer import bundled
    from rnaloc_infer.errors import ModelError

    monkeypatch.setattr(bundled, "_models_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match="no bundled model named 'default'"):
        bundled.resolve_model("default")
    (tmp_path / "default.onnx").write_bytes(Path(tcn_model).read_bytes())
    assert bundled.resolve_model("default") == tmp_path / "default.onnx"
    assert bundled.bundled_models() == ["default"]
    assert bundled.resolve_model(str(tcn_model)) == Path(tcn_model)


def test_predict_fasta_skip_collects_errors(tcn_model, tmp_path):
    path = tmp_path / "m.fa"
    path.write_text(">a\nACGT\n>b\nMEEP\n>c\nGG\n")
    predictor = Predictor(tcn_model, device="cpu")
    with pytest.raises(InputError, match="'b' \\(#2\\)"):
        list(predictor.predict_fasta(path))
    errors = []
    assert [p.id for p in predictor.predict_fasta([path], on_error="skip", errors=errors)] == ["a", "c"]
    assert [(e.id, e.number) for e in errors] == [("b", 2)]


def test_fp16_sibling_lookup(tmp_path):
    from rnaloc_infer.session import twin_file

    model = tmp_path / "default.onnx"
    model.write_bytes(b"")
    assert twin_file(model, "fp16") is None
    (tmp_path / "default.fp16.onnx").write_bytes(b"")
    assert twin_file(model, "fp16") == tmp_path / "default.fp16.onnx"
    assert twin_file(tmp_path / "default.fp16.onnx", "fp16") is None


def test_writer_labels_and_empty_marker():
    import io

    from rnaloc_infer.output.tables import ResultWriter, predicted_labels

    buf = io.StringIO()
    writer = ResultWriter(buf, "tsv", ["A", "B"], [0.5, 0.9])
    for rid, length, probs in (("x", 10, [0.5, 0.95]), ("y", 3, [0.1, 0.2])):
        probs = np.array(probs, dtype=np.float32)
        writer.write(rid, length, probs, labels=predicted_labels(probs, ["A", "B"], [0.5, 0.9]))
    writer.write("z", 5, np.array([0.9, 0.99], dtype=np.float32), applicability=("too_short",), labels=None)
    assert buf.getvalue().splitlines() == ["id\tlength\tA\tB\tlabels\tapplicability", "x\t10\t0.5000\t0.9500\tA,B\t-",
                                           "y\t3\t0.1000\t0.2000\t-\t-", "z\t5\t0.9000\t0.9900\tNA\ttoo_short"]


def test_auto_device_falls_back_to_cpu_when_cuda_fails(tcn_model, monkeypatch, caplog, tmp_path):
    """onnxruntime-gpu without a usable GPU: --device auto must still run (on the CPU, fp32 file)."""
    import shutil

    import onnxruntime as ort

    from rnaloc_infer import session as session_module
    from rnaloc_infer.errors import ModelError

    real = ort.InferenceSession
    tried = []

    def fake_session(path, sess_options=None, providers=None):
        tried.append((Path(path).name, providers[0]))
        if providers and providers[0] == "CUDAExecutionProvider":
            raise RuntimeError("CUDA driver version is insufficient")
        return real(path, sess_options=sess_options, providers=providers)

    # a private graph cache: another test's cached "m.onnx" with the same bytes would be loaded instead
    monkeypatch.setenv("RNALOC_INFER_CACHE", str(tmp_path / "cache"))
    model = shutil.copy(tcn_model, tmp_path / "m.onnx")
    shutil.copy(tcn_model, tmp_path / "m.fp16.onnx")  # the half-precision twin CUDA would take
    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(session_module.ort, "InferenceSession", fake_session)
    session = ModelSession(model, device="auto")
    assert session.device == "cpu" and "CUDA unavailable" in caplog.text
    assert tried == [("m.fp16.onnx", "CUDAExecutionProvider"), ("m.onnx", "CPUExecutionProvider")]
    assert session.info.path.name == "m.onnx"
    with pytest.raises(ModelError, match="CUDA driver version"):
        ModelSession(tcn_model, device="cuda")


def test_predict_rejects_a_bare_string(tcn_model):
    """predict("ACGT") would otherwise score each letter as its own sequence."""
    with pytest.raises(TypeError, match="list of sequences"):
        Predictor(tcn_model, device="cpu", threads=1).predict("ACGT")
