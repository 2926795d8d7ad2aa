"""The shot list's model settings: `loras:` at every level, and the episode's `vae:`, `scheduler:` and `clip_skip:`.

The shot-list side only: reading and checking the fields, merging LoRAs cut over background over episode,
checking the files before any model loads, and the LoRA part of a cut's cache key. No torch here; the
diffusers backend applies them (backends/diffusers/adapters.py). docs/shotlist.md and docs/models.md.

    options = backend_options(shotlist)      # what make_backend takes: paths absolute
    merge_loras([resolved(level.loras, base_dir) for level in levels])  # (("/abs/a.safetensors", 0.8),)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shotrender.files import open_regular

#: `scheduler:` names, each a diffusers scheduler class and the options it is made with from the model's
#: own scheduler config (docs/models.md has the same table)
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpm++2m-karras": ("DPMSolverMultistepScheduler",
                       {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}
TOP_KEYS = ("vae", "scheduler", "clip_skip", "ip_adapter")
IMAGE_ENCODER = "image_encoder"  # the IP-Adapter's image encoder: this folder beside its weights
MAX_CLIP_SKIP = 12  # SD 1.x's CLIP has 12 layers; skipping them all leaves nothing
LORA_KEYS = ("file", "scale")
MAX_SCALE = 10.0
SAFE_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
#: the cross-attention width (the text encoder's output) names the family a LoRA or model was made for
FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}


@dataclass(frozen=True)
class Lora:
    file: str  # as written, relative to the shot list's folder
    scale: float = 1.0
    line: int | None = None


@dataclass(frozen=True)
class ModelSettings:
    """The episode-wide settings as written in the shot list; None: the model's own."""

    vae: str | None = None
    scheduler: str | None = None
    clip_skip: int | None = None
    ip_adapter: str | None = None


@dataclass(frozen=True)
class BackendOptions:
    """What the diffusers backend is made with besides the model: paths absolute."""

    vae: str | None = None
    scheduler: str | None = None
    clip_skip: int | None = None
    loras: tuple[str, ...] = ()  # every LoRA file a cut or sheet of the episode uses
    ip_adapter: str | None = None  # IP-Adapter weights (image_encoder/ beside them): art boards condition cuts


def read_loras(ck, data: dict, path: tuple, cut: str | None = None) -> tuple[Lora, ...] | None:
    """The `loras:` list at `path` (`ck` is the shot list's checker), each entry checked; None when unset."""
    value = data.get("loras")
    if value is None:
        return None
    where = (*path, "loras")
    if not isinstance(value, list):
        ck.add(where, f"must be a list of {{file: PATH, scale: NUMBER}}, got {type(value).__name__}",
               "e.g. loras: [{file: loras/show_style.safetensors, scale: 0.8}]", cut)
        return None
    loras: list[Lora] = []
    seen: set[str] = set()
    for i, entry in enumerate(value):
        here = (*where, i)
        if not isinstance(entry, dict):
            ck.add(here, f"a LoRA must be a mapping {{file: PATH, scale: NUMBER}}, got {entry!r}",
                   "e.g. - {file: loras/show_style.safetensors, scale: 0.8}", cut)
            continue
        ck.unknown_keys(entry, here, LORA_KEYS, cut)
        file = ck.text(entry, here, "file", cut, required=True)
        scale = ck.number(entry, here, "scale", cut)
        if scale is not None and not -MAX_SCALE <= scale <= MAX_SCALE:
            ck.add((*here, "scale"), f"must be between {-MAX_SCALE:g} and {MAX_SCALE:g}, got {scale:g}",
                   "1.0 is the LoRA as trained, 0 turns it off", cut)
            continue
        if not file:
            if file == "":
                ck.add((*here, "file"), "is empty", "give the LoRA's .safetensors file", cut)
            continue
        if file in seen:
            ck.add((*here, "file"), f"{file} is listed twice here", "list each LoRA once, with its scale", cut)
            continue
        seen.add(file)
        loras.append(Lora(file, 1.0 if scale is None else scale, ck.line(here)))
    return tuple(loras)


def read_top(ck, data: dict) -> ModelSettings:
    """The episode-wide `vae:`, `scheduler:` and `clip_skip:`, checked."""
    vae = ck.text(data, (), "vae")
    if vae == "":
        ck.add(("vae",), "is empty", "give a diffusers VAE folder or a .safetensors file, or remove vae:")
    scheduler = ck.text(data, (), "scheduler")
    if scheduler is not None and scheduler not in SCHEDULERS:
        ck.add(("scheduler",), f"unknown scheduler {scheduler!r}", f"use one of {', '.join(SCHEDULERS)}")
        scheduler = None
    clip_skip = ck.integer(data, (), "clip_skip", 1, MAX_CLIP_SKIP)
    ip_adapter = ck.text(data, (), "ip_adapter")
    if ip_adapter == "":
        ck.add(("ip_adapter",), "is empty", "give the IP-Adapter's weights file, or remove ip_adapter:")
    return ModelSettings(vae or None, scheduler, clip_skip, ip_adapter or None)


def merge_loras(levels: list[tuple[tuple[str, float], ...]]) -> tuple[tuple[str, float], ...]:
    """One LoRA list from the episode's, the background's and the cut's (see `resolved`), later levels over
    earlier ones by file; a LoRA at scale 0 is left out (so a cut turns off its background's LoRA with scale: 0).

    >>> merge_loras([(("/shots/a.safetensors", 0.8),), (("/shots/a.safetensors", 0.5),)])
    (('/shots/a.safetensors', 0.5),)
    """
    merged: dict[str, float] = {}
    for level in levels:
        merged.update(level)
    return tuple((file, scale) for file, scale in merged.items() if scale != 0)


def resolved(loras: tuple[Lora, ...] | None, base_dir: Path) -> tuple[tuple[str, float], ...]:
    """One level's LoRAs as (absolute path, scale)."""
    return tuple((lora_path(lora.file, base_dir), lora.scale) for lora in loras or ())


def lora_path(file: str, base_dir: Path) -> str:
    return os.path.normpath(base_dir / Path(file).expanduser())


def lora_levels(shotlist) -> list[tuple[tuple[Lora, ...], str, str | None]]:
    """Every `loras:` list written: (loras, where, cut id)."""
    out = [(shotlist.defaults.loras or (), "defaults.loras", None)]
    out += [(bg.params.loras or (), f"backgrounds.{bg.id}.loras", None) for bg in shotlist.backgrounds.values()]
    out += [(v.params.loras or (), f"backgrounds.{bg.id}.variants.{v.name}.loras", None)
            for bg in shotlist.backgrounds.values() for v in bg.variants.values()]
    out += [(cut.params.loras or (), f"cuts[{cut.index}].loras", cut.id) for cut in shotlist.cuts]
    return out


def backend_options(shotlist) -> BackendOptions:
    """The shot list's model settings as make_backend takes them."""
    settings: ModelSettings = shotlist.model_settings
    files = dict.fromkeys(lora_path(lora.file, shotlist.base_dir)
                          for loras, _, _ in lora_levels(shotlist) for lora in loras if lora.scale != 0)
    vae = lora_path(settings.vae, shotlist.base_dir) if settings.vae else None
    ip_adapter = lora_path(settings.ip_adapter, shotlist.base_dir) if settings.ip_adapter else None
    return BackendOptions(vae, settings.scheduler, settings.clip_skip, tuple(files), ip_adapter)


def file_problems(shotlist, problem, refused: set[str] = frozenset()) -> list:
    """Missing LoRA and VAE files, LoRA files of no known kind, and LoRAs made for another model family than
    a local model's, as `problem(line, field, message, fix, cut)`s: found before any model loads. Files in
    `refused` (as written) were refused by the shot list's path rule and are not looked at again."""
    out = []
    settings: ModelSettings = shotlist.model_settings
    if settings.vae and settings.vae not in refused and not Path(lora_path(settings.vae, shotlist.base_dir)).exists():
        out.append(problem(None, "vae", f"'{settings.vae}' does not exist in {shotlist.base_dir} (the shot list's "
                           "folder)", "give a diffusers VAE folder (config.json and weights) or a .safetensors "
                           "file", None))
    if settings.ip_adapter and settings.ip_adapter not in refused:
        reason = ip_adapter_problem(Path(lora_path(settings.ip_adapter, shotlist.base_dir)))
        if reason:
            out.append(problem(None, "ip_adapter", f"'{settings.ip_adapter}' {reason}", "give the IP-Adapter's "
                               f".safetensors weights with its image encoder folder beside them, as {IMAGE_ENCODER}/ "
                               "(the layout of h94/IP-Adapter)", None))
    levels = [level for level in lora_levels(shotlist) if level[0]]
    model_width = None
    if levels and shotlist.model != "draft":  # the model's header is read only for a shot list with LoRAs
        model_width = _model_width(shotlist.resolve_path_or_id(shotlist.model))
    widths: dict[str, int | None] = {}
    for loras, where, cut in levels:
        for i, lora in enumerate(loras):
            if lora.file in refused:
                continue
            path = Path(lora_path(lora.file, shotlist.base_dir))
            field = f"{where}[{i}].file"
            if not path.is_file():
                what = "is a folder" if path.is_dir() else "does not exist"
                out.append(problem(lora.line, field, f"LoRA '{lora.file}' {what} (paths are relative to "
                                   f"{shotlist.base_dir})", "give the LoRA's .safetensors file", cut))
                continue
            suffix = path.suffix.lower()
            if suffix not in (SAFE_SUFFIX, *PICKLE_SUFFIXES):
                out.append(problem(lora.line, field, f"LoRA '{lora.file}' is no LoRA weights file ({suffix or 'no'}"
                                   " suffix)", "give a .safetensors LoRA", cut))
                continue
            if suffix != SAFE_SUFFIX or model_width is None:
                continue  # a pickle is refused or allowed by the backend, as the model's is
            if str(path) not in widths:
                widths[str(path)] = lora_width(path)
            width = widths[str(path)]
            if width is not None and width != model_width:
                out.append(problem(lora.line, field, f"LoRA '{lora.file}' is made for {family(width)} and the model "
                                   f"is {family(model_width)}", "use a LoRA trained for this model's family", cut))
    return out


def ip_adapter_problem(weights: Path) -> str | None:
    """Why `weights` is no IP-Adapter this loads (a file with its image encoder beside it); None when it is."""
    if not weights.is_file():
        return "is no file" if weights.exists() else "does not exist"
    if weights.suffix.lower() not in (SAFE_SUFFIX, *PICKLE_SUFFIXES):
        return "is no IP-Adapter weights file"
    if not (weights.parent / IMAGE_ENCODER / "config.json").is_file():
        return f"has no image encoder beside it ({weights.parent / IMAGE_ENCODER}/config.json is missing)"
    return None


def family(width: int) -> str:
    return FAMILIES.get(width, f"a model of cross-attention width {width}")


def lora_width(path: Path) -> int | None:
    """The text-embedding width a .safetensors LoRA's cross-attention layers read, from its header alone;
    None when it has none (a text-encoder-only LoRA) or the header is unreadable (the backend says why)."""
    for key, shape in header_shapes(path).items():
        if "attn2" in key and "to_k" in key and len(shape) == 2 and any(
                part in key for part in ("lora_down.", "lora.down.", "lora_A.", "down.weight")):
            return shape[1]
    return None


def _model_width(model: str) -> int | None:
    """A local model's cross-attention width, from its UNet config or its checkpoint's header; None for a hub
    id or a model it cannot be read from (the backend checks those after loading)."""
    path = Path(model)
    config = path / "unet" / "config.json" if path.is_dir() else path.with_suffix(".config") / "unet" / "config.json"
    if path.is_file() and path.suffix.lower() == SAFE_SUFFIX:
        for key, shape in header_shapes(path).items():
            if key.startswith("model.diffusion_model.") and key.endswith("attn2.to_k.weight") and len(shape) == 2:
                return shape[1]
    if config.is_file():
        try:
            width = json.loads(config.read_text("utf-8")).get("cross_attention_dim")
        except (OSError, ValueError):
            return None
        return width if isinstance(width, int) else None
    return None


def header_shapes(path: Path) -> dict[str, list[int]]:
    """The tensor shapes a .safetensors file's header lists; {} when it is no readable safetensors file."""
    try:
        with open_regular(path, follow_symlinks=True) as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size <= 100_000_000:
                return {}
            header: Any = json.loads(f.read(size))
    except (OSError, ValueError):
        return {}
    if not isinstance(header, dict):
        return {}
    return {key: value["shape"] for key, value in header.items()
            if isinstance(value, dict) and isinstance(value.get("shape"), list)}


def request_extra(loras: tuple[tuple[str, float], ...], art_board: tuple[str, float] | None = None) -> dict:
    """The RenderRequest.extra entries that tell the backend a cut's or sheet's LoRAs and its place's art board."""
    return {**({"loras": loras} if loras else {}), **({"art_board": art_board} if art_board else {})}


_HASHES: dict[tuple[str, int, int], str] = {}


def lora_inputs(loras: tuple[tuple[str, float], ...]) -> list[dict]:
    """The LoRA part of a cut's or sheet's cache key: each file's content hash (through the backend's hash
    cache: a file only touched keeps its hash) and scale, in order; paths are left out, as for layouts."""
    from shotrender.backends.diffusers.hashes import content_hash

    out = []
    for file, scale in loras:
        stat = os.stat(file)
        known = (file, stat.st_size, stat.st_mtime_ns)
        if known not in _HASHES:
            _HASHES[known] = content_hash(Path(file))
        out.append({"sha256": _HASHES[known], "scale": scale})
    return out


def retake_model_problems(shotlist, problem) -> list:
    """A `retake_model:` that is no instruction-editing model (families.editor), as a `problem(line, field, message,
    fix, cut)`, before any model loads; a missing path is reported by the file checks."""
    from shotrender.backends.diffusers import families
    from shotrender.errors import ModelError

    if not shotlist.retake_model:
        return []
    model = shotlist.resolve_path_or_id(shotlist.retake_model)
    if not (Path(model).exists() or "/" in model):
        return []
    try:
        families.editor(model)
    except ModelError as e:
        message = str(e) if Path(model).exists() else (
            f"'{shotlist.retake_model}' is no folder in {shotlist.base_dir} (the shot list's folder), so it is read "
            "as a Hugging Face hub id, and that model's configs are not in the local Hugging Face cache")
        return [problem(None, "retake_model", message, "give a diffusers folder of FLUX.1 Kontext or Qwen-Image-Edit "
                        "(e.g. `hf download black-forest-labs/FLUX.1-Kontext-dev --local-dir models/kontext`), or "
                        "remove retake_model: to paint retakes from the layout", None)]
    return []


def family_problems(shotlist, problem) -> list:
    """What the model's family cannot do with this shot list, as `problem(line, field, message, fix, cut)`s, found
    before any model loads: a model of no family painted here, a frame size off the family's multiple, a window
    size off it, settings the family does not take; a warning for a negative prompt a family ignores. A model
    whose family cannot be told without loading (a hub id not in the local cache) is checked when it loads."""
    from shotrender.backends.diffusers import families
    from shotrender.errors import ModelError
    from shotrender.shotlist.validation import _size_fix

    if shotlist.model in ("", "draft"):
        return []
    model = shotlist.resolve_path_or_id(shotlist.model)
    if not (Path(model).exists() or "/" in model):
        return []  # a missing path is reported by the file checks
    try:
        family = families.recognise(model)
    except ModelError as e:
        return [problem(None, "model", str(e), "", None)]
    out = []
    controlnet = Path(shotlist.resolve_path_or_id(shotlist.controlnet)) if shotlist.controlnet else None
    mismatch = family is not None and controlnet is not None and families.controlnet_problem(family, controlnet)
    if mismatch:
        out.append(problem(None, "controlnet", mismatch, "", None))
    if family is None or not family.transformer:
        return out  # SD 1.x/2.x and SDXL: the shot list's own rules are theirs
    if Path(model).is_file():
        out.append(problem(None, "model", f"'{shotlist.model}' is a single-file {family.label} checkpoint; "
                           f"{family.label} models are loaded from a diffusers folder here",
                           "give the model's diffusers folder (model_index.json, transformer/, vae/, text encoders), "
                           "e.g. from `hf download REPO --local-dir models/NAME`", None))
    m = family.multiple
    width, height = shotlist.width, shotlist.height
    if width % m or height % m:
        out.append(problem(None, "size", f"{width}x{height}: {family.label} paints sizes whose sides are multiples "
                           f"of {m} (the VAE's 8 times the transformer's 2-pixel patch)", _size_fix(width, height,
                           multiple=m), None))
    windows = [("continuity", None, shotlist.continuity.as_dict(), None)]
    windows += [(f"backgrounds.{bg.id}.continuity", bg.line, bg.continuity, None)
                for bg in shotlist.backgrounds.values() if bg.continuity]
    for field, line, settings, cut in windows:
        for key in ("tile", "tile_overlap"):
            if settings.get(key, 0) % m:
                out.append(problem(line, field, f"{key} {settings[key]} is not a multiple of {m}, the cell "
                                   f"{family.label} paints in", f"use {round(settings[key] / m) * m or m}", cut))
    used = {"scheduler": bool(shotlist.model_settings.scheduler), "clip_skip": bool(shotlist.model_settings.clip_skip),
            "vae": bool(shotlist.model_settings.vae), "ip_adapter": bool(shotlist.model_settings.ip_adapter),
            "controlnet": bool(shotlist.controlnet), "loras": any(loras for loras, _, _ in lora_levels(shotlist))}
    lora_line = next((lora.line for loras, _, _ in lora_levels(shotlist) for lora in loras), None)
    for setting, message in families.refusals(family, used):
        field, line = (next(where for loras, where, _ in lora_levels(shotlist) if loras), lora_line) \
            if setting == "loras" else (setting, None)
        out.append(problem(line, field, message, f"remove {setting}: for this model, or paint with a model that "
                           "takes it", None))
    if not family.negative:
        levels = [("defaults.negative", None, shotlist.defaults)]
        levels += [(f"backgrounds.{bg.id}.negative", bg.line, bg.params) for bg in shotlist.backgrounds.values()]
        levels += [(f"cuts[{cut.index}].negative", cut.line, cut.params) for cut in shotlist.cuts]
        written = next(((field, line) for field, line, params in levels if params.negative), None)
        if written:
            out.append(problem(written[1], written[0], f"{family.label} takes no negative prompt (its guidance is "
                               "a value it was distilled with, one prediction a step), so negatives have no effect",
                               "leave negatives out for this model; say what you want in the prompt", None))
            out[-1] = replace(out[-1], warning=True)
    return out
