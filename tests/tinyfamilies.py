"""Tiny random-weight pipelines of the flow-matching transformer families (Flux, SD 3.5, Qwen-Image, Z-Image),
built as diffusers' own fast tests build theirs, with tokenizers written on the spot (no network).

The VAEs have four blocks (a scale factor of 8) and 16 latent channels, as the real models do, so the
pipelines' size rule is the real one: sides multiples of 16. Weights are noise; tests check properties.

    folder = build_tiny_family("flux", tmp / "flux")     # a diffusers folder with model_index.json
"""

from __future__ import annotations

from pathlib import Path

from tinymodel import SEED, _byte_symbols, _tiny_tokenizer

FAMILIES = ("flux", "sd3", "qwen-image", "z-image")
WIDTH = 32  # the text encoders' and the transformers' width


def _byte_vocab(specials: list[str]) -> dict[str, int]:
    return {t: i for i, t in enumerate([*_byte_symbols(), *specials])}


def _t5_tokenizer():
    """A T5 (Unigram) tokenizer over the byte symbols, made from a list of pieces: no sentencepiece file."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(chr(c), -1.0) for c in range(32, 127)] + [("▁", -1.0)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def _qwen_tokenizer():
    """A Qwen2 byte-level BPE tokenizer with its chat tokens and a chat template, no merges needed."""
    from transformers import Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Qwen2Tokenizer(vocab=_byte_vocab(specials), merges=[], model_max_length=1024)
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return tokenizer


def _vae(**extra):
    """AutoencoderKL with four blocks (scale 8) and 16 latent channels, narrow."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(SEED)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        norm_num_groups=4, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        sample_size=64, **extra,
    )


def _clip(with_projection: bool):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _tiny_tokenizer()
    config = CLIPTextConfig(hidden_size=WIDTH, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                            projection_dim=WIDTH, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(SEED)
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config), tokenizer


def _t5():
    import torch
    from transformers import T5Config, T5EncoderModel

    tokenizer = _t5_tokenizer()
    torch.manual_seed(SEED)
    encoder = T5EncoderModel(T5Config(d_model=WIDTH, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                      vocab_size=len(tokenizer), decoder_start_token_id=0))
    return encoder, tokenizer


def _flux() -> object:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    clip, clip_tokenizer = _clip(with_projection=False)
    t5, t5_tokenizer = _t5()
    torch.manual_seed(SEED)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=WIDTH,
                                         pooled_projection_dim=WIDTH, guidance_embeds=True, axes_dims_rope=(4, 4, 8))
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
                        vae=_vae(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
                                 use_post_quant_conv=False),
                        text_encoder=clip, tokenizer=clip_tokenizer, text_encoder_2=t5, tokenizer_2=t5_tokenizer,
                        transformer=transformer)


def _sd3() -> object:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    clip_l, tokenizer = _clip(with_projection=True)
    clip_g, tokenizer_2 = _clip(with_projection=True)
    t5, tokenizer_3 = _t5()
    torch.manual_seed(SEED)
    transformer = SD3Transformer2DModel(sample_size=32, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=WIDTH,
                                        caption_projection_dim=WIDTH, pooled_projection_dim=2 * WIDTH,
                                        pos_embed_max_size=96, qk_norm="rms_norm", dual_attention_layers=(0,))
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae(shift_factor=0.0609, scaling_factor=1.5305, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=clip_l, tokenizer=tokenizer, text_encoder_2=clip_g, tokenizer_2=tokenizer_2,
        text_encoder_3=t5, tokenizer_3=tokenizer_3)


def _z_image() -> object:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = _qwen_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = Qwen3Model(Qwen3Config(hidden_size=WIDTH, intermediate_size=37, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                          vocab_size=len(tokenizer), max_position_embeddings=1024))
    torch.manual_seed(SEED)
    transformer = ZImageTransformer2DModel(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32,
                                           n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2,
                                           cap_feat_dim=WIDTH, axes_dims=[8, 4, 4], axes_lens=[256, 64, 64])
    return ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                          vae=_vae(shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False,
                                   use_post_quant_conv=False),
                          text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)


def _qwen_image() -> object:
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = _qwen_tokenizer()
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": WIDTH, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "vocab_size": len(tokenizer), "max_position_embeddings": 1024,
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2], "rope_type": "default"}},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": WIDTH,
                       "fullatt_block_indexes": [0]},
        vocab_size=len(tokenizer))
    torch.manual_seed(SEED)
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    torch.manual_seed(SEED)
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=64, out_channels=16, num_layers=2,
                                              attention_head_dim=16, num_attention_heads=2, joint_attention_dim=WIDTH,
                                              axes_dims_rope=(8, 4, 4))
    torch.manual_seed(SEED)
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                 temperal_downsample=[False, True, True], latents_mean=[0.0] * 16,
                                 latents_std=[1.0] * 16)
    return QwenImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
                             vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)


BUILDERS = {"flux": _flux, "sd3": _sd3, "qwen-image": _qwen_image, "z-image": _z_image}


def build_tiny_family(family: str, folder: str | Path) -> Path:
    """Save a tiny text-to-image pipeline of `family` in diffusers format; its img2img and inpainting
    pipelines load from the same folder, as from a real model's."""
    folder = Path(folder)
    BUILDERS[family]().save_pretrained(folder)
    return folder


def tiny_kontext(flux_folder: str | Path, folder: str | Path) -> Path:
    """A tiny FLUX.1 Kontext (an instruction-editing model) from the tiny FLUX.1 folder: the same components under
    FluxKontextPipeline, as diffusers' own Kontext tests build it (their get_dummy_components are FLUX.1's)."""
    import json
    import shutil

    folder = Path(folder)
    shutil.copytree(flux_folder, folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "FluxKontextPipeline"}, indent=2))
    return folder


def build_tiny_flux_controlnet(folder: str | Path) -> Path:
    """A tiny FLUX.1 ControlNet for the tiny FLUX.1 (its widths, one block of each kind), random weights, as
    diffusers' FLUX.1 ControlNet tests build theirs; its zero-initialised output layers made random too, so that
    it changes the picture."""
    import torch
    from diffusers import FluxControlNetModel

    torch.manual_seed(SEED + 2)
    controlnet = FluxControlNetModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                     attention_head_dim=16, num_attention_heads=2, joint_attention_dim=WIDTH,
                                     pooled_projection_dim=WIDTH, guidance_embeds=True, axes_dims_rope=(4, 4, 8))
    with torch.no_grad():
        for name, parameter in controlnet.named_parameters():
            if "controlnet" in name and not parameter.any():
                parameter.normal_(0, 0.2)
    controlnet.save_pretrained(folder)
    return Path(folder)


def build_tiny_flux_lora(folder: str | Path, model_folder: str | Path, *, rank: int = 4) -> Path:
    """A LoRA for the tiny FLUX.1 pipeline at `model_folder`: random peft adapters on its transformer's attention
    (not the usual zeros, so it changes the picture), saved as diffusers saves FLUX.1 LoRAs. Returns the file."""
    import torch
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig, get_peft_model_state_dict

    transformer = FluxTransformer2DModel.from_pretrained(Path(model_folder) / "transformer")
    torch.manual_seed(SEED + 1)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    FluxPipeline.save_lora_weights(str(folder), transformer_lora_layers=get_peft_model_state_dict(transformer),
                                   safe_serialization=True)
    return Path(folder) / "pytorch_lora_weights.safetensors"
