"""The diffusers img2img backend: Stable Diffusion 1.x/2.x or SDXL, optionally steered by a ControlNet.

The only package that imports torch and diffusers, and only inside methods: building the backend and
asking for its identity() stay cheap, so validate, plan and a fully cached render never import torch.

    backend = DiffusersBackend("models/anime_bg.safetensors", controlnet="models/lineart")
    backend.identity()            # cache key material; hashes the weights once, then reads a cache
    backend.load()                # once per process
    image = backend.render(request)
    sheet = backend.render(dataclasses.replace(request, width=1536, extra={"sheet": True}))   # MultiDiffusion
    backend.last_work             # the UNet work of that last render call

`model` is a diffusers folder, a single .safetensors checkpoint (its diffusers config folder may sit
beside it as `<name>.config/`), or a Hugging Face hub id. docs/models.md tells users how to set each up.

A request with `extra["sheet"]` true is a sheet: larger than the model's native window, it is painted in
overlapping windows blended at every step (tiled.py); one that fits a window, and every request
without the flag, whatever its size, is the plain pipeline call. `extra["tile_window"]` and
`extra["tile_overlap"]` (image pixels) set the window and the overlap; see SHEET_KEYS and docs/models.md.

Its rooms: model.py finds and checks the model (folder, single file or hub id); device.py picks the device
and dtype; pipeline.py is the backend, which builds the pipeline and paints; tiled.py paints a sheet in
windows; hashes.py hashes weight files for cache keys.
"""

from shotrender.backends.diffusers.pipeline import DiffusersBackend

__all__ = ["DiffusersBackend"]
