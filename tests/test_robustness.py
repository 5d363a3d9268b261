"""Bad inputs, bad models, bad outputs, signals (issue 9). Corpus: tests/data/."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CLI, cli_env, default_sigint, read_table, rewrite_model
from rnaloc_infer.errors import InputError, ModelError
from rnaloc_infer.fasta import Record, RecordError, read_fasta, read_file
from rnaloc_infer.cli.predict import main
from rnaloc_infer.session import ModelSession

DATA = Path(__file__).parent / "data"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, *needles, code=1):
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnaloc-infer: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr


# --- bad inputs through the CLI: one line, exit 1, no output file -------------------------

FATAL_INPUTS = [
    ("header_only.fa", ["header_only.fa", "'lonely_header'", "empty sequence"]),
    ("no_header.fa", ["no_header.fa", "line 1 should start with '>'"]),
    ("junk.bin", ["junk.bin", "binary data"]),
    ("protein.fa", ["protein.fa", "'sp|P69905|HBA_HUMAN'", "protein"]),
    ("reads.fq", ["reads.fq", "FASTQ"]),
    ("truncated.fa.gz", ["truncated.fa.gz", "truncated or corrupt compressed file"]),
    ("zero_length.fa", ["zero_length.fa", "'empty'", "#2", "empty sequence"]),
]


@pytest.mark.parametrize("name,needles", FATAL_INPUTS, ids=[f[0] for f in FATAL_INPUTS])
def test_bad_input_one_line_error_no_output(name, needles, tcn_model, tmp_path):
    out = tmp_path / "out.tsv"
    result = invoke(DATA / name, "--model", tcn_model, "-o", out)
    assert_one_line_error(result, *needles)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_directory(tcn_model, tmp_path):
    assert_one_line_error(invoke(tmp_path / "nope.fa", "--model", tcn_model), "nope.fa", "no such file")
    assert_one_line_error(invoke(tmp_path, "--model", tcn_model), str(tmp_path), "is a directory")


def test_missing_second_file_fails_before_any_work(tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    result = invoke(DATA / "one_nt.fa", tmp_path / "missing.fa", "--model", tcn_model, "-o", out)
    assert_one_line_error(result, "missing.fa")
    assert not out.exists()


def test_empty_file_gives_header_only_and_warning(tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    result = invoke(DATA / "empty.fa", "--model", tcn_model, "-o", out)
    assert result.exit_code == 0 and "no records found" in result.stderr
    _, rows = read_table(out.read_text())
    assert rows == []


@pytest.mark.parametrize("name,ids", [
    ("crlf.fa", ["crlf1", "crlf2"]),
    ("all_n.fa", ["all_n"]),
    ("one_nt.fa", ["one"]),
    ("wrapped_mixed_case.fa", ["mixed"]),
])
def test_odd_but_valid_inputs_are_predicted(name, ids, tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    result = invoke(DATA / name, "--model", tcn_model, "-o", out)
    assert result.exit_code == 0, result.stderr
    _, rows = read_table(out.read_text())
    assert [r[0] for r in rows] == ids
    assert all(np.isfinite([float(x) for x in r[2:8]]).all() for r in rows)


def test_crlf_equals_lf(tcn_model, tmp_path):
    lf = tmp_path / "lf.fa"
    lf.write_bytes((DATA / "crlf.fa").read_bytes().replace(b"\r\n", b"\n"))
    a = invoke(DATA / "crlf.fa", "--model", tcn_model, "-q").stdout
    b = invoke(lf, "--model", tcn_model, "-q").stdout
    assert a == b


def test_duplicate_ids_allowed_with_warning(tcn_model):
    result = invoke(DATA / "duplicate_ids.fa", "--model", tcn_model)
    assert result.exit_code == 0
    assert "duplicate id" in result.stderr and "'dup'" in result.stderr
    _, rows = read_table(result.stdout)
    assert [r[0] for r in rows] == ["dup", "dup"] and rows[0][2:] != rows[1][2:]


def test_nonutf8_header_is_escaped_not_fatal(tcn_model):
    result = invoke(DATA / "nonutf8_header.fa", "--model", tcn_model, "--format", "jsonl")
    assert result.exit_code == 0
    assert "latin1_\\\\xe9\\\\xff\\\\xfe" in result.stdout  # backslash-escaped in the id


def test_huge_header(tcn_model, tmp_path):
    path = tmp_path / "big_header.fa"
    path.write_text(">big " + "x" * 100_000 + "\nACGT\n")
    result = invoke(path, "--model", tcn_model)
    assert result.exit_code == 0
    assert read_table(result.stdout)[1][0][0] == "big"


def test_skip_mode_with_corpus(tcn_model, tmp_path):
    errs = tmp_path / "errors.tsv"
    result = invoke(DATA / "zero_length.fa", DATA / "protein.fa", DATA / "one_nt.fa", "--model", tcn_model, "--on-error", "skip", "--errors-file", errs)
    assert result.exit_code == 0
    assert [r[0] for r in read_table(result.stdout)[1]] == ["before", "after", "one"]
    assert len(errs.read_text().splitlines()) == 3


# --- bad outputs ----------------------------------------------------------------------------


def test_unwritable_output_paths(tcn_model, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for target in (tmp_path / "no_dir" / "o.tsv", blocker / "o.tsv", tmp_path):
        result = invoke(DATA / "one_nt.fa", "--model", tcn_model, "-o", target)
        assert_one_line_error(result, "cannot write", code=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_output(tcn_model):
    result = invoke(DATA / "crlf.fa", "--model", tcn_model, "-o", "/dev/full")
    assert_one_line_error(result, "/dev/full", code=3)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(CLI + [str(DATA / "crlf.fa"), "--model", str(tcn_model)], stdout=full, stderr=subprocess.PIPE, text=True, env=cli_env())
    assert proc.returncode == 3 and "standard output" in proc.stderr and "Traceback" not in proc.stderr


def test_existing_output_untouched_on_failure(tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    out.write_text("previous results\n")
    invoke(DATA / "protein.fa", "--model", tcn_model, "-o", out)
    assert out.read_text() == "previous results\n"


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_leaves_no_output(signum, code, tcn_model, tmp_path):
    out = tmp_path / "o.tsv"
    proc = subprocess.Popen(CLI + ["-", "--model", str(tcn_model), "-o", str(out), "--window-records", "1"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), preexec_fn=default_sigint)
    proc.stdin.write(b">a\nACGTACGT\n>b\nACGT\n" * 50)
    proc.stdin.flush()
    deadline = time.time() + 60
    while not list(tmp_path.glob(".o.tsv.*.rnaloc-tmp*")) and time.time() < deadline:  # running, output open
        time.sleep(0.05)
    assert list(tmp_path.glob(".o.tsv.*.rnaloc-tmp*"))
    time.sleep(0.3)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert b"Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


# --- bad models -----------------------------------------------------------------------------


def test_corrupt_onnx_file(tcn_model, tmp_path):
    half = tmp_path / "half.onnx"
    half.write_bytes(Path(tcn_model).read_bytes()[:3000])
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n")
    for bad in (half, text, tmp_path / "absent.onnx"):
        result = invoke(DATA / "one_nt.fa", "--model", bad)
        assert_one_line_error(result, str(bad))


@pytest.mark.parametrize("change,message", [
    ({"drop": ["rnaloc.classes", "rnaloc.stride"]}, "missing metadata rnaloc.classes, rnaloc.stride"),
    ({"set_props": {"rnaloc.thresholds": "[0.5, 0.5]"}}, "must list 6 numbers"),
    ({"set_props": {"rnaloc.classes": "not json"}}, "unreadable metadata"),
    ({"set_props": {"rnaloc.classes": '["a","b","c"]', "rnaloc.thresholds": "[0.5,0.5,0.5]"}}, "has 6 classes but metadata lists 3"),
    ({"set_props": {"rnaloc.format_version": "9"}}, "format_version '9' is not supported"),
    ({"set_props": {"rnaloc.stride": "0"}}, "stride must be a positive integer"),
    ({"set_props": {"rnaloc.alphabet": "ACGU"}}, "alphabet"),
    ({"set_props": {"rnaloc.thresholds": '[0.5, "0.4", 0.5, 0.5, 0.6, 0.7]'}}, "must be numbers in"),
    ({"set_props": {"rnaloc.thresholds": "[0.5, 1.5, 0.5, 0.5, 0.6, 0.7]"}}, "got 1.5"),
    ({"set_props": {"rnaloc.thresholds": "[0.5, true, 0.5, 0.5, 0.6, 0.7]"}}, "got true"),
    ({"set_props": {"rnaloc.thresholds": "[null, null, null, null, null, null]"}}, "leaves every class unlabelled"),
    ({"set_props": {"rnaloc.classes": '["Nuc\\tleus","B","C","D","E","F"]'}}, "contains a tab, newline, comma, quote or control"),
    ({"set_props": {"rnaloc.classes": '["A,B","B","C","D","E","F"]'}}, "contains a tab, newline, comma"),
    ({"set_props": {"rnaloc.classes": '["A\\"","B","C","D","E","F"]'}}, "contains a tab, newline, comma, quote"),
    ({"set_props": {"rnaloc.classes": '["A\\u0007","B","C","D","E","F"]'}}, "control character"),
    ({"set_props": {"rnaloc.classes": '["A\\nB","B","C","D","E","F"]'}}, "contains a tab, newline"),
    ({"set_props": {"rnaloc.classes": '[" A","B","C","D","E","F"]'}}, "leading or trailing spaces"),
    ({"set_props": {"rnaloc.classes": '["A","B","C","D","E","A"]'}}, "duplicate names"),
])
def test_bad_metadata(change, message, tcn_model, tmp_path):
    bad = rewrite_model(Path(tcn_model), tmp_path / "bad.onnx", **change)
    with pytest.raises(ModelError, match=message):
        ModelSession(bad, device="cpu")
    assert_one_line_error(invoke(DATA / "one_nt.fa", "--model", bad), "bad.onnx", message.split("'")[0])


def _tiny_graph(path: Path, tokens_type, tokens_shape, meta_from: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [5, 6], np.zeros(30, dtype=np.float32))
    nodes = [
        helper.make_node("Cast", ["tokens"], ["t"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["t"], ["m"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["m", "w"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probs"]),
    ]
    graph = helper.make_graph(
        nodes, "wrong",
        [helper.make_tensor_value_info("tokens", tokens_type, tokens_shape), helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 6])], [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    source = onnx.load(str(meta_from))
    model.metadata_props.extend(source.metadata_props)
    onnx.save(model, str(path))
    return path


def test_model_with_wrong_input_shape_or_type(tcn_model, tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto

    rank3 = _tiny_graph(tmp_path / "rank3.onnx", TensorProto.UINT8, ["batch", "length", 5], Path(tcn_model))
    with pytest.raises(ModelError, match="input 'tokens' must be tensor\\(uint8\\) of rank 2"):
        ModelSession(rank3, device="cpu")
    assert_one_line_error(invoke(DATA / "one_nt.fa", "--model", rank3), "rank3.onnx", "input 'tokens'")


def test_cuda_request_without_cuda_is_clear(tcn_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA provider present")
    assert_one_line_error(invoke(DATA / "one_nt.fa", "--model", tcn_model, "--device", "cuda"), "CUDAExecutionProvider")


# --- property-based ------------------------------------------------------------------------

_ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=">"), min_size=1, max_size=20)
_desc = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
_seqs = st.text(alphabet="ACGTNacgtnUu", min_size=1, max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(_ids, _desc, _seqs), max_size=8), width=st.integers(1, 80),
       newline=st.sampled_from(["\n", "\r\n"]), block=st.sampled_from([1, 7, 1 << 16]))
def test_valid_fasta_round_trips(records, width, newline, block):
    from rnaloc_infer.alphabet import encode

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.fa"
        with open(path, "w", newline="") as fh:
            for rid, desc, seq in records:
                fh.write(f">{rid} {desc}{newline}")
                for start in range(0, len(seq), width):
                    fh.write(seq[start : start + width] + newline)
        got = list(read_file(path, block_size=block))
    assert len(got) == len(records)
    for item, (rid, desc, seq) in zip(got, records):
        assert isinstance(item, Record)
        assert item.id == rid and item.header == f"{rid} {desc}".strip()
        assert item.codes.tolist() == encode(seq).tolist()


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), st.lists(st.sampled_from([b">", b"\n", b"\r\n", b"ACGT", b"x", b" ", b"@", b"\xff", b"\x00", b">id "]), max_size=40).map(b"".join)))
def test_any_bytes_give_records_or_clear_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junk.fa"
        path.write_bytes(data)
        try:
            items = list(read_fasta(path))
        except InputError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            return
    for item in items:
        assert isinstance(item, (Record, RecordError))
        if isinstance(item, RecordError):
            assert str(path) in item.message and "\n" not in item.message
        else:
            assert item.length > 0 and item.codes.max() <= 4


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.binary(max_size=64), st.text(alphabet="ACGTUNacgtunRYKMSWBDHVrykmswbdhv-.", max_size=64).map(str.encode)))
def test_fast_encoder_equals_alphabet_encode(raw):
    """The reader's bytes.translate path must agree exactly with alphabet.encode."""
    from rnaloc_infer.alphabet import encode
    from rnaloc_infer.fasta import encode_bytes

    try:
        expected = encode(raw)
    except ValueError as exc:
        with pytest.raises(ValueError, match="invalid character"):
            encode_bytes(raw)
        assert str(exc)
        return
    assert encode_bytes(raw).tolist() == expected.tolist()


def test_troubleshooting_lists_the_messages():
    """docs/TROUBLESHOOTING.md stays in step with the messages the code emits."""
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "TROUBLESHOOTING.md").read_text()
    code = "".join((root / p).read_text() for p in ("rnaloc_infer/alphabet.py", "rnaloc_infer/fasta.py", "rnaloc_infer/session.py", "rnaloc_infer/output/files.py", "rnaloc_infer/output/run.py", "rnaloc_infer/output/formats.py", "rnaloc_infer/output/errors_report.py",
                                                     "rnaloc_infer/errors.py", "rnaloc_infer/bundled.py", "cli/predict.py",
                                                     "cli/common.py", "rnaloc_infer/graph_cache.py", "rnaloc_infer/modelfile/metadata.py",
                                                     "rnaloc_infer/genome/index.py", "rnaloc_infer/genome/fai.py"))
    stems = [
        "cannot tell the output format from", "rnaloc-infer does not write",
        "zstd compression needs the zstandard package", "output incomplete:", "left by an interrupted run",
        "X is not a nucleotide code (masked bases? write them as N)", "the id contains a control character",
        "no such file", "is a directory, not a FASTA file", "permission denied", "looks like FASTQ", "contains binary data",
        "should start with '>' but starts with", "truncated or corrupt compressed file", "read error", "not a nucleotide code",
        "this looks like a protein sequence", "empty sequence (header without sequence lines)", "has no id", "duplicate id",
        "no records found", "records skipped in total", "standard input given more than once", "no bundled model named",
        "missing metadata", "unreadable metadata", "is not supported", "must list", "must be numbers in [0, 1] or null (no label)",
        "leaves every class unlabelled", "has leading or trailing spaces", "contains a tab, newline, comma, quote or control character",
        "stride must be a positive integer", "differs from this runtime", "cannot load ONNX model", "cannot start it on CUDA",
        "has no CUDAExecutionProvider", "inference failed", "has no output 'probs'", "must be numbered 0..K-1",
        "cannot write", "internal error",
        "does not match its recorded sha256", "belongs to another user", "needs the model's fp32 file",  # issues 31, 32
        "so the index cannot be", "rebuilding the index", "cannot index genome", "cannot read genome",
    ]
    for stem in stems:
        assert stem in code, f"message no longer in the code: {stem!r}"
        assert stem in doc, f"message missing from docs/TROUBLESHOOTING.md: {stem!r}"
    # cli/common.exit_with_status writes "<interrupted|terminated>; <what the command left>"
    assert 'log.error("interrupted; %s", what_stopped())' in code and 'log.error("terminated; %s", what_stopped())' in code
    assert '"no output written"' in code
    for message in ("interrupted; no output written", "terminated; no output written"):
        assert message in doc, f"message missing from docs/TROUBLESHOOTING.md: {message!r}"


def test_pipe_given_by_path_loses_no_records(tcn_model, tmp_path):
    """/dev/stdin, <(...) and FIFOs are read once: no look-ahead may consume their records."""
    source = DATA / "wrapped_mixed_case.fa"
    expected = invoke(source, "--model", tcn_model, "-q").output
    with open(source, "rb") as fh:
        proc = subprocess.run(CLI + ["/dev/stdin", "--model", str(tcn_model), "-q"], stdin=fh,
                              capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == expected.splitlines()[1:]


@pytest.mark.parametrize("suffix", ["gz", "bz2"])
def test_corrupt_compressed_body_is_a_clear_input_error(suffix, tmp_path, tcn_model):
    """A damaged stream (not just a truncated one) is bad input, exit 1, whatever gzip
    backend xopen picked (python-isal and zlib-ng raise their own exception types; bz2 a bare
    OSError, which must not read as an I/O error)."""
    import bz2
    import gzip

    rng = np.random.default_rng(7)
    fasta = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 2000))}\n" for i in range(50)).encode()
    data = bytearray({"gz": gzip.compress, "bz2": bz2.compress}[suffix](fasta))
    assert len(data) > 10_000
    data[2000:2400] = bytes(400)
    damaged = tmp_path / f"damaged.fa.{suffix}"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out.tsv"
    result = invoke(damaged, "--model", tcn_model, "-o", out)
    assert_one_line_error(result, f"damaged.fa.{suffix}", "corrupt compressed file")
    assert not out.exists()


def test_utf8_byte_order_mark_is_ignored(tcn_model, tmp_path):
    """Windows editors prefix UTF-8 files with a BOM; the first record must still be read."""
    source = DATA / "wrapped_mixed_case.fa"
    with_bom = tmp_path / "bom.fa"
    with_bom.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    expected = invoke(source, "--model", tcn_model, "-q")
    result = invoke(with_bom, "--model", tcn_model, "-q")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == expected.output.splitlines()[1:]


def test_bundled_name_wins_over_same_named_folder(tmp_path, monkeypatch):
    from rnaloc_infer.bundled import resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    assert resolve_model("default").parent.name == "models"
    assert resolve_model("default").is_file()
