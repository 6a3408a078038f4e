"""The README's Python quick start runs exactly as written, and its test command is the
one CI runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs():
    text = README.read_text()
    block = re.search(r"## Quick start \(Python\)\n\n```python\n(.*?)```", text, re.S)
    assert block, "README lost its Python quick start block"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert {"ite", "se", "ci_low", "ci_high"} <= set(namespace["pred"].columns)
    assert namespace["meta"].n_iter >= 1


def test_ci_runs_the_readme_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    out = subprocess.run(
        ["awk", '/<!-- test-command -->/{getline; while ($0 ~ /^```/ || $0 ~ /^$/) getline; '
                'print; exit}', str(README)], capture_output=True, text=True, check=True)
    assert "pytest" in out.stdout and "pip install" in out.stdout
