"""The committed fixture models (tests/fixtures/*.onnx, used by the runtime tests without torch)
still equal a fresh export by tests/fixtures/make_fixtures.py from today's model and exporter
code. When this fails after a change to the network, the ensemble or the exporter, rerun
`python tests/fixtures/make_fixtures.py` and commit the files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import FIXTURES, KINDS, make_fixtures, random_seq  # noqa: E402
from rnaloc_infer.api import Predictor  # noqa: E402


def test_script_makes_every_kind_the_tests_use():
    assert tuple(make_fixtures().KINDS) == KINDS
    assert sorted(p.stem for p in FIXTURES.glob("*.onnx")) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_committed_fixture_equals_a_fresh_export(kind, tmp_path):
    fresh = make_fixtures().export(kind, tmp_path / f"{kind}.onnx")
    committed = FIXTURES / f"{kind}.onnx"
    old, new = Predictor(committed, device="cpu", threads=1), Predictor(fresh, device="cpu", threads=1)
    assert old.info == dataclasses.replace(new.info, path=committed), f"{kind}: metadata differs, rerun make_fixtures.py"
    rng = np.random.default_rng(3)
    seqs = [random_seq(rng, int(n)) for n in (1, 7, 300, 2500)]
    np.testing.assert_allclose(old.predict(seqs), new.predict(seqs), rtol=0, atol=1e-6,
                               err_msg=f"{kind}: probabilities differ, rerun tests/fixtures/make_fixtures.py")
