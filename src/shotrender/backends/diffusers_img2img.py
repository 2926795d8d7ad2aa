"""The diffusers img2img backend: Stable Diffusion 1.x/2.x or SDXL, optionally steered by a ControlNet.

The only module that imports torch and diffusers, and only inside methods: building the backend and
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
overlapping windows blended at every step (diffusers_tiled.py); one that fits a window, and every request
without the flag, whatever its size, is the plain pipeline call. `extra["tile_window"]` and
`extra["tile_overlap"]` (image pixels) set the window and the overlap; see SHEET_KEYS and docs/models.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import threading
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from shotrender import signals
from shotrender.backends.base import PARAMS, RenderRequest
from shotrender.errors import BackendError, Interrupted, ModelError, ShotRenderError, UsageError
from shotrender.shotlist import path_reason

log = logging.getLogger(__name__)

#: bump whenever this module changes how it turns a request into pixels (resizing, the control image,
#: the conversion to uint8), so cached renders are made again
VERSION = 1

#: weight loads in this process, the float32 fallback's reload included; tests read it
LOAD_COUNT = 0

#: the request.extra keys of a sheet: paint it in windows; the window's side (image pixels, default the
#: model's native size); the overlap of neighbouring windows (image pixels, default a quarter window)
SHEET_KEYS = ("sheet", "tile_window", "tile_overlap")

ACCEPTED = (
    "a diffusers folder (with model_index.json), a .safetensors checkpoint, "
    "or a Hugging Face hub id such as 'stable-diffusion-v1-5/stable-diffusion-v1-5'"
)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
HASHED_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".json", ".txt", ".model", ".yaml")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
DEVICES = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
DTYPES = ("float16", "bfloat16", "float32")
CONFIG_SUFFIX = ".config"
# what diffusers' single-file loader can detect and an img2img pipeline can run
SINGLE_FILE_TYPES = {"v1": "sd", "v2": "sd", "xl_base": "xl", "xl_refiner": "xl"}
PROBE_SECONDS = 3.0


class DiffusersBackend:
    """img2img with diffusers; see the module docstring and docs/models.md."""

    name = "diffusers"
    reads = PARAMS

    def __init__(
        self,
        model: str,
        *,
        controlnet: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        allow_unsafe_checkpoint: bool = False,
    ):
        self.model = str(model)
        self.kind = model_kind(self.model, allow_unsafe_checkpoint)
        self.path = Path(self.model).expanduser() if self.kind != "hub" else None
        self.config_folder = config_beside(self.path) if self.kind == "file" else None
        self.controlnet = controlnet_folder(controlnet) if controlnet is not None else None
        if device is not None and not DEVICES.match(device):
            raise UsageError(f"device must be cpu, mps, cuda or cuda:N, got {device!r}")
        if dtype is not None and dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.requested_device = device
        self.requested_dtype = dtype
        self._pipe = None
        self._device: str | None = None
        self._dtype = None
        self._config_used: str | None = None
        self._fallback_cut: str | None = None
        #: the diffusion work of the last render call (retries included): UNet evaluations (a guided step
        #: counts two), the sum of their latent pixels, and the windows per step of its last picture
        self.last_work: dict = {"unet_evaluations": 0, "latent_pixels": 0, "windows": 0}

    # -- identity: cheap, no torch -------------------------------------------------------------

    def identity(self) -> dict:
        """What decides the pixels besides the request. Hashes weights once; never imports torch."""
        return {
            "backend": self.name,
            "version": VERSION,
            "model_kind": self.kind,
            "model": self.model if self.kind == "hub" else content_hash(self.path),
            "config": content_hash(self.config_folder) if self.config_folder else None,
            "controlnet": content_hash(self.controlnet) if self.controlnet else None,
            "device": self.requested_device or "auto",
            "dtype": self.requested_dtype or "auto",
            # CPU thread count changes float rounding; on a GPU it does not, so a pinned GPU leaves it out
            "threads": configured_threads() if self.requested_device in (None, "cpu") else None,
            "versions": {name: _version(name) for name in ("diffusers", "torch", "transformers")},
        }

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the weights and move them to the device; later calls do nothing."""
        if self._pipe is not None:
            return
        try:
            _quiet_libraries()
            self._device, self._dtype = resolve_device(self.requested_device, self.requested_dtype)
        except Exception as e:
            _raise_if_interrupted(e)  # an import that diffusers wrapped in a RuntimeError
            raise
        self._pipe = self._build(self._dtype)
        if signals.received() is not None:  # a library swallowed the interrupt and went on loading
            raise Interrupted(signals.received())

    def describe(self) -> dict:
        """After load: what actually runs. Read it again after renders: the fp32 fallback changes it."""
        if self._pipe is None:
            raise RuntimeError("describe() needs load() first")
        import torch

        return {
            "backend": self.name,
            "device": self._device,
            "dtype": self._dtype_name(),
            "pipeline": type(self._pipe).__name__,
            "model_kind": self.kind,
            "config": self._config_used,
            "controlnet": self.controlnet is not None,
            "fp32_fallback": self._fallback_cut is not None,
            "fp32_fallback_cut": self._fallback_cut,
            "threads": torch.get_num_threads(),
            # torch numbers only the GPUs this variable lets it see: cuda:0 is the first of them
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpu": torch.cuda.get_device_name(torch.device(self._device)) if self._device.startswith("cuda") else None,
        }

    def _build(self, dtype):
        import torch

        global LOAD_COUNT
        try:
            extra = {}
            if self.controlnet is not None:
                from diffusers import ControlNetModel

                extra["controlnet"] = ControlNetModel.from_pretrained(self.controlnet, **_dtype_argument(dtype))
            if self.kind == "folder":
                from diffusers import AutoPipelineForImage2Image

                pipe = AutoPipelineForImage2Image.from_pretrained(
                    str(self.path), local_files_only=True, **_dtype_argument(dtype), **extra
                )
            elif self.kind == "hub":
                pipe = self._from_hub(dtype, extra)
            else:
                pipe = self._from_single_file(dtype, extra)
            pipe.to(self._device)
        except Exception as e:
            _raise_if_interrupted(e)  # a cancelled load is no bad model, whatever the library made of it
            if isinstance(e, ShotRenderError):
                raise
            if isinstance(e, (MemoryError, torch.cuda.OutOfMemoryError)):
                raise BackendError(f"out of memory loading {self.model} on {self._device}: {e}") from e
            # diffusers, transformers and safetensors each raise their own kinds for a bad model
            raise ModelError(f"cannot load model {self.model}: {e}") from e
        pipe.set_progress_bar_config(disable=True)
        LOAD_COUNT += 1
        return pipe

    def _from_hub(self, dtype, extra: dict):
        from diffusers import AutoPipelineForImage2Image

        offline = hub_unreachable()
        try:
            return AutoPipelineForImage2Image.from_pretrained(
                self.model, local_files_only=offline is not None, **_dtype_argument(dtype), **extra
            )
        except OSError as e:
            if offline is None:
                raise ModelError(f"cannot load hub model {self.model!r}: {e}") from e
            raise ModelError(
                f"model {self.model!r} is no local folder or file, so it was read as a Hugging Face hub id, "
                f"but the hub cannot be used ({offline}) and the model is not in the local Hugging Face "
                f"cache. Point `model:` at a local diffusers folder (e.g. `hf download {self.model} "
                f"--local-dir models/NAME`) or a .safetensors file."
            ) from e

    def _from_single_file(self, dtype, extra: dict):
        from diffusers import (
            StableDiffusionControlNetImg2ImgPipeline,
            StableDiffusionImg2ImgPipeline,
            StableDiffusionXLControlNetImg2ImgPipeline,
            StableDiffusionXLImg2ImgPipeline,
        )
        from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS

        model_type = checkpoint_type(self.path)
        family = SINGLE_FILE_TYPES.get(model_type)
        if family is None:
            supported = ", ".join(SINGLE_FILE_TYPES)
            raise ModelError(
                f"{self.path} is a {model_type!r} checkpoint; img2img here runs only {supported} "
                "(SD 1.x, SD 2.x, SDXL base and refiner)"
            )
        config = self.config_folder
        if config is not None:
            class_name = json.loads((config / "model_index.json").read_text("utf-8")).get("_class_name", "")
            family = "xl" if "XL" in class_name else "sd"
        else:
            config = cached_hub_config(DIFFUSERS_DEFAULT_PIPELINE_PATHS[model_type]["pretrained_model_name_or_path"])
        if config is None:
            repo = DIFFUSERS_DEFAULT_PIPELINE_PATHS[model_type]["pretrained_model_name_or_path"]
            offline = hub_unreachable()
            if offline is not None:
                beside = self.path.with_suffix(CONFIG_SUFFIX)
                raise ModelError(
                    f"{self.path} needs the diffusers configs of {repo} to load, and they are neither beside "
                    f"it nor in the Hugging Face cache, and the hub cannot be used ({offline}). Put them "
                    f"beside the checkpoint: hf download {repo} --include '*.json' --include '*.txt' "
                    f"--local-dir {beside}"
                )
        pipeline_class = {
            ("sd", False): StableDiffusionImg2ImgPipeline,
            ("sd", True): StableDiffusionControlNetImg2ImgPipeline,
            ("xl", False): StableDiffusionXLImg2ImgPipeline,
            ("xl", True): StableDiffusionXLControlNetImg2ImgPipeline,
        }[family, "controlnet" in extra]
        self._config_used = str(config) if config is not None else None
        return pipeline_class.from_single_file(
            str(self.path),
            config=self._config_used,
            local_files_only=config is not None,
            **_dtype_argument(dtype),
            **extra,
        )

    # -- rendering ---------------------------------------------------------------------------

    def render(self, request: RenderRequest) -> np.ndarray:
        """Paint one cut: height × width × 3 uint8 RGB. The same request gives the same bytes."""
        return self.render_batch([request])[0]

    def render_batch(self, requests: list[RenderRequest]) -> list[np.ndarray]:
        """Paint cuts that share size and parameters; one image per request, in order.

        On CUDA and MPS the cuts go through the pipeline as one batch, each with its own CPU generator,
        so each gets its own noise; but kernels picked for a bigger batch may round differently, so a
        batched image can differ from the single render of that cut in the last bits, and a cut's
        bytes then depend on the batch it was in. On the CPU the cuts are painted one after another:
        a batch buys little speed there, and oneDNN's convolutions round differently per batch size
        too, so this way every image is exactly the single render's.
        """
        if not requests:
            return []
        self.load()
        self._check(requests)
        self.last_work = {"unet_evaluations": 0, "latent_pixels": 0, "windows": 0}
        images = self._paint_all(requests)
        broken = {i: why for i, image in enumerate(images) if (why := _broken(image))}
        if broken and self._dtype_name() != "float32":
            first = requests[min(broken)].cut
            log.warning("cut %s came out %s in %s; retrying in float32", first, broken[min(broken)], self._dtype_name())
            self._fall_back_to_float32(first)
            retried = self._paint_all([requests[i] for i in broken])
            images = list(images)
            for i, image in zip(broken, retried, strict=True):
                images[i] = image
            broken = {i: why for i, image in enumerate(images) if (why := _broken(image))}
        if broken:
            cuts = ", ".join(f"{requests[i].cut} ({why})" for i, why in broken.items())
            raise BackendError(
                f"render came out broken in float32: {cuts}; the model or its settings (guidance, "
                "strength) produce no usable image"
            )
        return [np.round(np.clip(image, 0, 1) * 255).astype(np.uint8) for image in images]

    def _dtype_name(self) -> str:
        return str(self._dtype).removeprefix("torch.")

    def _fall_back_to_float32(self, cut: str) -> None:
        import torch

        self._pipe = None
        if self._device.startswith("cuda"):
            torch.cuda.empty_cache()
        self._dtype = torch.float32
        self._pipe = self._build(torch.float32)
        self._fallback_cut = cut

    def _check(self, requests: list[RenderRequest]) -> None:
        first = requests[0]
        shared = ("width", "height", "steps", "strength", "guidance", "control_scale")
        for request in requests[1:]:
            differing = [f for f in shared if getattr(request, f) != getattr(first, f)]
            if differing:
                raise ValueError(
                    f"render_batch needs cuts that share {', '.join(shared)}; cut {request.cut} differs "
                    f"from cut {first.cut} in {', '.join(differing)}"
                )
            if bool(request.negative) != bool(first.negative):
                # an empty negative is sent as None (see _paint), which a batch cannot mix with text
                raise ValueError(
                    f"render_batch needs all cuts or none to have a negative prompt; cut {request.cut} and "
                    f"cut {first.cut} differ"
                )
        factor = self._pipe.vae_scale_factor
        if first.width % factor or first.height % factor:
            raise ValueError(f"width and height must be multiples of {factor}, got {first.width}×{first.height}")
        windows = self._windows(first)
        for request in requests:
            request.check_images()
            if self._windows(request) != windows:
                raise ValueError(f"render_batch needs cuts painted in the same windows; cut {request.cut} and "
                                 f"cut {first.cut} differ in {', '.join(SHEET_KEYS)}")

    def _windows(self, request: RenderRequest) -> list[tuple[int, int, int, int]]:
        """The latent windows a request is painted in: one, the whole picture, unless it is a sheet."""
        from shotrender.backends import diffusers_tiled

        factor = self._pipe.vae_scale_factor
        height, width = request.height // factor, request.width // factor
        if not request.extra.get("sheet"):
            return [(0, height, 0, width)]
        window = request.extra.get("tile_window", self._pipe.unet.config.sample_size * factor)
        overlap = request.extra.get("tile_overlap", window // 4 // factor * factor)
        for key, value in (("tile_window", window), ("tile_overlap", overlap)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value % factor:
                raise ValueError(f"cut {request.cut}: {key} must be a whole, non-negative number of pixels, "
                                 f"a multiple of {factor} (the VAE's scale), got {value!r}")
        if not overlap < window:
            raise ValueError(f"cut {request.cut}: tile_overlap ({overlap}) must be less than tile_window ({window})")
        windows = diffusers_tiled.views(height, width, window // factor, overlap // factor)
        if len(windows) > 1 and hasattr(self._pipe, "text_encoder_2"):
            raise BackendError(
                f"cut {request.cut}: a {request.width}×{request.height} sheet is larger than one {window} px "
                f"window, and painting in windows is done for SD 1.x/2.x models only, not {type(self._pipe).__name__}; "
                "paint it with an SD 1.x/2.x model, or give it a tile_window at least as large as the sheet"
            )
        return windows

    def _paint_all(self, requests: list[RenderRequest]) -> list[np.ndarray]:
        # a sheet in windows is one picture at a time: its memory is bounded by the window, not the batch
        if self._device == "cpu" or len(self._windows(requests[0])) > 1:
            return [self._paint([request])[0] for request in requests]
        return self._paint(requests)

    def _arguments(self, requests: list[RenderRequest]) -> dict:
        """The pipeline call's keyword arguments for these requests; the window loop takes the same."""
        import torch
        from PIL import Image

        first = requests[0]
        negatives = [r.negative for r in requests]
        kwargs = {
            "prompt": [r.prompt for r in requests],
            # None, not "", when no cut has one: SDXL then uses zeros, the unconditional input it was trained on
            "negative_prompt": negatives if any(negatives) else None,
            "image": [Image.fromarray(fit(r.init_image, r.width, r.height)) for r in requests],
            "strength": first.strength,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            # CPU generators: a seed means the same noise on every device
            "generator": [torch.Generator().manual_seed(r.seed) for r in requests],
            "output_type": "np",
        }
        if self.controlnet is not None:
            kwargs["control_image"] = [Image.fromarray(control_image(r.layout, r.width, r.height)) for r in requests]
            kwargs["controlnet_conditioning_scale"] = first.control_scale
        return kwargs

    def _paint(self, requests: list[RenderRequest]) -> list[np.ndarray]:
        """The pipeline's float output, H×W×3 in 0..1, NaNs kept so they can be seen."""
        import torch

        from shotrender.backends import diffusers_tiled

        first = requests[0]
        kwargs = self._arguments(requests)
        cuts = ", ".join(r.cut for r in requests)
        windows = self._windows(first)
        self.last_work["windows"] = len(windows)
        count = self._pipe.unet.register_forward_pre_hook(self._count_work, with_kwargs=True)
        try:
            if len(windows) == 1:
                output = self._pipe(**kwargs)
            else:
                output = diffusers_tiled.paint(self._pipe, windows, **kwargs)
        except (MemoryError, torch.cuda.OutOfMemoryError) as e:
            raise BackendError(f"cut {cuts}: out of memory on {self._device}: {e}") from e
        except (ValueError, TypeError, RuntimeError) as e:
            _raise_if_interrupted(e)  # else the cut would be recorded failed and the run go on
            raise BackendError(f"cut {cuts}: diffusers failed: {e}") from e
        finally:
            count.remove()
        flagged = getattr(output, "nsfw_content_detected", None) or []
        if any(flagged):
            blanked = ", ".join(r.cut for r, hit in zip(requests, flagged, strict=True) if hit)
            raise BackendError(f"cut {blanked}: the model's safety checker blanked the render")
        return list(output.images)

    def _count_work(self, unet, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs["sample"]
        self.last_work["unet_evaluations"] += sample.shape[0]
        self.last_work["latent_pixels"] += sample.shape[0] * sample.shape[-2] * sample.shape[-1]


# -- pure helpers ------------------------------------------------------------------------------


def _raise_if_interrupted(error: Exception) -> None:
    """Interrupted when `error` stands for SIGINT or SIGTERM (signals.interrupted_by): diffusers' and
    transformers' lazy imports re-raise our Interrupted as RuntimeError, their loaders as OSError or
    ValueError, and `_from_hub` as ModelError. Made into ModelError (exit 2), a cancelled farm task looked
    like bad input. An Interrupted itself goes on as it is."""
    if isinstance(error, Interrupted):
        raise error
    signum = signals.interrupted_by(error)
    if signum is not None:
        raise Interrupted(signum) from error


def _quiet_libraries() -> None:
    """Keep diffusers' and transformers' load-time chatter (optional-package notices, deprecations of
    arguments they pass themselves) out of the render log; real failures still raise."""
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    # their "Loading pipeline components" bars write carriage returns into farm logs; we report progress
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning, module=r"huggingface_hub\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers)\..*")


def model_kind(model: str, allow_unsafe_checkpoint: bool) -> str:
    """'folder', 'file' or 'hub' for a `model:` value; ModelError when it is none of them."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(
                f"model folder {path} has no model_index.json, so it is not a diffusers pipeline folder; "
                f"`model:` accepts {ACCEPTED}"
            )
        return "folder"
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".safetensors":
            return "file"
        if suffix in PICKLE_SUFFIXES:
            if not allow_unsafe_checkpoint:
                raise ModelError(
                    f"{path} is a pickle checkpoint, and loading pickle can run arbitrary code. Use a "
                    ".safetensors version of it, or, if you trust where it came from, allow it with "
                    "--allow-unsafe-checkpoint"
                )
            return "file"
        raise ModelError(f"model file {path} is not a checkpoint this backend reads; `model:` accepts {ACCEPTED}")
    if HUB_ID.match(model) and path_reason(model, None) is None:
        return "hub"
    raise ModelError(f"model {model!r} not found: no such folder or file. `model:` accepts {ACCEPTED}")


def config_beside(checkpoint: Path) -> Path | None:
    """`<name>.config/` next to `<name>.safetensors`: the diffusers configs it loads with offline."""
    folder = checkpoint.with_suffix(CONFIG_SUFFIX)
    if not folder.is_dir():
        return None
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{folder} is there but has no model_index.json; it must be a diffusers config folder "
            "(model_index.json, one subfolder per component, no weights needed)"
        )
    return folder


def controlnet_folder(controlnet: str) -> Path:
    folder = Path(controlnet).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"controlnet {controlnet!r} is not a ControlNet folder: it needs config.json and the weights "
            "beside it (a diffusers ControlNetModel folder, e.g. from `hf download ... --local-dir`)"
        )
    return folder


def checkpoint_type(path: Path) -> str:
    """diffusers' own name for a checkpoint's architecture ('v1', 'v2', 'xl_base', …).

    For .safetensors only the header is read: shapes stand in for the tensors, as the detection
    looks at nothing but key names and shapes.
    """
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type, load_single_file_checkpoint

    if path.suffix.lower() != ".safetensors":
        return infer_diffusers_model_type(load_single_file_checkpoint(str(path)))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        shapes = {key: _Shape(tuple(f.get_slice(key).get_shape())) for key in f.keys()}
    return infer_diffusers_model_type(shapes)


class _Shape:
    """A tensor's stand-in for infer_diffusers_model_type, which reads only `.shape`."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def cached_hub_config(repo: str) -> Path | None:
    """The snapshot of `repo` in the local Hugging Face cache, if diffusers fetched its configs before."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo, local_files_only=True))
    except LocalEntryNotFoundError:
        return None
    return folder if (folder / "model_index.json").is_file() else None


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be used, or None if it is worth trying.

    Offline switches first; otherwise one TCP connection (to the proxy if one is set), given at most
    PROBE_SECONDS, name resolution included, so an offline machine fails in seconds, not minutes.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    target = (
        os.environ.get("HTTPS_PROXY")
        or os.environ.get("https_proxy")
        or os.environ.get("HF_ENDPOINT")
        or "https://huggingface.co"
    )
    url = urlsplit(target if "://" in target else "http://" + target)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"cannot connect to {host}:{port}: {e}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {PROBE_SECONDS:g} s"


def resolve_device(device: str | None, dtype: str | None):
    """(device, torch dtype): CUDA in float16, else MPS, else CPU, both float32 unless told otherwise."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    elif device.startswith("cuda"):
        count = torch.cuda.device_count()
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "(not set)")
            raise UsageError(
                f"device {device!r} asked for, but torch sees {count} CUDA device(s) "
                f"(CUDA_VISIBLE_DEVICES={visible}, torch built for CUDA {torch.version.cuda})"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' asked for, but this torch build or machine has no MPS")
    if dtype is None:
        # fp16 halves memory and time on CUDA; MPS stays float32 as diffusers' own MPS guide does
        dtype = "float16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` at width × height: area averaging to shrink, bicubic to enlarge, untouched if it fits."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = image.shape[1] * image.shape[0] > width * height
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def control_image(layout: np.ndarray, width: int, height: int) -> np.ndarray:
    """White lines on black, as lineart and canny ControlNets are trained, from dark lines on paper."""
    gray = fit(cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY), width, height)
    # measured from the paper's own tone (the median: layouts are mostly paper), so a grey scan gives black
    lines = np.clip(np.median(gray) - gray.astype(np.float32), 0, 255).astype(np.uint8)
    lines = cv2.normalize(lines, None, 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(lines, cv2.COLOR_GRAY2RGB)


def _broken(image: np.ndarray) -> str | None:
    if not np.isfinite(image).all():
        return "NaN"
    if image.max() < 0.5 / 255:
        return "all black"
    return None


def configured_threads() -> int:
    """The CPU thread setting, read without importing torch: MKL_NUM_THREADS, else OMP_NUM_THREADS.

    With neither set, the logical CPU count stands for the machine: torch then takes its physical core
    count, fixed per machine. The thread count changes float rounding, hence a CPU render's bytes.
    """
    for var in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _dtype_argument(dtype) -> dict:
    """diffusers 0.42 renamed `torch_dtype` to `dtype` and warns on the old name; older ones know only it."""
    from diffusers import __version__
    from packaging.version import Version

    return {"dtype" if Version(__version__) >= Version("0.42") else "torch_dtype": dtype}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# -- content hashes, cached by path, size and mtime ---------------------------------------------


def hash_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "shotrender" / "hashes.json"


def content_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's weight and config files (relative path + hash each).

    Each file's hash is kept in hash_cache_file() under its path, size and mtime, so a multi-gigabyte
    model is read once, not on every run. A cache that cannot be read is ignored and rewritten; two
    processes writing at once lose entries, never corrupt the file, and a lost entry is only recomputed.
    """
    path = Path(path).resolve()
    cache_file = hash_cache_file()
    entries = _read_hash_cache(cache_file)
    before = dict(entries)

    def file_hash(file: Path) -> str:
        stat = file.stat()
        entry = entries.get(str(file))
        if (
            isinstance(entry, dict)
            and entry.get("size") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns
            and isinstance(entry.get("sha256"), str)
        ):
            return entry["sha256"]
        digest = hashlib.sha256()
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        entries[str(file)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}
        return digest.hexdigest()

    if path.is_file():
        result = file_hash(path)
    else:
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in HASHED_SUFFIXES
            # skip .cache/ and the like: `hf download --local-dir` keeps its own bookkeeping there
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        lines = "".join(f"{p.relative_to(path).as_posix()} {file_hash(p)}\n" for p in files)
        result = hashlib.sha256(lines.encode("utf-8")).hexdigest()
    if entries != before:
        _write_atomically(cache_file, json.dumps({"version": 1, "files": entries}, indent=0))
    return result


def _read_hash_cache(cache_file: Path) -> dict:
    try:
        cache = json.loads(cache_file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    files = cache.get("files") if isinstance(cache, dict) and cache.get("version") == 1 else None
    return files if isinstance(files, dict) else {}


def _write_atomically(target: Path, text: str) -> None:
    """Write to a temporary name in the same folder, then rename: readers see the old file or the new."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        # the cache only saves time; a read-only home must not stop a render
        log.warning("could not write the hash cache %s: %s", target, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
