"""The diffusers backend on a tiny random-weight model, on the CPU.

The tiny model paints noise, so these tests check properties (same request, same bytes; a different
seed, prompt or conditioning, different bytes; sizes, errors, load counts), never looks. Torch runs
on one thread here: the thread count is part of what decides the bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shotrender.backends.base import RenderRequest
from shotrender.backends.diffusers import DiffusersBackend
from shotrender.backends.diffusers import pipeline as diffusers_pipeline
from shotrender.backends.diffusers.pipeline import control_image
from shotrender.errors import EXIT_BAD_INPUT, BackendError, ModelError, UsageError

TESTS = Path(__file__).parent

pytestmark = pytest.mark.usefixtures("one_torch_thread", "hash_cache")


def layout(lines: tuple[int, ...] = (20, 44), width: int = 64, height: int = 64) -> np.ndarray:
    """Line art: dark horizontal lines on light paper, at the given rows."""
    image = np.full((height, width, 3), 235, np.uint8)
    for row in lines:
        image[row : row + 2] = 25
    return image


def request(**changes) -> RenderRequest:
    """A 64×64, 4-step cut (2 steps actually run at strength 0.5); keyword arguments override fields."""
    art = changes.pop("layout", None)
    art = layout() if art is None else art
    fields = {
        "cut": "C001",
        "init_image": art,
        "layout": art,
        "prompt": "city park in spring",
        "negative": "people",
        "seed": 77,
        "steps": 4,
        "strength": 0.5,
        "guidance": 7.5,
        "width": 64,
        "height": 64,
    }
    return RenderRequest(**{**fields, **changes})


def digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def backend(tiny_model):
    """The tiny folder model in float32, loaded once for the module."""
    loaded = DiffusersBackend(str(tiny_model))
    loaded.load()
    return loaded


def poison_pipeline(monkeypatch, pipeline_class, times: int, value: float) -> dict:
    """Make `pipeline_class` return images filled with `value` for its next `times` calls."""
    original = pipeline_class.__call__
    calls = {"count": 0}

    def call(self, *args, **kwargs):
        output = original(self, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] <= times:
            output.images[:] = value
        return output

    monkeypatch.setattr(pipeline_class, "__call__", call)
    return calls


# -- identity ----------------------------------------------------------------------------------


def test_identity_and_construction_do_not_import_torch(tiny_model, tmp_path):
    code = (
        "import sys\n"
        "from shotrender.backends import make_backend\n"
        f"identity = make_backend({str(tiny_model)!r}).identity()\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(identity['model'])\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 64


def test_identity_names_model_code_and_threads(tiny_model, tiny_controlnet, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    identity = DiffusersBackend(str(tiny_model), controlnet=str(tiny_controlnet), dtype="float32").identity()
    assert identity["backend"] == "diffusers"
    assert identity["model_kind"] == "folder"
    assert len(identity["model"]) == 64 and len(identity["controlnet"]) == 64
    assert identity["dtype"] == "float32" and identity["device"] == "auto"
    assert identity["threads"] == 3
    assert set(identity["versions"]) == {"diffusers", "torch", "transformers"}
    assert identity["versions"]["torch"]
    json.dumps(identity)  # goes into cache keys and sidecars as is
    assert DiffusersBackend(str(tiny_model), device="cuda").identity()["threads"] is None


def test_identity_follows_content_not_path(tiny_model, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_model, tmp_path / "copy"))
    assert DiffusersBackend(str(copy)).identity()["model"] == DiffusersBackend(str(tiny_model)).identity()["model"]
    (copy / "README.md").write_text("notes do not change the pixels")
    same = DiffusersBackend(str(copy)).identity()["model"]
    assert same == DiffusersBackend(str(tiny_model)).identity()["model"]
    config = copy / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace('"steps_offset": 1', '"steps_offset": 0'))
    assert DiffusersBackend(str(copy)).identity()["model"] != same


def test_hash_cache_is_used_refreshed_on_change_and_survives_corruption(tiny_single_file, hash_cache):
    true_hash = DiffusersBackend(str(tiny_single_file)).identity()["model"]
    assert true_hash == hashlib.sha256(tiny_single_file.read_bytes()).hexdigest()
    cache = json.loads(hash_cache.read_text())
    entry = cache["files"][str(tiny_single_file.resolve())]
    assert entry["size"] == tiny_single_file.stat().st_size

    # a planted hash is believed while size and mtime match: proof the file is not read again
    entry["sha256"] = "0" * 64
    hash_cache.write_text(json.dumps(cache))
    assert DiffusersBackend(str(tiny_single_file)).identity()["model"] == "0" * 64
    stat = tiny_single_file.stat()
    os.utime(tiny_single_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert DiffusersBackend(str(tiny_single_file)).identity()["model"] == true_hash

    hash_cache.write_text("{ not json")
    assert DiffusersBackend(str(tiny_single_file)).identity()["model"] == true_hash
    assert json.loads(hash_cache.read_text())["version"] == 1
    assert not [p for p in hash_cache.parent.iterdir() if p.name.endswith(".tmp")]


# -- loading and rendering -----------------------------------------------------------------------


def test_render_size_type_and_repeatability(backend):
    first = backend.render(request())
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert digest(backend.render(request())) == digest(first)
    assert first.std() > 0


def test_seed_and_prompt_change_the_image(backend):
    base = digest(backend.render(request()))
    assert digest(backend.render(request(seed=78))) != base
    assert digest(backend.render(request(prompt="city park in autumn"))) != base
    assert digest(backend.render(request(negative=""))) != base


def test_output_is_the_requested_size_whatever_the_init_size(backend):
    art = layout(width=96, height=80)
    image = backend.render(request(init_image=art, layout=art, width=64, height=48))
    assert image.shape == (48, 64, 3)
    with pytest.raises(ValueError, match="multiples of"):
        backend.render(request(width=63, height=64))


def test_model_loads_once_for_many_renders(tiny_model):
    before = diffusers_pipeline.LOAD_COUNT
    fresh = DiffusersBackend(str(tiny_model))
    for seed in range(3):
        fresh.load()
        fresh.render(request(seed=seed))
    assert diffusers_pipeline.LOAD_COUNT - before == 1
    described = fresh.describe()
    assert described["device"] == "cpu" and described["dtype"] == "float32"
    assert described["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert described["fp32_fallback"] is False and described["threads"] == 1


def test_single_file_loads_offline_and_paints_what_the_folder_paints(tiny_single_file, backend):
    single = DiffusersBackend(str(tiny_single_file))
    assert single.identity()["model_kind"] == "file"
    assert single.identity()["config"] is not None
    single.load()
    assert single.describe()["config"] == str(tiny_single_file.with_suffix(".config"))
    assert digest(single.render(request())) == digest(backend.render(request()))


def test_single_file_without_configs_offline_says_where_to_put_them(tiny_single_file, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    alone = tmp_path / "anime_bg.safetensors"
    alone.write_bytes(tiny_single_file.read_bytes())
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        DiffusersBackend(str(alone)).load()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "anime_bg.config" in message and "hf download" in message and "HF_HUB_OFFLINE" in message


def test_batch_equals_single_renders(backend):
    requests = [
        request(cut="C001", seed=1),
        request(cut="C002", seed=2, prompt="harbor at dusk", negative="text"),
        request(cut="C003", seed=1, layout=layout((10,))),
    ]
    singles = [backend.render(r) for r in requests]
    assert [digest(image) for image in backend.render_batch(requests)] == [digest(image) for image in singles]
    with pytest.raises(ValueError, match="strength"):
        backend.render_batch([request(), request(cut="C002", strength=0.6)])
    with pytest.raises(ValueError, match="negative"):
        backend.render_batch([request(), request(cut="C002", negative="")])

    # The one-call batch GPUs get: each cut its own noise and prompt, equal to its single render up to
    # float rounding (oneDNN rounds differently per batch size, which is why the CPU does not batch).
    together = backend._paint(requests)
    for image, single in zip(together, singles, strict=True):
        assert np.abs(np.round(image * 255) - single).max() <= 1


def test_same_bytes_in_separate_processes(tiny_model, backend, tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "import hashlib\n"
        "from test_diffusers_backend import request\n"
        "from shotrender.backends.diffusers import DiffusersBackend\n"
        f"image = DiffusersBackend({str(tiny_model)!r}).render(request())\n"
        "print(hashlib.sha256(image.tobytes()).hexdigest())\n"
    )
    assert hashes_in_two_processes(code, tmp_path) == {digest(backend.render(request()))}


def hashes_in_two_processes(code: str, tmp_path: Path, timeout: float = 300) -> set[str]:
    """Run `code` in two processes at once, each on one thread; the set of the last lines they print."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=timeout) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    return {out.strip().splitlines()[-1] for out, _ in outputs}


# -- ControlNet --------------------------------------------------------------------------------


def test_control_image_is_white_lines_on_black():
    art = layout((20,), width=32, height=32)
    art[art > 128] = 200  # a grey scan: the paper tone must still come out black
    control = control_image(art, 64, 64)
    assert control.shape == (64, 64, 3) and control.dtype == np.uint8
    assert control[0].max() == 0 and control[63].max() == 0
    assert control[41:43].min() == 255


def test_controlnet_conditioning_changes_the_render(tiny_model, tiny_controlnet, backend):
    steered = DiffusersBackend(str(tiny_model), controlnet=str(tiny_controlnet))
    steered.load()
    assert steered.describe()["pipeline"] == "StableDiffusionControlNetImg2ImgPipeline"
    with_lines = digest(steered.render(request()))
    assert with_lines == digest(steered.render(request()))
    assert with_lines != digest(backend.render(request()))
    # only the conditioning changes here: the init image stays the same
    assert with_lines != digest(steered.render(request(init_image=layout(), layout=layout((8, 30, 50)))))
    assert with_lines != digest(steered.render(request(control_scale=0.5)))


# -- float32 fallback --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, 0.0], ids=["nan", "black"])
def test_broken_half_precision_render_is_retried_once_in_float32(tiny_model, backend, monkeypatch, value):
    from diffusers import StableDiffusionImg2ImgPipeline

    half = DiffusersBackend(str(tiny_model), dtype="bfloat16")
    half.load()
    loads = diffusers_pipeline.LOAD_COUNT
    poison_pipeline(monkeypatch, StableDiffusionImg2ImgPipeline, times=1, value=value)
    image = half.render(request())
    assert digest(image) == digest(backend.render(request()))  # the float32 render, from a float32 reload
    assert diffusers_pipeline.LOAD_COUNT == loads + 1
    described = half.describe()
    assert described["fp32_fallback"] is True and described["fp32_fallback_cut"] == "C001"
    assert described["dtype"] == "float32"
    half.render(request(seed=5))
    assert diffusers_pipeline.LOAD_COUNT == loads + 1  # stays in float32, no reload per cut


def test_render_still_broken_in_float32_raises(tiny_model, backend, monkeypatch):
    from diffusers import StableDiffusionImg2ImgPipeline

    half = DiffusersBackend(str(tiny_model), dtype="bfloat16")
    half.load()
    poison_pipeline(monkeypatch, StableDiffusionImg2ImgPipeline, times=99, value=np.nan)
    with pytest.raises(BackendError, match="C001 \\(NaN\\)"):
        half.render(request())
    loads = diffusers_pipeline.LOAD_COUNT
    with pytest.raises(BackendError, match="NaN"):
        backend.render(request())  # already float32: nothing to fall back to, so no reload
    assert diffusers_pipeline.LOAD_COUNT == loads


# -- what users get wrong ----------------------------------------------------------------------


def test_missing_path_names_it_and_the_accepted_forms(tmp_path):
    missing = tmp_path / "models" / "anime_bg.safetensors"
    with pytest.raises(ModelError) as caught:
        DiffusersBackend(str(missing))
    assert str(missing) in str(caught.value) and "model_index.json" in str(caught.value)
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_damaged_checkpoint_is_a_model_error(tmp_path):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    with pytest.raises(ModelError, match="cannot load model"):
        DiffusersBackend(str(damaged)).load()


def test_folder_that_is_not_a_pipeline_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no model_index.json"):
        DiffusersBackend(str(tmp_path))


def test_pickle_checkpoint_needs_the_explicit_flag(tmp_path):
    checkpoint = tmp_path / "old.ckpt"
    checkpoint.write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="pickle"):
        DiffusersBackend(str(checkpoint))
    assert DiffusersBackend(str(checkpoint), allow_unsafe_checkpoint=True).identity()["model_kind"] == "file"


# diffusers 0.42 still passes huggingface_hub an argument it has retired; not ours to fix
@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")
@pytest.mark.parametrize("offline", ["switch", "no network"])
def test_hub_id_offline_fails_fast_with_a_way_out(monkeypatch, offline):
    if offline == "no network":  # no offline switch, and nothing listens where the hub should be
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    hub = DiffusersBackend("someone/anime-backgrounds-v2")
    assert hub.identity()["model"] == "someone/anime-backgrounds-v2"
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        hub.load()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert ("HF_HUB_OFFLINE is set" if offline == "switch" else "cannot connect to 127.0.0.1:9") in message
    assert "hf download someone/anime-backgrounds-v2 --local-dir" in message


def test_controlnet_must_be_a_folder(tiny_model, tmp_path):
    with pytest.raises(ModelError, match="ControlNet folder"):
        DiffusersBackend(str(tiny_model), controlnet=str(tmp_path))


def test_bad_device_and_dtype_are_usage_errors(tiny_model):
    with pytest.raises(UsageError, match="gpu"):
        DiffusersBackend(str(tiny_model), device="gpu")
    with pytest.raises(UsageError, match="half"):
        DiffusersBackend(str(tiny_model), dtype="half")
    with pytest.raises(UsageError, match="CUDA"):
        DiffusersBackend(str(tiny_model), device="cuda:3").load()
