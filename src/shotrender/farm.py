"""What farm submit scripts need: the work units of a plan and a job template for a scheduler.

A work unit is one continuity chain: its cuts run in order on one worker with the model loaded once,
and chains are independent. Units are numbered from 1 in the order of each chain's first cut, so a
farm can hand out `--units 1-10` like a frame range. Pure: no torch, no file reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from shotrender.plan import Plan

UNITS_SCHEMA = "shotrender.units/1"
OPENJD_VERSION = "jobtemplate-2023-09"
OPENJD_MAX_RANGE = 1024  # values an OpenJD task parameter may list


def units_to_dict(plan: Plan, command: str = "shotrender", allow_outside: bool = False) -> dict:
    """The documented JSON form of `shotrender units --json` (docs/farm.md). `allow_outside`: the command was
    given --allow-outside-paths, and each unit's command needs it too, or it refuses the shot list."""
    sl = plan.shotlist
    shotlist = str(Path(sl.source).resolve())
    trust = ["--allow-outside-paths"] if allow_outside else []
    return {
        "schema": UNITS_SCHEMA,
        "episode": sl.episode,
        "shotlist": shotlist,
        "output": str(sl.output_dir.resolve()),
        "unit_count": len(plan.chains),
        "units": [
            {
                "unit": c.unit,
                "chain": c.name,
                "cuts": list(c.cuts),
                "renders": len(c.jobs),
                "reuses": len(c.links),
                "pixels": len(c.jobs) * sl.width * sl.height,
                "command": [command, "render", shotlist, *trust, "--chain", c.name],
            }
            for c in plan.chains
        ],
    }


def units_to_text(plan: Plan) -> str:
    lines = [f"{plan.shotlist.episode}: {len(plan.chains)} units (one per chain), {plan.cut_count} cuts"]
    lines.append(f"{'unit':>5}  {'chain':<16} {'renders':>7} {'reuses':>6}  cuts")
    for c in plan.chains:
        cuts = c.cuts
        span = cuts[0] if len(cuts) == 1 else f"{cuts[0]} .. {cuts[-1]}"
        lines.append(f"{c.unit:>5}  {c.name:<16} {len(c.jobs):>7} {len(c.links):>6}  {span}")
    return "\n".join(lines)


def openjd_template(plan: Plan, out_dir: Path, template_dir: Path, command: str = "shotrender",
                    allow_outside: bool = False) -> dict:
    """An Open Job Description job template: a Render step with one task per chain, then a Report step.

    Tasks are named by chain (`--chain NAME`). An episode with more chains than an OpenJD task parameter
    may list (1024) numbers its tasks instead, as one range expression (`--units N`). OpenJD joins a
    default path to the template's folder and forbids walking up from it, so a path under `template_dir`
    becomes a relative default and any other path has no default: the submitter gives it
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
    by_name = len(plan.chains) <= OPENJD_MAX_RANGE
    if by_name:
        task_param = {"name": "Chain", "type": "STRING", "range": [c.name for c in plan.chains]}
        select = ["--chain", "{{Task.Param.Chain}}"]
    else:
        task_param = {"name": "Unit", "type": "INT", "range": f"1-{len(plan.chains)}"}
        select = ["--units", "{{Task.Param.Unit}}"]
    common = ["{{Param.ShotList}}", "--out", "{{Param.OutputDir}}", *(["--allow-outside-paths"] if allow_outside
                                                                      else [])]
    return {
        "specificationVersion": OPENJD_VERSION,
        "name": f"shotrender {sl.episode}",
        "description": f"Backgrounds of {sl.episode}: {plan.cut_count} cuts in {len(plan.chains)} chains, "
                       f"one task per chain. Exported by shotrender export-job.",
        "parameterDefinitions": [
            path_param("ShotList", "FILE", "IN", Path(sl.source),
                       "The shot list; its layouts are read relative to its folder."),
            path_param("OutputDir", "DIRECTORY", "OUT", out_dir,
                       "Where renders, sidecars and the manifest go; every worker must see it."),
            {"name": "Shotrender", "type": "STRING", "default": command,
             "description": "The shotrender command on the workers: a name on PATH or a full path."},
        ],
        "steps": [
            {
                "name": "Render",
                "parameterSpace": {"taskParameterDefinitions": [task_param]},
                "script": {"actions": {"onRun": {
                    "command": "{{Param.Shotrender}}",
                    "args": ["render", *common, *select, "--progress", "openjd"],
                    "cancelation": {"mode": "NOTIFY_THEN_TERMINATE"},
                }}},
            },
            {
                "name": "Report",
                "dependencies": [{"dependsOn": "Render"}],
                "script": {"actions": {"onRun": {
                    "command": "{{Param.Shotrender}}",
                    "args": ["report", *common],
                }}},
            },
        ],
    }


def _relative_inside(path: Path, folder: Path) -> str | None:
    relative = Path(os.path.relpath(path.resolve(), folder.resolve()))
    return None if relative.parts[:1] == ("..",) else relative.as_posix()


def missing_defaults(template: dict, plan: Plan, out_dir: Path) -> list[str]:
    """`-p NAME=VALUE` arguments for the path parameters the template could not give a default."""
    values = {"ShotList": Path(plan.shotlist.source).resolve(), "OutputDir": out_dir.resolve()}
    return [f"-p {p['name']}={values[p['name']]}" for p in template["parameterDefinitions"]
            if p["type"] == "PATH" and "default" not in p]


def dump_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
