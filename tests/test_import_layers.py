"""The import structure of docs/DESIGN.md: what the runtime loads, and the import-linter contracts.

Why a subprocess: this test process has long since imported explain and friends, so only a
fresh interpreter can show what ``import rnaloc_infer`` itself pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Sub-packages the core must not load: optional ones, and explain (loaded only when used).
NOT_LOADED_BY_THE_CORE = ("rnaloc_infer.explain", "rnaloc_infer.genome", "rnaloc_infer.distributed",
                          "rnaloc_infer.evaluation", "rnaloc_infer.training", "rnaloc_infer.export", "rnaloc_infer.cli")


def _loaded_after(code: str) -> list:
    """Names in sys.modules after running ``code`` in a fresh interpreter."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", ["import rnaloc_infer", "from rnaloc_infer import Predictor, Prediction",
                                  "import rnaloc_infer.api, rnaloc_infer.batching, rnaloc_infer.session"])
def test_the_core_does_not_load_explain_or_optional_packages(code):
    loaded = _loaded_after(code)
    assert "rnaloc_infer" in loaded
    if "Predictor" in code or "api" in code:
        assert "rnaloc_infer.api" in loaded and "rnaloc_infer.session" in loaded  # the import did happen
    leaked = [m for m in loaded if m.startswith(NOT_LOADED_BY_THE_CORE) or m.split(".")[0] in ("click", "torch", "onnx")]
    assert leaked == [], f"{code!r} loaded {leaked}"


def test_explain_is_loaded_when_used():
    loaded = _loaded_after("from rnaloc_infer.explain import explain_sequence")
    assert "rnaloc_infer.explain.ism" in loaded and "rnaloc_infer.features.variants" in loaded


def test_the_import_contracts_hold():
    """pyproject's [tool.importlinter] contracts (no cycles, the layers, which package may use
    which framework or extra), run as the CI does; skipped where import-linter is not installed
    (the lean environment: there is no source tree to lint either)."""
    pytest.importorskip("importlinter")
    if not (ROOT / ".ci" / "lint_imports.py").is_file():
        pytest.skip("no source tree beside the tests")
    result = subprocess.run([sys.executable, str(ROOT / ".ci" / "lint_imports.py")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
