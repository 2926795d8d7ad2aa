"""What the package never does, checked on its source: run a shell or another program, evaluate code, or load
YAML or pickle unsafely. Shot-list text reaches only our own code; a farm's job template passes arguments as a
list to the scheduler, never through a shell. And what it never writes: anything outside the output folder,
whatever symlinks are planted in it."""

from __future__ import annotations

import ast
import hashlib
import itertools
import os
import socket
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from shotrender.cli import cli

from helpers import cut, draw_layout, episode, write_shotlist

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


# ------------------------------------------------------------------------------------------------ symlinks

def _outside_state(root: Path, out: Path) -> dict[str, str]:
    """Every file under `root` but outside `out` (symlinks not followed): its content's hash or its target."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) != out]
        for name in files + dirs:
            path = Path(folder, name)
            found[str(path)] = ("-> " + os.readlink(path) if path.is_symlink()
                                else hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir")
    return found


def test_links_planted_at_every_name_render_and_report_write_change_nothing_outside(tmp_path, monkeypatch):
    """A symlink at each final name and at each name a temporary would take (tempfile made predictable
    in-process), every one pointing at its own file outside the output folder (or where one would be made):
    render and report run through, and no file outside the output folder changes or appears."""
    ep, secrets = tmp_path / "ep", tmp_path / "secrets"
    draw_layout(ep / "layouts" / "C001.png", 512, 288, seed=1)  # wider than a thumbnail
    draw_layout(ep / "layouts" / "C002.png", 512, 288, seed=1, shift=24)  # a pan: C002 is checked by flow
    shotlist = write_shotlist(ep, episode([cut("C001"), cut("C002"), {"id": "C003", "reuse": "C001"}],
                                          size=[512, 288], backgrounds={"park": {"prompt": "park"}}))
    out = ep / "renders" / "ep01"
    (out / "thumbs").mkdir(parents=True)
    (out / "sheets").mkdir()
    finals = [f"ep01_{c}.{ext}" for c in ("C001", "C002", "C003") for ext in ("png", "json")]
    finals += [f"ep01_{c}.{kind}.png" for c in ("C001", "C002") for kind in ("flow", "error")]
    finals += ["manifest.json", ".manifest.lock", "report.html", "ep01_contact.png"]
    finals += [f"thumbs/ep01_{c}.{kind}.jpg" for c in ("C001", "C002", "C003")
               for kind in ("layout", "render", "flow", "error")]
    # the place's sheet (C002 pans over C001): its painting, sidecar, registration cache and thumbnail
    finals += ["sheets/ep01_park_1.png", "sheets/ep01_park_1.json", "sheets/ep01_park.registration.json",
               "sheets/ep01_park.pairs.json", "thumbs/ep01_park_1.sheet.jpg"]
    host = socket.gethostname().replace(".", "_")
    temporaries = [f"{name}.tmp-{host}-{os.getpid()}-planted" for name in finals]
    # and the fixed names the report's temporaries once had, which anyone could plant
    temporaries += [str(Path(name).with_name(f".{Path(name).name}.{os.getpid()}.tmp")) for name in finals]
    secrets.mkdir()
    for i, name in enumerate(finals + temporaries):
        if i % 2:  # half of them lead to nothing yet: a write through them would create a file outside
            (secrets / f"{i}.bin").write_bytes(os.urandom(64))
        (out / name).symlink_to(secrets / f"{i}.bin")
    # Every temporary's first candidate name is the planted one; the next ones are random as usual.
    monkeypatch.setattr(tempfile, "_get_candidate_names",
                        lambda: itertools.chain(["planted"], tempfile._RandomNameSequence()))
    before = _outside_state(tmp_path, out)

    runner = CliRunner()
    rendered = runner.invoke(cli, ["render", str(shotlist), "--progress", "none"])
    assert rendered.exit_code == 0, rendered.output + repr(rendered.exception)
    reported = runner.invoke(cli, ["report", str(shotlist)])
    assert reported.exit_code == 0, reported.output + repr(reported.exception)

    assert _outside_state(tmp_path, out) == before
    for name in ("ep01_C002.png", "ep01_C002.flow.png", "manifest.json", ".manifest.lock", "report.html",
                 "ep01_contact.png", "thumbs/ep01_C001.layout.jpg", "thumbs/ep01_C002.render.jpg",
                 "sheets/ep01_park_1.png", "sheets/ep01_park.registration.json", "sheets/ep01_park.pairs.json",
                 "thumbs/ep01_park_1.sheet.jpg"):
        assert not (out / name).is_symlink() and (out / name).is_file(), f"{name} was not written in place"
