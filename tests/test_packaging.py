"""Packaging a user can trust (issue 22): package data, the Dockerfile's inputs, the conda recipe.

No docker engine or conda-build runs here: the Dockerfile is checked by building the wheel
from exactly the paths it copies, and packaging/bioconda/meta.yaml by rendering its Jinja
and comparing it with pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_package_data_are_copies_of_the_repository_files():
    from rnaloc_infer.data import example_fasta, model_card

    hint = "the packaged copy differs; run: cp {src} {dst}"
    for packaged, source in ((example_fasta(), ROOT / "examples" / "example.fa"), (model_card(), ROOT / "docs" / "MODEL_CARD.md")):
        assert packaged.read_bytes() == source.read_bytes(), hint.format(src=source.relative_to(ROOT), dst=packaged)


def test_bioconda_recipe_renders_and_matches_pyproject():
    jinja2 = pytest.importorskip("jinja2")
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "packaging" / "bioconda" / "meta.yaml").read_text()
    # conda-build's context: PYTHON and pin_subpackage are provided by it at render time.
    rendered = jinja2.Template(text, undefined=jinja2.StrictUndefined).render(
        PYTHON="python", pin_subpackage=lambda name, max_pin=None: f"{name} >={{version}}")
    recipe = yaml.safe_load(rendered)
    project = pyproject()["project"]
    assert recipe["package"] == {"name": project["name"], "version": project["version"]}
    run = {_name(r): r.split(" ", 1)[1] if " " in r else "" for r in recipe["requirements"]["run"]}
    assert run.pop("python") == project["requires-python"]
    wanted = {_name(r): r[len(_name(r)):].split(";")[0].strip() for r in project["dependencies"]}
    assert run == wanted
    scripts = {line.split(" = ")[0]: line.split(" = ")[1] for line in recipe["build"]["entry_points"]}
    assert scripts == project["scripts"]
    assert recipe["build"]["noarch"] == "python"
    assert any("--version" in c for c in recipe["test"]["commands"])


def test_dockerfile_copies_enough_to_build_the_wheel(tmp_path):
    """Build the wheel from only the paths the Dockerfile COPYs; it must carry the package data."""
    from importlib.metadata import PackageNotFoundError, version

    try:  # --no-build-isolation builds with this environment's setuptools (pyproject asks for >= 68)
        if int(version("setuptools").split(".")[0]) < 68 or not version("wheel"):
            pytest.skip("setuptools >= 68 and wheel are needed to build the wheel here")
    except PackageNotFoundError:
        pytest.skip("setuptools >= 68 and wheel are needed to build the wheel here")
    docker = (ROOT / "Dockerfile").read_text()
    copied = [src for line in docker.splitlines() if line.startswith("COPY ") for src in line.split()[1:-1]]
    assert copied, "no COPY lines"
    context = tmp_path / "context"
    context.mkdir()
    for src in copied:
        path = ROOT / src
        assert path.exists(), f"Dockerfile copies {src}, which does not exist"
        if path.is_dir():
            shutil.copytree(path, context / src, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, context / src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(context)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("rnaloc_infer-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("rnaloc_infer/data/example.fa", "rnaloc_infer/data/MODEL_CARD.md", "rnaloc_infer/models/default.onnx",
                   "rnaloc_infer/models/default.ism.npz", "rnaloc_infer/models/fast.ism.npz",
                   "rnaloc_infer/output/sidecar.py", "rnaloc_infer/cli/predict.py"):
        assert needed in names, f"{needed} missing from the wheel"
    assert not any(n.startswith(("cli/", "training/", "export/")) for n in names)


def _commands(command, name):
    yield name, command
    for sub_name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{name} {sub_name}")


def test_every_command_has_version_and_short_help():
    """--version and -h on every console script and every subcommand (issue 22)."""
    import importlib

    from click.testing import CliRunner

    from rnaloc_infer import __version__

    runner = CliRunner()
    for script, target in pyproject()["project"]["scripts"].items():
        module, attr = target.split(":")
        root = getattr(importlib.import_module(module), attr)
        for name, _ in _commands(root, script):
            args = name.split()[1:]  # a subcommand is reached through its group, as a user types it
            version = runner.invoke(root, [*args, "--version"])
            assert version.exit_code == 0 and f"{name}, version {__version__}" in version.output, (name, version.output)
            helped = runner.invoke(root, [*args, "-h"])
            assert helped.exit_code == 0 and helped.output.startswith("Usage:"), (name, helped.output)


def test_every_source_package_is_installed():
    """pyproject lists packages by hand (package-dir maps training/, export/, cli/): a new
    sub-package missing from the list would be absent from the wheel and break the lean install."""
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    mapping = pyproject()["tool"]["setuptools"]["package-dir"]
    on_disk = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            if relative and "__pycache__" not in relative:
                dotted = ".".join((name, *relative))
                if not any(dotted == other or dotted.startswith(other + ".") and other != name
                           for other in mapping if other != name):
                    on_disk.add(dotted)
            elif not relative:
                on_disk.add(name)
    assert on_disk - listed == set(), f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
