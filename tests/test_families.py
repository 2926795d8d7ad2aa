"""The flow-matching transformer families (#30): FLUX.1, SD 3/3.5, Qwen-Image and Z-Image, on tiny random-weight
pipelines of each (tests/tinyfamilies.py: 16 latent channels, a VAE scale of 8, so the real 16-pixel size rule).

Recognition and validate's rules need no torch; the backend's properties are bytes (same request, same bytes;
a window sheet of one window is the plain call; padding cut off), never looks: the weights are noise.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shotrender.backends.diffusers import DiffusersBackend, families
from shotrender.errors import ModelError, UsageError
from shotrender.model_settings import BackendOptions
from test_diffusers_backend import digest, layout, request
from test_tiled import BORDERS, SHEET_WIDTH, naive_tiling, seam_ratios

from helpers import cut, draw_layout, episode, write_shotlist

pytestmark = pytest.mark.usefixtures("one_torch_thread", "hash_cache")

FAMILIES = ("flux", "sd3", "qwen-image", "z-image")
#: the tiny families' windows: 64 px (8 latent pixels, 4 patches), as the tiny SD model's
WINDOW = {"tile_window": 64}


@pytest.fixture(scope="session")
def tiny_families(tmp_path_factory):
    """A diffusers folder of each tiny family, built once."""
    from tinyfamilies import build_tiny_family

    root = tmp_path_factory.mktemp("families")
    return {name: build_tiny_family(name, root / name) for name in FAMILIES}


@pytest.fixture(scope="module")
def backends(tiny_families):
    """Each family's backend, loaded on first use and kept for the module."""
    made = {}

    def get(name: str) -> DiffusersBackend:
        if name not in made:
            made[name] = DiffusersBackend(str(tiny_families[name]), device="cpu")
            made[name].load()
        return made[name]

    return get


def family_request(**changes):
    """64×64 at 4 steps and strength 0.5: the last 2 steps of the schedule run from the init image."""
    return request(**{"guidance": 3.5, **changes})


def _cli(*args, code: int = 0):
    """One command in this process (no interpreter to start, torch imported once), exiting with `code`."""
    from click.testing import CliRunner

    from shotrender.cli import cli

    done = CliRunner().invoke(cli, [str(a) for a in args])
    assert done.exit_code == code, done.output
    return done


# -- recognition: no torch -------------------------------------------------------------------------


def test_each_family_is_recognised_from_its_model_index(tiny_families, tiny_model):
    for name, folder in tiny_families.items():
        assert families.recognise(str(folder)).name == name
    assert families.recognise(str(tiny_model)).name == "sd"


def _index_only(folder, pipeline, transformer):
    """A model folder with only its model_index.json: a `pipeline` whose transformer is a `transformer`."""
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": pipeline, "transformer": ["diffusers", transformer]}))
    return str(folder)


def test_an_editing_model_or_another_transformer_is_refused_by_name(tmp_path):
    kontext = _index_only(tmp_path / "kontext", "FluxKontextPipeline", "FluxTransformer2DModel")
    with pytest.raises(ModelError, match="FLUX.1 Kontext .* instruction-editing"):
        families.recognise(kontext)
    assert families.editor(kontext).name == "flux-kontext"  # what a retake_model: takes
    other = _index_only(tmp_path / "wan", "WanPipeline", "WanTransformer3DModel")
    with pytest.raises(ModelError, match="WanTransformer3DModel, a model family this backend does not paint"):
        families.recognise(other)
    with pytest.raises(ModelError, match="is a WanPipeline, not an instruction-editing model"):
        families.editor(other)


def _header_only(path, keys):
    """A .safetensors file whose header lists `keys` (shape [1], float32) and whose data is zeros."""
    header = {key: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, key in enumerate(keys)}
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(4 * len(keys)))
    return path


def test_a_single_file_is_recognised_from_its_header(tmp_path, tiny_single_file):
    flux = _header_only(tmp_path / "flux1-dev.safetensors",
                        ["model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale"])
    sd3 = _header_only(tmp_path / "sd35.safetensors", ["joint_blocks.0.context_block.adaLN_modulation.1.bias"])
    assert families.recognise(str(flux)).name == "flux"
    assert families.recognise(str(sd3)).name == "sd3"
    assert families.recognise(str(tiny_single_file)) is None  # SD: the backend reads its type when it loads


# -- validate: the family's rules before any model loads ----------------------------------------------


def _shotlist(tmp_path, model, **top):
    data = episode([cut("C001")], **{"size": [128, 64], "model": str(model), **top})
    return write_shotlist(tmp_path, data, width=data["size"][0], height=data["size"][1])


def test_validate_refuses_a_size_off_16_with_its_line_and_a_size_that_fits(tmp_path, tiny_families):
    path = _shotlist(tmp_path, tiny_families["flux"], size=[128, 72])
    result = _cli("validate", path, code=2)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("size:"))
    assert f"{path}:{line}: size: 128x72: FLUX.1 paints sizes whose sides are multiples of 16" in result.stderr
    assert "e.g. [256, 144]" in result.stderr  # the nearest size of 16s with the layouts' aspect (16:9)


def test_validate_refuses_what_a_family_cannot_take(tmp_path, tiny_families):
    path = _shotlist(tmp_path, tiny_families["sd3"], scheduler="euler", clip_skip=2,
                     continuity={"tile": 72})
    result = _cli("validate", path, code=2)
    assert "`scheduler` is not for Stable Diffusion 3/3.5 models here" in result.stderr
    assert "`clip_skip` is not for Stable Diffusion 3/3.5 models here" in result.stderr
    assert "tile 72 is not a multiple of 16" in result.stderr
    # the same model with a size and settings it takes is valid
    ok = _shotlist(tmp_path / "ok", tiny_families["sd3"])
    _cli("validate", ok)


def test_flux_warns_that_a_negative_prompt_has_no_effect(tmp_path, tiny_families):
    data = episode([cut("C001")], size=[128, 64], model=str(tiny_families["flux"]))
    data["defaults"]["negative"] = "people"
    path = write_shotlist(tmp_path, data, width=128, height=64)
    result = _cli("validate", path)
    assert "warning:" in result.stderr and "FLUX.1 takes no negative prompt" in result.stderr


def test_the_backend_refuses_a_setting_its_family_cannot_take(tiny_families, tmp_path):
    with pytest.raises(UsageError, match="`scheduler` is not for Qwen-Image"):
        DiffusersBackend(str(tiny_families["qwen-image"]), options=BackendOptions(scheduler="euler"))


def test_the_family_is_in_the_cache_key_and_sd_keys_stay_as_they_were(tiny_families, tiny_model):
    flux = DiffusersBackend(str(tiny_families["flux"])).identity()
    assert (flux["family"], flux["pipeline"], flux["multiple"]) == ("flux", "FluxImg2ImgPipeline", 16)
    assert "family" not in DiffusersBackend(str(tiny_model)).identity()


# -- painting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_paints_with_its_own_pipeline_and_repeats_its_bytes(backends, name):
    backend = backends(name)
    assert backend.describe()["pipeline"] == families.FAMILIES[name].img2img
    assert backend.describe()["family"] == name
    first = backend.render(family_request())
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert digest(backend.render(family_request())) == digest(first)
    assert digest(backend.render(family_request(seed=78))) != digest(first)
    # the init image is kept: 2 of 4 steps run from it, and another init image changes the picture
    assert digest(backend.render(family_request(layout=layout((9, 40), width=64)))) != digest(first)


def test_a_size_off_the_families_16_is_painted_padded_and_cut_back(backends):
    backend = backends("flux")
    art = layout(width=72, height=56)
    image = backend.render(family_request(init_image=art, layout=art, width=72, height=56))
    assert image.shape == (56, 72, 3)
    assert backend.last_work["latent_pixels"] == backend.last_work["unet_evaluations"] * 10 * 8  # 80×64 painted


def test_guidance_means_what_the_family_says(backends):
    # Flux: one prediction a step, the guidance embedded; SD 3: two (classifier-free); Qwen-Image: two, a
    # negative prompt made up when there is none, so that guidance has an effect
    expected = {"flux": 2, "sd3": 4, "qwen-image": 4, "z-image": 4}
    for name, evaluations in expected.items():
        backend = backends(name)
        backend.render(family_request(negative=""))
        assert backend.last_work["unet_evaluations"] == evaluations, name
    qwen = backends("qwen-image")
    assert digest(qwen.render(family_request(negative=""))) != digest(qwen.render(family_request(negative="",
                                                                                                  guidance=1.0)))


@pytest.mark.parametrize("name", FAMILIES)
def test_a_sheet_of_one_window_is_the_plain_call_and_a_wider_one_goes_in_windows(backends, name):
    backend = backends(name)
    assert digest(backend.render(family_request(extra={"sheet": True, **WINDOW}))) == digest(
        backend.render(family_request()))
    art = layout(width=SHEET_WIDTH, height=64)
    sheet = family_request(init_image=art, layout=art, width=SHEET_WIDTH, extra={"sheet": True, **WINDOW})
    image = backend.render(sheet)
    assert image.shape == (64, SHEET_WIDTH, 3) and backend.last_work["windows"] == 3
    assert digest(backend.render(sheet)) == digest(image)
    plain = backend.render(family_request(init_image=art, layout=art, width=SHEET_WIDTH))
    assert digest(plain) != digest(image)


@pytest.mark.slow
def test_windows_of_a_transformer_family_show_no_seam(backends):
    """The seam measure of test_tiled, for the packed latents of FLUX.1: gradient energy at the window borders
    over elsewhere within 0.9–1.1, pooled over seeds; windows painted apart and pasted are outside it."""
    backend = backends("flux")
    art = layout(width=SHEET_WIDTH, height=64)
    seeds = range(6)

    def sheet(seed):
        return backend.render(family_request(init_image=art, layout=art, width=SHEET_WIDTH, seed=seed,
                                             extra={"sheet": True, **WINDOW}))

    seamless = seam_ratios([sheet(seed) for seed in seeds], BORDERS, factor=8)
    assert all(0.9 <= ratio <= 1.1 for ratio in seamless.values()), seamless
    pasted = seam_ratios([naive_tiling(_Plain(backend), seed) for seed in seeds], BORDERS, factor=8)
    print(f"FLUX.1 windows: seam ratios {seamless}; windows painted apart and pasted: {pasted}")
    assert not all(0.9 <= ratio <= 1.1 for ratio in pasted.values()), pasted


class _Plain:
    """The backend painting the family's request for each window alone (naive_tiling's SD request changed)."""

    def __init__(self, backend):
        self.backend = backend

    def render(self, request_):
        return self.backend.render(family_request(init_image=request_.init_image, layout=request_.layout,
                                                  seed=request_.seed))


def test_a_flux_lora_at_scale_0_paints_the_bytes_of_none_and_at_1_differs(backends, tiny_families, tmp_path_factory):
    from tinyfamilies import build_tiny_flux_lora

    lora = str(build_tiny_flux_lora(tmp_path_factory.mktemp("flux_lora"), tiny_families["flux"]))
    plain = digest(backends("flux").render(family_request()))
    with_lora = DiffusersBackend(str(tiny_families["flux"]), device="cpu", options=BackendOptions(loras=(lora,)))
    assert digest(with_lora.render(family_request(extra={"loras": ((lora, 0.0),)}))) == plain
    at_one = digest(with_lora.render(family_request(extra={"loras": ((lora, 1.0),)})))
    assert at_one != plain
    assert digest(with_lora.render(family_request())) == plain  # switched off again for a cut without it
    assert digest(with_lora.render(family_request(extra={"loras": ((lora, 1.0),)}))) == at_one


@pytest.fixture(scope="module")
def flux_controlnet(tmp_path_factory):
    from tinyfamilies import build_tiny_flux_controlnet

    return build_tiny_flux_controlnet(tmp_path_factory.mktemp("flux_controlnet") / "controlnet")


def test_a_flux_controlnet_steers_its_own_pipeline_in_one_window_and_in_many(tiny_families, flux_controlnet):
    backend = DiffusersBackend(str(tiny_families["flux"]), device="cpu", controlnet=str(flux_controlnet))
    assert backend.identity()["pipeline"] == "FluxControlNetImg2ImgPipeline"
    first = backend.render(family_request())
    assert backend.describe()["pipeline"] == "FluxControlNetImg2ImgPipeline"
    assert digest(backend.render(family_request())) == digest(first)
    assert digest(backend.render(family_request(control_scale=0.0))) != digest(first)
    # the layout steers it: the same init image under another drawing
    assert digest(backend.render(family_request(init_image=layout(), layout=layout((9, 40))))) != digest(first)
    # a sheet in windows: each window is given its own tokens of the ControlNet's residuals
    art = layout(width=SHEET_WIDTH, height=64)
    sheet = family_request(init_image=art, layout=art, width=SHEET_WIDTH, extra={"sheet": True, **WINDOW})
    image = backend.render(sheet)
    assert image.shape == (64, SHEET_WIDTH, 3) and backend.last_work["windows"] == 3
    assert digest(backend.render(sheet)) == digest(image)


def test_a_window_takes_its_own_tokens_of_the_controlnet_residuals():
    """The residuals a FLUX.1 ControlNet predicts for the whole sheet are cut for each window as its latent is: the
    tokens of the window's box, in its rows, nothing else."""
    import torch

    from shotrender.backends.diffusers.tiled import _packed_ids

    rows, columns = torch.meshgrid(torch.arange(4), torch.arange(6), indexing="ij")
    tokens = torch.stack([rows, columns], -1).reshape(1, 24, 2)  # each token says where it is: 4 × 6 tokens
    window = _packed_ids({"controlnet_block_samples": [tokens], "controlnet_single_block_samples": [tokens, tokens]},
                         (8, 12), (2, 6, 4, 10))  # a latent of 8 × 12 pixels; a box of token rows 1-2, columns 2-4
    inside = [[row, column] for row in (1, 2) for column in (2, 3, 4)]
    assert [t[0].tolist() for t in window["controlnet_block_samples"]] == [inside]
    assert [t[0].tolist() for t in window["controlnet_single_block_samples"]] == [inside, inside]


def test_validate_refuses_a_controlnet_made_for_another_family(tmp_path, tiny_families, tiny_controlnet,
                                                               flux_controlnet):
    path = _shotlist(tmp_path, tiny_families["flux"], controlnet=str(tiny_controlnet))
    result = _cli("validate", path, "--allow-outside-paths", code=2)  # the tiny ControlNets are elsewhere
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("controlnet:"))
    assert (f"{path}:{line}: controlnet: the ControlNet {tiny_controlnet} is a ControlNetModel, and FLUX.1 models "
            "take a FluxControlNetModel") in result.stderr
    ok = _shotlist(tmp_path / "ok", tiny_families["flux"], controlnet=str(flux_controlnet))
    _cli("validate", ok, "--allow-outside-paths")


def test_an_sd_lora_on_flux_is_refused_when_it_loads(tiny_families, tiny_loras):
    backend = DiffusersBackend(str(tiny_families["flux"]), device="cpu",
                               options=BackendOptions(loras=(str(tiny_loras[0]),)))
    with pytest.raises(ModelError, match="LoRA"):
        backend.render(family_request(extra={"loras": ((str(tiny_loras[0]), 1.0),)}))


# -- the episode end to end, in two processes -----------------------------------------------------------

SIZE = (256, 144)  # 16:9 with sides multiples of 16


def _park(folder, model):
    """The park (tests/location.py) at 256×144: two cuts that share a sheet and a PAN three frames wide."""
    import cv2
    import yaml

    import location

    (folder / "layouts").mkdir(parents=True)
    w, h = SIZE
    drawn = {"C001": location.cut("C001").draw(SIZE), "C002": location.cut("C002").draw(SIZE),
             "P01": location.draw(location.Camera(0.45, 0.0, zoom=1 / 3), (3 * w, h), location.line_width(SIZE))}
    cuts = []
    for cut_id, image in drawn.items():
        cv2.imwrite(str(folder / "layouts" / f"{cut_id}.png"), image[:, :, ::-1])
        cuts.append({"id": cut_id, "layout": f"layouts/{cut_id}.png", "bg": "park"})
    cuts[-1]["camera"] = {"from": {"x": 0, "y": 0, "width": w}, "to": {"x": 2 * w, "y": 0, "width": w}, "frames": 24}
    data = {"version": 1, "episode": "ep01", "size": list(SIZE), "model": str(model), "output": "out", "seed": 5,
            "defaults": {"steps": 4, "strength": 0.5, "guidance": 3.5, "prompt": "anime background"},
            "backgrounds": {"park": {"prompt": "city park"}}, "cuts": cuts}
    path = folder / "episode.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def render_all(paths: dict[str, str], root: str) -> dict:
    """Render each family's park (`paths`: family -> shot list) into `root`/family; every picture's sha256, and
    what the sidecars say of the family, its pipeline and the PAN's size. Run in this process and in another."""
    import hashlib

    from click.testing import CliRunner

    from shotrender.cli import cli

    digests = {}
    for name, path in paths.items():
        out = Path(root) / name
        done = CliRunner().invoke(cli, ["render", path, "--out", str(out), "--progress", "none"])
        assert done.exit_code == 0, done.output
        digests[name] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.png"))}
        device = json.loads((out / "ep01_C001.json").read_text())["device"]
        size = json.loads((out / "ep01_P01.camera.json").read_text())["size"]
        digests[name]["said"] = [device["family"], device["pipeline"], size]
    return digests


@pytest.mark.slow
def test_the_episode_renders_with_sheets_and_a_pan_and_the_same_bytes_in_two_processes(tiny_families, tmp_path,
                                                                                        monkeypatch):
    """Every family renders the park (a sheet of two cuts, a PAN's oversized background) in this process and, at
    the same time, in another; both write the same bytes for every picture of every family. (The other process
    imports torch and loads the four pipelines afresh; this one has them imported: one import of the stack is most
    of the test's cost.)"""
    import subprocess
    import sys

    paths = {name: str(_park(tmp_path / name, folder)) for name, folder in tiny_families.items()}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread in both, as one_torch_thread sets here
        monkeypatch.setenv(var, "1")
    code = (f"import json, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "from test_families import render_all\n"
            f"print(json.dumps(render_all({paths!r}, sys.argv[1]), sort_keys=True))\n")
    # its environment is this one's: one thread, the test's own hash cache (hash_cache)
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run1")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    here = render_all(paths, str(tmp_path / "run0"))
    out, err = other.communicate(timeout=600)
    assert other.returncode == 0, err
    assert json.loads(json.dumps(here, sort_keys=True)) == json.loads(out.strip().splitlines()[-1])
    for name in FAMILIES:
        pictures = here[name]
        assert {"ep01_C001.png", "ep01_C002.png", "ep01_P01.png"} <= set(pictures), (name, pictures)
        assert "ep01_park_1.png" in pictures, pictures  # the place's sheet, painted once for its three cuts
        # the sidecar names the family and its pipeline; the PAN's background is three frames wide
        assert pictures["said"] == [name, families.FAMILIES[name].img2img, [3 * 256, 144]]


# -- a region through the family's inpainting pipeline ---------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_a_region_is_repainted_through_the_familys_inpainting_pipeline(backends, name):
    """The region changes; outside the 16-px blocks it touches the picture keeps its bytes; the same request
    paints the same bytes; the cut's own pipeline stays the img2img one. A 136-px-wide picture (a sheet's size,
    a multiple of 8, not 16) is cropped, padded and cut back around the region."""
    from shotrender import regions
    from shotrender.backends.diffusers.pipeline import latent_blocks

    backend = backends(name)
    width, height = 136, 64
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = np.linspace(90, 230, width, dtype=np.float32).astype(np.uint8)[None, :, None]
    mask = np.zeros((height, width), bool)
    mask[20:34, 100:118] = True
    art = layout(width=width, height=height)
    region = family_request(init_image=picture, layout=art, width=width, height=height, steps=4, strength=1.0)
    painted = regions.paint(backend, region, picture, mask)
    assert type(backend._inpainter).__name__ == families.FAMILIES[name].img2img.replace("Img2Img", "Inpaint")
    blocks = latent_blocks(mask, 16)
    assert (blocks | ~mask).all() and blocks.sum() < 0.25 * blocks.size
    assert np.array_equal(painted[~blocks], picture[~blocks])
    assert np.abs(painted[mask].astype(int) - picture[mask]).mean() > 10
    assert np.array_equal(painted, regions.paint(backend, region, picture, mask))
    assert backend.describe()["pipeline"] == families.FAMILIES[name].img2img


def test_render_with_a_transformer_model_given_on_the_command_line_checks_its_size_rule(tmp_path, tiny_families):
    """validate checks the shot list's own model; a --model override is checked before anything loads."""
    path = _shotlist(tmp_path, "draft", size=[128, 72])
    result = _cli("render", path, "--model", tiny_families["z-image"], code=2)
    assert "is a Z-Image model, which paints sizes whose sides are multiples of 16" in result.stderr
    assert not (tmp_path / "renders").exists()


# -- retake_model: a director's cut retake painted by an instruction-editing model ------------------------------


@pytest.fixture(scope="module")
def tiny_kontext_folder(tiny_families, tmp_path_factory):
    from tinyfamilies import tiny_kontext

    return tiny_kontext(tiny_families["flux"], tmp_path_factory.mktemp("kontext") / "kontext")


def test_an_editing_backend_changes_the_picture_it_is_given_as_its_words_say(tiny_kontext_folder, tiny_families):
    backend = DiffusersBackend(str(tiny_kontext_folder), device="cpu", editing=True)
    assert (backend.identity()["family"], backend.identity()["pipeline"]) == ("flux-kontext", "FluxKontextPipeline")
    edit = family_request(prompt="warmer sky", steps=2, width=96, init_image=layout(width=96), layout=layout(width=96))
    first = backend.render(edit)
    assert first.shape == (64, 96, 3) and backend.describe()["pipeline"] == "FluxKontextPipeline"
    assert digest(backend.render(edit)) == digest(first)
    assert digest(backend.render(replace(edit, prompt="a red sign"))) != digest(first)
    assert digest(backend.render(replace(edit, init_image=layout((9, 40), width=96)))) != digest(first)
    with pytest.raises(ModelError, match="is a FluxPipeline, not an instruction-editing model"):
        DiffusersBackend(str(tiny_families["flux"]), editing=True)


def _status(path) -> dict[str, dict]:
    return {r["cut"]: r for r in json.loads(_cli("status", path, "--json").output) if r["kind"] == "cut"}


def test_a_cut_retake_is_painted_by_the_retake_model_from_the_picture_sent_back(tiny_kontext_folder, tmp_path):
    """Two cuts rendered with the draft backend are sent back with notes; `render --retakes` loads the retake model
    once and paints each retake from the picture sent back and its note; the cut is then up to date, and the same
    retake painted again gives the same bytes."""
    import hashlib

    from shotrender.backends.diffusers import pipeline
    from shotrender.images import decode_png

    data = episode([cut("C001"), cut("C002", bg="street")], size=[128, 64], retake_model=str(tiny_kontext_folder))
    data["defaults"].update(steps=2, guidance=3.5)
    path = write_shotlist(tmp_path, data, width=128, height=64)
    out = tmp_path / "renders" / "ep01"
    loads = pipeline.LOAD_COUNT
    _cli("render", path)
    assert pipeline.LOAD_COUNT == loads  # no retake yet: the retake model is not loaded
    sent_back = (out / "ep01_C001.png").read_bytes()
    _cli("decide", path, "C001", "retake", "--note", "warmer sky", "--by", "ana")
    _cli("decide", path, "C002", "retake", "--note", "a red sign", "--words", "neon", "--by", "ana")
    assert "retake to paint with retake_model: 'warmer sky'" in _status(path)["C001"]["reasons"]
    _cli("render", path, "--retakes")
    assert pipeline.LOAD_COUNT == loads + 1  # loaded once for both
    record = json.loads((out / "ep01_C001.json").read_text())
    assert record["retake"]["instruction"] == "warmer sky" and record["retake"]["take"] == 1
    assert record["retake"]["picture"] == hashlib.sha256(sent_back).hexdigest()
    assert (record["device"]["pipeline"], record["continuity"]["mode"]) == ("FluxKontextPipeline", "retake")
    assert json.loads((out / "ep01_C002.json").read_text())["retake"]["instruction"] == "a red sign; neon"
    edited = (out / "ep01_C001.png").read_bytes()
    assert edited != sent_back and decode_png(edited).shape == (64, 128, 3)
    assert _status(path)["C001"]["state"] == "up to date"
    _cli("render", path, "--force-cuts", "C001")  # the same retake of the same picture, painted again
    assert (out / "ep01_C001.png").read_bytes() == edited
    _cli("report", path)
    assert "retake painted by the retake model from take 1: warmer sky" in (out / "report.html").read_text()
    # the layout redrawn since: an edit of the old drawing would hide the new one, so it is painted from the layout
    draw_layout(tmp_path / "layouts" / "C001.png", 128, 64, seed=9)
    assert "no longer a retake painted with retake_model" in _status(path)["C001"]["reasons"]
    _cli("render", path)
    redrawn = json.loads((out / "ep01_C001.json").read_text())
    assert "retake" not in redrawn and redrawn["device"]["backend"] == "draft"


def test_validate_refuses_a_retake_model_that_is_no_editing_model_with_its_line(tmp_path, tiny_families):
    path = _shotlist(tmp_path, "draft", retake_model=str(tiny_families["flux"]))
    result = _cli("validate", path, code=2)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("retake_model:"))
    assert (f"{path}:{line}: retake_model: {tiny_families['flux']} is a FluxPipeline, not an instruction-editing "
            "model") in result.stderr
    # a folder's name mistyped is read as a hub id, and said so
    typo = _shotlist(tmp_path / "typo", "draft", retake_model="models/kontext")
    assert "'models/kontext' is no folder in" in _cli("validate", typo, code=2).stderr


def test_candidates_of_a_retake_the_retake_model_paints_are_its_edits_with_their_own_seeds(tiny_kontext_folder,
                                                                                           tmp_path):
    """`decide --candidates 3` with a `retake_model:`: every candidate is an edit of the picture sent back, one
    seed each, kept as a take the director picks from (the candidates used to be set up as from the layout,
    which an edit never is, and the cut failed)."""
    from shotrender.review import takes
    from shotrender.store import Store

    data = episode([cut("C001")], size=[128, 64], retake_model=str(tiny_kontext_folder))
    data["defaults"].update(steps=2, guidance=3.5)
    path = write_shotlist(tmp_path, data, width=128, height=64)
    out = tmp_path / "renders" / "ep01"
    _cli("render", path)
    _cli("decide", path, "C001", "retake", "--note", "warmer sky", "--candidates", "3", "--by", "ana")
    _cli("render", path, "--retakes")
    kept = takes.list_takes(Store(out, "ep01"))["C001"]
    candidates = [t for t in kept if "candidate" in t.record]
    assert [t.record["candidate"]["number"] for t in candidates] == [1, 2, 3]
    assert {(t.record["device"]["pipeline"], t.record["retake"]["instruction"]) for t in candidates} == {
        ("FluxKontextPipeline", "warmer sky")}
    assert len({t.picture for t in candidates}) == 3 and len({t.record["seed_used"] for t in candidates}) == 3
