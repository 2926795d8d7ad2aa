"""`shotrender render` end to end on the tiny random-weight pipeline, in separate processes as users run it."""

import hashlib
import json
import os

from helpers import cut, episode, run_cli, run_cli_watching_imports, write_shotlist


def _episode(tmp_path, tiny_model, **top):
    data = episode([cut("C001"), cut("C002"), cut("C003", bg="street"), {"id": "C004", "reuse": "C001"}],
                   size=[64, 64], model=str(tiny_model), output="out", **top)
    data["defaults"].update(steps=4, strength=0.5)
    return write_shotlist(tmp_path, data, width=64, height=64)


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _digests(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.png"))}


def test_two_processes_render_identical_bytes_and_load_the_model_once(tmp_path, tiny_model):
    runs = []
    for name in ("a", "b"):
        path = _episode(tmp_path / name, tiny_model)
        result = run_cli("render", str(path), "--progress", "plain", env=_env())
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("loading model") == 1
        runs.append(_digests(tmp_path / name / "out"))
        manifest = json.loads((tmp_path / name / "out" / "manifest.json").read_text())
        assert manifest["last_run"]["model_loads"] == 1
        assert manifest["counts"] == {"rendered": 3, "reused": 1}
        sidecar = json.loads((tmp_path / name / "out" / "ep01_C001.json").read_text())
        assert sidecar["device"]["backend"] == "diffusers" and sidecar["device"]["device"] == "cpu"
        assert sidecar["device"]["cuda_visible_devices"] == "" and sidecar["device"]["gpu"] is None
    assert runs[0] == runs[1] and len(runs[0]) == 4
    assert runs[0]["ep01_C001.png"] == runs[0]["ep01_C004.png"]  # the reused cut is its source's picture
    assert runs[0]["ep01_C001.png"] != runs[0]["ep01_C003.png"]  # another background, another seed


def test_changed_prompt_changes_only_its_cut(tmp_path, tiny_model):
    path = _episode(tmp_path, tiny_model)
    assert run_cli("render", str(path), env=_env()).returncode == 0
    before = _digests(tmp_path / "out")
    data = episode([cut("C001"), cut("C002", prompt="at night"), cut("C003", bg="street"),
                    {"id": "C004", "reuse": "C001"}], size=[64, 64], model=str(tiny_model), output="out")
    data["defaults"].update(steps=4, strength=0.5)
    write_shotlist(tmp_path, data, width=64, height=64)
    result = run_cli("render", str(path), "--progress", "plain", env=_env())
    assert "1 rendered, 3 cached" in result.stdout, result.stdout + result.stderr
    after = _digests(tmp_path / "out")
    assert {k for k in before if before[k] != after[k]} == {"ep01_C002.png"}


def test_bad_shot_list_exits_2_before_torch_is_imported(tmp_path, tiny_model):
    path = _episode(tmp_path, tiny_model, sed=3)
    code, imported, out = run_cli_watching_imports("render", str(path))
    assert (code, imported) == (2, [])
    assert "unknown key 'sed'" in out.stderr


def test_missing_model_folder_is_bad_input(tmp_path):
    data = episode([cut("C001")], model="./models/nowhere")
    result = run_cli("render", str(write_shotlist(tmp_path, data)))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_hub_id_offline_fails_fast_with_a_way_out(tmp_path):
    data = episode([cut("C001")], model="someone/some-model")
    result = run_cli("render", str(write_shotlist(tmp_path, data)), env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # the way out: the folder's name checked, or the model downloaded into a folder
    assert "is not in the local Hugging Face cache" in result.stderr
    assert "hf download someone/some-model" in result.stderr
    assert not (tmp_path / "renders").exists()  # said before anything is written


def test_batched_render_equals_unbatched(tmp_path, tiny_model):
    path = _episode(tmp_path, tiny_model)
    env = _env()
    one = run_cli("render", str(path), "--out", str(tmp_path / "one"), env=env)
    two = run_cli("render", str(path), "--out", str(tmp_path / "two"), "--batch", "2", "--progress", "plain", env=env)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    # chains park (C001, C002) and street (C003) run side by side: C001 and C003 form one batch
    assert two.stderr.index("C003") < two.stderr.index("C002")
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
