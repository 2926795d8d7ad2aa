"""Prompt embeddings with CLIP skip for SD 1.x/2.x pipelines.

diffusers' SD pipelines apply `clip_skip` through `text_encoder.text_model.final_layer_norm`, which
transformers 5 flattened away (CLIPTextModel has `final_layer_norm` itself now), so the pipeline's own
`clip_skip` fails there. This is the same computation, reading the layer norm from where it is; the
pipeline then gets `prompt_embeds` instead of `prompt`. SDXL pipelines skip without a layer norm and take
`clip_skip` as it is.
"""

from __future__ import annotations


def skipped_embeds(pipe, prompts: list[str], skip: int):
    """The prompts' embeddings from the text encoder's hidden state `skip` layers before the last, layer-normed,
    as StableDiffusionImg2ImgPipeline.encode_prompt computes them for `clip_skip=skip`."""
    import torch

    encoder = pipe.text_encoder
    tokens = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                            truncation=True, return_tensors="pt")
    device = pipe._execution_device
    mask = tokens.attention_mask.to(device) if getattr(encoder.config, "use_attention_mask", False) else None
    with torch.no_grad():
        hidden = encoder(tokens.input_ids.to(device), attention_mask=mask, output_hidden_states=True).hidden_states
        norm = encoder.text_model.final_layer_norm if hasattr(encoder, "text_model") else encoder.final_layer_norm
        return norm(hidden[-(skip + 1)]).to(dtype=encoder.dtype, device=device)
