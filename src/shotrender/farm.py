"""What farm submit scripts need: the work units of a plan and a job template for a scheduler.

A chain (the cuts of one background) is numbered from 1 in the order of its first cut, so a farm can hand
out `--units 1-10` like a frame range; `render --chain NAME` runs one whole, its sheets then its cuts.
Finer: a chain's *sheet unit* paints the sheets of its background (`render --chain NAME --sheets-only`),
and each *cut unit* (a painted cut with the cuts that reuse it) paints one cut from its sheet
(`render --cuts IDS --no-sheets`) once the sheet unit is done; cut units do not depend on each other.
Pure: no torch, no file reads.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path

import yaml

from shotrender.camera import deliver
from shotrender.plan import Chain, Plan
from shotrender.words import counted

UNITS_SCHEMA = "shotrender.units/2"
OPENJD_VERSION = "jobtemplate-2023-09"
OPENJD_MAX_RANGE = 1024  # values an OpenJD task parameter may list


def has_sheet_unit(plan: Plan, chain: Chain) -> bool:
    """Whether a chain may have sheets to paint: a background with continuity on and two cuts or more
    painted (a sheet is two cuts or more that register). Which cuts register is known only from the layouts'
    pixels, so a sheet unit may find none and paint nothing."""
    sl = plan.shotlist
    return (chain.name in sl.backgrounds and sl.continuity_for(chain.name).enabled
            and sum(1 for c in sl.cuts if c.bg == chain.name and c.reuse is None) > 1)


def cut_units(chain: Chain) -> tuple[Chain, ...]:
    """The chain split into its cut units: each painted cut with the cuts that reuse it (a reuse is a copy
    of its source, so it goes after it, in its task); reuses whose source is not selected go together."""
    by_source = {job.cut: [] for job in chain.jobs}
    orphans = []
    for link in chain.links:
        (by_source[link.source] if link.source in by_source else orphans).append(link)
    units = [replace(chain, jobs=(job,), links=tuple(by_source[job.cut])) for job in chain.jobs]
    if orphans:
        units.append(replace(chain, jobs=(), links=tuple(orphans)))
    return tuple(units)


def sheet_unit_id(chain: Chain) -> str:
    return f"{chain.name}:sheets"


def units_to_dict(plan: Plan, command: str = "shotrender", allow_outside: bool = False) -> dict:
    """The documented JSON form of `shotrender units --json` (docs/commands.md). `allow_outside`: the command
    was given --allow-outside-paths, and each unit's command needs it too, or it refuses the shot list."""
    sl = plan.shotlist
    shotlist = str(Path(sl.source).resolve())
    render = [command, "render", shotlist, *(["--allow-outside-paths"] if allow_outside else [])]
    units = []
    for c in plan.chains:
        sheets = has_sheet_unit(plan, c)
        units.append({
            "unit": c.unit,
            "chain": c.name,
            "cuts": list(c.cuts),
            "renders": len(c.jobs),
            "reuses": len(c.links),
            "pixels": sum(_pixels(j, sl) for j in c.jobs),
            "command": [*render, "--chain", c.name],
            "sheet_unit": {"id": sheet_unit_id(c), "command": [*render, "--chain", c.name, "--sheets-only"]}
            if sheets else None,
            "cut_units": [{"id": u.cuts[0], "cuts": list(u.cuts), "depends_on": [sheet_unit_id(c)] if sheets else [],
                           "command": [*render, "--cuts", ",".join(u.cuts), "--no-sheets"]}
                          for u in cut_units(c)],
        })
    return {
        "schema": UNITS_SCHEMA,
        "episode": sl.episode,
        "shotlist": shotlist,
        "output": str(sl.output_dir.resolve()),
        "unit_count": len(plan.chains),
        "sheet_unit_count": sum(1 for u in units if u["sheet_unit"]),
        "cut_unit_count": sum(len(u["cut_units"]) for u in units),
        "units": units,
    }


def units_to_text(plan: Plan) -> str:
    sheet_units = sum(1 for c in plan.chains if has_sheet_unit(plan, c))
    cut_count = sum(len(cut_units(c)) for c in plan.chains)
    lines = [f"{plan.shotlist.episode}: {counted(len(plan.chains), 'unit')} (one per chain), "
             f"{counted(plan.cut_count, 'cut')}; {counted(sheet_units, 'sheet unit')}, then "
             f"{counted(cut_count, 'cut unit')}"]
    lines.append(f"{'unit':>5}  {'chain':<16} {'renders':>7} {'reuses':>6}  cuts")
    for c in plan.chains:
        cuts = c.cuts
        span = cuts[0] if len(cuts) == 1 else f"{cuts[0]} .. {cuts[-1]}"
        lines.append(f"{c.unit:>5}  {c.name:<16} {len(c.jobs):>7} {len(c.links):>6}  {span}")
        after = f", each after {sheet_unit_id(c)}" if has_sheet_unit(plan, c) else ""
        lines.append(f"{'':>7}cut units: {' '.join('+'.join(u.cuts) for u in cut_units(c))}{after}")
    return "\n".join(lines)


def openjd_template(plan: Plan, out_dir: Path, template_dir: Path, command: str = "shotrender",
                    allow_outside: bool = False) -> dict:
    """An Open Job Description job template: a Sheets step (one task per chain with a sheet unit, painting
    its background's sheets), a Cuts step that depends on it (one task per cut unit, painting from the
    sheets, in parallel), then a Report step. Without sheet units there is no Sheets step.

    Sheet tasks are named by chain (`--chain NAME`); an episode with more chains than an OpenJD task
    parameter may list (1024) numbers them instead, as one range expression (`--units N`). Cut tasks are
    named by their cuts (`--cuts C002,C008`); above 1024 cut units, neighbouring units share a task. OpenJD
    joins a default path to the template's folder and forbids walking up from it, so a path under
    `template_dir` becomes a relative default and any other path has no default: the submitter gives it
    (`openjd run job.yaml -p ShotList=...`; see `missing_defaults`). `allow_outside`: export-job was given
    --allow-outside-paths, and the workers' commands are given it too: without it every task would refuse the
    shot list that export-job accepted.
    """
    sl = plan.shotlist

    def path_param(name: str, kind: str, flow: str, path: Path, description: str) -> dict:
        param = {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow}
        inside = _relative_inside(path, template_dir)
        if inside is not None:
            param["default"] = inside
        return {**param, "description": description}

    def action(args: list[str]) -> dict:
        return {"actions": {"onRun": {"command": "{{Param.Shotrender}}", "args": args,
                                      "cancelation": {"mode": "NOTIFY_THEN_TERMINATE"}}}}

    common = ["{{Param.ShotList}}", "--out", "{{Param.OutputDir}}", *(["--allow-outside-paths"] if allow_outside
                                                                      else [])]
    steps = []
    with_sheets = [c for c in plan.chains if has_sheet_unit(plan, c)]
    if with_sheets:
        if len(plan.chains) <= OPENJD_MAX_RANGE:
            task_param = {"name": "Chain", "type": "STRING", "range": [c.name for c in with_sheets]}
            select = ["--chain", "{{Task.Param.Chain}}"]
        else:
            task_param = {"name": "Unit", "type": "INT", "range": ",".join(str(c.unit) for c in with_sheets)}
            select = ["--units", "{{Task.Param.Unit}}"]
        steps.append({"name": "Sheets", "parameterSpace": {"taskParameterDefinitions": [task_param]},
                      "script": action(["render", *common, *select, "--sheets-only", "--progress", "openjd"])})
    units = [u.cuts for c in plan.chains for u in cut_units(c)]
    per_task = -(-len(units) // OPENJD_MAX_RANGE)
    tasks = [",".join(cut for unit in units[i:i + per_task] for cut in unit) for i in range(0, len(units), per_task)]
    steps.append({"name": "Cuts", **({"dependencies": [{"dependsOn": "Sheets"}]} if with_sheets else {}),
                  "parameterSpace": {"taskParameterDefinitions": [{"name": "Cuts", "type": "STRING", "range": tasks}]},
                  "script": action(["render", *common, "--cuts", "{{Task.Param.Cuts}}", "--no-sheets",
                                    "--progress", "openjd"])})
    report = action(["report", *common])
    del report["actions"]["onRun"]["cancelation"]
    steps.append({"name": "Report", "dependencies": [{"dependsOn": "Cuts"}], "script": report})
    return {
        "specificationVersion": OPENJD_VERSION,
        "name": f"shotrender {sl.episode}",
        "description": f"Backgrounds of {sl.episode}: {counted(plan.cut_count, 'cut')} in "
                       f"{counted(len(plan.chains), 'chain')}; the sheets of {len(with_sheets)} of them first, then "
                       f"{counted(len(units), 'cut unit')} in {counted(len(tasks), 'task')}. Exported by shotrender "
                       "export-job.",
        "parameterDefinitions": [
            path_param("ShotList", "FILE", "IN", Path(sl.source),
                       "The shot list; its layouts are read relative to its folder."),
            path_param("OutputDir", "DIRECTORY", "OUT", out_dir,
                       "Where renders, sidecars and the manifest go; every worker must see it."),
            {"name": "Shotrender", "type": "STRING", "default": command,
             "description": "The shotrender command on the workers: a name on PATH or a full path."},
        ],
        "steps": steps,
    }


def _relative_inside(path: Path, folder: Path) -> str | None:
    relative = Path(os.path.relpath(path.resolve(), folder.resolve()))
    return None if relative.parts[:1] == ("..",) else relative.as_posix()


def missing_defaults(template: dict, plan: Plan, out_dir: Path) -> list[str]:
    """`-p NAME=VALUE` arguments for the path parameters the template could not give a default, shell-quoted:
    a path with a space or `$(...)` in it is pasted into a shell whole, never split or run."""
    values = {"ShotList": Path(plan.shotlist.source).resolve(), "OutputDir": out_dir.resolve()}
    names = [p["name"] for p in template["parameterDefinitions"] if p["type"] == "PATH" and "default" not in p]
    return [f"-p {shlex.quote(f'{name}={values[name]}')}" for name in names]


def dump_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def _pixels(job, sl) -> int:
    """A job's painted pixels: the frame's, or a moving cut's deliverable (camera.py)."""
    if job.camera is None:
        return sl.width * sl.height
    w, h = deliver(job.camera, (sl.width, sl.height)).size
    return w * h
