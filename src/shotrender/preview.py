"""`render --preview`: the shot list's `preview:` overrides, painted into a folder of their own.

A preview is a quick look at an episode (fewer steps, a fast sampler, an LCM LoRA, a smaller size) that
must never stand in for a final: its pictures, sidecars, cache and manifest live in `<output>-preview/`,
beside the finals' folder, so a final render after a preview finds nothing of it and paints every cut.

    sl = apply(load("episode.yaml"))          # the shot list as the preview paints it
    out = folder(Path("renders/ep01"))        # renders/ep01-preview
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from shotrender import model_settings as models
from shotrender.errors import UsageError

KEYS = ("scheduler", "steps", "guidance", "scale", "loras")
SUFFIX = "-preview"
MIN_SIDE = 64  # the shot list's own smallest side


@dataclass(frozen=True)
class Preview:
    scheduler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    scale: float | None = None  # of the episode's size, each side then rounded to a multiple of 8
    loras: tuple[models.Lora, ...] = ()  # on top of every level's: a preview's LoRA wins over a cut's


def read(ck, data: dict) -> Preview | None:
    """The `preview:` block (`ck` is the shot list's checker), checked; None when there is none."""
    block = data.get("preview")
    if block is None:
        return None
    block = ck.mapping(block, ("preview",), "preview")
    if block is None:
        return None
    path = ("preview",)
    ck.unknown_keys(block, path, KEYS)
    scheduler = ck.text(block, path, "scheduler")
    if scheduler is not None and scheduler not in models.SCHEDULERS:
        ck.add((*path, "scheduler"), f"unknown scheduler {scheduler!r}", f"use one of {', '.join(models.SCHEDULERS)}")
        scheduler = None
    guidance = ck.number(block, path, "guidance")
    if guidance is not None and not 0 <= guidance <= 50:
        ck.add((*path, "guidance"), f"must be between 0 and 50, got {guidance:g}", "1.5 suits an LCM LoRA")
        guidance = None
    scale = ck.number(block, path, "scale")
    if scale is not None and not 0 < scale <= 1:
        ck.add((*path, "scale"), f"must be in (0, 1], got {scale:g}", "0.5 paints at half the width and height")
        scale = None
    return Preview(scheduler, ck.integer(block, path, "steps", 1, 1000), guidance, scale,
                   models.read_loras(ck, block, path) or ())


def apply(sl):
    """The shot list `sl` with its preview's overrides in force at every level (a shot list without a
    `preview:` block previews as it is, into the preview folder all the same)."""
    p: Preview = sl.preview or Preview()

    def level(params, own_loras: bool):
        changes = {name: None for name in ("steps", "guidance") if getattr(p, name) is not None}
        if p.loras and (own_loras or params.loras is not None):
            changes["loras"] = (*(params.loras or ()), *p.loras)
        return replace(params, **changes) if changes else params

    defaults = level(sl.defaults, True)
    defaults = replace(defaults, **{name: getattr(p, name) for name in ("steps", "guidance")
                                    if getattr(p, name) is not None})
    width, height = sl.width, sl.height
    if p.scale is not None:
        width, height = (round(side * p.scale / 8) * 8 for side in (sl.width, sl.height))
        if min(width, height) < MIN_SIDE:
            raise UsageError(f"preview scale {p.scale:g} makes the episode's {sl.width}x{sl.height} {width}x{height}; "
                             f"both sides must stay at least {MIN_SIDE} px: give preview.scale at least "
                             f"{MIN_SIDE / min(sl.width, sl.height):.2f}")
    settings = replace(sl.model_settings, scheduler=p.scheduler) if p.scheduler else sl.model_settings
    return replace(
        sl, width=width, height=height, defaults=defaults, model_settings=settings,
        backgrounds={bg_id: replace(bg, params=level(bg.params, True)) for bg_id, bg in sl.backgrounds.items()},
        cuts=tuple(replace(cut, params=level(cut.params, False), camera=_at_aspect(cut.camera, width, height))
                   for cut in sl.cuts),
    )


def _at_aspect(move, width: int, height: int):
    """A camera move's framings at the preview's aspect, which rounding its size to multiples of 8 may
    change a little (384x216 at 0.5 is 192x112): a framing is as high as the frame's aspect makes its width."""
    if move is None:
        return None
    return replace(move, start=replace(move.start, height=move.start.width * height / width),
                   end=replace(move.end, height=move.end.width * height / width))


def folder(out: Path) -> Path:
    """Where a preview of the finals in `out` goes: `<out>-preview`, beside it."""
    out = Path(out).absolute()
    return out.with_name(out.name + SUFFIX)
