"""Sheets painted in overlapping windows (MultiDiffusion) by the diffusers backend, on the tiny model.

The tiny model's window is 32 latent pixels (64 image pixels: its VAE halves each side). It paints noise
that ignores its init image, so these tests check properties, never looks: a sheet of one window is the
plain pipeline's bytes; the window loop itself reproduces the pipelines bit for bit; three windows show no
seam where a naive tiling does; bytes repeat across processes; the VAE sees the sheet only in tiles.
Torch runs on one thread here: the thread count is part of what decides the bytes.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from shotrender.backends.diffusers import DiffusersBackend
from shotrender.errors import BackendError
from test_diffusers_backend import digest, hashes_in_two_processes, layout, request

TESTS = Path(__file__).parent
#: three 64 px windows overlapping by the default quarter window, 16 px: 64 + 2 × (64 − 16)
SHEET_WIDTH = 160
#: where windows start and end inside the sheet, in image pixels
BORDERS = (48, 64, 96, 112)
WINDOW_SPANS = ((0, 64), (48, 112), (96, 160))
#: the tiny VAE's scale: each latent pixel is 2 × 2 image pixels
FACTOR = 2

pytestmark = pytest.mark.usefixtures("one_torch_thread", "hash_cache")


def sheet_request(**changes):
    """A 160×64 sheet, three windows wide; keyword arguments override fields."""
    art = layout(width=SHEET_WIDTH, height=64)
    return request(**{"init_image": art, "layout": art, "width": SHEET_WIDTH, "extra": {"sheet": True}, **changes})


def naive_tiling(backend: DiffusersBackend, seed: int) -> np.ndarray:
    """The sheet's windows each painted on their own as a plain 64×64 render, pasted left to right."""
    art = layout(width=SHEET_WIDTH, height=64)
    pasted = np.zeros((64, SHEET_WIDTH, 3), np.uint8)
    for left, right in WINDOW_SPANS:
        crop = np.ascontiguousarray(art[:, left:right])
        pasted[:, left:right] = backend.render(request(init_image=crop, layout=crop, seed=seed))
    return pasted


def seam_ratios(images: list[np.ndarray], borders=BORDERS, factor: int = FACTOR) -> dict[int, float]:
    """Gradient energy at the window borders over gradient energy elsewhere, pooled over `images`.

    For the horizontal pixel step just before (-1), across (0) and just after (1) each border: the mean
    |∇x| there, over the mean |∇x| at every other step of the same phase. Same phase, because the tiny VAE
    turns each latent pixel into 2 × 2 image pixels and a step between latent pixels (as every step across
    a border is) is larger than a step inside one. Pooled over several paints because the tiny model's
    output is noise: one 64-row picture's border columns alone vary by about ±5 % from paint to paint.
    """
    profile = np.mean([np.abs(np.diff(image.astype(np.float64), axis=1)).mean(axis=(0, 2)) for image in images], axis=0)
    step = np.arange(profile.size)  # step i goes from column i to column i + 1
    ratios = {}
    for offset in (-1, 0, 1):
        at_border = np.isin(step, [border - 1 + offset for border in borders])
        same_phase = (step - (borders[0] - 1 + offset)) % factor == 0
        ratios[offset] = float(profile[at_border].mean() / profile[same_phase & ~at_border].mean())
    return ratios


def within(ratios: dict[int, float], tolerance: float = 1.05) -> bool:
    return all(1 / tolerance <= ratio <= tolerance for ratio in ratios.values())


def uint8(image: np.ndarray) -> np.ndarray:
    """The backend's conversion of a pipeline's float output."""
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def backend(tiny_model):
    loaded = DiffusersBackend(str(tiny_model))
    loaded.load()
    return loaded


@pytest.fixture(scope="module")
def steered(tiny_model, tiny_controlnet):
    loaded = DiffusersBackend(str(tiny_model), controlnet=str(tiny_controlnet))
    loaded.load()
    return loaded


# -- the windows -------------------------------------------------------------------------------


def test_three_windows_overlap_by_a_quarter_and_end_at_the_edge():
    from shotrender.backends.diffusers.tiled import views

    assert views(32, 80, 32, 8) == [(0, 32, 0, 32), (0, 32, 24, 56), (0, 32, 48, 80)]


@pytest.mark.parametrize(
    "size, window, overlap",
    [(80, 32, 8), (81, 32, 8), (100, 32, 8), (33, 32, 0), (32, 32, 8), (20, 32, 8), (200, 64, 63)],
)
def test_windows_are_whole_cover_the_picture_and_overlap_enough(size, window, overlap):
    from shotrender.backends.diffusers.tiled import views

    windows = views(size, size, window, overlap)
    side = min(window, size)
    columns = sorted({(left, right) for _, _, left, right in windows})
    assert {(top, bottom) for top, bottom, _, _ in windows} == set(columns)
    assert len(windows) == len(columns) ** 2
    assert all(right - left == side for left, right in columns)
    assert columns[0][0] == 0 and columns[-1][1] == size
    for (_, end), (start, _) in zip(columns, columns[1:], strict=False):
        assert end - start >= overlap


# -- one window: the plain pipeline --------------------------------------------------------------


def test_sheet_of_one_window_is_the_plain_pipeline_call(tiny_model, backend):
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline
    from PIL import Image

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(str(tiny_model), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def direct(r) -> np.ndarray:
        output = pipe(
            prompt=[r.prompt],
            negative_prompt=[r.negative],
            image=[Image.fromarray(r.init_image)],
            strength=r.strength,
            num_inference_steps=r.steps,
            guidance_scale=r.guidance,
            generator=[torch.Generator().manual_seed(r.seed)],
            output_type="np",
        )
        return uint8(output.images[0])

    one = backend.render(request(extra={"sheet": True}))
    assert backend.last_work["windows"] == 1
    assert digest(one) == digest(backend.render(request())) == digest(direct(request()))
    # a frame wider than a window, not flagged as a sheet, is the plain call as before: its bytes stay
    wide = sheet_request(extra={})
    assert digest(backend.render(wide)) == digest(direct(wide))
    assert backend.last_work["windows"] == 1


@pytest.mark.parametrize("controlnet", [False, True], ids=["sd", "controlnet"])
def test_window_loop_over_one_window_is_the_pipeline_bit_for_bit(backend, steered, controlnet, monkeypatch):
    """The loop's encoding, noise, timesteps, guidance and ControlNet are the pipeline's own."""
    from shotrender.backends.diffusers import tiled

    painter = steered if controlnet else backend
    plain = painter.render(request())
    # the pipeline does not tile its VAE; the loop does, and the tiny VAE's tiles are 32 px, so here
    # they are made as large as the picture to leave nothing but the loop to compare
    monkeypatch.setattr(painter._pipe.vae, "tile_sample_min_size", 64)
    monkeypatch.setattr(painter._pipe.vae, "tile_latent_min_size", 32)
    output = tiled.paint(painter._pipe, [(0, 32, 0, 32)], **painter._arguments([request()]))
    assert digest(uint8(output.images[0])) == digest(plain)


# -- three windows -------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_window_sheet_has_no_seam_where_a_naive_tiling_has(backend):
    seeds = range(8)
    sheets = []
    for seed in seeds:
        sheets.append(backend.render(sheet_request(seed=seed)))
        assert backend.last_work["windows"] == 3
    seamless = seam_ratios(sheets)
    assert within(seamless), seamless
    # the check can fail: windows painted apart and pasted show their borders (smoother inside a window's
    # edge, a jump across it)
    seamed = seam_ratios([naive_tiling(backend, seed) for seed in seeds])
    assert not within(seamed), seamed


def test_controlnet_steers_each_window_with_its_part_of_the_control_image(backend, steered):
    seen = []
    hook = steered._pipe.controlnet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(tuple(kwargs["controlnet_cond"].shape[-2:])), with_kwargs=True
    )
    try:
        with_lines = steered.render(sheet_request())
    finally:
        hook.remove()
    assert set(seen) == {(64, 64)} and len(seen) == 3 * 3  # three windows at each of the three steps
    assert digest(with_lines) == digest(steered.render(sheet_request()))
    assert digest(with_lines) != digest(backend.render(sheet_request()))
    other_lines = layout((8, 30, 50), width=SHEET_WIDTH)
    assert digest(with_lines) != digest(steered.render(sheet_request(layout=other_lines)))


def test_large_sheet_goes_through_the_vae_in_tiles(backend):
    vae = backend._pipe.vae
    seen = {"encoder": [], "decoder": []}
    hooks = [
        getattr(vae, part).register_forward_pre_hook(lambda module, args, part=part: seen[part].append(args[0].shape))
        for part in seen
    ]
    try:
        image = backend.render(sheet_request())
        tiled = {part: list(shapes) for part, shapes in seen.items()}
        seen["encoder"].clear()
        seen["decoder"].clear()
        backend.render(sheet_request(extra={}))
    finally:
        for hook in hooks:
            hook.remove()
    assert image.shape == (64, SHEET_WIDTH, 3)
    # the sheet never reaches the VAE whole: each pass sees one tile at most (memory bounded by the tile)
    assert len(tiled["encoder"]) > 1 and len(tiled["decoder"]) > 1
    assert max(max(shape[-2:]) for shape in tiled["encoder"]) <= vae.tile_sample_min_size
    assert max(max(shape[-2:]) for shape in tiled["decoder"]) <= vae.tile_latent_min_size
    # and tiling is off again after it: a frame of the same size goes through whole, as before
    assert not vae.use_tiling
    assert [tuple(shape[-2:]) for shape in seen["decoder"]] == [(32, 80)]


@pytest.mark.slow
def test_same_sheet_bytes_in_separate_processes(tiny_model, backend, tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "import hashlib\n"
        "from test_tiled import sheet_request\n"
        "from shotrender.backends.diffusers import DiffusersBackend\n"
        f"backend = DiffusersBackend({str(tiny_model)!r})\n"
        "image = backend.render(sheet_request())\n"
        "assert backend.last_work['windows'] == 3, backend.last_work\n"
        "print(hashlib.sha256(image.tobytes()).hexdigest())\n"
    )
    assert hashes_in_two_processes(code, tmp_path) == {digest(backend.render(sheet_request()))}


# -- the work counter and the options ----------------------------------------------------------------


def test_work_counter_counts_unet_evaluations_and_their_latent_pixels(backend):
    # PNDM's schedule for 4 steps has 5 timesteps; strength 0.5 keeps the last 3; guidance doubles each
    evaluations = 3 * 2
    backend.render(request())
    assert backend.last_work == {"unet_evaluations": evaluations, "latent_pixels": evaluations * 32 * 32, "windows": 1}
    backend.render(sheet_request())
    assert backend.last_work == {
        "unet_evaluations": 3 * evaluations,
        "latent_pixels": 3 * evaluations * 32 * 32,
        "windows": 3,
    }
    backend.render(sheet_request(extra={}))
    assert backend.last_work == {"unet_evaluations": evaluations, "latent_pixels": evaluations * 80 * 32, "windows": 1}
    backend.render_batch([request(), request(seed=78)])
    assert backend.last_work["unet_evaluations"] == 2 * evaluations


def test_window_and_overlap_are_settable(backend):
    default = backend.render(sheet_request())
    assert backend.last_work["windows"] == 3
    backend.render(sheet_request(extra={"sheet": True, "tile_overlap": 32}))
    assert backend.last_work["windows"] == 4  # 160 px in 64 px windows overlapping by at least 32 px
    smaller = backend.render(sheet_request(extra={"sheet": True, "tile_window": 48, "tile_overlap": 16}))
    assert backend.last_work["windows"] == 5 * 2  # 48 px windows: five across, two down the 64 px
    assert digest(smaller) != digest(default)
    whole = backend.render(sheet_request(extra={"sheet": True, "tile_window": SHEET_WIDTH}))
    assert backend.last_work["windows"] == 1
    assert digest(whole) == digest(backend.render(sheet_request(extra={})))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"tile_window": 63}, "tile_window must be a whole, non-negative number of pixels, a multiple of 2"),
        ({"tile_overlap": -2}, "tile_overlap must be a whole, non-negative number"),
        ({"tile_overlap": 16.0}, "tile_overlap must be a whole, non-negative number"),
        ({"tile_overlap": 64}, "tile_overlap (64) must be less than tile_window (64)"),
    ],
)
def test_bad_window_settings_are_refused_before_painting(backend, extra, message):
    with pytest.raises(ValueError) as refused:
        backend.render(sheet_request(extra={"sheet": True, **extra}))
    assert message in str(refused.value) and "cut C001" in str(refused.value)


def test_sdxl_sheet_larger_than_a_window_is_refused_with_a_way_out(tiny_model):
    from shotrender.backends.diffusers.families import FAMILIES

    sdxl = DiffusersBackend(str(tiny_model))
    sdxl.family = FAMILIES["sdxl"]
    sdxl._pipe = SimpleNamespace(
        vae_scale_factor=8, unet=SimpleNamespace(config=SimpleNamespace(sample_size=128)), text_encoder_2=object()
    )
    wide = sheet_request(width=3072, height=1024)
    with pytest.raises(BackendError, match="not done for SDXL.*tile_window at least as large as the sheet"):
        sdxl._windows(wide)
    assert len(sdxl._windows(sheet_request(width=1024, height=1024))) == 1
