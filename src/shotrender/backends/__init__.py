"""Backends turn one RenderRequest into one image.

`make_backend` picks one from the shot list's `model:` value without importing torch: the diffusers
backend imports torch and diffusers only when it loads.
"""

from __future__ import annotations

from pathlib import Path

from shotrender.backends.base import Backend, RenderRequest
from shotrender.errors import ModelError
from shotrender.model_settings import BackendOptions

__all__ = ["Backend", "RenderRequest", "check_hub_id", "make_backend", "make_retaker", "model_option"]


def make_backend(
    model: str,
    *,
    controlnet: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    allow_unsafe_checkpoint: bool = False,
    options: BackendOptions | None = None,
) -> Backend:
    """Return the backend for a `model:` value: "draft", a diffusers folder, a .safetensors file or a hub id.

    `options` are the shot list's vae, scheduler, clip skip and LoRA files (model_settings.backend_options);
    the draft backend has no use for them. Paths must already be resolved: absolute
    (`ShotList.resolve_path_or_id`, `model_option`), so that an `owner/name` that reaches here is a hub id.
    """
    if model == "draft":
        from shotrender.backends.draft import DraftBackend

        return DraftBackend()
    from shotrender.backends.diffusers import DiffusersBackend

    return DiffusersBackend(
        model,
        controlnet=controlnet,
        device=device,
        dtype=dtype,
        allow_unsafe_checkpoint=allow_unsafe_checkpoint,
        options=options,
    )


def make_retaker(model: str, device: str | None = None, dtype: str | None = None) -> Backend:
    """The backend of a `retake_model:` value (resolved): an instruction-editing model's (FLUX.1 Kontext,
    Qwen-Image-Edit), whose requests are pictures to change as their prompt says; ModelError for any other model."""
    from shotrender.backends.diffusers import DiffusersBackend

    return DiffusersBackend(model, device=device, dtype=dtype, editing=True)


def model_option(model: str) -> str:
    """A --model value as make_backend wants it: "draft", a hub id, or the absolute path of a folder or file
    that exists. A value that is a path by the rule of docs/models.md, relative to the current folder, and
    is not there is a ModelError at once, before torch or diffusers is imported."""
    from shotrender.shotlist import HUB_ID_EXAMPLE, path_reason

    here = Path.cwd()
    reason = path_reason(model, here)
    if model == "draft" or reason is None:
        return model
    path = here / Path(model).expanduser()
    if not path.exists():
        raise ModelError(
            f"--model {model!r} does not exist in {here} (the current folder); it is read as a path, as {reason}; "
            "give a diffusers folder or .safetensors file that exists, or a hub id: owner/name whose owner is not "
            f"a folder here, e.g. {HUB_ID_EXAMPLE}"
        )
    return str(path.resolve())


def check_hub_id(model: str, base_dir: Path, given: str) -> None:
    """Refuse at once, before anything is written, a model value read as a hub id (`owner/name` whose owner is
    no folder in `base_dir`) that is neither in the local Hugging Face cache nor on a reachable hub: it is most
    likely a folder's name mistyped (`models/sd15` with no models/ there). `given` says where the value was
    written, for the message. Loading it would find the same, but only after the manifest was written."""
    from shotrender.shotlist import HUB_ID_EXAMPLE, path_reason

    if model == "draft" or path_reason(model, None) is not None:
        return
    from shotrender.backends.diffusers.model import hub_problem

    why = hub_problem(model)
    if why is None:
        return
    owner = model.split("/", 1)[0]
    raise ModelError(
        f"{given} {model!r} is no folder or file in {base_dir} (there is no folder {owner}/ there), so it is read as "
        f"a Hugging Face hub id, but {why}. Check the folder's name; or download the model (`hf download {model} "
        f"--local-dir models/NAME`) and give that folder; or give a hub id that exists, e.g. {HUB_ID_EXAMPLE}"
    )
