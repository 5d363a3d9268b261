"""The README stays true: its set-up commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each set-up command is one line a newcomer copies"


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = setup_commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_first_command_runs_the_bundled_example():
    first = setup_commands()[0]
    example = re.search(r"rnaloc-infer (\S+)", first).group(1)
    assert (ROOT / example).is_file()
    assert example in (ROOT / ".ci" / "run").read_text()


def test_readme_python_api_example_runs(monkeypatch, capsys):
    """The README's Python snippet runs as written, on the bundled model and example."""
    snippet = re.search(r"## Python API\n+```python\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["probs"].shape == (2, 6)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == sum(1 for line in (ROOT / "examples/example.fa").read_text().splitlines() if line.startswith(">"))


def test_readme_transcript_types_agree_with_the_model_card():
    """Biotypes the README suggests must not be ones the model card calls out of distribution."""
    card = (ROOT / "docs" / "MODEL_CARD.md").read_text()
    out_of_range = re.search(r"\*\*Species and molecule type\*\*:(.+?)(?:\n- |\Z)", card, flags=re.S).group(1)
    assert "lncRNA" in out_of_range  # what the card says today; update both together
    readme = (ROOT / "README.md").read_text()
    suggested = [t for value in re.findall(r"--transcript-types (\S+)", readme) for t in value.split(",")]
    assert suggested, "the README no longer shows --transcript-types"
    for biotype in suggested:
        assert biotype not in out_of_range, f"README suggests {biotype}, which the model card calls out of distribution"
