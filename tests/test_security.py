"""What the package never does, checked on its source: run a shell or another program, evaluate code, or load
YAML or pickle unsafely. Shot-list text reaches only our own code; a farm's job template passes arguments as a
list to the scheduler, never through a shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "shotrender"

FORBIDDEN = {
    "os.system", "os.popen", "os.execv", "os.execve", "os.execvp", "os.execl", "os.execlp", "os.spawnv",
    "os.spawnl", "os.startfile", "subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
    "subprocess.check_output", "subprocess.getoutput", "subprocess.getstatusoutput", "eval", "exec", "compile",
    "__import__", "yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all",
    "pickle.load", "pickle.loads", "torch.load", "marshal.loads", "shelve.open",
}
FORBIDDEN_IMPORTS = {"subprocess", "pickle", "marshal", "shelve", "pty"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _findings(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN:
                found.append(f"line {node.lineno}: {name}()")
            if any(k.arg == "shell" for k in node.keywords):
                found.append(f"line {node.lineno}: shell= argument")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_IMPORTS:
            found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_shell_no_code_evaluation_no_unsafe_loading(path):
    assert _findings(ast.parse(path.read_text(), str(path))) == []


def test_the_scan_finds_what_it_looks_for():
    bad = "import subprocess\nsubprocess.run('ls ' + x, shell=True)\nimport yaml\nyaml.load(t)\neval(s)\n"
    assert _findings(ast.parse(bad)) == ["line 1: import subprocess", "line 2: subprocess.run()",
                                         "line 2: shell= argument", "line 4: yaml.load()", "line 5: eval()"]
