"""The model settings of #19 on the tiny random-weight pipeline: LoRAs (peft adapters on the UNet and the
text encoder, saved as diffusers saves LoRAs), VAE, scheduler and CLIP skip; their shot-list checks and their
part of the cache key. The tiny model paints noise, so these are properties of bytes, never looks."""

from __future__ import annotations

import json
import os
import shutil
import struct

import numpy as np
import pytest

from shotrender.backends.diffusers import DiffusersBackend, adapters
from shotrender.backends.diffusers import pipeline as diffusers_pipeline
from shotrender.errors import ModelError, UsageError
from shotrender.model_settings import SCHEDULERS, BackendOptions
from test_diffusers_backend import digest, hashes_in_two_processes, request

from helpers import cut, episode, run_cli, write_shotlist

pytestmark = pytest.mark.usefixtures("one_torch_thread", "hash_cache")


@pytest.fixture(scope="module")
def lora_backend(tiny_model, tiny_loras):
    """The tiny model with both LoRAs known to it, loaded once for the module."""
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(loras=tuple(map(str, tiny_loras))))
    backend.load()
    return backend


@pytest.fixture(scope="module")
def plain_digest(tiny_model):
    """The request painted by a backend that never loaded a LoRA."""
    backend = DiffusersBackend(str(tiny_model))
    return digest(backend.render(request()))


def paint(backend, *loras) -> str:
    return digest(backend.render(request(extra={"loras": tuple((str(f), s) for f, s in loras)})))


# -- LoRAs in the backend ----------------------------------------------------------------------


def test_lora_at_scale_0_paints_the_bytes_of_no_lora_and_at_1_differs(lora_backend, tiny_loras, plain_digest):
    first = tiny_loras[0]
    assert paint(lora_backend, (first, 0.0)) == plain_digest
    assert paint(lora_backend, (first, 1.0)) != plain_digest
    assert paint(lora_backend, (first, 0.5)) not in (plain_digest, paint(lora_backend, (first, 1.0)))


def test_the_lora_reaches_the_text_encoder(lora_backend, tiny_loras):
    import torch

    pipe = lora_backend._pipe

    def embedding():
        with torch.no_grad():
            return pipe.encode_prompt(["city park"], "cpu", 1, False)[0].numpy()

    lora_backend._adapters.use(())
    bare = embedding()
    lora_backend._adapters.use(((str(tiny_loras[0]), 1.0),))
    assert not np.array_equal(embedding(), bare)
    lora_backend._adapters.use(())
    assert np.array_equal(embedding(), bare)


def test_two_loras_compose(lora_backend, tiny_loras):
    one, two = tiny_loras
    both = paint(lora_backend, (one, 1.0), (two, 1.0))
    assert both not in (paint(lora_backend, (one, 1.0)), paint(lora_backend, (two, 1.0)))
    assert paint(lora_backend, (one, 1.0), (two, 0.0)) == paint(lora_backend, (one, 1.0))


def test_a_cut_without_loras_after_one_with_them_is_that_cut_painted_alone(lora_backend, tiny_loras, plain_digest):
    paint(lora_backend, (tiny_loras[0], 1.0), (tiny_loras[1], 0.7))
    assert digest(lora_backend.render(request())) == plain_digest


def test_switching_loras_loads_each_file_once_and_the_model_once(tiny_model, tiny_loras, plain_digest):
    models, files = diffusers_pipeline.LOAD_COUNT, adapters.LOADS
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(loras=tuple(map(str, tiny_loras))))
    one, two = tiny_loras
    switches = ([(one, 1.0)], [], [(two, 1.0)], [(one, 1.0)], [(one, 1.0), (two, 1.0)])
    painted = [paint(backend, *loras) for loras in switches]
    assert (diffusers_pipeline.LOAD_COUNT - models, adapters.LOADS - files) == (1, 2)
    assert painted[0] == painted[3] and painted[1] == plain_digest


def test_a_batch_must_share_its_loras(lora_backend, tiny_loras):
    with pytest.raises(ValueError, match="same LoRAs"):
        lora_backend.render_batch([request(), request(cut="C002", extra={"loras": ((str(tiny_loras[0]), 1.0),)})])


def test_pickled_lora_is_refused_unless_allowed(tiny_model, tmp_path):
    pickled = tmp_path / "style.ckpt"
    pickled.write_bytes(b"not read")
    with pytest.raises(ModelError, match="--allow-unsafe-checkpoint"):
        DiffusersBackend(str(tiny_model), options=BackendOptions(loras=(str(pickled),)))
    DiffusersBackend(str(tiny_model), options=BackendOptions(loras=(str(pickled),)), allow_unsafe_checkpoint=True)


def fake_lora(path, width: int):
    """A .safetensors header of a LoRA whose cross-attention reads `width`-wide text embeddings (SD 1.x: 768)."""
    key = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora.down.weight"
    header = json.dumps({key: {"dtype": "F32", "shape": [4, width], "data_offsets": [0, 16 * width]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16 * width))
    return path


def test_lora_of_another_family_is_refused_after_load_before_any_paint(tiny_model, tmp_path):
    lora = fake_lora(tmp_path / "sd15_style.safetensors", 768)
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(loras=(str(lora),)))
    with pytest.raises(ModelError, match="made for SD 1.x and the model .* is a model of cross-attention width 32"):
        backend.load()


# -- scheduler, CLIP skip, VAE -----------------------------------------------------------------


def test_unknown_scheduler_lists_the_names(tiny_model):
    with pytest.raises(UsageError, match="euler, euler-a, dpm\\+\\+2m, dpm\\+\\+2m-karras, ddim, unipc, lcm"):
        DiffusersBackend(str(tiny_model), options=BackendOptions(scheduler="karras"))


def test_every_scheduler_paints_the_same_bytes_in_two_processes(tiny_model, tmp_path):
    code = (
        "import hashlib, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from test_diffusers_backend import request\n"
        "from shotrender.backends.diffusers import DiffusersBackend\n"
        "from shotrender.model_settings import SCHEDULERS, BackendOptions\n"
        "line = []\n"
        "for name in SCHEDULERS:\n"
        f"    b = DiffusersBackend({str(tiny_model)!r}, options=BackendOptions(scheduler=name))\n"
        "    b.load()\n"
        "    assert type(b._pipe.scheduler).__name__ == SCHEDULERS[name][0], name\n"
        "    line.append(name + '=' + hashlib.sha256(b.render(request()).tobytes()).hexdigest()[:16])\n"
        "print(' '.join(line))\n"
    )
    (line,) = hashes_in_two_processes(code, tmp_path)
    digests = dict(part.split("=") for part in line.split())
    assert list(digests) == list(SCHEDULERS)
    assert len(set(digests.values())) >= 5  # the samplers paint differently (dpm++2m and its karras twin may not,
    # at 2 steps of a tiny model)


def test_scheduler_options_are_applied(tiny_model):
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(scheduler="dpm++2m-karras"))
    backend.load()
    config = backend._pipe.scheduler.config
    assert (config.algorithm_type, config.solver_order, config.use_karras_sigmas) == ("dpmsolver++", 2, True)
    assert backend.describe()["scheduler"] == "DPMSolverMultistepScheduler"


def test_clip_skip_changes_the_picture_and_1_is_none(tiny_model, plain_digest):
    for skip, same in ((1, True), (2, False)):
        backend = DiffusersBackend(str(tiny_model), options=BackendOptions(clip_skip=skip))
        assert (digest(backend.render(request())) == plain_digest) is same


def test_vae_folder_replaces_the_models_vae(tiny_model, tmp_path, plain_digest):
    import torch
    from diffusers import AutoencoderKL

    own = shutil.copytree(tiny_model / "vae", tmp_path / "own_vae")
    same = DiffusersBackend(str(tiny_model), options=BackendOptions(vae=str(own)))
    assert digest(same.render(request())) == plain_digest
    other = AutoencoderKL.from_pretrained(own)
    with torch.no_grad():
        for weight in other.decoder.parameters():
            weight.mul_(1.1)
    other.save_pretrained(tmp_path / "other_vae")
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(vae=str(tmp_path / "other_vae")))
    assert digest(backend.render(request())) != plain_digest
    assert backend.identity()["vae"] != same.identity()["vae"]


def test_single_file_vae_in_the_original_layout_paints_as_its_folder(tiny_model, tmp_path, plain_digest):
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from tinymodel import _ldm_vae

    vae = AutoencoderKL.from_pretrained(tiny_model / "vae")
    ldm = _ldm_vae(vae.state_dict(), vae.config)
    ldm = {k.removeprefix("first_stage_model."): v.contiguous() for k, v in ldm.items()}  # as VAE downloads are
    save_file(ldm, str(tmp_path / "tiny.vae.safetensors"))
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(vae=str(tmp_path / "tiny.vae.safetensors")))
    assert digest(backend.render(request())) == plain_digest


def test_vae_that_is_no_vae_is_refused(tiny_model, tmp_path):
    with pytest.raises(ModelError, match="neither a diffusers VAE folder"):
        DiffusersBackend(str(tiny_model), options=BackendOptions(vae=str(tmp_path)))


def test_identity_names_only_the_settings_given(tiny_model):
    bare = DiffusersBackend(str(tiny_model)).identity()
    assert not {"vae", "scheduler", "clip_skip", "peft"} & set(bare)
    given = DiffusersBackend(str(tiny_model), options=BackendOptions(scheduler="dpm++2m", clip_skip=2)).identity()
    assert given["scheduler"] == ["dpm++2m", *SCHEDULERS["dpm++2m"]] and given["clip_skip"] == 2


# -- the shot list, the plan and the cache key -------------------------------------------------


def lora_episode(tmp_path, tiny_model, tiny_loras, **top):
    """Three cuts of one place switching LoRAs: the background's, the cut's on top, and one turned off."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for i, lora in enumerate(tiny_loras):
        shutil.copy(lora, tmp_path / f"lora{i}.safetensors")
    data = episode([cut("C001"), cut("C002", loras=[{"file": "lora1.safetensors", "scale": 0.8}]),
                    cut("C003", loras=[{"file": "lora0.safetensors", "scale": 0}])],
                   size=[64, 64], model=str(tiny_model), output="out", continuity={"enabled": False}, **top)
    data["defaults"].update(steps=4, strength=0.5)
    data["backgrounds"]["park"]["loras"] = [{"file": "lora0.safetensors"}]
    return write_shotlist(tmp_path, data, width=64, height=64)


def test_loras_merge_cut_over_background_over_episode(tmp_path, tiny_model, tiny_loras):
    from shotrender.plan import make_plan
    from shotrender.shotlist import load

    path = lora_episode(tmp_path, tiny_model, tiny_loras)
    jobs = {j.cut: j for c in make_plan(load(path)).chains for j in c.jobs}
    zero, one = str(tmp_path / "lora0.safetensors"), str(tmp_path / "lora1.safetensors")
    assert jobs["C001"].loras == ((zero, 1.0),)
    assert jobs["C002"].loras == ((zero, 1.0), (one, 0.8))
    assert jobs["C003"].loras == ()  # scale 0 turns the background's LoRA off for this cut


def _env(tmp_path):
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
            "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def test_render_switches_loras_cut_by_cut_with_one_model_load_and_keys_follow_lora_bytes(tmp_path, tiny_model,
                                                                                       tiny_loras):
    path = lora_episode(tmp_path, tiny_model, tiny_loras)
    env = _env(tmp_path)
    result = run_cli("render", str(path), "--progress", "plain", env=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["last_run"]["model_loads"] == 1 and manifest["counts"] == {"rendered": 3}
    sidecar = json.loads((out / "ep01_C002.json").read_text())
    assert [entry["scale"] for entry in sidecar["inputs"]["loras"]] == [1.0, 0.8]
    assert "loras" not in json.loads((out / "ep01_C003.json").read_text())["inputs"]
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert len(set(before.values())) == 3

    lora1 = tmp_path / "lora1.safetensors"
    os.utime(lora1, ns=(lora1.stat().st_atime_ns, lora1.stat().st_mtime_ns + 10**9))  # touched only
    assert "ep01: 3 cached in" in run_cli("render", str(path), env=env).stdout

    from safetensors.torch import load_file, save_file

    weights = load_file(str(lora1))
    name = next(iter(weights))
    weights[name] = weights[name] * 2
    save_file(weights, str(lora1))
    again = run_cli("render", str(path), "--progress", "plain", env=env)
    assert "1 rendered, 2 cached" in again.stdout, again.stdout + again.stderr
    assert (out / "ep01_C002.png").read_bytes() != before["ep01_C002.png"]


@pytest.mark.parametrize(("change", "message"), [
    ({"scheduler": "karras"}, "unknown scheduler 'karras'"),
    ({"clip_skip": 0}, "clip_skip: must be between 1 and 12"),
    ({"vae": "vaes/none"}, "'vaes/none' does not exist"),
    ({"cut_loras": [{"file": "nowhere.safetensors"}]}, "LoRA 'nowhere.safetensors' does not exist"),
    ({"cut_loras": [{"file": "lora0.safetensors", "scale": "strong"}]}, "scale (cut C001): must be a number"),
    ({"cut_loras": [{"file": "episode.yaml"}]}, "is no LoRA weights file"),
    ({"cut_loras": [{"file": "sd15.safetensors"}]}, "is made for SD 1.x and the model is a model of cross-attention"),
    ({"cut_loras": [{"file": "style.ckpt"}]}, "pickle file"),
])
def test_bad_model_settings_exit_2_before_the_model_loads_and_write_nothing(tmp_path, tiny_model, tiny_loras, change,
                                                                           message):
    shutil.copy(tiny_loras[0], tmp_path / "lora0.safetensors")
    fake_lora(tmp_path / "sd15.safetensors", 768)
    (tmp_path / "style.ckpt").write_bytes(b"pickle")
    cut_loras = change.pop("cut_loras", None)
    data = episode([cut("C001", **({"loras": cut_loras} if cut_loras else {}))], size=[64, 64],
                   model=str(tiny_model), output="out", **change)
    path = write_shotlist(tmp_path, data, width=64, height=64)
    result = run_cli("render", str(path), env=_env(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "loading model" not in result.stderr
    assert not (tmp_path / "out").exists()


# -- render --preview --------------------------------------------------------------------------


def _pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_preview_paints_into_its_own_folder_and_the_final_after_it_is_no_cache_hit(tmp_path):
    from PIL import Image

    data = episode([cut("C001"), cut("C002"), cut("C003", bg="street")], output="out", size=[256, 144],
                   preview={"scale": 0.5, "steps": 1, "scheduler": "lcm"})
    path = write_shotlist(tmp_path, data, width=256, height=144)
    first = run_cli("render", str(path), "--preview")
    assert first.returncode == 0, first.stderr
    assert "out-preview" in first.stdout and not (tmp_path / "out").exists()
    previews = _pngs(tmp_path / "out-preview")
    assert len(previews) == 3
    assert Image.open(tmp_path / "out-preview" / "ep01_C001.png").size == (128, 72)
    manifest = json.loads((tmp_path / "out-preview" / "manifest.json").read_text())
    assert manifest["counts"] == {"rendered": 3}

    final = run_cli("render", str(path))
    assert "ep01: 3 rendered" in final.stdout, final.stdout + final.stderr
    assert Image.open(tmp_path / "out" / "ep01_C001.png").size == (256, 144)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"] == {"rendered": 3}
    assert _pngs(tmp_path / "out-preview") == previews  # the final wrote nothing there
    assert "ep01: 3 cached" in run_cli("render", str(path), "--preview").stdout


def test_preview_overrides_reach_the_diffusers_backend(tmp_path, tiny_model, tiny_loras):
    shutil.copy(tiny_loras[1], tmp_path / "lcm.safetensors")
    data = episode([cut("C001"), cut("C002", steps=6)], size=[64, 64], model=str(tiny_model), output="out",
                   continuity={"enabled": False},
                   preview={"scheduler": "lcm", "steps": 2, "guidance": 1.5, "loras": [{"file": "lcm.safetensors"}]})
    path = write_shotlist(tmp_path, data, width=64, height=64)
    result = run_cli("render", str(path), "--preview", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("C001", "C002"):
        inputs = json.loads((tmp_path / "out-preview" / f"ep01_{name}.json").read_text())["inputs"]
        assert inputs["backend"]["scheduler"][:2] == ["lcm", "LCMScheduler"]
        assert (inputs["params"]["steps"], inputs["params"]["guidance"]) == (2, 1.5)  # over the cut's own 6
        assert [entry["scale"] for entry in inputs["loras"]] == [1.0]


def test_bad_preview_block_exits_2(tmp_path):
    data = episode([cut("C001")], output="out", preview={"scheduler": "fast", "scale": 2, "stepz": 4})
    small = episode([cut("C001")], output="out", preview={"scale": 0.5})  # 128x72 would be 64x40
    result = run_cli("render", str(write_shotlist(tmp_path, data)), "--preview")
    assert result.returncode == 2
    for message in ("unknown scheduler 'fast'", "scale: must be in (0, 1]", "unknown key 'stepz'"):
        assert message in result.stderr
    result = run_cli("render", str(write_shotlist(tmp_path, small)), "--preview")
    assert result.returncode == 2 and "give preview.scale at least 0.89" in result.stderr
    assert not (tmp_path / "out-preview").exists()


# -- IP-Adapter: art boards in the diffusers backend -------------------------------------------


def board_image(path, seed: int):
    from PIL import Image

    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_ip_adapter_board_strength_0_is_no_board_and_another_board_changes_the_picture(tiny_model, tiny_ip_adapter,
                                                                                      tmp_path, plain_digest):
    backend = DiffusersBackend(str(tiny_model), options=BackendOptions(ip_adapter=str(tiny_ip_adapter)))
    assert "art_board" in backend.reads and len(backend.identity()["image_encoder"]) == 64
    one, two = board_image(tmp_path / "one.png", 1), board_image(tmp_path / "two.png", 2)

    def with_board(board):
        return digest(backend.render(request(extra={"art_board": board} if board else {})))

    # byte-identical: the adapter's attention output is multiplied by the scale, 0, before it is added
    assert with_board(None) == with_board((one, 0.0)) == plain_digest
    boarded = with_board((one, 1.0))
    assert boarded != plain_digest and boarded != with_board((two, 1.0))
    assert with_board((one, 0.5)) not in (boarded, plain_digest)
    assert with_board(None) == plain_digest  # a cut without a board after boarded ones: nothing leaks


def test_ip_adapter_without_its_image_encoder_exits_2(tmp_path, tiny_model, tiny_ip_adapter):
    shutil.copy(tiny_ip_adapter, tmp_path / "ip-adapter.safetensors")
    data = episode([cut("C001")], size=[64, 64], model=str(tiny_model), output="out",
                   ip_adapter="ip-adapter.safetensors")
    result = run_cli("render", str(write_shotlist(tmp_path, data, width=64, height=64)), env=_env(tmp_path))
    assert result.returncode == 2 and "has no image encoder beside it" in result.stderr, result.stderr
    assert "loading model" not in result.stderr and not (tmp_path / "out").exists()


def test_render_conditions_a_place_on_its_board_through_the_ip_adapter(tmp_path, tiny_model, tiny_ip_adapter):
    shutil.copytree(tiny_ip_adapter.parent, tmp_path / "ip")
    data = episode([cut("C001"), cut("C002", bg="street")], size=[64, 64], model=str(tiny_model), output="out",
                   continuity={"enabled": False}, ip_adapter=f"ip/{tiny_ip_adapter.name}")
    data["defaults"].update(steps=4, strength=0.5)
    board_image(tmp_path / "park.png", 1)
    data["backgrounds"]["park"]["art_board"] = {"image": "park.png", "strength": 0.8}
    result = run_cli("render", str(write_shotlist(tmp_path, data, width=64, height=64)), env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    park = json.loads((tmp_path / "out" / "ep01_C001.json").read_text())["inputs"]
    assert park["art_board"]["strength"] == 0.8 and len(park["backend"]["ip_adapter"]) == 64
    assert "art_board" not in json.loads((tmp_path / "out" / "ep01_C002.json").read_text())["inputs"]
