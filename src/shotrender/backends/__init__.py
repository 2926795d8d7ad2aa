"""Backends turn one RenderRequest into one image.

`make_backend` picks one from the shot list's `model:` value without importing torch: the diffusers
backend imports torch and diffusers only when it loads.
"""

from __future__ import annotations

from shotrender.backends.base import Backend, RenderRequest

__all__ = ["Backend", "RenderRequest", "make_backend"]


def make_backend(
    model: str,
    *,
    controlnet: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    allow_unsafe_checkpoint: bool = False,
) -> Backend:
    """Return the backend for a `model:` value: "draft", a diffusers folder, a .safetensors file or a hub id.

    Paths must already be resolved (absolute, or relative to the current folder).
    """
    if model == "draft":
        from shotrender.backends.draft import DraftBackend

        return DraftBackend()
    from shotrender.backends.diffusers_img2img import DiffusersBackend

    return DiffusersBackend(
        model,
        controlnet=controlnet,
        device=device,
        dtype=dtype,
        allow_unsafe_checkpoint=allow_unsafe_checkpoint,
    )
