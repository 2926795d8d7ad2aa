"""The model families the backend paints with, one row each, and how a model is recognised as one of them.

Cheap: no torch, no diffusers. A folder is recognised from its model_index.json (the denoiser's class), a
single .safetensors file from its header's key names, a hub id from its configs in the local Hugging Face
cache (else only once loaded). Validate reads the rows to check a shot list before any model loads; the
backend reads them to build the pipeline and call it. docs/models.md has the same table for users.

    family = recognise("models/flux-dev")         # FAMILIES["flux"], or None when it cannot be told
    family.multiple                                 # 16: frame sides are multiples of this
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from shotrender.errors import ModelError

#: the shot list's model settings and options, by the name their docs use
SETTINGS = ("scheduler", "clip_skip", "vae", "loras", "ip_adapter", "controlnet")


@dataclass(frozen=True)
class Family:
    name: str  # written to sidecars and cache keys
    label: str  # what a person calls it
    denoiser: str  # the pipeline's attribute that predicts the noise (or the flow)
    denoiser_classes: tuple[str, ...]  # its class names in model_index.json
    img2img: str | None  # diffusers' img2img pipeline class; None: AutoPipelineForImage2Image picks it (SD, SDXL)
    patch: int  # latent pixels a side of one token covers: 1 for a UNet, 2 for these transformers
    #: what `guidance` is: "cfg" (classifier-free, two predictions a step, the negative prompt read),
    #: "embedded" (a value the model was distilled with, one prediction a step, no negative prompt),
    #: "true_cfg" (Qwen-Image: classifier-free through `true_cfg_scale`, with a negative prompt)
    guidance: str
    settings: tuple[str, ...]  # the SETTINGS this family takes; the others are refused by validate
    window: int | None = None  # a sheet's native window (image px); None: the UNet's sample size
    layout: str | None = None  # how its transformer's latent is laid out (tiled.LAYOUTS); None: a UNet
    #: key names (any of them) that mark a single-file checkpoint of this family, "model.diffusion_model."
    #: prefixed or not, as diffusers' single-file loader detects them
    checkpoint_keys: tuple[str, ...] = ()
    #: with a `controlnet:`: the ControlNet's class (its config.json's `_class_name`) and the img2img pipeline that
    #: takes it; None: the family takes no ControlNet (the transformer families but FLUX.1)
    controlnet: tuple[str, str] | None = None
    #: an instruction-editing model (`retake_model:`): `img2img` names its editing pipeline, which paints a given
    #: picture changed as a sentence says, with no strength; never a `model:`
    edits: bool = False

    @property
    def multiple(self) -> int:
        """The frame's sides are multiples of this: the VAE's scale (8 for every model of these families) times
        the patch."""
        return 8 * self.patch

    @property
    def transformer(self) -> bool:
        """A flow-matching transformer family: its own pipeline class, its size rule, its window loop."""
        return self.layout is not None

    @property
    def negative(self) -> bool:
        """Whether a negative prompt has any effect."""
        return self.guidance != "embedded"


_SD_SETTINGS = SETTINGS
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("sd", "Stable Diffusion 1.x/2.x", "unet", ("UNet2DConditionModel",), None, 1, "cfg", _SD_SETTINGS,
           controlnet=("ControlNetModel", "AutoPipelineForImage2Image")),
    Family("sdxl", "SDXL", "unet", ("UNet2DConditionModel",), None, 1, "cfg", _SD_SETTINGS,
           controlnet=("ControlNetModel", "AutoPipelineForImage2Image")),
    Family("flux", "FLUX.1", "transformer", ("FluxTransformer2DModel",), "FluxImg2ImgPipeline", 2, "embedded",
           ("loras", "controlnet"), window=1024, layout="packed",
           checkpoint_keys=("double_blocks.0.img_attn.norm.key_norm.scale",),
           controlnet=("FluxControlNetModel", "FluxControlNetImg2ImgPipeline")),
    Family("sd3", "Stable Diffusion 3/3.5", "transformer", ("SD3Transformer2DModel",),
           "StableDiffusion3Img2ImgPipeline", 2, "cfg", (), window=1024, layout="spatial",
           checkpoint_keys=("joint_blocks.0.context_block.adaLN_modulation.1.bias",)),
    Family("qwen-image", "Qwen-Image", "transformer", ("QwenImageTransformer2DModel",), "QwenImageImg2ImgPipeline",
           2, "true_cfg", (), window=1024, layout="packed",
           checkpoint_keys=("txt_norm.weight", "txt_in.text_norm.weight")),
    Family("z-image", "Z-Image", "transformer", ("ZImageTransformer2DModel",), "ZImageImg2ImgPipeline", 2, "cfg",
           (), window=1024, layout="list",
           checkpoint_keys=("layers.0.adaLN_modulation.0.weight",)),
)}

_KONTEXT = Family("flux-kontext", "FLUX.1 Kontext", "transformer", ("FluxTransformer2DModel",), "FluxKontextPipeline",
                  2, "embedded", (), layout="packed", edits=True)
_QWEN_EDIT = Family("qwen-image-edit", "Qwen-Image-Edit", "transformer", ("QwenImageTransformer2DModel",),
                    "QwenImageEditPipeline", 2, "true_cfg", (), layout="packed", edits=True)
#: instruction-editing pipelines, by the class their model_index.json names: they edit a given picture from a
#: sentence and do not paint from a layout, so they are a `retake_model:` and never a `model:`. The inpainting
#: variants hold the same weights and edit through the family's plain editing pipeline; Qwen-Image-Edit 2509
#: (the "Plus" pipeline) keeps its own.
EDITING = {"FluxKontextPipeline": _KONTEXT, "FluxKontextInpaintPipeline": _KONTEXT,
           "QwenImageEditPipeline": _QWEN_EDIT, "QwenImageEditInpaintPipeline": _QWEN_EDIT,
           "QwenImageEditPlusPipeline": replace(_QWEN_EDIT, img2img="QwenImageEditPlusPipeline")}
SUPPORTED = ", ".join(f.label for f in FAMILIES.values())
EDITORS = "FLUX.1 Kontext or Qwen-Image-Edit"
#: the header key of SD 1.x/2.x/SDXL original checkpoints (their family is told by the backend, as before)
_UNET_KEY = "model.diffusion_model.input_blocks.0.0.weight"


def recognise(model: str) -> Family | None:
    """The family of a `model:` value (a folder, a .safetensors file or a hub id); None when it cannot be told
    without loading (a hub id not in the local cache, a pickle checkpoint). ModelError for a model that is
    none of the families: an instruction-editing model, another transformer, a single file of an unknown kind."""
    path = Path(model).expanduser()
    if path.is_dir():
        return _from_index(path / "model_index.json", str(path))
    if path.is_file():
        return _from_header(path) if path.suffix.lower() == ".safetensors" else None
    cached = _cached_index(model)
    return _from_index(cached, model) if cached is not None else None


def _from_index(index: Path, model: str) -> Family | None:
    try:
        config = json.loads(index.read_text("utf-8"))
    except (OSError, ValueError):
        return None  # no readable model_index.json: model_kind says why
    if not isinstance(config, dict):
        return None
    class_name = str(config.get("_class_name", ""))
    if class_name in EDITING:
        raise ModelError(f"{model} is {EDITING[class_name].label} ({class_name}), an instruction-editing model: it "
                         "edits a given picture from a sentence and does not paint a background from a layout; give "
                         f"`model:` an img2img model ({SUPPORTED}), and name it as `retake_model:` to paint retakes")
    for attribute in ("unet", "transformer"):
        entry = config.get(attribute)
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        if attribute == "unet":
            return FAMILIES["sdxl" if config.get("text_encoder_2") else "sd"]
        for family in FAMILIES.values():
            if entry[1] in family.denoiser_classes:
                return family
        raise ModelError(f"{model} is a {class_name or 'pipeline'} with a {entry[1]}, a model family this backend "
                         f"does not paint with; it paints {SUPPORTED}")
    return None


def editor(model: str) -> Family:
    """The editing family of a `retake_model:` value (a diffusers folder, or a hub id whose configs are in the local
    Hugging Face cache); ModelError naming what it is instead when it is no instruction-editing model."""
    path = Path(model).expanduser()
    index = path / "model_index.json" if path.is_dir() else None if path.exists() else _cached_index(model)
    try:
        class_name = json.loads(index.read_text("utf-8")).get("_class_name") if index is not None else None
    except (OSError, ValueError, AttributeError):
        class_name = None
    if class_name in EDITING:
        return EDITING[class_name]
    what = (f"a {class_name}" if isinstance(class_name, str) else "a single file" if path.is_file()
            else "no diffusers folder (no readable model_index.json)" if path.exists()
            else "a hub id whose configs are not in the local Hugging Face cache")
    raise ModelError(f"{model} is {what}, not an instruction-editing model; `retake_model:` takes a diffusers folder "
                     f"of {EDITORS} (FluxKontextPipeline, QwenImageEditPipeline), which edits the picture the "
                     "director sent back as the retake's note says")


def _from_header(path: Path) -> Family | None:
    from shotrender.model_settings import header_shapes

    keys = header_shapes(path).keys()
    if any(key.endswith(_UNET_KEY.removeprefix("model.diffusion_model.")) for key in keys):
        return None  # SD 1.x/2.x or SDXL: the backend reads the checkpoint's type when it loads
    for family in FAMILIES.values():
        if any(key.removeprefix("model.diffusion_model.") in family.checkpoint_keys for key in keys):
            return family
    return None


def _cached_index(repo: str) -> Path | None:
    """model_index.json of `repo` in the local Hugging Face cache, found without the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, "model_index.json")
    except ValueError:  # not a valid repo id after all
        return None
    return Path(found) if isinstance(found, str) else None


def refusals(family: Family, used: dict[str, bool]) -> list[tuple[str, str]]:
    """(setting, message) for each setting in `used` (SETTINGS names, True where set) the family cannot take."""
    out = []
    for setting, on in used.items():
        if on and setting not in family.settings:
            takes = f"it takes {', '.join(family.settings)}" if family.settings else "it takes none of them"
            out.append((setting, f"`{setting}` is not for {family.label} models here ({takes}; "
                                 f"of {', '.join(SETTINGS)})"))
    return out


def controlnet_problem(family: Family, controlnet: Path) -> str | None:
    """Why the ControlNet folder `controlnet` cannot steer a model of `family` (a ControlNet made for another
    family), or None. Its config.json names its class; one that cannot be read is left to the load to say."""
    try:
        class_name = json.loads((controlnet / "config.json").read_text("utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
    if family.controlnet is None or class_name == family.controlnet[0]:
        return None
    return (f"the ControlNet {controlnet} is a {class_name}, and {family.label} models take a "
            f"{family.controlnet[0]}: give a ControlNet trained for {family.label}")


def of_pipeline(pipe, model: str) -> Family:
    """The family of a loaded pipeline (a hub id's, whose configs were not in the cache before it loaded)."""
    if getattr(pipe, "unet", None) is not None:
        return FAMILIES["sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd"]
    denoiser = type(getattr(pipe, "transformer", None)).__name__
    for family in FAMILIES.values():
        if denoiser in family.denoiser_classes:
            return family
    raise ModelError(f"{model} loaded as a {type(pipe).__name__} with a {denoiser}, a model family this backend "
                     f"does not paint with; it paints {SUPPORTED}")
