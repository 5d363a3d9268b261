"""Run import-linter's contracts (pyproject.toml [tool.importlinter], docs/DESIGN.md) on the
installed layout of the package.

Why not plain ``lint-imports`` in the checkout: ``training/``, ``export/`` and ``cli/`` become
``rnaloc_infer.training`` & co. only through pyproject's ``package-dir``, and import-linter
(grimp) finds sub-packages by walking ``rnaloc_infer/`` on disk, so it would not see them.
This script copies the Python files into the layout a wheel has (from ``package-dir``, so it
follows pyproject), then runs ``lint-imports`` there with the repository's pyproject.toml.
Exit status: lint-imports' (0: every contract kept).

    python .ci/lint_imports.py [extra lint-imports options, e.g. --verbose]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def installed_layout(target: Path) -> None:
    """Copy every package's .py files from its source folder to where the wheel puts it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        # a package's folder: its own package-dir entry, else its parent's folder + its last name
        parts = package.split(".")
        for depth in range(len(parts), 0, -1):
            prefix = ".".join(parts[:depth])
            if prefix in folders:
                source = ROOT / folders[prefix] / Path(*parts[depth:])
                break
        else:
            source = ROOT / Path(*parts)
        destination = target / Path(*parts)
        destination.mkdir(parents=True, exist_ok=True)
        for path in source.glob("*.py"):
            shutil.copy2(path, destination / path.name)


def main(argv: list) -> int:
    with tempfile.TemporaryDirectory(prefix="rnaloc-lint-imports.") as tmp:
        installed_layout(Path(tmp))
        command = [str(Path(sys.executable).with_name("lint-imports")), str(ROOT / "pyproject.toml"), "--no-cache",
                   "--no-logo", *argv]
        if not Path(command[0]).exists():
            command[0] = "lint-imports"
        # lint-imports puts its working directory first on sys.path: the copy, not the checkout
        return subprocess.run(command, cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
