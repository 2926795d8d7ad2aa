"""Tiny random-weight Stable Diffusion models for tests, built the way diffusers' own tests build theirs.

Nothing here touches the network: the CLIP tokenizer is a byte-level BPE vocabulary written on the spot.
The weights are noise, so renders are noise too; tests check properties (same seed, same bytes), not looks.

    folder = build_tiny_pipeline(tmp / "tiny")                    # a diffusers folder, ~8 MB
    checkpoint = build_tiny_single_file(tmp / "single")           # tiny.safetensors + tiny.config/
    controlnet = build_tiny_controlnet(tmp / "cn", folder / "unet")
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

SEED = 0
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _byte_symbols() -> list[str]:
    """The printable stand-in for each of the 256 bytes that GPT-2 and CLIP byte-level BPE use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def _tiny_tokenizer():
    """Every byte symbol, alone and word-final, plus CLIP's two special tokens; no merges are needed."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.json"
        merges_file = Path(scratch) / "merges.txt"
        vocab_file.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), "utf-8")
        merges_file.write_text("#version: 0.2\n", "utf-8")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77)


def _components() -> dict:
    """The five components of a tiny SD 1.x pipeline; seeded so every build has the same weights."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _tiny_tokenizer()
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(SEED)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
    )
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            layer_norm_eps=1e-5,
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # SD 1.5's own schedule, so the saved config raises no "outdated config" warnings
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def _save_pipeline(components: dict, folder: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.save_pretrained(folder)
    return folder


def build_tiny_pipeline(folder: str | Path) -> Path:
    """Save a tiny SD 1.x pipeline in diffusers format (model_index.json + one subfolder per component)."""
    return _save_pipeline(_components(), Path(folder))


# Diffusers names → original Stable Diffusion ("LDM") names, the layout of single-file checkpoints.
# The inverse of diffusers.loaders.single_file_utils.convert_ldm_*, for SD 1.x-shaped UNets and VAEs
# (block counts and where the cross-attention sits are read from the configs). The single-file test,
# which must paint the folder's exact bytes, is what proves the mapping.

_UNET_RESNET_PARTS = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]


def _unet_prefixes(config) -> list[tuple[str, str]]:
    per = config["layers_per_block"] + 1  # resnets per down block, plus the downsampler's slot
    blocks = len(config["block_out_channels"])
    pairs = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
        ("mid_block.resnets.0.", "middle_block.0."),
        ("mid_block.attentions.0.", "middle_block.1."),
        ("mid_block.resnets.1.", "middle_block.2."),
    ]
    for i in range(blocks):
        for j in range(config["layers_per_block"]):
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{per * i + j + 1}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{per * i + j + 1}.1."))
        pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{per * (i + 1)}.0.op."))
        has_attention = "CrossAttn" in config["up_block_types"][i]
        for j in range(per):
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{per * i + j}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{per * i + j}.1."))
        upsampler_slot = 2 if has_attention else 1
        pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{per * i + per - 1}.{upsampler_slot}."))
    return pairs


def _rename(key: str, prefixes: list[tuple[str, str]]) -> str:
    for new, old in prefixes:
        if key.startswith(new):
            return old + key[len(new) :]
    return key


def _ldm_unet(state: dict, config) -> dict:
    prefixes = _unet_prefixes(config)
    out = {}
    for key, value in state.items():
        name = _rename(key, prefixes)
        if ".resnets." in key:
            for new, old in _UNET_RESNET_PARTS:
                name = name.replace(f".{new}.", f".{old}.")
        out["model.diffusion_model." + name] = value
    return out


def _ldm_vae(state: dict, config) -> dict:
    blocks = len(config["block_out_channels"])
    prefixes = [
        ("encoder.conv_norm_out.", "encoder.norm_out."),
        ("decoder.conv_norm_out.", "decoder.norm_out."),
    ]
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."),
        ]
    for i in range(blocks):
        prefixes.append((f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."))
        prefixes.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        # the decoder's blocks are numbered from the bottom in LDM, from the top in diffusers
        prefixes.append((f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{blocks - 1 - i}.block."))
        prefixes.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{blocks - 1 - i}.upsample."))
    attention = [
        ("group_norm.", "norm."),
        ("to_q.", "q."),
        ("to_k.", "k."),
        ("to_v.", "v."),
        ("to_out.0.", "proj_out."),
    ]
    out = {}
    for key, value in state.items():
        name = _rename(key, prefixes).replace("conv_shortcut", "nin_shortcut")
        if ".attn_1." in name:
            head, tail = name.split(".attn_1.")
            tail = _rename(tail, attention)
            name = f"{head}.attn_1.{tail}"
            if value.ndim == 2:  # LDM keeps the attention projections as 1×1 convolutions
                value = value[:, :, None, None]
        out["first_stage_model." + name] = value
    return out


def _ldm_text_encoder(state: dict) -> dict:
    # transformers ≥ 5.6 dropped the `text_model.` level that SD 1.x checkpoints still spell out
    return {
        "cond_stage_model.transformer." + (k if k.startswith("text_model.") else "text_model." + k): v
        for k, v in state.items()
    }


def build_tiny_single_file(folder: str | Path) -> Path:
    """Save the same tiny pipeline as one original-layout `tiny.safetensors`, plus `tiny.config/` beside it.

    `tiny.config/` is the diffusers config folder (model_index.json, component configs, tokenizer, no
    weights) that `from_single_file(config=...)` needs offline; the backend finds it by that name.
    Built from the same seed as `build_tiny_pipeline`, so both load to identical weights.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    components = _components()
    state = {
        **_ldm_unet(components["unet"].state_dict(), components["unet"].config),
        **_ldm_vae(components["vae"].state_dict(), components["vae"].config),
        **_ldm_text_encoder(components["text_encoder"].state_dict()),
    }
    checkpoint = folder / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint))
    config = _save_pipeline(components, folder / "tiny.config")
    for weights in [p for p in config.rglob("*") if p.suffix in WEIGHT_SUFFIXES]:
        weights.unlink()
    return checkpoint


def build_tiny_controlnet(folder: str | Path, unet_folder: str | Path) -> Path:
    """Save a ControlNet grown from the tiny UNet (`unet_folder` = the pipeline's `unet/` subfolder).

    A fresh ControlNet adds exactly zero to the UNet (its output convolutions start at zero), so they get
    small random weights here: the conditioning image must change the render for tests to see it.
    """
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    folder = Path(folder)
    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    # one stride-2 stage: the tiny VAE shrinks images by 2, so the conditioning must match its latents
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    zeroed = [controlnet.controlnet_cond_embedding.conv_out, controlnet.controlnet_mid_block]
    zeroed += list(controlnet.controlnet_down_blocks)
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for conv in zeroed:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.05)
    controlnet.save_pretrained(folder)
    return folder


def build_tiny_lora(folder: str | Path, model_folder: str | Path, seed: int, *, rank: int = 4) -> Path:
    """A LoRA for the tiny pipeline at `model_folder`: peft adapters on the UNet's attention and the text
    encoder's, random (not the usual zero) so it changes the picture, saved as diffusers saves LoRAs.
    Returns the .safetensors file. The text encoder's adapter is injected with peft itself: transformers'
    `add_adapter` wants a newer peft than PyPI has."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    pipe = StableDiffusionPipeline.from_pretrained(str(model_folder), safety_checker=None)
    torch.manual_seed(seed)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                       target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]), pipe.text_encoder)
    StableDiffusionPipeline.save_lora_weights(
        str(folder),
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet)),
        text_encoder_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.text_encoder)),
        safe_serialization=True,
    )
    return Path(folder) / "pytorch_lora_weights.safetensors"


def build_tiny_ip_adapter(folder: str | Path, unet_folder: str | Path) -> Path:
    """IP-Adapter weights shaped for the tiny UNet at `unet_folder`, as diffusers' own tests build them
    (create_ip_adapter_state_dict: an IPAdapterAttnProcessor's to_k_ip/to_v_ip per cross-attention layer and an
    ImageProjection), random, with a tiny CLIP image encoder in `image_encoder/` beside them, the layout of
    h94/IP-Adapter. Returns the weights file."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import IPAdapterAttnProcessor
    from diffusers.models.embeddings import ImageProjection
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = Path(folder)
    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    width, channels = unet.config.cross_attention_dim, unet.config.block_out_channels
    torch.manual_seed(SEED)
    state, key = {}, 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        block = int(name.split(".")[1]) if not name.startswith("mid_block") else -1
        hidden = channels[-1] if block < 0 else (list(reversed(channels)) if name.startswith("up") else channels)[block]
        layer = IPAdapterAttnProcessor(hidden_size=hidden, cross_attention_dim=width, scale=1.0).state_dict()
        state[f"ip_adapter.{key}.to_k_ip.weight"] = layer["to_k_ip.0.weight"]
        state[f"ip_adapter.{key}.to_v_ip.weight"] = layer["to_v_ip.0.weight"]
        key += 2
    projection = ImageProjection(cross_attention_dim=width, image_embed_dim=32, num_image_text_embeds=4).state_dict()
    state.update({"image_proj.proj.weight": projection["image_embeds.weight"],
                  "image_proj.proj.bias": projection["image_embeds.bias"],
                  "image_proj.norm.weight": projection["norm.weight"], "image_proj.norm.bias": projection["norm.bias"]})
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "ip-adapter_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    torch.manual_seed(SEED)
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        intermediate_size=37, patch_size=4)).save_pretrained(folder / "image_encoder")
    return weights
