"""LoRAs on a loaded pipeline: each file loaded once per process as a peft adapter, then switched per request.

    adapters = Adapters(pipe)
    adapters.use((("/loras/style.safetensors", 0.8), ("/loras/park.safetensors", 0.5)))   # before a call
    adapters.use(())                                                                       # none: all off

`use` loads the files it has not seen, activates exactly the request's adapters at its scales on the denoiser
(the UNet, or FLUX.1's transformer) and the CLIP text encoders, and with no LoRAs switches every adapter layer
off, so a cut painted after a LoRA cut computes what it would with none ever loaded. Switching sets scales and
flags: nothing is reloaded.

The text encoders' parts are injected with peft itself, as diffusers did before transformers' own peft
integration: that integration asks for a peft release newer than PyPI has (transformers 5 and peft 0.21).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from shotrender.errors import BackendError, ModelError

TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
#: adapter files loaded in this process; tests read it
LOADS = 0


class Adapters:
    def __init__(self, pipe, denoiser: str = "unet"):
        self.pipe = pipe
        self.denoiser = denoiser  # the pipeline's attribute the LoRA's main part goes into: "unet" or "transformer"
        # FLUX.1's second text encoder is T5, which LoRAs for it leave alone
        self.encoders = TEXT_ENCODERS if denoiser == "unet" else TEXT_ENCODERS[:1]
        self.names: dict[str, str] = {}  # file -> adapter name
        self.active: tuple[tuple[str, float], ...] | None = None

    def use(self, loras: tuple[tuple[str, float], ...]) -> None:
        """Make `loras` ((file, scale), in order) the only active adapters."""
        if loras == self.active:
            return
        for file, _ in loras:
            if file not in self.names:
                self._load(file)
        from diffusers.utils.peft_utils import set_adapter_layers, set_weights_and_activate_adapters

        for model in self._models():
            mine = [(self.names[file], scale) for file, scale in loras if self.names[file] in _adapters_of(model)]
            set_adapter_layers(model, enabled=bool(mine))
            if mine:
                set_weights_and_activate_adapters(model, [name for name, _ in mine], [scale for _, scale in mine])
        self.active = loras

    def _models(self):
        if not self.names:
            return []
        return [m for m in (getattr(self.pipe, self.denoiser), *(getattr(self.pipe, n, None) for n in self.encoders))
                if m is not None]

    def _load(self, file: str) -> None:
        global LOADS
        name = f"lora{len(self.names)}"
        try:
            with warnings.catch_warnings():
                # peft warns when a second adapter joins the first: several adapters, switched per cut, are the point
                warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
                self._inject(file, name)
        except ModelError:
            raise
        except (ValueError, KeyError, RuntimeError, OSError) as e:
            raise ModelError(f"cannot load LoRA {file}: {e}") from e
        self.names[file] = name
        LOADS += 1

    def _inject(self, file: str, name: str) -> None:
        # diffusers converts kohya's and other trainers' key names as it reads the file
        if self.denoiser == "unet":
            state, alphas = self.pipe.lora_state_dict(file)
        else:
            state, alphas = self.pipe.lora_state_dict(file, return_alphas=True)
        # a transformer family's LoRA must have transformer weights: an SD LoRA's CLIP part alone is no FLUX.1 LoRA
        readable = (f"{self.denoiser}.",) if self.denoiser != "unet" else ("unet.", *(f"{n}." for n in self.encoders))
        if not any(key.startswith(readable) for key in state):
            raise ModelError(f"LoRA {file} has no {self.denoiser} or text-encoder weights diffusers can read for "
                             f"{type(self.pipe).__name__}; is it a LoRA for this model's family?")
        load = getattr(self.pipe, f"load_lora_into_{self.denoiser}")
        load(state, alphas, **{self.denoiser: getattr(self.pipe, self.denoiser)}, adapter_name=name,
             _pipeline=self.pipe)
        for part in self.encoders:
            encoder = getattr(self.pipe, part, None)
            if encoder is not None:
                _into_text_encoder(state, alphas, encoder, part, name)


def _adapters_of(model) -> set[str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            return set(module.scaling)
    return set()


def _into_text_encoder(state: dict, alphas: dict | None, encoder, prefix: str, name: str) -> None:
    """The `prefix.` part of a LoRA state dict injected into a CLIP text encoder as adapter `name`: the
    conversions of diffusers' _load_lora_into_text_encoder, then peft's inject and load."""
    from diffusers.loaders.lora_base import _create_lora_config
    from diffusers.utils import convert_state_dict_to_diffusers, convert_state_dict_to_peft
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    part = {k.removeprefix(f"{prefix}."): v for k, v in state.items() if k.startswith(f"{prefix}.")}
    if not part:
        return
    part = convert_state_dict_to_peft(convert_state_dict_to_diffusers(part))
    if not hasattr(encoder, "text_model"):  # transformers 5 flattened CLIPTextModel; older LoRAs keep the prefix
        part = {k.removeprefix("text_model."): v for k, v in part.items()}
    rank = {f"{module}.lora_B.weight": part[f"{module}.lora_B.weight"].shape[1]
            for module, _ in encoder.named_modules() if f"{module}.lora_B.weight" in part}
    if alphas is not None:
        alphas = {k.removeprefix(f"{prefix}."): v for k, v in alphas.items() if k.split(".")[0] == prefix}
    config = _create_lora_config(part, alphas, None, rank, is_unet=False)
    inject_adapter_in_model(config, encoder, adapter_name=name)
    result = set_peft_model_state_dict(encoder, part, adapter_name=name)
    if result.unexpected_keys:
        raise BackendError(f"LoRA {prefix} weights fit no layer of the text encoder: "
                           f"{', '.join(sorted(result.unexpected_keys)[:3])} ...")
    encoder.to(device=encoder.device, dtype=encoder.dtype)


def check_file(path: Path, allow_unsafe_checkpoint: bool, what: str = "LoRA") -> None:
    """A LoRA (or IP-Adapter) file the backend may load: .safetensors, or a pickle only when allowed."""
    from shotrender.model_settings import PICKLE_SUFFIXES

    if path.suffix.lower() in PICKLE_SUFFIXES and not allow_unsafe_checkpoint:
        raise ModelError(
            f"{what} {path} is a pickle file, and loading pickle can run arbitrary code. Use a .safetensors version "
            "of it, or, if you trust where it came from, allow it with --allow-unsafe-checkpoint"
        )
