"""Farms: work units, OpenJD ranges, shards as separate processes, the OpenJD job template."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shotrender.errors import UsageError
from shotrender.plan import make_plan, parse_units, select
from shotrender.shotlist import load, parse

from helpers import cut, episode, pan_layouts, run_cli, write_shotlist

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "shots" / "example"
OPENJD = Path(sys.executable).with_name("openjd")
SHOTRENDER = Path(sys.executable).with_name("shotrender")

# Fields of a manifest that say when, where and how fast, not what was made.
VOLATILE = {"updated", "last_run", "timings", "seconds", "host"}


def manifest_content(out: Path) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads((out / "manifest.json").read_text()))


def pictures(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


@pytest.mark.parametrize("text, count, expected", [
    ("3", 5, {3}),
    ("1-10", 12, set(range(1, 11))),
    ("1-10:2", 12, {1, 3, 5, 7, 9}),
    ("10-15,1-5", 15, {1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}),
    ("9-1:-3", 9, {9, 6, 3}),
    (" 2 - 4 , 4 ", 5, {2, 3, 4}),
])
def test_openjd_style_unit_ranges(text, count, expected):
    assert parse_units(text, count) == expected


@pytest.mark.parametrize("text, message", [
    ("0", "there is no unit 0; its units are 1-12"),
    ("5-13", "there is no unit 13"),
    ("5-1", "a falling range needs a negative step"),
    ("1-4:0", "has no step that goes from 1 to 4"),
    ("1-4:-1", "has no step that goes from 1 to 4"),
    ("one", "cannot read 'one'"),
    ("1,,2", "cannot read ''"),
])
def test_bad_unit_ranges_say_what_to_write(text, message):
    with pytest.raises(UsageError) as caught:
        parse_units(text, 12)
    assert str(caught.value).startswith(f"--units {text!r}: ") and message in str(caught.value)


def test_units_are_chains_numbered_in_plan_order():
    plan = make_plan(load(EXAMPLE / "episode.yaml"))
    assert [(c.unit, c.name) for c in plan.chains] == [(1, "park"), (2, "street"), (3, "room")]
    assert [c.name for c in select(plan, units="3,1").chains] == ["park", "room"]
    assert [c.name for c in select(plan, units="1-3:2", chain="room").chains] == ["room"]


def test_units_command_lists_every_cut_once_with_a_command_per_unit(tmp_path):
    out = run_cli("units", str(EXAMPLE / "episode.yaml"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["schema"] == "shotrender.units/2" and data["unit_count"] == 3
    assert data["sheet_unit_count"] == 2 and data["cut_unit_count"] == 7
    cuts = [c for u in data["units"] for c in u["cuts"]]
    assert sorted(cuts) == [f"C00{i}" for i in range(1, 9)]
    assert sorted(c for u in data["units"] for cu in u["cut_units"] for c in cu["cuts"]) == sorted(cuts)
    park, street, room = data["units"]
    shotlist = str((EXAMPLE / "episode.yaml").resolve())
    assert park["unit"] == 1 and park["chain"] == "park" and park["renders"] == 4 and park["reuses"] == 1
    assert park["command"][1:] == ["render", shotlist, "--chain", "park"]
    assert park["sheet_unit"] == {"id": "park:sheets",
                                  "command": ["shotrender", "render", shotlist, "--chain", "park", "--sheets-only"]}
    # C007 reuses C001: a copy of it, so in its unit, after it
    assert [cu["cuts"] for cu in park["cut_units"]] == [["C001", "C007"], ["C002"], ["C003"], ["C008"]]
    assert park["cut_units"][0]["depends_on"] == ["park:sheets"]
    assert park["cut_units"][0]["command"][1:] == ["render", shotlist, "--cuts", "C001,C007", "--no-sheets"]
    assert street["sheet_unit"]["id"] == "street:sheets"
    assert room["sheet_unit"] is None and room["cut_units"][0]["depends_on"] == []  # one cut: no sheet
    text = run_cli("units", str(EXAMPLE / "episode.yaml"), "--units", "2-3")
    assert text.returncode == 0 and "street" in text.stdout and "park" not in text.stdout
    bad = run_cli("units", str(EXAMPLE / "episode.yaml"), "--units", "4")
    assert bad.returncode == 2 and "no unit 4; its units are 1-3" in bad.stderr


@pytest.mark.slow
def test_three_shard_processes_make_what_one_unsharded_run_makes(tmp_path):
    pans = {"park": iter(pan_layouts(tmp_path / "park", 4, 128, 72, step=12, seed=1)),
            "street": iter(pan_layouts(tmp_path / "street", 3, 128, 72, step=12, seed=2))}
    cuts = [cut(f"C{i:03d}", bg) for i, bg in enumerate(
        ["park", "park", "street", None, "park", "street", None, "park", None, "street"], start=1)]
    for c in cuts:
        if c.get("bg"):
            c["layout"] = str(next(pans[c["bg"]]).relative_to(tmp_path))
    cuts.append({"id": "C011", "reuse": "C002"})
    path = write_shotlist(tmp_path, episode(cuts))
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    assert run_cli("render", str(path), "--out", str(whole)).returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--shard", f"{i}/3",
                               "--out", str(sharded), "--progress", "none"], stderr=subprocess.PIPE)
             for i in (1, 2, 3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    # 11 cuts, and the flow and error previews of each of the 4 park and 3 street cuts against its sheet
    assert len(pictures(whole)) == 11 + 2 * 7
    assert pictures(sharded) == pictures(whole)
    assert len(pictures(whole / "sheets")) == 2 and pictures(sharded / "sheets") == pictures(whole / "sheets")
    assert manifest_content(sharded) == manifest_content(whole)


def test_strict_turns_a_flagged_cut_into_exit_1(tmp_path):
    # two cuts of a pan, one sheet, a limit no render meets
    pan_layouts(tmp_path / "layouts", 2, 128, 72, step=16)
    cuts = [{"id": f"P0{i}", "layout": f"layouts/P0{i}.png", "bg": "park"} for i in (1, 2)]
    path = write_shotlist(tmp_path, episode(cuts, continuity={"limit": 0.000001, "max_attempts": 1}))
    plain = run_cli("render", str(path), "--out", str(tmp_path / "a"))
    assert plain.returncode == 0 and "P02: flagged for review" in plain.stdout, plain.stdout + plain.stderr
    strict = run_cli("render", str(path), "--out", str(tmp_path / "b"), "--strict")
    assert strict.returncode == 1 and "2 cut(s) flagged for review and --strict was given" in strict.stderr
    assert pictures(tmp_path / "b") == pictures(tmp_path / "a")  # written all the same


def test_export_job_template_has_a_sheets_step_then_a_cuts_step_then_the_report(tmp_path):
    job = tmp_path / "job.yaml"
    out = run_cli("export-job", str(EXAMPLE / "episode.yaml"), "--format", "openjd", "-o", str(job),
                  "--out", str(tmp_path / "renders"))
    assert out.returncode == 0, out.stderr
    template = yaml.safe_load(job.read_text())
    sheets, cuts, report = template["steps"]
    assert sheets["name"] == "Sheets" and sheets["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Chain", "type": "STRING", "range": ["park", "street"]}]  # the room has one cut: no sheet
    args = sheets["script"]["actions"]["onRun"]["args"]
    assert args[:2] == ["render", "{{Param.ShotList}}"] and "--sheets-only" in args
    assert args[args.index("--chain") + 1] == "{{Task.Param.Chain}}"
    assert args[args.index("--progress") + 1] == "openjd"
    assert cuts["name"] == "Cuts" and cuts["dependencies"] == [{"dependsOn": "Sheets"}]
    assert cuts["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Cuts", "type": "STRING", "range": ["C001,C007", "C002", "C003", "C008", "C004", "C005", "C006"]}]
    args = cuts["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--cuts") + 1] == "{{Task.Param.Cuts}}" and "--no-sheets" in args
    assert report["dependencies"] == [{"dependsOn": "Cuts"}]
    assert "2 sheet tasks and 7 cut tasks" in out.stderr
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    assert params["OutputDir"]["default"] == "renders"  # under the template's folder: relative, as OpenJD wants
    assert "default" not in params["ShotList"]  # outside it: no default, the submitter gives it
    assert f"-p ShotList={(EXAMPLE / 'episode.yaml').resolve()}" in out.stderr


def test_export_job_numbers_tasks_when_chains_exceed_what_openjd_lists(tmp_path):
    # 1026 chains of one cut, and 2 backgrounds of two: more chains and cut units than a task parameter lists
    cuts = "\n".join(f"  - {{id: C{i:04d}, layout: l.png}}" for i in range(1, 1027))
    cuts += "\n" + "\n".join(f"  - {{id: D{i}, layout: l.png, bg: {bg}}}" for i, bg in enumerate("aabb"))
    sl = parse(f"version: 1\nepisode: big\nsize: [64, 64]\nmodel: draft\nbackgrounds: {{a: {{}}, b: {{}}}}\n"
               f"cuts:\n{cuts}\n", base_dir=tmp_path)
    from shotrender.farm import openjd_template

    template = openjd_template(make_plan(sl), tmp_path / "out", tmp_path)
    sheets, cut_step, _ = template["steps"]
    (param,) = sheets["parameterSpace"]["taskParameterDefinitions"]
    assert param == {"name": "Unit", "type": "INT", "range": "1027,1028"}  # the chains a and b
    assert "{{Task.Param.Unit}}" in sheets["script"]["actions"]["onRun"]["args"]
    (param,) = cut_step["parameterSpace"]["taskParameterDefinitions"]
    assert len(param["range"]) == 515 and param["range"][0] == "C0001,C0002" and param["range"][-1] == "D2,D3"
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(template, sort_keys=False))
    check = subprocess.run([str(OPENJD), "check", str(job)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_openjd_check_and_run_render_the_example(tmp_path):
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("renders"))
    job = work / "job.yaml"
    out = run_cli("export-job", str(work / "episode.yaml"), "-o", str(job), "--command", str(SHOTRENDER))
    assert out.returncode == 0, out.stderr
    check = subprocess.run([str(OPENJD), "check", str(job)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "passes validation" in check.stdout, check.stdout + check.stderr
    run = subprocess.run([str(OPENJD), "run", str(job), "--step", "Report", "--run-dependencies"],
                         capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    assert log.count("openjd_status: ep01: sheets 1 painted") == 2  # the park's and the street's
    assert log.count("openjd_progress: 100") == 7  # then one task per cut unit, each finished
    assert "blocked" not in log
    renders = work / "renders" / "ep01"
    manifest = json.loads((renders / "manifest.json").read_text())
    assert manifest["counts"] == {"rendered": 7, "reused": 1}
    assert (renders / "report.html").is_file()

    local = tmp_path / "local"
    assert run_cli("render", str(work / "episode.yaml"), "--out", str(local)).returncode == 0
    assert pictures(renders).keys() - {"ep01_contact.png"} == pictures(local).keys()
    assert all(pictures(renders)[name] == data for name, data in pictures(local).items())
    assert pictures(renders / "sheets") == pictures(local / "sheets") and len(pictures(local / "sheets")) == 2
    assert manifest_content(renders) == manifest_content(local)


def test_no_sheets_blocks_a_cut_whose_sheet_is_not_up_to_date_and_sheets_only_paints_no_cut(tmp_path):
    pan_layouts(tmp_path / "layouts", 2, 128, 72, step=16)
    cuts = [{"id": f"P0{i}", "layout": f"layouts/P0{i}.png", "bg": "park"} for i in (1, 2)]
    path = write_shotlist(tmp_path, episode(cuts))
    out = tmp_path / "out"
    early = run_cli("render", str(path), "--out", str(out), "--no-sheets")
    assert early.returncode == 1 and "0 rendered" not in early.stdout and "2 blocked" in early.stdout
    assert "P01: blocked: not rendered: its sheet park/1 is missing" in early.stderr
    assert "render --chain park --sheets-only" in early.stderr and not list(out.glob("*.png"))
    sheets = run_cli("render", str(path), "--out", str(out), "--sheets-only")
    assert sheets.returncode == 0 and "ep01: sheets 1 painted" in sheets.stdout, sheets.stdout + sheets.stderr
    assert len(pictures(out / "sheets")) == 1 and not list(out.glob("*.png"))
    assert "sheets 1 up to date" in run_cli("render", str(path), "--out", str(out), "--sheets-only").stdout
    cuts_run = run_cli("render", str(path), "--out", str(out), "--no-sheets")
    assert cuts_run.returncode == 0 and "2 rendered" in cuts_run.stdout, cuts_run.stdout + cuts_run.stderr
    whole = tmp_path / "whole"
    assert run_cli("render", str(path), "--out", str(whole)).returncode == 0
    assert pictures(out) == pictures(whole) and pictures(out / "sheets") == pictures(whole / "sheets")
    # a changed layout makes the sheet stale: its cuts are not painted from the old painting
    pan_layouts(tmp_path / "layouts", 2, 128, 72, step=20)
    stale = run_cli("render", str(path), "--out", str(out), "--no-sheets")
    assert stale.returncode == 1 and "its sheet park/1 is stale" in stale.stderr, stale.stdout + stale.stderr
    assert pictures(out) == pictures(whole)
    both = run_cli("render", str(path), "--out", str(out), "--sheets-only", "--no-sheets")
    assert both.returncode == 2 and "give one of them" in both.stderr
