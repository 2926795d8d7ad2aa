"""MultiDiffusion img2img (Bar-Tal et al. 2023): paint a picture larger than the model's native window.

The loop follows diffusers' StableDiffusionPanoramaPipeline (`get_views`, `value / count`), made img2img:
the init image is encoded and noised as StableDiffusionImg2ImgPipeline does (same timesteps, same
generator draws), then at every step the UNet, with classifier-free guidance and the ControlNet on the
same window of the control image, predicts the noise of each overlapping latent window; the predictions
are averaged where windows overlap and the scheduler takes one step on the whole latent. The panorama
pipeline steps each window and keeps a scheduler state per window instead; one step on the average keeps
one state (PNDM's and DPM-Solver's history, an ancestral sampler's noise) for the whole picture.

Only the diffusers backend imports this module, and only inside its render path: torch is imported here.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def views(height: int, width: int, window: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the windows covering a height × width latent, row by row.

    Each window is `window` square (cut to the picture where it is smaller); neighbours overlap by at least
    `overlap`, spread evenly so the first window starts at 0 and the last ends at the edge: no partial windows.
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be at least 0 and less than the window ({window}), got {overlap}")

    def spans(size: int) -> list[tuple[int, int]]:
        side = min(window, size)
        if side == size:
            return [(0, size)]
        count = -(-(size - side) // (side - overlap)) + 1
        starts = [round(i * (size - side) / (count - 1)) for i in range(count)]
        return [(start, start + side) for start in starts]

    return [(top, bottom, left, right) for top, bottom in spans(height) for left, right in spans(width)]


@contextmanager
def vae_tiling(vae):
    """The VAE encodes and decodes in tiles inside the block, so memory stays bounded on a large picture;
    its setting before is restored after, so plain renders keep their untiled bytes."""
    before = vae.use_tiling
    vae.enable_tiling()
    try:
        yield
    finally:
        vae.use_tiling = before


@torch.no_grad()
def paint(
    pipe,
    windows: list[tuple[int, int, int, int]],
    *,
    prompt: list[str] | None = None,
    negative_prompt: list[str] | None,
    image: list,
    strength: float,
    num_inference_steps: int,
    guidance_scale: float,
    generator: list[torch.Generator],
    control_image: list | None = None,
    controlnet_conditioning_scale: float = 1.0,
    prompt_embeds=None,
    ip_adapter_image=None,
    output_type: str = "np",
):
    """The img2img pipeline `pipe` (SD 1.x/2.x, ControlNet or not) called with these arguments, but denoised
    window by window over `windows` (latent pixels, see views()). Returns the pipeline's output type.
    `prompt_embeds` stand for `prompt`, as in the pipeline (CLIP skip: prompts.py)."""
    from diffusers.pipelines.stable_diffusion import StableDiffusionPipelineOutput

    device = pipe._execution_device
    controlnet = getattr(pipe, "controlnet", None)
    batch = len(prompt) if prompt is not None else prompt_embeds.shape[0]
    # the pipelines' own rule (do_classifier_free_guidance): guidance-distilled UNets take none
    guided = guidance_scale > 1 and pipe.unet.config.time_cond_proj_dim is None
    f = pipe.vae_scale_factor

    # 1. Encode the prompts; guided, one batch holds the unconditional half first, as in the pipelines
    positive, negative = pipe.encode_prompt(prompt, device, 1, guided, negative_prompt, prompt_embeds=prompt_embeds)
    embeds = torch.cat([negative, positive]) if guided else positive
    added = None
    if ip_adapter_image is not None:  # the IP-Adapter's image tokens, unconditional half first as the prompts
        added = {"image_embeds": pipe.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, batch, guided)}

    # 2. Preprocess the init image and the control image (the whole picture; windows are cut from it)
    init = pipe.image_processor.preprocess(image)
    height, width = init.shape[-2:]
    if controlnet is not None:
        control = pipe.prepare_control_image(
            control_image, width, height, batch, 1, device, controlnet.dtype, do_classifier_free_guidance=guided
        )

    # 3. Timesteps: the last `strength` of the schedule
    pipe.scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps, _ = pipe.get_timesteps(num_inference_steps, strength, device)

    # 4. Encode the init image and noise it to the first of those timesteps, with the pipeline's generator draws
    with vae_tiling(pipe.vae):
        latents = pipe.prepare_latents(init, timesteps[:1].repeat(batch), batch, 1, embeds.dtype, device, generator)
    extra_step_kwargs = pipe.prepare_extra_step_kwargs(generator, 0.0)

    # 5. Denoise: each window's guided noise prediction, averaged where windows overlap, then one step
    value = torch.zeros_like(latents)
    count = torch.zeros_like(latents)
    for t in timesteps:
        value.zero_()
        count.zero_()
        for top, bottom, left, right in windows:
            view = latents[:, :, top:bottom, left:right]
            model_input = pipe.scheduler.scale_model_input(torch.cat([view] * 2) if guided else view, t)
            residuals = {}
            if controlnet is not None:
                down, mid = controlnet(
                    model_input,
                    t,
                    encoder_hidden_states=embeds,
                    controlnet_cond=control[:, :, top * f : bottom * f, left * f : right * f],
                    conditioning_scale=controlnet_conditioning_scale,
                    return_dict=False,
                )
                residuals = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
            noise = pipe.unet(model_input, t, encoder_hidden_states=embeds, added_cond_kwargs=added, return_dict=False,
                              **residuals)[0]
            if guided:
                unconditional, conditional = noise.chunk(2)
                noise = unconditional + guidance_scale * (conditional - unconditional)
            value[:, :, top:bottom, left:right] += noise
            count[:, :, top:bottom, left:right] += 1
        # the windows cover the latent, so count is at least 1 everywhere
        latents = pipe.scheduler.step(value / count, t, latents, **extra_step_kwargs, return_dict=False)[0]

    # 6. Decode the whole latent, then the pipeline's safety check and conversion
    with vae_tiling(pipe.vae):
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False, generator=generator)[0]
    decoded, flagged = pipe.run_safety_checker(decoded, device, embeds.dtype)
    denormalize = [True] * batch if flagged is None else [not hit for hit in flagged]
    images = pipe.image_processor.postprocess(decoded, output_type=output_type, do_denormalize=denormalize)
    return StableDiffusionPipelineOutput(images=images, nsfw_content_detected=flagged)


# -- the transformer families: MultiDiffusion inside the pipeline's own loop -----------------------------------
#
# A flow-matching pipeline's loop (its guidance: embedded, classifier-free or Qwen-Image's true CFG with its
# renormalisation; its shifted schedule) is left as it is: only its transformer is made to predict the whole
# latent window by window. Each window is cut from the latent, given position ids of its own (a window painted
# alone would have them), predicted, and the predictions averaged where windows overlap; the pipeline then takes
# one scheduler step on the whole latent, as the UNet loop above does. How a window is cut depends on how the
# family lays out its latent: LAYOUTS.


def _packed_cut(sample, grid, box):
    """(B, (H/2)(W/2), D) 2×2-patch tokens in rows (Flux, Qwen-Image) → the tokens of a window's box."""
    top, bottom, left, right = (v // 2 for v in box)
    tokens = sample.view(sample.shape[0], grid[0] // 2, grid[1] // 2, -1)[:, top:bottom, left:right]
    return tokens.reshape(sample.shape[0], -1, sample.shape[-1])


def _packed_add(total, prediction, grid, box):
    top, bottom, left, right = (v // 2 for v in box)
    view = total.view(total.shape[0], grid[0] // 2, grid[1] // 2, -1)
    view[:, top:bottom, left:right] += prediction.view(total.shape[0], bottom - top, right - left, -1)


def _packed_ids(kwargs, grid, box):
    """The window's own position ids: Flux's img_ids cut to the box and moved to start at 0, Qwen-Image's image
    shapes made the box's."""
    top, bottom, left, right = (v // 2 for v in box)
    out = dict(kwargs)
    if kwargs.get("img_ids") is not None:
        ids = kwargs["img_ids"].view(grid[0] // 2, grid[1] // 2, -1)[top:bottom, left:right].reshape(-1, 3).clone()
        ids[:, 1] -= top
        ids[:, 2] -= left
        out["img_ids"] = ids
    if kwargs.get("img_shapes") is not None:
        out["img_shapes"] = [[(1, bottom - top, right - left)] for _ in kwargs["img_shapes"]]
    # a FLUX.1 ControlNet's residuals, predicted on the whole latent, are tokens laid out as the latent's
    for key in ("controlnet_block_samples", "controlnet_single_block_samples"):
        if kwargs.get(key) is not None:
            out[key] = [_packed_cut(sample, grid, box) for sample in kwargs[key]]
    return out


def _spatial_cut(sample, grid, box):
    top, bottom, left, right = box
    return sample[..., top:bottom, left:right]


def _spatial_add(total, prediction, grid, box):
    top, bottom, left, right = box
    total[..., top:bottom, left:right] += prediction


#: per layout: where the latent is in the call (keyword, else the first positional), how a window is cut from it
#: and added back, and the window's other arguments (its position ids)
LAYOUTS = {
    "packed": ("hidden_states", _packed_cut, _packed_add, _packed_ids),  # FLUX.1, Qwen-Image
    "spatial": ("hidden_states", _spatial_cut, _spatial_add, lambda kwargs, grid, box: kwargs),  # SD 3.5
    "list": ("x", _spatial_cut, _spatial_add, lambda kwargs, grid, box: kwargs),  # Z-Image: one (C, F, H, W) a picture
}


@contextmanager
def windowed(denoiser, layout: str, grid: tuple[int, int], windows: list[tuple[int, int, int, int]], on_call=None):
    """Within the block, `denoiser` (a pipeline's transformer) predicts a `grid` (H, W latent pixels) latent window
    by window over `windows` and returns the average where they overlap. `on_call(sample)` is told each window's
    input, as a forward hook would be."""
    key, cut, add, ids = LAYOUTS[layout]
    forward = denoiser.forward

    def by_windows(*args, **kwargs):
        listed = key not in kwargs
        sample = args[0] if listed else kwargs[key]
        pictures = sample if isinstance(sample, list) else [sample]
        total = [torch.zeros_like(p) for p in pictures]
        count = [torch.zeros_like(p) for p in pictures]
        for box in windows:
            part = [cut(p, grid, box) for p in pictures]
            part_input = part if isinstance(sample, list) else part[0]
            window_kwargs = ids(kwargs, grid, box)
            if listed:
                call_args = (part_input, *args[1:])
            else:
                call_args, window_kwargs = args, {**window_kwargs, key: part_input}
            if on_call is not None:
                on_call(part_input)
            prediction = forward(*call_args, **{**window_kwargs, "return_dict": False})[0]
            for i, predicted in enumerate(prediction if isinstance(prediction, list) else [prediction]):
                add(total[i], predicted, grid, box)
                add(count[i], torch.ones_like(predicted), grid, box)
        # the windows cover the latent, so count is at least 1 everywhere
        averaged = [t / c for t, c in zip(total, count, strict=True)]
        return (averaged if isinstance(sample, list) else averaged[0],)

    denoiser.forward = by_windows
    try:
        yield
    finally:
        del denoiser.forward  # the class's own forward again
