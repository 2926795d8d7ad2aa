"""The backend: builds the img2img pipeline of the model's family (families.py: SD 1.x/2.x or SDXL, a ControlNet
or not; FLUX.1, a ControlNet or not; SD 3.5, Qwen-Image, Z-Image), or an instruction-editing model's pipeline for
retakes (`editing=True`: FLUX.1 Kontext, Qwen-Image-Edit), and paints requests.

See the package docstring for how it is used.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from shotrender import signals
from shotrender.backends.base import PARAMS, RenderRequest
from shotrender.backends.diffusers import adapters, families
from shotrender.backends.diffusers.device import (
    DEVICES,
    DTYPES,
    configured_threads,
    dtype_argument,
    library_version,
    quiet_libraries,
    resolve_device,
)
from shotrender.backends.diffusers.hashes import content_hash
from shotrender.backends.diffusers.model import (
    CONFIG_SUFFIX,
    SINGLE_FILE_TYPES,
    cached_hub_config,
    checkpoint_type,
    config_beside,
    controlnet_folder,
    hub_unreachable,
    model_kind,
)
from shotrender.errors import BackendError, Interrupted, ModelError, ShotRenderError, UsageError
from shotrender.model_settings import IMAGE_ENCODER, SCHEDULERS, BackendOptions, family, ip_adapter_problem, lora_width

log = logging.getLogger(__name__)

#: bump whenever this module changes how it turns a request into pixels (resizing, the control image,
#: the conversion to uint8), so cached renders are made again
VERSION = 1

#: weight loads in this process, the float32 fallback's reload included; tests read it
LOAD_COUNT = 0

#: the request.extra keys of a sheet: paint it in windows; the window's side (image pixels, default the
#: model's native size); the overlap of neighbouring windows (image pixels, default a quarter window)
SHEET_KEYS = ("sheet", "tile_window", "tile_overlap")

#: an inpainting's crop holds this many px of the picture around its mask, at least
CONTEXT = 32
#: its painting is pasted back over the blocks the mask touches, feathered over this many px inside their
#: edge; the mask is grown by as much first, so the region itself is the painting's alone
PASTE = 4


class DiffusersBackend:
    """img2img with diffusers; see the module docstring and docs/models.md."""

    name = "diffusers"
    reads = (*PARAMS, "loras")

    def __init__(
        self,
        model: str,
        *,
        controlnet: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        allow_unsafe_checkpoint: bool = False,
        options: BackendOptions | None = None,
        editing: bool = False,
    ):
        self.model = str(model)
        self.kind = model_kind(self.model, allow_unsafe_checkpoint)
        self.path = Path(self.model).expanduser() if self.kind != "hub" else None
        self.config_folder = config_beside(self.path) if self.kind == "file" else None
        #: the model's family when it can be told without loading (families.recognise), else after load(); an
        #: editing backend (`retake_model:`) is an instruction-editing model's, told from its configs or refused:
        #: its requests' init image is the picture to change and their prompt says how (see _arguments)
        self.family = families.editor(self.model) if editing else families.recognise(self.model)
        self.controlnet = controlnet_folder(controlnet) if controlnet is not None else None
        if device is not None and not DEVICES.match(device):
            raise UsageError(f"device must be cpu, mps, cuda or cuda:N, got {device!r}")
        if dtype is not None and dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.requested_device = device
        self.requested_dtype = dtype
        self.options = options = options or BackendOptions()
        self.vae = vae_source(options.vae) if options.vae else None
        if options.scheduler is not None and options.scheduler not in SCHEDULERS:
            raise UsageError(f"unknown scheduler {options.scheduler!r}; use one of {', '.join(SCHEDULERS)}")
        for lora in options.loras:
            adapters.check_file(Path(lora), allow_unsafe_checkpoint)
        self.ip_adapter = Path(options.ip_adapter) if options.ip_adapter else None
        if self.ip_adapter is not None:
            reason = ip_adapter_problem(self.ip_adapter)
            if reason:
                raise ModelError(f"ip_adapter {self.ip_adapter} {reason}; give the IP-Adapter's weights with its "
                                 f"image encoder folder beside them as {IMAGE_ENCODER}/")
            adapters.check_file(self.ip_adapter, allow_unsafe_checkpoint, "IP-Adapter")
            # with an IP-Adapter, a place's art board conditions its pictures: it is in their keys
            self.reads = (*self.reads, "art_board")
        self._refuse_settings(device)
        self._boards: dict[str, object] = {}
        self._pipe = None
        self._inpainter = None  # the inpainting pipeline on the same weights, made on the first masked request
        self._adapters: adapters.Adapters | None = None
        self._device: str | None = None
        self._dtype = None
        self._config_used: str | None = None
        self._fallback_cut: str | None = None
        #: the diffusion work of the last render call (retries included): UNet evaluations (a guided step
        #: counts two), the sum of their latent pixels, and the windows per step of its last picture
        self.last_work: dict = {"unet_evaluations": 0, "latent_pixels": 0, "windows": 0}

    def _refuse_settings(self, device: str | None) -> None:
        """What a transformer family cannot do, refused before anything loads (validate says the same of a shot
        list; this catches --model and --device given on the command line)."""
        family = self.family
        if family is None or not family.transformer:
            return
        if self.kind == "file":
            raise ModelError(f"{self.path} is a single-file {family.label} checkpoint; {family.label} models are "
                             "loaded from a diffusers folder here (model_index.json, transformer/, vae/, text "
                             "encoders)")
        used = {"scheduler": bool(self.options.scheduler), "clip_skip": bool(self.options.clip_skip),
                "vae": self.vae is not None, "loras": bool(self.options.loras),
                "ip_adapter": self.ip_adapter is not None, "controlnet": self.controlnet is not None}
        refused = families.refusals(family, used)
        if refused:
            raise UsageError("; ".join(message for _, message in refused) + f" (model {self.model})")
        mismatch = self.controlnet is not None and families.controlnet_problem(family, self.controlnet)
        if mismatch:
            raise ModelError(mismatch)
        if device == "mps" and family.name == "flux":
            raise UsageError("FLUX.1 computes its position embeddings in float64, which MPS does not have; "
                             "paint it on cuda or cpu")

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
            "versions": {name: library_version(name) for name in ("diffusers", "torch", "transformers")},
            # present only when set, so that the keys of renders made without them stay as they were
            **({"vae": content_hash(self.vae)} if self.vae else {}),
            **({"scheduler": [self.options.scheduler, *SCHEDULERS[self.options.scheduler]]}
               if self.options.scheduler else {}),
            **({"clip_skip": self.options.clip_skip} if self.options.clip_skip else {}),
            **({"peft": library_version("peft")} if self.options.loras else {}),
            **({"ip_adapter": content_hash(self.ip_adapter),
                "image_encoder": content_hash(self.ip_adapter.parent / IMAGE_ENCODER)} if self.ip_adapter else {}),
            # a transformer family's pipeline and size rule; SD 1.x/2.x and SDXL keys stay as they were
            **({"family": self.family.name, "pipeline": self._pipeline_class(), "multiple": self.family.multiple}
               if self.family is not None and self.family.transformer else {}),
        }

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the weights and move them to the device; later calls do nothing."""
        if self._pipe is not None:
            return
        try:
            quiet_libraries()
            self._device, self._dtype = resolve_device(self.requested_device, self.requested_dtype)
        except Exception as e:
            _raise_if_interrupted(e)  # an import that diffusers wrapped in a RuntimeError
            raise
        self._pipe = self._build(self._dtype)
        self._refuse_settings(self.requested_device)  # a hub id's family is known only now
        self._check_lora_families()
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
            "family": self.family.name,
            "model_kind": self.kind,
            "config": self._config_used,
            "controlnet": self.controlnet is not None,
            "scheduler": type(self._pipe.scheduler).__name__,
            "clip_skip": self.options.clip_skip,
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
                import diffusers

                # the family's ControlNet class; a hub id's family is known after loading: SD's until then
                class_name = (self.family or families.FAMILIES["sd"]).controlnet[0]
                extra["controlnet"] = getattr(diffusers, class_name).from_pretrained(self.controlnet,
                                                                                     **dtype_argument(dtype))
            if self.vae is not None:
                extra["vae"] = self._load_vae(dtype)
            if self.family is not None and self.family.transformer and (self.kind == "folder" or self.family.edits):
                import diffusers

                # an editing model's hub id is one whose configs are in the local cache (families.editor)
                pipe = getattr(diffusers, self._pipeline_class()).from_pretrained(
                    str(self.path or self.model), local_files_only=True, **dtype_argument(dtype), **extra)
            elif self.kind == "folder":
                from diffusers import AutoPipelineForImage2Image

                pipe = AutoPipelineForImage2Image.from_pretrained(
                    str(self.path), local_files_only=True, **dtype_argument(dtype), **extra
                )
            elif self.kind == "hub":
                pipe = self._from_hub(dtype, extra)
            else:
                pipe = self._from_single_file(dtype, extra)
            if self.options.scheduler:
                pipe.scheduler = make_scheduler(self.options.scheduler, pipe.scheduler.config)
            if self.ip_adapter is not None:
                pipe.load_ip_adapter(str(self.ip_adapter.parent), subfolder="", weight_name=self.ip_adapter.name,
                                     image_encoder_folder=IMAGE_ENCODER, local_files_only=True)
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
        self.family = self.family or families.of_pipeline(pipe, self.model)
        # a rebuilt pipeline (the fp32 fallback) loads its LoRAs again
        self._adapters = adapters.Adapters(pipe, self.family.denoiser)
        return pipe

    def _pipeline_class(self) -> str:
        """The transformer family's pipeline class: its img2img (or editing) one, or its ControlNet one."""
        return self.family.controlnet[1] if self.controlnet is not None else self.family.img2img

    def _load_vae(self, dtype):
        from diffusers import AutoencoderKL

        if self.vae.is_dir():
            return AutoencoderKL.from_pretrained(str(self.vae), **dtype_argument(dtype))
        # a single-file VAE is laid out as the original checkpoints are; the model's own VAE config shapes it
        config = self.path if self.kind == "folder" else self.config_folder
        return AutoencoderKL.from_single_file(
            str(self.vae), **({"config": str(config), "subfolder": "vae", "local_files_only": True} if config else {}),
            **dtype_argument(dtype),
        )

    def _check_lora_families(self) -> None:
        """A LoRA made for another family than the loaded model's is refused before anything is painted
        (shot lists check it before loading where the model is local: model_settings.file_problems). A transformer
        family's LoRA is checked as it loads (adapters.py)."""
        if self.family.denoiser != "unet":
            return
        width = self._pipe.unet.config.cross_attention_dim
        for lora in self.options.loras:
            made_for = lora_width(Path(lora)) if Path(lora).suffix.lower() == ".safetensors" else None
            if made_for is not None and made_for != width:
                raise ModelError(f"LoRA {lora} is made for {family(made_for)} and the model {self.model} is "
                                 f"{family(width)}; use a LoRA trained for this model's family")

    def _from_hub(self, dtype, extra: dict):
        from diffusers import AutoPipelineForImage2Image

        offline = hub_unreachable()
        try:
            return AutoPipelineForImage2Image.from_pretrained(
                self.model, local_files_only=offline is not None, **dtype_argument(dtype), **extra
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
            **dtype_argument(dtype),
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

        self._pipe = self._inpainter = None
        if self._device.startswith("cuda"):
            torch.cuda.empty_cache()
        self._dtype = torch.float32
        self._pipe = self._build(torch.float32)
        self._fallback_cut = cut

    def _check(self, requests: list[RenderRequest]) -> None:
        first = requests[0]
        shared = ("width", "height", "steps", "strength", "guidance", "control_scale")
        loras = first.extra.get("loras", ())
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
            if request.extra.get("loras", ()) != loras:
                raise ValueError(f"render_batch needs cuts with the same LoRAs; cut {request.cut} and cut "
                                 f"{first.cut} differ")
            if request.extra.get("art_board") != first.extra.get("art_board"):
                raise ValueError(f"render_batch needs cuts with the same art board; cut {request.cut} and cut "
                                 f"{first.cut} differ")
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
        """The latent windows a request is painted in: one, the whole picture, unless it is a sheet. A transformer
        family's windows are on its padded picture (padded()) and start on its 2×2 patches."""
        from shotrender.backends.diffusers import tiled

        factor = self._pipe.vae_scale_factor
        cell = self._cell()
        width, height = padded(request.width, request.height, cell)
        if not request.extra.get("sheet"):
            return [(0, height // factor, 0, width // factor)]
        window = request.extra.get("tile_window", self._native_window())
        overlap = request.extra.get("tile_overlap", window // 4 // cell * cell)
        for key, value in (("tile_window", window), ("tile_overlap", overlap)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value % cell:
                raise ValueError(f"cut {request.cut}: {key} must be a whole, non-negative number of pixels, "
                                 f"a multiple of {cell} (the cell {self.family.label} paints in), got {value!r}")
        if not overlap < window:
            raise ValueError(f"cut {request.cut}: tile_overlap ({overlap}) must be less than tile_window ({window})")
        step = self.family.patch  # latent pixels a window's corner moves by: a whole patch
        windows = [tuple(v * step for v in box)
                   for box in tiled.views(height // cell, width // cell, window // cell, overlap // cell)]
        if len(windows) > 1 and self.family.name == "sdxl":
            raise BackendError(
                f"cut {request.cut}: a {request.width}×{request.height} sheet is larger than one {window} px "
                f"window, and painting in windows is not done for SDXL ({type(self._pipe).__name__}); "
                "paint it with another family, or give it a tile_window at least as large as the sheet"
            )
        return windows

    def _native_window(self) -> int:
        """The side (image px) the model paints best at: the family's, or its UNet's sample size."""
        return self.family.window or self._pipe.unet.config.sample_size * self._pipe.vae_scale_factor

    def _cell(self) -> int:
        """Image pixels of one token of the denoiser: the VAE's scale times the family's patch."""
        return self._pipe.vae_scale_factor * self.family.patch

    def _paint_all(self, requests: list[RenderRequest]) -> list[np.ndarray]:
        if requests[0].mask is not None:
            return [self._inpaint(request) for request in requests]
        # a sheet in windows is one picture at a time: its memory is bounded by the window, not the batch; an
        # editing pipeline takes one picture to change at a time
        if self._device == "cpu" or self.family.edits or len(self._windows(requests[0])) > 1:
            return [self._paint([request])[0] for request in requests]
        return self._paint(requests)

    def _arguments(self, requests: list[RenderRequest]) -> dict:
        """The pipeline call's keyword arguments for these requests; the window loop takes the same."""
        import torch
        from PIL import Image

        first = requests[0]
        negatives = [r.negative for r in requests]
        width, height = padded(first.width, first.height, self._cell())
        kwargs = {
            "prompt": [r.prompt for r in requests],
            # None, not "", when no cut has one: SDXL then uses zeros, the unconditional input it was trained on
            "negative_prompt": negatives if any(negatives) else None,
            "image": [Image.fromarray(pad(fit(r.init_image, r.width, r.height), width, height)) for r in requests],
            "strength": first.strength,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            # CPU generators: a seed means the same noise on every device
            "generator": [torch.Generator().manual_seed(r.seed) for r in requests],
            "output_type": "np",
        }
        if self.family.transformer:
            kwargs.update(width=width, height=height, **GUIDANCE[self.family.guidance](first.guidance, negatives))
            if kwargs["negative_prompt"] is None:  # the default; FLUX.1's ControlNet pipeline has no such argument
                del kwargs["negative_prompt"]
        if self.family.edits:  # the picture is changed as the prompt says: all steps run, none keeps the picture
            del kwargs["strength"]
            kwargs.update(EDITING.get(self.family.img2img, lambda w, h: {})(width, height))
        if self.controlnet is not None:
            kwargs["control_image"] = [Image.fromarray(pad(control_image(r.layout, r.width, r.height), width, height))
                                       for r in requests]
            kwargs["controlnet_conditioning_scale"] = first.control_scale
        if self.ip_adapter is not None:
            kwargs["ip_adapter_image"] = self._board(first.extra.get("art_board"))
        if self.options.clip_skip and self.options.clip_skip > 1:
            # clip_skip counts as AUTOMATIC1111 and ComfyUI do (1: the last layer); diffusers counts layers skipped
            if hasattr(self._pipe, "text_encoder_2"):
                kwargs["clip_skip"] = self.options.clip_skip - 1
            else:
                from shotrender.backends.diffusers.prompts import skipped_embeds

                kwargs["prompt_embeds"] = skipped_embeds(self._pipe, kwargs.pop("prompt"), self.options.clip_skip - 1)
        return kwargs

    def _board(self, board: tuple[str, float] | None):
        """The art board the IP-Adapter sees, at its strength; with no board, a blank one at scale 0, which adds
        exactly nothing (the adapter's attention is multiplied by the scale), so the picture is the one without."""
        from PIL import Image

        self._pipe.set_ip_adapter_scale(board[1] if board else 0.0)
        if board is None:
            return Image.new("RGB", (64, 64), (128, 128, 128))
        if board[0] not in self._boards:
            from shotrender.files import read_named_image

            with Image.open(io.BytesIO(read_named_image(Path(board[0])))) as image:
                self._boards[board[0]] = image.convert("RGB")
        return self._boards[board[0]]

    def _paint(self, requests: list[RenderRequest]) -> list[np.ndarray]:
        """The pipeline's float output, H×W×3 in 0..1, NaNs kept so they can be seen."""
        from shotrender.backends.diffusers import tiled

        windows = self._windows(requests[0])
        self.last_work["windows"] = len(windows)
        kwargs = self._arguments(requests)
        if len(windows) == 1:
            return self._call(requests, lambda: self._pipe(**kwargs))
        if self.family.transformer:
            grid = (windows[-1][1], windows[-1][3])  # the last window ends at the latent's corner

            def windowed():
                with tiled.windowed(getattr(self._pipe, self.family.denoiser), self.family.layout, grid, windows,
                                    self._count_work), tiled.vae_tiling(self._pipe.vae):
                    return self._pipe(**kwargs)

            # each window is counted instead of the whole latent
            return self._call(requests, windowed, count=False)
        return self._call(requests, lambda: tiled.paint(self._pipe, windows, **kwargs))

    def _inpaint(self, request: RenderRequest) -> np.ndarray:
        """A masked request (regions.paint): the family's inpainting pipeline on the same weights paints the latent
        blocks the mask touches (with a 4-channel UNet or a flow transformer, diffusers blends the init image's
        noised latents back outside them at every step: its "mask blending"), in a crop of the picture around
        the mask at least the model's window large, the init image around as context. Pasted back over the
        blocks, feathered inside their edge; everywhere else the init image's own values. Float H×W×3 in 0..1."""
        cell = self._cell()  # a transformer family's blocks are its 2×2-patch tokens, 16 px
        x0, y0, x1, y1 = context_box(request.mask, self._native_window(), cell)
        crop = np.s_[y0:y1, x0:x1]
        blocks = latent_blocks(request.mask[crop], cell)
        part = replace(request, init_image=request.init_image[crop], layout=fit(request.layout, request.width,
                                                                               request.height)[crop],
                       width=x1 - x0, height=y1 - y0, mask=None)
        kwargs = self._arguments([part])
        if self._inpainter is None:
            from diffusers import AutoPipelineForInpainting

            # the family's inpainting pipeline (FluxInpaintPipeline, ...) on the same weights: none loaded again
            self._inpainter = AutoPipelineForInpainting.from_pipe(self._pipe)
            self._inpainter.set_progress_bar_config(disable=True)  # its own, not the loaded pipeline's
        from PIL import Image

        width, height = padded(x1 - x0, y1 - y0, cell)  # a crop of a sheet sized in 8s grows as the sheet does
        mask = np.zeros((height, width), np.uint8)
        mask[: y1 - y0, : x1 - x0] = blocks.view(np.uint8) * 255
        kwargs.update(mask_image=Image.fromarray(mask), width=width, height=height)
        self.last_work["windows"] = 1
        painted = self._call([part], lambda: self._inpainter(**kwargs))[0]
        weight = np.minimum(cv2.distanceTransform(blocks.view(np.uint8), cv2.DIST_L2, 3) / PASTE, 1)[..., None]
        out = request.init_image.astype(np.float32) / 255
        out[crop] = out[crop] * (1 - weight) + painted * weight
        return out

    def _call(self, requests: list[RenderRequest], paint, count: bool = True) -> list[np.ndarray]:
        """Run `paint` (a pipeline call for these requests) with their LoRAs, counting its UNet work; diffusers'
        errors as BackendError."""
        import torch

        cuts = ", ".join(r.cut for r in requests)
        self._adapters.use(requests[0].extra.get("loras", ()))
        denoiser = getattr(self._pipe, self.family.denoiser)
        hook = denoiser.register_forward_pre_hook(self._count_call, with_kwargs=True) if count else None
        try:
            output = paint()
        except (MemoryError, torch.cuda.OutOfMemoryError) as e:
            raise BackendError(f"cut {cuts}: out of memory on {self._device}: {e}") from e
        except (ValueError, TypeError, RuntimeError) as e:
            _raise_if_interrupted(e)  # else the cut would be recorded failed and the run go on
            raise BackendError(f"cut {cuts}: diffusers failed: {e}") from e
        finally:
            if hook is not None:
                hook.remove()
        flagged = getattr(output, "nsfw_content_detected", None) or []
        if any(flagged):
            blanked = ", ".join(r.cut for r, hit in zip(requests, flagged, strict=True) if hit)
            raise BackendError(f"cut {blanked}: the model's safety checker blanked the render")
        first = requests[0]
        return [image[: first.height, : first.width] for image in output.images]  # the padding cut off

    def _count_call(self, denoiser, args: tuple, kwargs: dict) -> None:
        self._count_work(args[0] if args else next(iter(kwargs.values())))

    def _count_work(self, sample) -> None:
        """One denoiser call on `sample`: a (B, C, H, W) latent, a (B, tokens, 4C) packed one or a list of
        (C, F, H, W) pictures. Counted as pictures and latent pixels, so the families compare."""
        pictures = sample if isinstance(sample, list) else [sample]
        batch = len(pictures) if isinstance(sample, list) else sample.shape[0]
        channels = self._latent_channels()
        self.last_work["unet_evaluations"] += batch
        self.last_work["latent_pixels"] += sum(p.numel() for p in pictures) // channels

    def _latent_channels(self) -> int:
        config = self._pipe.vae.config
        return config.get("latent_channels") or config["z_dim"]  # AutoencoderKL, Qwen-Image's VAE


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



#: the pipeline arguments that carry `guidance` and the negative prompts, by what guidance is for a family
#: (families.Family.guidance). Qwen-Image guides only with a negative prompt: " " stands for none, as its
#: model card does, so that `guidance` has an effect without one.
GUIDANCE = {
    "cfg": lambda guidance, negatives: {},
    "embedded": lambda guidance, negatives: {"negative_prompt": None},
    "true_cfg": lambda guidance, negatives: {"true_cfg_scale": guidance, "guidance_scale": None,
                                             "negative_prompt": [n or " " for n in negatives]},
}


#: an editing pipeline's own arguments for a width × height picture. FLUX.1 Kontext resizes the picture to the
#: resolutions it was trained at and paints at `max_area` unless told: the picture is changed at its own size.
EDITING = {
    "FluxKontextPipeline": lambda width, height: {"max_area": width * height, "_auto_resize": False},
}


def padded(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The size a family paints a width × height picture at: grown right and down to its multiple. Frames are
    multiples already (validate); sheets and moving cuts' backgrounds are multiples of 8 and may grow by 8."""
    return -(-width // multiple) * multiple, -(-height // multiple) * multiple


def pad(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` grown right and down to width × height by repeating its edge; cut off again after painting."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    return cv2.copyMakeBorder(image, 0, height - h, 0, width - w, cv2.BORDER_REPLICATE)


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` at width × height: area averaging to shrink, bicubic to enlarge, untouched if it fits."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = image.shape[1] * image.shape[0] > width * height
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def context_box(mask: np.ndarray, window: int, factor: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the crop an inpainting paints in: the mask's box with CONTEXT px around it,
    at least `window` px a side where the picture is that large, centred on the mask and inside the picture,
    its sides multiples of `factor` (the picture's are)."""
    ys, xs = np.nonzero(mask)
    box = []
    for low, high, size in ((xs.min(), xs.max(), mask.shape[1]), (ys.min(), ys.max(), mask.shape[0])):
        side = max(int(high - low) + 1 + 2 * CONTEXT, window)
        side = min(size, -(-side // factor) * factor)
        start = int(np.clip((low + high + 1 - side) // 2, 0, size - side))
        box.append((start, start + side))
    (x0, x1), (y0, y1) = box
    return x0, y0, x1, y1


def latent_blocks(mask: np.ndarray, factor: int) -> np.ndarray:
    """bool: the `factor`-px blocks (the latent's pixels) that the mask, grown by PASTE px, touches. An inpainting
    paints these: a thin region (a line added) falls between a latent's samples otherwise."""
    grown = cv2.dilate(mask.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * PASTE + 1,) * 2))
    h, w = mask.shape
    # a side off the blocks' size (a sheet's 8s under a family's 16-px tokens) is painted padded right and down
    grown = np.pad(grown, ((0, -h % factor), (0, -w % factor)))
    touched = grown.reshape(grown.shape[0] // factor, factor, grown.shape[1] // factor, factor).max(axis=(1, 3))
    return (np.repeat(np.repeat(touched, factor, 0), factor, 1) > 0)[:h, :w]


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


def vae_source(vae: str) -> Path:
    """A `vae:` value as the backend loads it: a diffusers AutoencoderKL folder or a .safetensors file."""
    path = Path(vae).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if path.is_file() and path.suffix.lower() == ".safetensors":
        return path
    raise ModelError(f"vae {vae!r} is neither a diffusers VAE folder (config.json and its weights) nor a "
                     ".safetensors file; point `vae:` at one of them")


def make_scheduler(name: str, config):
    """The `scheduler:` named `name` (model_settings.SCHEDULERS), made from the model's scheduler config."""
    import diffusers

    class_name, options = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(config, **options)
