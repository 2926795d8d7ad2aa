"""The `shotrender` command: each subcommand parses its arguments, makes one library call and prints.

Errors from the library become messages and the exit codes of errors.py; no traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from shotrender import __version__, signals
from shotrender.errors import Interrupted, ShotListError, ShotRenderError
from shotrender.words import counted


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ShotListError as e:
            for p in e.problems + e.warnings:
                click.echo(str(p), err=True)
            n = len(e.problems)
            click.echo(f"shotrender: {n} problem{'s' if n != 1 else ''}; nothing was rendered", err=True)
            sys.exit(e.exit_code)
        except ShotRenderError as e:
            click.echo(f"shotrender: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shotrender")
def cli():
    """Paint the backgrounds of an animated episode from its layouts and a YAML shot list.

    \b
    Start here:
      shotrender validate shots/example/episode.yaml
      shotrender plan shots/example/episode.yaml
      shotrender render shots/example/episode.yaml

    Exit codes: 0 done, 1 a render failed, 2 bad input or usage, 130/143 interrupted.
    """


def _remember(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[param.name] = value


def shotlist_argument(f):
    """The shot list argument, with --allow-outside-paths, which `_load` reads from the context."""
    f = click.option("--allow-outside-paths", is_flag=True, expose_value=False, callback=_remember,
                     help="Let the shot list name layouts and an output folder outside its own folder "
                          "(symlinks included). Off by default, so a shot list from elsewhere cannot make "
                          "shotrender read or write beyond it.")(f)
    return click.argument("shotlist", type=click.Path(dir_okay=False, path_type=Path))(f)


def selector_options(f):
    f = click.option("--units", metavar="RANGE", help="Only these work units (chains by number, see `shotrender "
                     "units`): an OpenJD-style range such as 3, 1-10, 1-10:2 or 10-15,1-5.")(f)
    f = click.option("--shard", metavar="I/N", help="Only the I-th of N fixed shards of whole chains, e.g. 2/3.")(f)
    f = click.option("--chain", metavar="NAMES", help="Only these chains (background ids), comma-separated.")(f)
    f = click.option("--cuts", metavar="IDS", help="Only these cuts, e.g. C001,C010-C020.")(f)
    return f


def run_options(f):
    """What decides a run's identity, given alike to render, status and check so that they judge the same run
    (state.RunSettings): read with `_settings`."""
    for option in reversed((
        click.option("--model", help="Override the shot list's model: draft, a diffusers folder, a .safetensors "
                     "file or a hub id."),
        click.option("--controlnet", help="Override the shot list's ControlNet: a ControlNetModel folder."),
        click.option("--device", help="cuda, cuda:1, mps or cpu. Default: the best available."),
        click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]),
                     help="Default: float16 on CUDA, float32 elsewhere."),
        click.option("--allow-unsafe-checkpoint", is_flag=True,
                     help="Allow pickle checkpoints (.ckpt/.pt/.bin). Loading one runs code from the file."),
        click.option("--no-continuity", is_flag=True,
                     help="Every cut from its own layout alone: no guided init, fusion or check (for comparison)."),
    )):
        f = option(f)
    return f


def _settings(model, controlnet, device, dtype, allow_unsafe_checkpoint, no_continuity):
    from shotrender.state import RunSettings

    return RunSettings(model=model, controlnet=controlnet, device=device, dtype=dtype,
                       allow_unsafe_checkpoint=allow_unsafe_checkpoint, continuity=not no_continuity)


def out_option(f):
    return click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                        help="Output folder. Default: the shot list's `output`, else renders/<episode> "
                             "beside it.")(f)


def _load(shotlist: Path, unread: bool = False):
    """The checked shot list, its warnings printed; bad input raises ShotListError (exit 2). `unread`: warn of
    parameters the backend does not read too (validate)."""
    from shotrender.shotlist import load_with_warnings

    sl, problems = load_with_warnings(shotlist, click.get_current_context().meta.get("allow_outside_paths", False),
                                      unread)
    if sl is None:
        raise ShotListError(problems)
    for w in problems:
        click.echo(str(w), err=True)
    return sl


def _trusted() -> bool:
    """Whether the command was given --allow-outside-paths (the commands it prints for workers need it too)."""
    return click.get_current_context().meta.get("allow_outside_paths", False)


def _out(sl, out_dir: Path | None) -> Path:
    """The output folder a command writes or reads (`--out`, else the shot list's), checked before any work."""
    from shotrender.shotlist import check_output

    return check_output(sl, out_dir, click.get_current_context().meta.get("allow_outside_paths", False))


def preview_option(what: str):
    return click.option("--preview", is_flag=True, help=f"{what} the shot list's preview: its `preview:` overrides, "
                        "in <out>-preview/, a folder, cache and manifest of its own (as `render --preview`).")


def _out_of(sl, out_dir: Path | None, preview: bool) -> Path:
    """`_out`, and for a preview its folder beside the finals' (`render --preview`'s rule, for every command)."""
    if preview:
        from shotrender.preview import folder

        out_dir = folder(out_dir or sl.output_dir)
    return _out(sl, out_dir)


def _load_plan(shotlist: Path, cuts=None, chain=None, shard=None, units=None, preview: bool = False):
    from shotrender.plan import make_plan, select
    from shotrender.preview import apply
    from shotrender.review.decisions import Reviews, with_retakes

    sl = _load(shotlist)
    if preview:
        sl = apply(sl)
    full = make_plan(with_retakes(sl, Reviews.of(sl)))  # a retake's changes are its cut's parameters from then on
    return full, select(full, cuts=cuts, chain=chain, shard=shard, units=units)


@cli.command()
@shotlist_argument
def validate(shotlist: Path):
    """Check a shot list and every layout it names; list every problem at once.

    Exit 0 when it can be rendered (warnings are printed), 2 with every problem listed.

    \b
    Example:
      shotrender validate shots/example/episode.yaml
    """
    from shotrender.plan import count_chains

    sl = _load(shotlist, unread=True)
    click.echo(f"{shotlist}: ok: episode {sl.episode}, {counted(len(sl.cuts), 'cut')}, "
               f"{counted(len(sl.backgrounds), 'background')}, {counted(count_chains(sl), 'chain')}, "
               f"{sl.width}x{sl.height}, model {sl.model}")


@cli.command()
@shotlist_argument
@selector_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schema shotrender.plan/1).")
def plan(shotlist: Path, cuts, chain, shard, units, as_json):
    """Show how a shot list will be rendered: its places' sheets and variants, and each cut's sheet, strengths,
    camera move, seed and words.

    Nothing is rendered and no model is loaded. `--json` is the stable form for farm scripts
    (docs/commands.md describes every field).

    \b
    Examples:
      shotrender plan shots/example/episode.yaml
      shotrender plan shots/example/episode.yaml --shard 1/3 --json
    """
    from shotrender.files import readable_json
    from shotrender.plan import plan_to_dict, plan_to_text
    from shotrender.state import plan_sheets

    _, selected = _load_plan(shotlist, cuts, chain, shard, units)
    sheets = plan_sheets(selected, selected.shotlist.output_dir)
    if as_json:
        click.echo(readable_json(plan_to_dict(selected, sheets), depth=4))
    else:
        click.echo(plan_to_text(selected, sheets))


@cli.command()
@shotlist_argument
@selector_options
@click.option("--json", "as_json", is_flag=True, help="Print the units as JSON (schema shotrender.units/2).")
def units(shotlist: Path, cuts, chain, shard, units, as_json):
    """List the work units of a shot list for farm submit scripts: one per continuity chain.

    A unit's cuts run in order on one machine with the model loaded once; units are independent.
    They are numbered from 1 in the order of each chain's first cut, so `render --units 4-6` runs
    units 4, 5 and 6. Finer, each chain has a sheet unit (`render --chain NAME --sheets-only`) and
    cut units (`render --cuts IDS --no-sheets`) that depend on it and not on each other. `--json`
    gives each unit's chain, cuts, sheet unit and cut units with their commands.

    \b
    Examples:
      shotrender units shots/example/episode.yaml
      shotrender units shots/example/episode.yaml --json
    """
    from shotrender.farm import units_to_dict, units_to_text
    from shotrender.files import readable_json

    _, selected = _load_plan(shotlist, cuts, chain, shard, units)
    if as_json:
        click.echo(readable_json(units_to_dict(selected, allow_outside=_trusted()), depth=3))
    else:
        click.echo(units_to_text(selected))


@cli.command("export-job")
@shotlist_argument
@selector_options
@out_option
@click.option("--format", "job_format", type=click.Choice(["openjd"]), default="openjd", show_default=True,
              help="openjd: an Open Job Description job template (YAML).")
@click.option("--command", "command", default="shotrender", show_default=True,
              help="How workers run shotrender: a name on their PATH or a full path (the template's "
                   "Shotrender parameter, which a submitter may change too).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the template to FILE instead of standard output. Its default paths are relative "
                   "to the template's folder: this file's, else the current folder.")
def export_job(shotlist: Path, cuts, chain, shard, units, out_dir, job_format, command, output):
    """Print a farm job template for the shot list: the sheets, then every cut, then the report.

    The Sheets step runs `shotrender render SHOTLIST --out DIR --chain NAME --sheets-only` per chain
    with sheets; the Cuts step, after it, `render ... --cuts IDS --no-sheets` per cut unit (a cut and
    the cuts that reuse it), in parallel; the Report step runs after all of them. The shot list,
    output folder and command are job parameters; their defaults are this machine's paths, relative
    to the template's folder as OpenJD wants. Check and run it with openjd-cli, or submit it to any
    Open Job Description scheduler (docs/farm.md).

    \b
    Examples:
      shotrender export-job shots/example/episode.yaml --format openjd -o job.yaml
      openjd check job.yaml && openjd run job.yaml --step Report --run-dependencies
    """
    from shotrender.farm import dump_yaml, has_sheet_unit, missing_defaults, openjd_template

    full, selected = _load_plan(shotlist, cuts, chain, shard, units)
    out = _out(full.shotlist, out_dir)
    template_dir = output.parent if output is not None else Path(".")
    template = openjd_template(selected, out, template_dir, command, allow_outside=_trusted())
    if output is None:
        click.echo(dump_yaml(template), nl=False)
    else:
        _refuse_inputs(full.shotlist, output, "-o")
        _write_file(output, dump_yaml(template))
    where = f" in {output}" if output is not None else ""
    cuts_step = next(s for s in template["steps"] if s["name"] == "Cuts")
    cut_tasks = len(cuts_step["parameterSpace"]["taskParameterDefinitions"][0]["range"])
    sheet_tasks = sum(has_sheet_unit(selected, c) for c in selected.chains)
    click.echo(f"{full.shotlist.episode}: job template with {sheet_tasks} sheet tasks and {cut_tasks} cut tasks{where}",
               err=True)
    missing = missing_defaults(template, selected, out)
    if missing:
        click.echo("  paths outside the template's folder have no default (OpenJD forbids it); give them when "
                   f"you run or submit it: {' '.join(missing)}", err=True)


@cli.command()
@shotlist_argument
@selector_options
@out_option
@run_options
@click.option("--force", is_flag=True, help="Render every selected cut even if it is up to date.")
@click.option("--force-cuts", metavar="IDS", help="Render these cuts even if they are up to date.")
@click.option("--batch", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Run N chains side by side and batch their cuts' renders on the GPU (same bytes as unbatched "
                   "on the CPU; on a GPU kernels may round differently).")
@click.option("--progress", "progress_mode",
              type=click.Choice(["auto", "bar", "plain", "none", "openjd", "deadline", "tractor"]),
              default="auto", show_default=True,
              help="auto: a bar at a terminal, plain lines otherwise; openjd, deadline, tractor: progress lines "
                   "on standard output for that farm's log parser.")
@click.option("--strict", is_flag=True, help="Exit 1 when a cut is flagged for review, not only when one fails.")
@preview_option("Paint with")
@click.option("--sheets-only", is_flag=True, help="Paint only the sheets the selected cuts are views of, no cut "
              "(a farm's Sheets step); exit 1 when a sheet fails.")
@click.option("--no-sheets", is_flag=True, help="Paint only cuts, from sheets painted before (a farm's Cuts step): "
              "a cut whose sheet is not up to date is blocked, never painted from a stale sheet.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: chains run in this process; ray: each chain's sheets, then each cut, are tasks on a Ray "
                   "cluster's workers, which keep their model loaded (needs pip install 'shotrender[ray]').")
@click.option("--address", metavar="ADDR", help="With --executor ray: the cluster to join (ray://HOST:10001, "
              "HOST:6379 or auto). Default: a private local cluster on this machine.")
@click.option("--workers", type=click.IntRange(1), help="With --executor ray: how many workers (Ray actors). "
              "Default: as many as the cluster's CPUs or GPUs fit, at most one per task.")
@click.option("--cpus-per-worker", type=click.FloatRange(min=0.01), default=1, show_default=True,
              help="With --executor ray: CPUs each worker reserves; on a CPU-only worker also torch's thread "
                   "count, which CPU renders' bytes depend on.")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), help="With --executor ray: GPUs each worker "
              "reserves. Default: 1 when the cluster has GPUs, else 0.")
@click.option("--retakes", is_flag=True, help="Render only the selected cuts whose current picture the director "
              "sent back for a retake (`shotrender review`); each becomes its next take.")
def render(shotlist: Path, cuts, chain, shard, units, out_dir, model, controlnet, device, dtype,
           allow_unsafe_checkpoint, no_continuity, force, force_cuts, batch, progress_mode, strict, preview,
           sheets_only, no_sheets, executor, address, workers, cpus_per_worker, gpus_per_worker, retakes):
    """Paint every selected cut's background and write <out>/<episode>_<cut>.png with a sidecar .json.

    The shot list is checked first: with any problem, nothing loads and the exit code is 2. Cuts whose
    inputs have not changed since their last render are skipped, and so are cuts whose current picture
    the director approved (locked, even with --force); a retake's changes are part of its cut's inputs.

    \b
    Examples:
      shotrender render shots/example/episode.yaml
      shotrender render shots/example/episode.yaml --model ./models/sd15 --device cuda
      shotrender render episode.yaml --chain park --out /mnt/renders/ep01
      shotrender render episode.yaml --executor ray --address ray://head:10001
      shotrender render episode.yaml --preview
    """
    from shotrender.errors import UsageError
    from shotrender.plan import cut_ids
    from shotrender.progress import FarmProgress
    from shotrender.render import RenderOptions
    from shotrender.render import render as run_render
    from shotrender.state import PLACE_CHANGED

    ray_only = {"--address": address, "--workers": workers, "--gpus-per-worker": gpus_per_worker,
                "--cpus-per-worker": cpus_per_worker if cpus_per_worker != 1 else None}
    given = [name for name, value in ray_only.items() if value is not None]
    if executor != "ray" and given:
        raise UsageError(f"{', '.join(given)} only mean something with --executor ray")
    if sheets_only and (no_sheets or no_continuity):
        raise UsageError(f"--sheets-only paints sheets, and {'--no-sheets' if no_sheets else '--no-continuity'} "
                         "none: give one of them")
    full, selected = _load_plan(shotlist, cuts, chain, shard, units, preview)
    sl = full.shotlist
    forced = frozenset(cut_ids(full, force_cuts, "--force-cuts") if force_cuts is not None else ())
    settings = _settings(model, controlnet, device, dtype, allow_unsafe_checkpoint, no_continuity)
    backend = _backend(sl, settings, painting=True)
    out = _out_of(sl, out_dir, preview)
    if retakes:
        from shotrender.review.decisions import only_retakes

        selected = only_retakes(selected, out)
        if not selected.chains:
            click.echo(f"{sl.episode}: no selected cut waits for a retake")
            return
    progress = _progress(progress_mode)
    options = RenderOptions(out, settings, force=force, force_cuts=forced, batch=batch,
                            stage="sheets" if sheets_only else "cuts" if no_sheets else "all")
    runner = None
    if executor == "ray":
        from shotrender.executors.ray import RayExecutor

        runner = RayExecutor(address, workers, cpus_per_worker, gpus_per_worker)
    result = run_render(selected, backend, options, progress, executor=runner)
    summary = ", ".join(f"{result.count(s)} {s}" for s in ("rendered", "flagged", "cached", "retouched", "reused",
                                                           "failed", "blocked") if result.count(s))
    still = sum(1 for r in result.flagged if r.status == "cached")
    headline = f"{sl.episode}: {summary or 'nothing selected'}" + (f" ({still} cached still flagged)" if still else "")
    failed_sheets = [sheet for sheet, state in result.sheets.items() if state == "failed"]
    if sheets_only:
        counted = {state: list(result.sheets.values()).count(state)
                   for state in ("painted", "flagged", "up to date", "failed")}
        headline = f"{sl.episode}: sheets " + (", ".join(f"{n} {state}" for state, n in counted.items() if n)
                                               or "none to paint")
    click.echo(f"{headline} in {result.seconds:.1f} s ({backend.name}); pictures in {out}")
    if isinstance(progress, FarmProgress):
        progress.ended(headline, result.failed)
    if sheets_only and failed_sheets:
        click.echo(f"  sheets failed: {', '.join(failed_sheets)} (their sidecars in {out / 'sheets'} say why)",
                   err=True)
        sys.exit(1)
    for r in result.flagged:
        if r.error.startswith(PLACE_CHANGED):  # approved: the director's word stands, but the place moved on
            click.echo(f"  {r.cut}: {r.error}")
        else:
            click.echo(f"  {r.cut}: flagged for review{' (cached)' if r.status == 'cached' else ''}: {r.error}")
    if result.failed:
        for r in result.failed:
            click.echo(f"  {r.cut}: {r.status}: {r.error}", err=True)
        sys.exit(1)
    if strict and result.flagged:
        click.echo(f"shotrender: {len(result.flagged)} cut(s) flagged for review and --strict was given", err=True)
        sys.exit(1)


@cli.command()
@shotlist_argument
@selector_options
@out_option
@run_options
@preview_option("Answer for")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per cut in a list.")
def status(shotlist: Path, cuts, chain, shard, units, out_dir, model, controlnet, device, dtype,
           allow_unsafe_checkpoint, no_continuity, preview, as_json):
    """Show which cuts are up to date, flagged, stale (and why), missing or failed, without rendering.

    Give it the options you give `render` (--model, --device, --no-continuity, ...): it answers for that
    run, and `render` then skips exactly the cuts it calls up to date or flagged.

    \b
    Examples:
      shotrender status shots/example/episode.yaml
      shotrender status shots/example/episode.yaml --no-continuity --json
      shotrender status shots/example/episode.yaml --preview
    """
    from shotrender.state import PLACE_CHANGED
    from shotrender.state import status as cut_status

    full, selected = _load_plan(shotlist, cuts, chain, shard, units, preview)
    sl = full.shotlist
    settings = _settings(model, controlnet, device, dtype, allow_unsafe_checkpoint, no_continuity)
    from shotrender.review.decisions import Reviews, reviewing

    rows = cut_status(selected, _backend(sl, settings), _out_of(sl, out_dir, preview), settings)
    decided = Reviews.of(sl)
    # each cut's review state, once the episode is under review (its decisions file exists)
    reviews = ({r.cut: decided.state(r.cut, r.picture, r.take)[0] for r in rows if r.kind == "cut"}
               if reviewing(sl) else {})
    if as_json:
        click.echo(json.dumps([{"cut": r.cut, "kind": r.kind, "chain": r.chain, "state": r.state,
                                "reasons": list(r.reasons), **({"review": reviews[r.cut]} if r.cut in reviews else {}),
                                **({"alone": r.alone} if r.alone else {}), **({"hint": r.hint} if r.hint else {}),
                                **({"place_changed": r.place_changed} if r.kind == "cut" else {})}
                               for r in rows], indent=2))
        return
    for r in rows:
        why = f" ({'; '.join(r.reasons)})" if r.reasons else ""
        name = f"sheet {r.cut}" if r.kind == "sheet" else r.cut
        review = f" · review: {reviews[r.cut]}" if r.kind == "cut" and r.cut in reviews else ""
        alone = "".join(f" · {note}" for note in (r.alone, r.hint) if note)
        click.echo(f"{name:<14} {r.chain:<12} {PLACE_CHANGED if r.place_changed else r.state}{why}{alone}{review}")
    counts = {}
    for r in rows:
        if r.kind == "cut":
            counts[r.state] = counts.get(r.state, 0) + 1
    click.echo(", ".join(f"{n} {state}" for state, n in counts.items()) or "no cuts selected")


@cli.command()
@shotlist_argument
@selector_options
@out_option
@click.option("--no-continuity", is_flag=True, help="As render --no-continuity: no cut is painted from another, "
              "so there is nothing to check.")
@preview_option("Score")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per consecutive pair in a list.")
def check(shotlist: Path, cuts, chain, shard, units, out_dir, no_continuity, preview, as_json):
    """Score the continuity of existing renders, pair by pair, without rendering anything.

    For each consecutive pair of cuts in a chain: the overlap of their layouts and the masked warp
    error of their renders beyond the layouts' own (or, below min_overlap, the colour distance to the
    chain's first render), against the limit. Exit 0 even when pairs are over the limit.

    \b
    Examples:
      shotrender check shots/example/episode.yaml
      shotrender check shots/example/episode.yaml --chain park --json
      shotrender check shots/example/episode.yaml --preview
    """
    from shotrender.render import check as check_pairs

    full, selected = _load_plan(shotlist, cuts, chain, shard, units, preview)
    from shotrender.state import RunSettings

    rows = check_pairs(selected, _out_of(full.shotlist, out_dir, preview), RunSettings(continuity=not no_continuity))
    if as_json:
        click.echo(json.dumps([{"upstream": r.upstream, "cut": r.cut, "chain": r.chain, "mode": r.mode,
                                "overlap": r.overlap, "score": r.score, "limit": r.limit, "over": r.over,
                                **({"note": r.note} if r.note else {})}
                               for r in rows], indent=2))
        return
    for r in rows:
        if r.mode == "alone":
            click.echo(f"{r.cut:<12} {r.chain:<10} painted alone · {r.note}")
            continue
        if r.mode == "missing":
            click.echo(f"{r.upstream} -> {r.cut:<8} {r.chain:<10} not both rendered")
            continue
        if r.mode == "size":
            click.echo(f"{r.upstream} -> {r.cut:<8} {r.chain:<10} {r.note}"
                       + ("" if preview else "; or give --preview for a preview's folder"))
            continue
        score = "n/a" if r.score is None else f"{r.score:.4f}"
        verdict = "OVER" if r.over else "ok"
        click.echo(f"{r.upstream} -> {r.cut:<8} {r.chain:<10} {r.mode:<6} overlap {r.overlap:.2f} "
                   f"score {score} limit {r.limit:g} {verdict}")
    if not rows:
        click.echo("no consecutive pairs in the selection")


@cli.command()
@click.option("--from-edl", "edl", type=click.Path(dir_okay=False, path_type=Path),
              help="The cut as a CMX 3600 EDL.")
@click.option("--from-otio", "otio_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The cut as an OpenTimelineIO timeline (.otio or any file OpenTimelineIO reads).")
@click.option("--rate", metavar="FPS", default="24", show_default=True,
              help="Frames per second of the EDL's timecodes (EDL only; a timeline carries its own): 24, 25, 30, "
                   "48, 50, 60, or an NTSC rate as 23.976, 29.97, 47.952, 59.94 or a fraction such as 30000/1001.")
@click.option("--layouts", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of layout images, matched to cuts by id; alone, one cut per image.")
@click.option("--id-pattern", metavar="REGEX", help="How to find the cut id in a clip or file name: the first "
              "match, or its first group. Default: the first of C and a number (ep02_C010_lo -> C010), a number "
              "on its own (010), the first letters and digits (K12_take2 -> K12) that finds one in every name.")
@click.option("--size", metavar="W,H", help="Output size. Default: the nearest size to the layouts' with sides "
              "multiples of 8 and the same aspect, else 1024,576.")
@click.option("--model", default="draft", show_default=True, help="The shot list's model.")
@click.option("--episode", help="Episode id. Default: made from the edit's file name, else the layouts folder's.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the shot list to FILE (layout paths relative to its folder), whole or not at all, instead "
                   "of standard output.")
@click.option("--places", is_flag=True, help="Register the layouts together and group the cuts into backgrounds, "
              "one per place found, each with the evidence in a comment (docs/commands.md#init).")
@click.option("--force", is_flag=True, help="Overwrite the --output file if it exists.")
def init(edl, otio_file, rate, layouts, id_pattern, size, model, episode, output, places, force):
    """Start a shot list from the edit (EDL or OpenTimelineIO) or from a folder of layouts.

    One cut per clip of the edit's first video track, in record order (gaps, transitions and black
    are skipped), with its duration as `frames` and its markers as `notes`; or one cut per layout
    image, in natural order (C2 before C10). Prompts are left empty to fill in, and no cut has a
    background yet (each is a chain of its own): a comment in the file shows how to group them.
    Reading an edit needs the extra: pip install 'shotrender[editorial]'.

    \b
    Examples:
      shotrender init --from-edl cut.edl --layouts layouts -o episode.yaml
      shotrender init --from-otio cut.otio --episode ep07 -o shots/ep07.yaml
      shotrender init --layouts layouts --size 1024,576 -o episode.yaml
      shotrender init --layouts layouts --places -o episode.yaml
    """
    import os

    from shotrender.editorial import make_scaffold
    from shotrender.errors import UsageError
    from shotrender.files import check_target

    if edl and otio_file:
        raise UsageError("give one of --from-edl and --from-otio, not both")
    if output is not None:
        check_target(output)
        if os.path.lexists(output) and not force:
            raise UsageError(f"{output} exists; give --force to overwrite it")
    base_dir = output.parent if output is not None else Path(".")
    if places and layouts is None:
        raise UsageError("--places registers the layouts to group them: give --layouts DIR too")
    text, summary = make_scaffold(edit=edl or otio_file, edl=edl is not None, rate=rate, layouts=layouts,
                                  id_pattern=id_pattern, size=size, model=model, episode=episode, base_dir=base_dir,
                                  places=places, progress=lambda text: click.echo(f"shotrender init: {text}", err=True))
    if output is None:
        click.echo(text, nl=False)
    else:
        _write_file(output, text)
    click.echo(f"shotrender init: {summary}" + (f"; wrote {output}" if output is not None else ""), err=True)
    if not places:
        click.echo("shotrender init: no cut has a bg:, so each is a chain of one, painted without continuity; group "
                   "the cuts of one place under backgrounds: and give them bg: (the comment above cuts: shows how), "
                   "or give --places to have the layouts grouped by registering them", err=True)
    if layouts is not None and not layouts.resolve().is_relative_to(base_dir.resolve()):
        click.echo("shotrender init: the layouts are outside the shot list's folder, so validate and render will "
                   "ask for --allow-outside-paths; keep the shot list beside its layouts to do without", err=True)


@cli.command()
@shotlist_argument
@out_option
@click.option("--open", "open_browser", is_flag=True, help="Open the report in the default web browser.")
def report(shotlist: Path, out_dir, open_browser):
    """Write <out>/report.html and <out>/<episode>_contact.png for review, from the manifest alone.

    Nothing is rendered or recomputed: the page shows every cut's layout and render, prompt, seed,
    parameters and attempts, and each consecutive pair's overlap, score and pictures, flagged cuts
    highlighted. It is self-contained (thumbnails in <out>/thumbs/), so the folder can be copied or served.

    \b
    Examples:
      shotrender report shots/example/episode.yaml
      shotrender report shots/example/episode.yaml --out /mnt/renders/ep01 --open
    """
    from shotrender.report import write_report

    sl = _load(shotlist)
    layouts = {c.id: sl.layout_path(c) for c in sl.cuts if c.layout is not None}
    from shotrender.review.decisions import review_states, reviewing

    out = _out(sl, out_dir)
    reviews = review_states(sl, out) if reviewing(sl) else None
    files = write_report(out, layouts, bar=sys.stderr.isatty(), reviews=reviews)  # a bar at a terminal only
    for warning in files.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{sl.episode}: report of {counted(files.cuts, 'cut')} in {files.html}; "
               f"contact sheet {files.contact_sheet}")
    if open_browser:
        import webbrowser

        webbrowser.open(files.html.resolve().as_uri())


@cli.command()
@shotlist_argument
@out_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on. Anything but loopback lets other machines reach the page (a warning "
                   "says so); the token is still needed.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port; 0 picks a free one.")
@click.option("--reviewer", help="The name decisions are signed with until the page is told another. "
              "Default: your login name.")
def review(shotlist: Path, out_dir, host, port, reviewer):
    """Serve the review page: approve each cut's picture, or send it back for a retake with a note.

    Prints the page's address with a random token in it (`http://127.0.0.1:8765/?token=...`); every request
    needs the token. Decisions go to <shot list>.decisions.json beside the shot list; `render` then keeps
    approved pictures and paints each retake as the cut's next take (<out>/takes/).

    \b
    Examples:
      shotrender review shots/example/episode.yaml
      shotrender review episode.yaml --port 0 --reviewer ana
    """
    import getpass

    from shotrender.review.server import serve

    sl = _load(shotlist)
    out = _out(sl, out_dir)
    serve(sl, out, host, port, reviewer or getpass.getuser(), lambda text, err=False: click.echo(text, err=err))


def _region_option(ctx, param, value: str | None) -> list[int] | None:
    """--region X,Y,W,H as four whole numbers (their range is checked with the decision, against the picture)."""
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise click.BadParameter(f"{value!r} is not X,Y,W,H: four whole numbers of the picture's pixels, such as "
                                 "120,0,96,40")
    return [int(p) for p in parts]


@cli.command()
@shotlist_argument
@click.argument("cut")
@click.argument("kind", type=click.Choice(["approve", "retake", "comment"]))
@out_option
@click.option("--scope", type=click.Choice(["cut", "place", "region"]), help="A retake's scope: cut (default: the "
              "cut painted again from its view), place (its sheet painted again; the place's unapproved, unretouched "
              "cuts follow) or region (--region painted again on this picture, and written into its sheet so the "
              "cuts that see it follow).")
@click.option("--region", callback=_region_option, metavar="X,Y,W,H",
              help="A region retake's rectangle in the cut's picture pixels: its top left corner X,Y from the "
                   "picture's top left, its width and height (implies --scope region).")
@click.option("--candidates", type=click.IntRange(2, 8), help="A cut retake painted N times, with seeds one after "
              "another, for the director to pick one: `decide CUT approve --take K`.")
@click.option("--take", type=click.IntRange(1), help="The take decided on (default: the current picture). Approving "
              "a candidate that is not the current picture picks it: it becomes the current picture.")
@click.option("--words", help="A retake's words, added to the prompt.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="A retake's seed (default: the next seed).")
@click.option("--strength", type=float, help="A retake's strength, 0 < S <= 1.")
@click.option("--note", default="", help="What to change, or what was seen; a retake and a comment need one.")
@click.option("--by", "reviewer", help="The name the decision is signed with. Default: your login name.")
def decide(shotlist: Path, cut, kind, out_dir, scope, region, candidates, take, words, seed, strength, note, reviewer):
    """Record a decision on a cut's current picture, as the review page does: for scripts, farms and trackers.

    It goes to <shot list>.decisions.json under the page's rules: a reused cut is decided on through its
    source, a retouched picture cannot be sent back, and the decision is bound to the take it was made on.

    \b
    Examples:
      shotrender decide episode.yaml C003 approve --by ana
      shotrender decide episode.yaml C003 retake --words "sunset glow" --note "warmer sky"
      shotrender decide episode.yaml C003 retake --scope place --seed 7 --note "another sky"
      shotrender decide episode.yaml C003 retake --region 120,0,96,40 --words "sunset glow" --note "warmer sky"
      shotrender decide episode.yaml C003 retake --candidates 4 --note "another sky, a few to choose from"
      shotrender decide episode.yaml C003 approve --take 5
    """
    import getpass

    from shotrender.review import decisions
    from shotrender.store import Store

    sl = _load(shotlist)
    if region is not None and scope is None:
        scope = "region"
    changes = {"scope": scope, "region": region, "prompt": words, "seed": seed, "strength": strength,
               "candidates": candidates}
    made = decisions.decide(sl, Store(_out(sl, out_dir), sl.episode), cut, kind, reviewer or getpass.getuser(), note,
                            {k: v for k, v in changes.items() if v is not None}, take=take)
    take = f" (take {made.take})" if made.take else ""
    click.echo(f"{cut}: {made.kind} recorded on its picture {made.picture[:12]}{take} in "
               f"{decisions.path_for(sl.source)}")


@cli.group("retouch")
def retouch_group():
    """The retouch round trip: layered files out to a background artist, the retouched pictures back in.

    \b
    1. shotrender retouch export episode.yaml --cuts C003   # <out>/retouch/ep01_C003.psd
    2. the artist paints in it and saves it there (PSD, or ep01_C003.png / .tif)
    3. shotrender render episode.yaml                        # C003 is the retouch, its place follows
    4. shotrender retouch release episode.yaml C003          # only to give C003 back to the renderer

    See docs/retouch.md.
    """


@retouch_group.command("export")
@shotlist_argument
@selector_options
@out_option
def retouch_export(shotlist: Path, cuts, chain, shard, units, out_dir):
    """Write a layered PSD per selected cut that has a render: <out>/retouch/<episode>_<cut>.psd.

    Layers: painting (the render), lines (the layout's lines over transparency), layout (hidden) and, for a
    cut of a sheet, shared (hidden: where the other cuts of its place see the same painting). A file the
    artist has changed there is never replaced.

    \b
    Examples:
      shotrender retouch export shots/example/episode.yaml
      shotrender retouch export shots/example/episode.yaml --cuts C001,C003
    """
    from shotrender.retouch import export
    from shotrender.state import RunSettings, State
    from shotrender.store import Store

    full, selected = _load_plan(shotlist, cuts, chain, shard, units)
    sl = full.shotlist
    state = State(selected, Store(_out(sl, out_dir), sl.episode), {}, RunSettings())
    for cut, what in export(state, [job for c in selected.chains for job in c.jobs],
                            [link for c in selected.chains for link in c.links]):
        click.echo(f"{cut:<14} {what}")


@retouch_group.command("release")
@shotlist_argument
@click.argument("cut")
@out_option
def retouch_release(shotlist: Path, cut: str, out_dir):
    """Give a retouched cut back to the renderer: the next render paints it, and its place, again.

    The retouch file stays in <out>/retouch/ and is not taken in again; save a new retouch there to retouch
    the cut again.

    \b
    Example:
      shotrender retouch release shots/example/episode.yaml C003
    """
    from shotrender.errors import UsageError
    from shotrender.plan import make_plan
    from shotrender.retouch import release
    from shotrender.store import Store

    sl = _load(shotlist)
    if cut not in {c.id for c in sl.cuts}:
        raise UsageError(f"no cut {cut} in {shotlist}")
    out = _out(sl, out_dir)
    kept = release(Store(out, sl.episode), make_plan(sl), cut)
    click.echo(f"{cut}: released; {kept} is kept and no longer taken in. The next render paints {cut} again.")


@cli.group("tracker")
def tracker_group():
    """Publish the cuts' pictures to the studio's production tracker (Kitsu) and take the director's answers back.

    \b
    1. shotrender tracker push episode.yaml --create   # each cut's picture, a revision of its shot's task (WFA)
    2. the director answers in Kitsu: Retake with a note, or Done
    3. shotrender tracker pull episode.yaml            # those answers into episode.decisions.json
    4. shotrender render episode.yaml --retakes         # then push again

    Credentials only from the environment: KITSU_TOKEN (a bot's), or KITSU_EMAIL and KITSU_PASSWORD;
    KITSU_HOST overrides the shot list's `tracker: {kitsu: URL}`. Needs pip install 'shotrender[kitsu]'.
    See docs/tracker.md.
    """


def tracker_options(f):
    f = click.option("--task-type", metavar="NAME", help="The task type of the shots' tasks. Default: the shot "
                     "list's tracker: task_type, else Background.")(f)
    f = click.option("--project", metavar="NAME", help="The tracker's project. Default: the shot list's "
                     "tracker: project.")(f)
    return f


def _tracker(shotlist: Path, out_dir, project, task_type):
    """The shot list, its output folder, the tracker's settings and credentials, checked before logging in."""
    from shotrender import trackers

    sl = _load(shotlist)
    out = _out(sl, out_dir)
    settings = trackers.settings_for(sl, project, task_type)
    return sl, out, settings, trackers.credentials(settings.kind)


def _tracker_summary(sl, outcome, done: str) -> None:
    words = {"done": done, "same": "unchanged", "skipped": "skipped", "failed": "failed"}
    click.echo(f"{sl.episode}: " + ", ".join(f"{outcome.count(k)} {w}" for k, w in words.items() if outcome.count(k)))
    if outcome.count("failed"):
        sys.exit(1)


@tracker_group.command("push")
@shotlist_argument
@out_option
@tracker_options
@click.option("--create", is_flag=True, help="Make the shots and tasks the tracker lacks (and the episode), the "
              "frames from each cut's; without it, the missing ones are listed and nothing is published.")
def tracker_push(shotlist: Path, out_dir, project, task_type, create):
    """Publish each cut's current picture as the next revision of its shot's task, waiting for approval.

    A picture already published (its sha256 is in the revision's comment) is not published again, so
    pushing twice changes nothing. A moving cut publishes its whole background, and its preview movie.
    Each publication is also recorded in <out>/tracker.json. Exit 1 when the tracker failed on a cut.

    \b
    Examples:
      KITSU_TOKEN=... shotrender tracker push shots/example/episode.yaml --project "My Show" --create
      shotrender tracker push episode.yaml --task-type "BG Paint"
    """
    from shotrender.trackers import connect
    from shotrender.trackers.sync import push

    sl, out, settings, creds = _tracker(shotlist, out_dir, project, task_type)
    outcome = _hidden(creds, lambda echo: push(sl, out, connect(settings, creds), settings, create, echo))
    _tracker_summary(sl, outcome, "published")


@tracker_group.command("pull")
@shotlist_argument
@out_option
@tracker_options
def tracker_pull(shotlist: Path, out_dir, project, task_type):
    """Take each cut task's newest Retake or approval into the decisions file, as the review page records them.

    A Retake becomes a retake with the comment as its note, Done (or the shot list's tracker: approved
    statuses) an approval, each bound to the picture that revision published. One on a revision that is not
    the cut's current picture is reported, not applied. `status` and `render --retakes` then follow them.

    \b
    Examples:
      shotrender tracker pull shots/example/episode.yaml --project "My Show"
      shotrender tracker pull episode.yaml && shotrender render episode.yaml --retakes
    """
    from shotrender.trackers import connect
    from shotrender.trackers.sync import pull

    sl, out, settings, creds = _tracker(shotlist, out_dir, project, task_type)
    outcome = _hidden(creds, lambda echo: pull(sl, out, connect(settings, creds), settings, echo))
    _tracker_summary(sl, outcome, "recorded")


def _hidden(creds, work):
    """`work(echo)` with every line it prints and every error it raises shown with the credentials' secrets
    hidden (a server may quote a request back)."""
    try:
        return work(lambda text: click.echo(creds.hide(text), err=True))
    except ShotRenderError as e:
        e.args = (creds.hide(str(e)),)
        raise


def _refuse_inputs(sl, path: Path, option: str) -> None:
    """A file the user names for writing must not be the shot list or one of its layouts."""
    import os

    from shotrender.errors import UsageError

    target = os.path.realpath(path)
    inputs = {os.path.realpath(sl.source): "the shot list"}
    inputs.update({os.path.realpath(sl.layout_path(c)): f"the layout of {c.id}" for c in sl.cuts if c.layout})
    if target in inputs:
        raise UsageError(f"{option} {path} is {inputs[target]}; name another file to write")


def _write_file(path: Path, text: str) -> None:
    """An output file the user named (`-o`), written whole or not at all; a device or a folder there is refused."""
    from shotrender.files import write_error, write_text_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e) from e
    write_text_atomic(path, text)


def _backend(sl, settings, painting: bool = False):
    """The backend for a shot list under the run's settings; nothing loads until a cut needs it. `painting`
    (render): a model read as a hub id must be one that can load (backends.check_hub_id), said before anything
    is written."""
    from shotrender.backends import check_hub_id, make_backend, model_option
    from shotrender.errors import Problem, UsageError
    from shotrender.model_settings import backend_options
    from shotrender.shotlist import top_key_line

    model, controlnet = settings.model, settings.controlnet
    model_ref = model_option(model) if model else None
    try:
        if painting:
            check_hub_id(model_ref or sl.model, Path.cwd() if model_ref else sl.base_dir,
                         "--model" if model_ref else "the model")
        backend = make_backend(
            model_ref or sl.resolve_path_or_id(sl.model),
            controlnet=controlnet or (sl.resolve_path_or_id(sl.controlnet) if sl.controlnet else None),
            device=settings.device, dtype=settings.dtype, allow_unsafe_checkpoint=settings.allow_unsafe_checkpoint,
            options=backend_options(sl),
        )
    except ShotRenderError as e:
        if model or e.exit_code != 2:
            raise
        # the shot list's own model: say where it is written
        field = "controlnet" if sl.controlnet and not controlnet and sl.controlnet in str(e) else "model"
        text = Path(sl.source).read_text(encoding="utf-8-sig")
        raise ShotListError([Problem(sl.source, top_key_line(text, field), field, str(e))]) from None
    family = getattr(backend, "family", None)  # validate checked the shot list's own model; --model is checked here
    if family is not None and (sl.width % family.multiple or sl.height % family.multiple):
        raise UsageError(f"--model {model} is a {family.label} model, which paints sizes whose sides are multiples "
                         f"of {family.multiple}, and the shot list's size is {sl.width}x{sl.height}; change size: "
                         "in the shot list, or paint with another model")
    return backend


def _progress(mode: str):
    from shotrender.progress import BarProgress, FarmProgress, PlainProgress
    from shotrender.render import SilentProgress

    if mode in FarmProgress.FORMATS:
        return FarmProgress(mode)
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "plain"
    return {"bar": BarProgress, "plain": PlainProgress, "none": SilentProgress}[mode]()


def main() -> None:
    """The `shotrender` command. SIGINT and SIGTERM raise Interrupted from its first line, not only while
    render() runs, so Ctrl-C while the libraries import or the shot list loads exits 130 (143 for
    SIGTERM) as one during a render does, not with click's "Aborted!" and 1 (signals.py)."""
    signals.install()
    try:
        cli(prog_name="shotrender")
    except Interrupted as e:  # where click, not a command, was running
        click.echo(f"shotrender: {e}", err=True)
        sys.exit(e.exit_code)
    finally:
        first = signals.finish()
        if first is not None:  # one that arrived while the command ended still decides how it ended
            sys.exit(Interrupted(first).exit_code)

