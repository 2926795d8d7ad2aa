"""One rule for "up to date": render, status, check and --strict never disagree (state.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shotrender.backends.draft import DraftBackend
from shotrender.errors import BackendError
from shotrender.plan import make_plan, select
from shotrender.render import RenderOptions, render
from shotrender.shotlist import load
from shotrender.state import RunSettings, status
from shotrender.store import Store, sha256_bytes

from helpers import cut, draw_layout, episode, pan_layouts, run_cli, write_shotlist


class FlakyDraft(DraftBackend):
    """The draft backend with the identity a diffusers backend has (device, dtype, model) and cuts that fail."""

    def __init__(self, device="auto", dtype="auto", model="m1", fail_on=frozenset()):
        self.device, self.dtype, self.model, self.fail_on = device, dtype, model, fail_on
        self.painted: list[str] = []

    def identity(self):
        return {**super().identity(), "device": self.device, "dtype": self.dtype, "model": self.model}

    def render(self, request):
        if request.cut in self.fail_on:
            raise BackendError(f"{request.cut} refused")
        self.painted.append(request.cut)
        return super().render(request)


def _episode(folder, limit=0.05):
    """Two pans of three cuts (one painted from the next), a cut of its own and a reused cut."""
    pan_layouts(folder / "layouts", count=3, width=128, height=72, step=16)
    for i, name in enumerate(("S01", "S02")):
        draw_layout(folder / "layouts" / f"{name}.png", seed=40 + i)
    cuts = [{"id": f"P0{i}", "layout": f"layouts/P0{i}.png", "bg": "park"} for i in (1, 2, 3)]
    cuts += [{"id": "S01", "layout": "layouts/S01.png", "bg": "street"},
             {"id": "S02", "layout": "layouts/S02.png", "bg": "street"},
             {"id": "X01", "layout": "layouts/S01.png"}, {"id": "R01", "reuse": "P02"}]
    return write_shotlist(folder, episode(cuts, output="out", continuity={"limit": limit, "max_attempts": 1}))


def _skipped(result):
    return {r.cut for r in result.results if r.status == "cached"}


def _agree(plan, backend, out, run):
    """status, then the next render with the same settings: the cuts status calls up to date or flagged are
    the ones the render skips, and --strict's verdict (any flagged cut) is the flags status shows."""
    rows = [r for r in status(plan, backend, out, run) if r.kind == "cut"]
    expected = {r.cut for r in rows if r.state in ("up to date", "flagged")}
    flagged = {r.cut for r in rows if r.state == "flagged"}
    backend.painted = []
    result = render(plan, backend, RenderOptions(out, run))
    assert _skipped(result) == expected, ([(r.cut, r.state, r.reasons) for r in rows], result.results)
    assert not expected & set(backend.painted)
    now_flagged = {r.cut for r in result.results if r.flagged}
    assert flagged <= now_flagged  # cached flags stay flagged; cuts rendered now may be flagged anew
    return result


EDITS = st.sampled_from(["layout", "prompt", "strength", "continuity", "device", "dtype", "model", "fail",
                         "unfail", "delete_png", "corrupt_sidecar", "limit", "select", "nothing"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(EDITS, st.sampled_from(["P01", "P02", "P03", "S01", "S02", "X01"])),
                      min_size=3, max_size=6))
def test_status_calls_up_to_date_exactly_what_the_next_render_skips(tmp_path_factory, edits):
    folder = tmp_path_factory.mktemp("prop")
    path = _episode(folder)
    out = folder / "out"
    backend, run, selection = FlakyDraft(), RunSettings(), None
    data = json.loads(json.dumps(__import__("yaml").safe_load(path.read_text())))
    for n, (edit, target) in enumerate(edits):
        if edit == "layout":
            layout = next(c["layout"] for c in data["cuts"] if c["id"] == target)
            draw_layout(folder / layout, seed=100 + n)
        elif edit in ("prompt", "strength"):
            entry = next(c for c in data["cuts"] if c["id"] == target)
            entry[edit] = f"variant {n}" if edit == "prompt" else 0.3 + 0.05 * n
        elif edit == "limit":
            data["continuity"]["limit"] = 0.0001 if data["continuity"]["limit"] > 0.001 else 0.05
        elif edit == "continuity":
            run = RunSettings(continuity=not run.continuity)
        elif edit in ("device", "dtype", "model"):
            backend = FlakyDraft(**{**{k: getattr(backend, k) for k in ("device", "dtype", "model", "fail_on")},
                                    edit: f"{edit}-{n}"})
        elif edit == "fail":
            backend.fail_on = backend.fail_on | {target}
        elif edit == "unfail":
            backend.fail_on = frozenset()
        elif edit == "delete_png":
            (out / f"ep01_{target}.png").unlink(missing_ok=True)
        elif edit == "corrupt_sidecar":
            if (out / f"ep01_{target}.json").exists():
                (out / f"ep01_{target}.json").write_text('{"schema": "shotrender.cut/1", "status": {}}')
        elif edit == "select":
            selection = None if selection else target
        path.write_text(__import__("yaml").safe_dump(data, sort_keys=False))
        plan = make_plan(load(path))
        if selection:
            plan = select(plan, cuts=selection)
        render(plan, backend, RenderOptions(out, run))
        _agree(plan, backend, out, run)


def test_a_sheet_that_is_only_missing_comes_back_and_its_cuts_stay_up_to_date(tmp_path):
    """A deleted painting comes back with the same key and bytes, so the cuts painted from it are not
    rendered again: status says so before render does it."""
    path = _episode(tmp_path)
    plan, out = make_plan(load(path)), tmp_path / "out"
    render(plan, DraftBackend(), RenderOptions(out))
    painting = out / "sheets" / "ep01_park_1.png"
    before = painting.read_bytes()
    painting.unlink()
    rows = {r.cut: r for r in status(plan, DraftBackend(), out)}
    assert rows["park/1"].state == "missing" and rows["park/1"].kind == "sheet"
    assert {rows[c].state for c in ("P01", "P02", "P03", "R01")} == {"up to date"}
    result = render(plan, DraftBackend(), RenderOptions(out))
    assert {"P01", "P02", "P03", "R01"} <= _skipped(result)
    assert painting.read_bytes() == before


def _touch_up(path):
    """A small change to a layout that leaves it a view of the same place: one short line added."""
    import cv2

    image = np.asarray(Image.open(path).convert("RGB")).copy()
    cv2.line(image, (60, 60), (70, 64), (20, 20, 20), 1, cv2.LINE_AA)
    Image.fromarray(image).save(path)


def test_a_changed_layout_names_its_sheet_for_the_other_cuts_of_the_place(tmp_path):
    path = _episode(tmp_path)
    plan, out = make_plan(load(path)), tmp_path / "out"
    render(plan, DraftBackend(), RenderOptions(out))
    _touch_up(tmp_path / "layouts" / "P01.png")
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), out)}
    assert rows["park/1"].reasons == ("P01: layout changed",)
    assert rows["P01"].reasons == ("layout changed", "sheet park/1 changes (P01: layout changed)")
    assert rows["P02"].reasons == rows["P03"].reasons == ("sheet park/1 changes (P01: layout changed)",)
    assert rows["R01"].state == "stale" and rows["R01"].reasons == ("P02 changes",)
    assert rows["S01"].state == rows["X01"].state == "up to date"


def test_a_cut_made_from_a_painting_that_was_replaced_is_stale(tmp_path):
    """The key holds the sheet by its key; the painting a cut was made from is named by hash (guided_by),
    so a different painting there (another machine's bytes, a retouch) makes its cuts stale."""
    path = _episode(tmp_path)
    plan, out = make_plan(load(path)), tmp_path / "out"
    render(plan, DraftBackend(), RenderOptions(out))
    sheets = Store(out / "sheets", "ep01")
    record = json.loads(sheets.sidecar_path("park_1").read_text())
    other = np.asarray(Image.open(sheets.png_path("park_1"))).copy()
    other[:10] = 0
    from shotrender.images import encode_png

    sheets.write_cut("park_1", encode_png(other), {k: v for k, v in record.items() if k != "image"})
    rows = {r.cut: r for r in status(plan, DraftBackend(), out)}
    assert rows["park/1"].state == "up to date"
    assert rows["P02"].state == "stale" and rows["P02"].reasons == ("park/1's picture changed since",)
    result = render(plan, DraftBackend(), RenderOptions(out))
    assert {r.cut: r.status for r in result.results}["P02"] in ("rendered", "flagged")
    assert json.loads((out / "ep01_P02.json").read_text())["guided_by"] == {
        "park/1": sha256_bytes(sheets.png_path("park_1").read_bytes())}


def test_a_cut_whose_sheet_failed_is_blocked_and_the_rest_go_on(tmp_path):
    path = _episode(tmp_path)
    plan, out = make_plan(load(path)), tmp_path / "out"
    result = render(plan, FlakyDraft(fail_on={"park/1"}), RenderOptions(out))
    statuses = {r.cut: r.status for r in result.results}
    assert statuses["P01"] == statuses["P02"] == statuses["P03"] == "blocked"
    assert "its sheet park/1 failed: park/1 refused" in next(r.error for r in result.results if r.cut == "P02")
    assert statuses["S01"] == statuses["X01"] == "rendered"
    assert not (out / "ep01_P02.json").exists()
    rows = {r.cut: r for r in status(plan, DraftBackend(), out)}
    assert rows["park/1"].state == "failed"


@pytest.mark.parametrize("flag", [[], ["--no-continuity"]])
def test_status_takes_the_run_options_render_took(tmp_path, flag):
    path = _episode(tmp_path)
    assert run_cli("render", str(path), *flag, "--progress", "none").returncode == 0
    same = json.loads(run_cli("status", str(path), *flag, "--json").stdout)
    assert {r["state"] for r in same} == {"up to date"}
    other = ["--no-continuity"] if not flag else []
    changed = {r["cut"]: r for r in json.loads(run_cli("status", str(path), *other, "--json").stdout)}
    assert changed["P02"]["state"] == changed["S01"]["state"] == "stale"
    assert changed["X01"]["state"] == "up to date"  # a cut without a background has no continuity to switch
    assert changed["P02"]["reasons"] == (["continuity was off"] if flag else ["continuity was on"])


@pytest.mark.slow
def test_status_takes_device_dtype_and_controlnet_as_render_did(tmp_path, tiny_model, tiny_controlnet):
    """status used to build the backend without --device, --dtype and --controlnet and called every cut stale."""
    for name in ("C001", "C002"):
        draw_layout(tmp_path / "layouts" / f"{name}.png", 64, 64, seed=len(name))
    path = write_shotlist(tmp_path, episode([cut("C001"), cut("C002")], size=[64, 64], model=str(tiny_model),
                                            output="out"), layouts=False)
    run = ["--device", "cpu", "--dtype", "float32", "--controlnet", str(tiny_controlnet)]
    done = run_cli("render", str(path), *run, "--progress", "none")
    assert done.returncode == 0, done.stderr
    same = run_cli("status", str(path), *run, "--json")
    assert same.returncode == 0, same.stderr
    assert {r["state"] for r in json.loads(same.stdout)} == {"up to date"}, same.stdout
    other = run_cli("status", str(path), "--device", "cpu", "--json")
    assert other.returncode == 0, other.stderr
    assert {r["state"] for r in json.loads(other.stdout)} == {"stale"}


def test_strict_fails_a_cached_rerun_while_a_cut_is_flagged(tmp_path):
    path = _episode(tmp_path, limit=0.000001)
    first = run_cli("render", str(path), "--strict", "--progress", "none")
    assert first.returncode == 1 and "flagged" in first.stderr
    again = run_cli("render", str(path), "--strict", "--progress", "none")
    assert "0 rendered" not in again.stdout and "rendered" not in again.stdout.split(" in ")[0]
    assert again.returncode == 1, again.stdout + again.stderr
    assert "cached still flagged" in again.stdout
    rows = json.loads(run_cli("status", str(path), "--json").stdout)
    assert any(r["state"] == "flagged" for r in rows)
    assert run_cli("render", str(path), "--progress", "none").returncode == 0  # flags are not failures


def test_the_picture_comes_from_the_layout_bytes_its_key_names(tmp_path):
    """The layout used to be hashed before the model loaded and decoded after: a layout replaced during the
    load gave a picture of the new layout under the old layout's key."""
    path = _episode(tmp_path)
    original = (tmp_path / "layouts" / "S01.png").read_bytes()

    class SwapsDuringLoad(DraftBackend):
        def load(self):
            draw_layout(tmp_path / "layouts" / "S01.png", seed=77)

    plan, out = make_plan(load(path)), tmp_path / "out"
    render(select(plan, cuts="S01"), SwapsDuringLoad(), RenderOptions(out))
    record = json.loads((out / "ep01_S01.json").read_text())
    assert record["inputs"]["layout"] == sha256_bytes(original)
    (tmp_path / "layouts" / "S01.png").write_bytes(original)
    render(select(plan, cuts="S01"), DraftBackend(), RenderOptions(tmp_path / "reference"))
    assert (out / "ep01_S01.png").read_bytes() == (tmp_path / "reference" / "ep01_S01.png").read_bytes()


def test_check_scores_only_what_render_paints_from_another_cut(tmp_path):
    path = _episode(tmp_path)
    assert run_cli("render", str(path), "--no-continuity", "--progress", "none").returncode == 0
    off = run_cli("check", str(path), "--no-continuity", "--json")
    assert json.loads(off.stdout) == []
    on = json.loads(run_cli("check", str(path), "--json").stdout)
    assert {(r["upstream"], r["cut"]) for r in on if r["mode"] != "alone"} == {
        ("park/1", "P01"), ("park/1", "P02"), ("park/1", "P03"), ("P01", "P02"), ("P02", "P03"), ("S01", "S02")}
    # the street's two cuts do not register: each is listed as painted alone, with why
    alone = {r["cut"]: r["note"] for r in on if r["mode"] == "alone"}
    assert set(alone) == {"S01", "S02"} and all(note.startswith("alone: ") for note in alone.values())


def test_a_draft_cut_is_not_rendered_again_for_a_parameter_the_draft_ignores(tmp_path):
    path = _episode(tmp_path)
    assert run_cli("render", str(path), "--progress", "none").returncode == 0
    text = path.read_text().replace("steps: 2", "steps: 9")
    assert text != path.read_text()
    path.write_text(text)
    rows = json.loads(run_cli("status", str(path), "--json").stdout)
    assert {r["state"] for r in rows} == {"up to date"}
    shutil.rmtree(tmp_path / "out")
    log = run_cli("render", str(path), "--progress", "plain").stderr
    assert "strength" in log and "steps" not in log and "guidance" not in log


def _nested(depth):
    return "[" * depth + "]" * depth


CORRUPT = {
    "empty": lambda r: b"",
    "not json": lambda r: b"{",
    "binary": lambda r: bytes(range(256)),
    "a list": lambda r: [],
    "an int": lambda r: 7,
    "no schema": lambda r: {k: v for k, v in r.items() if k != "schema"},
    "another schema": lambda r: {**r, "schema": "shotrender.cut/9"},
    "no status": lambda r: {k: v for k, v in r.items() if k != "status"},
    "status a dict": lambda r: {**r, "status": {}},
    "status an int": lambda r: {**r, "status": 3},
    "status unknown": lambda r: {**r, "status": "done"},
    "no key": lambda r: {k: v for k, v in r.items() if k != "key"},
    "no image": lambda r: {k: v for k, v in r.items() if k != "image"},
    "image hash an int": lambda r: {**r, "image": {**r["image"], "sha256": 12345}},
    "image of another file": lambda r: {**r, "image": {**r["image"], "file": "../../etc/passwd"}},
    "inputs a string": lambda r: {**r, "inputs": "x"},
    "params a string": lambda r: {**r, "inputs": {**r["inputs"], "params": "x"}},
    "failed with an int error": lambda r: {**r, "status": "failed", "error": 12345},
    "flagged without a reason": lambda r: {**r, "status": "flagged", "continuity": {"mode": "flow"}},
    "continuity a list": lambda r: {**r, "continuity": []},
    "pictures a list": lambda r: {**r, "pictures": ["x"]},
    "pictures outside": lambda r: {**r, "pictures": {"flow": "/etc/passwd"}},
    "timings a list": lambda r: {**r, "timings": [1, 2]},
    "device a list": lambda r: {**r, "device": ["cpu"]},
    "no cut": lambda r: {k: v for k, v in r.items() if k != "cut"},
    "another cut's": lambda r: {**r, "cut": "P01"},
    "guided_by not hashes": lambda r: {**r, "guided_by": {"P01": 5}},
    "nested 100,000 deep": lambda r: _nested(100_000).encode(),
    "5 MB": lambda r: b'{"pad": "' + b"x" * (5 << 20) + b'"}',
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rendered")
    path = _episode(folder)
    assert run_cli("render", str(path), "--progress", "none").returncode == 0
    return folder


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_a_corrupt_sidecar_crashes_no_command_and_the_next_render_heals_it(rendered, tmp_path, kind):
    from click.testing import CliRunner

    from shotrender.cli import cli

    folder = tmp_path / "episode"
    shutil.copytree(rendered, folder)
    path, out = folder / "episode.yaml", folder / "out"
    sidecar = out / "ep01_P02.json"
    damaged = CORRUPT[kind](json.loads(sidecar.read_text()))
    sidecar.write_bytes(damaged if isinstance(damaged, bytes) else json.dumps(damaged).encode())
    runner = CliRunner()
    for args in (["status", str(path)], ["status", str(path), "--json"], ["check", str(path)],
                 ["report", str(path)], ["plan", str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and not isinstance(result.exception, Exception), (args, result.output)
    states = {r["cut"]: r["state"] for r in json.loads(runner.invoke(cli, ["status", str(path), "--json"]).stdout)}
    assert states["P02"] == "missing"
    healed = runner.invoke(cli, ["render", str(path), "--progress", "none"])
    assert healed.exit_code == 0, healed.output
    assert json.loads(sidecar.read_text())["status"] in ("rendered", "flagged")
    rows = json.loads(runner.invoke(cli, ["status", str(path), "--json"]).stdout)
    assert {r["state"] for r in rows} <= {"up to date", "flagged"}, rows
    manifest = json.loads((out / "manifest.json").read_text())
    assert {c["cut"] for c in manifest["cuts"]} == {r["cut"] for r in rows if r["kind"] == "cut"}
    assert {s["sheet"] for s in manifest["sheets"]} == {r["cut"] for r in rows if r["kind"] == "sheet"}


def test_a_sidecar_that_is_a_symlink_is_not_trusted(rendered, tmp_path):
    folder = tmp_path / "episode"
    shutil.copytree(rendered, folder)
    out = folder / "out"
    (out / "ep01_P02.json").unlink()
    (out / "ep01_P02.json").symlink_to(out / "ep01_P01.json")
    states = {r["cut"]: r["state"] for r in json.loads(run_cli("status", str(folder / "episode.yaml"),
                                                               "--json").stdout)}
    assert states["P02"] == "missing"
    assert run_cli("render", str(folder / "episode.yaml"), "--progress", "none").returncode == 0
    assert not (out / "ep01_P02.json").is_symlink()


def test_render_says_why_it_paints_a_cut_again_in_statuss_words(tmp_path):
    # only status said why (stale: prompt changed); render painted the cut again without a word
    from click.testing import CliRunner

    from shotrender.cli import cli

    path = write_shotlist(tmp_path, episode([cut("C001"), cut("C002"), cut("C003", "street")]))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, [*args, str(path)])
        assert result.exit_code == 0, result.output
        return result.output

    run("render", "--progress", "none")
    path.write_text(path.read_text().replace("city park", "city park at dusk"))
    # status's line: cut, place, state (its reasons) · anything after, such as why a cut is painted alone
    said = {line.split()[0]: line.split(" · ")[0].split("(", 1)[1].rsplit(")", 1)[0] for line in
            run("status").splitlines() if "stale (" in line}
    assert said == {"C001": "prompt changed", "C002": "prompt changed"}, said
    painted = run("render", "--progress", "plain")
    for cut_id, why in said.items():
        assert f"] {cut_id} [park] done: " in painted and f"s (stale: {why})\n" in painted, painted
    assert "C003 [street] up to date" in painted
    forced = run("render", "--progress", "plain", "--force-cuts", "C003")
    assert "(forced: it was up to date)" in forced, forced
