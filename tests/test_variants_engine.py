"""rnaloc-variants' speed-ups of the exact ISM engine (issue 34) change no number.

Each rewrite is checked against the formulation it replaced, on the bundled default model
(a two-layer QRNN, the k-mer regression, the forest and the class mixing): the second layer's step matrices
built in blocks are bit for bit the whole-array formula's; the forest's per-column tree lists
from the walk's (column, tree) pairs equal the dense scan's; the applicability flags checked
for all alt transcripts at once equal one check per alt; and transcripts scored side by side
on two threads give exactly the entries of one thread, which equal re-scoring the alt
transcripts (the brute-force check of every fixture kind is tests/test_variants.py's), for the
bundled default (whose class-mixing map the ISM engine applies last) and for the same graph
with the map cut out. No torch needed (the unmixed model needs the ``onnx`` package).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from rnaloc_infer import Predictor
from rnaloc_infer.alphabet import encode
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.explain import numpy_ism
from rnaloc_infer.explain.numpy_model import gate_values, load_companion, network_trace, sigmoid

from conftest import random_seq

DEFAULT = Path(resolve_model("default"))


def without_class_mixing(source: Path, out: Path) -> Path:
    """``source``'s graph (the bundled default, which ends in a class-mixing map: training/
    ensemble_model.py ``ClassMixing``, ``logits @ matrix + bias`` in scope ``/model/mixings.0/``)
    with the map cut out and undeclared in its hparams, with its numpy companion: the engine's
    path without a map, on the same weights."""
    onnx = pytest.importorskip("onnx")
    import json

    from rnaloc_infer.export.ism_weights import write_companion

    proto = onnx.load(str(source))
    mixing = [node for node in proto.graph.node if node.name.startswith("/model/mixings.0/")]
    assert [node.op_type for node in mixing] == ["MatMul", "Add"], "the bundled default has no class-mixing map"
    blended, mixed = mixing[0].input[0], mixing[1].output[0]
    for node in mixing:
        proto.graph.node.remove(node)
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name == mixed:
                node.input[i] = blended
    for init in [i for i in proto.graph.initializer if i.name.startswith("model.mixings.0.")]:
        proto.graph.initializer.remove(init)
    for prop in proto.metadata_props:
        if prop.key == "rnaloc.hparams":
            prop.value = json.dumps({k: v for k, v in json.loads(prop.value).items() if k != "class_mixing"})
    onnx.save(proto, str(out))
    assert write_companion(out) is not None  # the numpy forward reproduces ONNX Runtime's without the map
    loaded = load_companion(out)
    assert loaded is not None and loaded.mixing is None
    assert np.abs(Predictor(out, device="cpu", threads=1).predict(["ACGT" * 200])
                  - Predictor(source, device="cpu", threads=1).predict(["ACGT" * 200])).max() > 1e-3  # the map mattered
    return out


@pytest.fixture(scope="module", params=["default", "unmixed"])
def model_path(request, tmp_path_factory) -> Path:
    """The bundled default (its graph ends in a class-mixing map), or the same without the map."""
    if request.param == "default":
        return DEFAULT
    return without_class_mixing(DEFAULT, tmp_path_factory.mktemp("unmixed") / "unmixed.onnx")


@pytest.fixture(scope="module")
def model():
    loaded = load_companion(DEFAULT)
    assert loaded is not None and loaded.forest is not None and len(loaded.networks[0].layers) == 2
    return loaded


@pytest.mark.parametrize("length", [1, 9, 300, 2_000])  # 1 and 2 steps, then across GATE_BLOCK edges
def test_gate_matrices_equal_the_plain_formula(model, length):
    net = model.networks[0]
    codes = encode(random_seq(np.random.default_rng(length), length))
    trace = network_trace(net, codes, model.stride)
    hidden, steps = net.hidden, trace.steps
    f1 = gate_values(trace.gates[0], hidden)[1]
    o1 = sigmoid(trace.gates[0][:, 2 * hidden:])
    w_prev, w_now, _ = net.layers[1]
    plain = np.zeros((steps, hidden + 1, 3 * hidden), dtype=np.float32)
    if steps > 1:
        plain[1:, :hidden] = o1[:-1, :, None] * w_prev[None] + (o1[1:] * f1[1:])[:, :, None] * w_now[None]
    plain[:, hidden] = trace.gates[1]
    plain[:, :, hidden:] *= 0.5
    built = numpy_ism._gate_matrices(net, trace, f1, o1)
    assert steps * model.stride >= length and (steps > numpy_ism.GATE_BLOCK) == (length >= 300)
    np.testing.assert_array_equal(built, plain)


def test_forest_column_lists_equal_the_dense_scan(model):
    codes = encode(random_seq(np.random.default_rng(3), 1_500))
    predictor = Predictor(DEFAULT, device="cpu", threads=1, precision="fp32")
    features = predictor.session.record_features([codes])
    ref = numpy_ism._forest_reference(model, codes, features)
    trees = model.forest.trees
    node = trees.roots.copy()
    inner = trees.left != np.arange(len(trees.left))
    uses = np.zeros((len(ref.x), len(node)), dtype=bool)  # the scan the pairs replaced
    for _ in range(trees.depth):
        testing = np.flatnonzero(inner[node])
        uses[trees.feature[node[testing]], testing] = True
        node = np.where(ref.x[trees.feature[node]] <= trees.threshold[node], trees.left[node], trees.right[node])
    column, tree = np.nonzero(uses)
    np.testing.assert_array_equal(ref.path_trees, tree)
    np.testing.assert_array_equal(ref.path_start, np.concatenate([[0], np.cumsum(np.bincount(column, minlength=len(ref.x)))]))
    assert len(tree) > len(node)  # most trees test several columns on their path


def test_snv_flags_equal_one_check_per_alt(monkeypatch):
    from rnaloc_infer.variants import scoring

    rules = Predictor(DEFAULT, device="cpu", threads=1, precision="fp32").session.info.applicability
    assert rules is not None
    # an ORF just over the model's minimum, so breaking its start or making a stop flags no_orf
    orf = "ATG" + "GCT" * rules.min_orf_codons + "TAA"
    sequence = "CC" + orf + "GG" * 200
    codes = encode(sequence)
    positions = np.array([2, 3, 4, 5, 8, 30, len(orf) + 10], dtype=np.int64)
    bases = np.array([1, 1, 0, 3, 3, 0, 2], dtype=np.uint8)  # ATG->CTG, ->ACG, ->AAG(no), stop in frame...
    alts = []
    for p, b in zip(positions, bases):
        alt = list(sequence)
        alt[p] = "ACGT"[b]
        alts.append("".join(alt))
    monkeypatch.setattr(scoring, "FLAG_ROWS", 3)  # blocks of three: crosses block edges
    got = scoring._snv_flags(rules, codes, sequence, positions, bases, alts)
    want = [scoring._merge_flags(rules.check(codes), rules.check(encode(a))) for a in alts]
    assert got == want
    assert ("no_orf",) in want and any(w != ("no_orf",) for w in want)  # both outcomes occur
    assert scoring._snv_flags(None, codes, sequence, positions, bases, alts) == [None] * len(alts)


@pytest.mark.parametrize("block_rows", [512, 8], ids=["side_by_side", "blocks"])
def test_transcripts_side_by_side_give_the_same_entries(tmp_path, monkeypatch, block_rows, model_path):
    """Two worker threads and one give identical deltas, equal to re-scoring: transcripts side
    by side (tens of SNVs each), or, for a transcript with more SNVs than a block of rows, its
    blocks on the threads (BLOCK_ROWS 8 here, so each transcript's ~20 SNVs make blocks); with
    the default and with the default plus a class-mixing map (mixed after the summed parts)."""
    pytest.importorskip("pyfaidx")
    from rnaloc_infer.variants import scoring

    monkeypatch.setattr(numpy_ism, "BLOCK_ROWS", block_rows)
    with_pool = []
    record = scoring.explain_record

    def spy(*args):
        with_pool.append(args[-1] is not None)
        return record(*args)

    monkeypatch.setattr(scoring, "explain_record", spy)
    from rnaloc_infer.genome.annotation import read_annotation
    from rnaloc_infer.genome.index import IndexedGenome
    from rnaloc_infer.variants.scoring import Variant, VariantScorer

    rnd = random.Random(5)
    contig = "".join(rnd.choice("ACGT") for _ in range(4_000))
    (tmp_path / "g.fa").write_text(">c\n" + contig + "\n")
    exons = {"A": ("+", [(100, 700), (900, 1300)]), "B": ("-", [(1500, 2100), (2300, 2600)]), "C": ("+", [(2800, 3700)])}
    (tmp_path / "g.gtf").write_text("".join(
        f'c\tT\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tgene_id "g{tid}"; transcript_id "{tid}";\n'
        for tid, (strand, spans) in exons.items() for s, e in spans))
    sites = sorted(rnd.sample([p for _, spans in exons.values() for s, e in spans for p in range(s, e)], 60))
    variants = [(Variant("c", p + 1, contig[p], ("ACGT".replace(contig[p], "")[i % 3],), f"v{i}", i + 1), None)
                for i, p in enumerate(sites)]
    predictor = Predictor(model_path, device="cpu", threads=1, precision="fp32")
    runs = {}
    with IndexedGenome(tmp_path / "g.fa") as genome:
        for workers in (1, 2):
            scorer = VariantScorer(genome, read_annotation(tmp_path / "g.gtf"), predictor.session, workers=workers)
            results = list(scorer.annotate(variants))
            assert scorer.tally.by_ism == len(variants)  # every SNV by the ISM engine
            runs[workers] = {(r.variant.label, e.transcript.transcript_id): e for r in results for e in r.entries}
            # one thread: no pool; two: a pool for the blocks of a transcript with more SNVs than a block, else none
            assert with_pool == [workers == 2 and block_rows == 8] * 3
            with_pool.clear()
    assert set(runs[1]) == set(runs[2]) and len(runs[1]) == len(variants)
    assert len({tid for _, tid in runs[1]}) == 3
    for key, entry in runs[1].items():
        np.testing.assert_array_equal(entry.delta, runs[2][key].delta)
        assert entry.flags == runs[2][key].flags
    # a few against re-scoring the alt and the reference transcript whole
    for (label, tid), entry in list(runs[1].items())[::12]:
        strand, spans = exons[tid]
        v = variants[int(label[1:])][0]
        alt_contig = contig[:v.pos - 1] + v.alts[0] + contig[v.pos:]

        def spliced(seq: str) -> str:
            s = "".join(seq[a:b] for a, b in spans)
            return s[::-1].translate(str.maketrans("ACGT", "TGCA")) if strand == "-" else s

        probs = predictor.predict([spliced(alt_contig), spliced(contig)]).astype(np.float64)
        np.testing.assert_allclose(entry.delta, probs[0] - probs[1], atol=1e-6)
