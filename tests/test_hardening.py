"""Issue 27's hardening: every file a shot list names read under one rule, every parser bounded, every command
a user pastes quoted. Each test here failed on the code before its fix."""

from __future__ import annotations

import subprocess

from shotrender.plan import make_plan
from shotrender.shotlist import load

from helpers import cut, episode, write_shotlist


def test_export_job_prints_paths_a_shell_takes_whole(tmp_path):
    from shotrender.farm import missing_defaults, openjd_template

    folder = tmp_path / "my shots $(touch PWNED)"
    plan = make_plan(load(write_shotlist(folder, episode([cut("C001")]))))
    out = folder / "renders"
    template = openjd_template(plan, out, tmp_path / "elsewhere", "shotrender")
    args = missing_defaults(template, plan, out)
    echoed = subprocess.run(["bash", "-c", f"printf '%s\\n' {' '.join(args)}"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert echoed == ["-p", f"ShotList={folder.resolve() / 'episode.yaml'}", "-p", f"OutputDir={out.resolve()}"]
    assert not (tmp_path / "PWNED").exists()
