"""A property test over sequences of what happens to an episode under review (issue 26): renders, edits of
prompts and size, retouches saved, decisions of every kind and scope (a region, candidates too), releases
and `render --retakes`.
After each step: no approved or retouched picture was replaced; every picture replaced is kept as a take;
`status` names exactly the cuts the next render paints; no command prints a traceback. Cheap on purpose:
three cuts of the park at 256×144, the draft backend, in-process, a few examples."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_decisions import PATCH_COLOUR, edit, page_decides, shotrender
from test_retouch import artist_paints
from test_sheet_continuity import TINY_SIZE, _location_episode

CUTS = ("C001", "C002", "C003")  # a pan: one sheet
SKIP = ("up to date", "flagged", "retouched", "approved")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("three")
    shotlist = _location_episode(folder, TINY_SIZE)
    edit(shotlist, lambda d: d.update(cuts=[c for c in d["cuts"] if c["id"] in CUTS]))
    shotrender("render", shotlist)
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pictures(out: Path) -> dict[str, str]:
    return {c: _sha(out / f"ep01_{c}.png") for c in CUTS if (out / f"ep01_{c}.png").exists()}


def _locked(out: Path, shotlist: Path) -> set[str]:
    """The cuts whose current picture nothing may replace: retouched, or approved (as status says)."""
    rows = json.loads(shotrender("status", shotlist, "--json").output)
    return {r["cut"] for r in rows if r["kind"] == "cut" and r["state"] in ("approved", "retouched")}


def _kept(out: Path, cut: str) -> set[str]:
    return {_sha(p) for p in (out / "takes").glob(f"ep01_{cut}.v*.png")} if (out / "takes").is_dir() else set()


def _render(shotlist: Path, out: Path, *args: str) -> None:
    rows = json.loads(shotrender("status", shotlist, "--json").output)
    named = {r["cut"] for r in rows if r["kind"] == "cut" and r["state"] not in SKIP}
    locked, before = _locked(out, shotlist), _pictures(out)
    done = shotrender("render", shotlist, "--progress", "plain", *args, code=None)
    if done.exit_code == 2:  # an artist's retouch saved at the size before: refused, nothing written
        assert "save the retouch at" in done.output and _pictures(out) == before, done.output
        return
    assert done.exit_code in (0, 1), done.output
    lines = done.output.splitlines()
    painted = {line.split()[1] for line in lines if line.startswith("[") and (" done:" in line or " flagged:" in line)}
    painted |= {line.split(":")[0] for line in lines if ": retouch " in line and " taken in " in line}
    if not args:
        assert painted == named, (painted, named, done.output)
    after = _pictures(out)
    for cut in locked:
        assert after.get(cut) == before.get(cut), f"{cut} was locked and replaced"
    for cut, sha in before.items():
        if after.get(cut) != sha and cut not in _retouched(out):
            assert sha in _kept(out, cut), f"{cut}'s picture replaced and not kept"


def _retouched(out: Path) -> set[str]:
    return {c for c in CUTS if (out / f"ep01_{c}.json").exists()
            and json.loads((out / f"ep01_{c}.json").read_text()).get("status") == "retouched"}


STEP = st.one_of(
    st.just(("render",)), st.just(("retakes",)),
    st.tuples(st.just("prompt"), st.sampled_from(["rain", "snow"])),
    st.tuples(st.just("size"), st.sampled_from([(256, 144), (128, 72)])),
    st.tuples(st.just("retouch"), st.sampled_from(CUTS)),
    st.tuples(st.just("release"), st.sampled_from(CUTS)),
    st.tuples(st.just("approve"), st.sampled_from(CUTS)),
    st.tuples(st.just("retake"), st.sampled_from(CUTS), st.sampled_from(["cut", "place", "region", "candidates"])),
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=2, max_size=4))
def test_no_decision_or_retouch_is_lost_and_status_names_what_render_paints(template, tmp_path_factory, steps):
    folder = tmp_path_factory.mktemp("run")
    shutil.copytree(template, folder, dirs_exist_ok=True)
    shotlist, out = folder / "episode.yaml", folder / "out"
    for step in steps:
        kind = step[0]
        if kind == "render":
            _render(shotlist, out)
        elif kind == "retakes":
            _render(shotlist, out, "--retakes")
        elif kind == "prompt":
            edit(shotlist, lambda d, w=step[1]: d["backgrounds"]["park"].update(prompt=f"city park, {w}"))
        elif kind == "size":
            edit(shotlist, lambda d, s=step[1]: d.update(size=list(s)))
        elif kind == "retouch":
            done = shotrender("retouch", "export", shotlist, "--cuts", step[1])
            psd = out / "retouch" / f"ep01_{step[1]}.psd"
            if "exported" in done.output:
                artist_paints(psd, PATCH_COLOUR, (10, 10, 40, 40))
        elif kind == "release":
            shotrender("retouch", "release", shotlist, step[1], code=None)
        else:
            cut = step[1]
            if not (out / f"ep01_{cut}.json").exists() or json.loads(
                    (out / f"ep01_{cut}.json").read_text()).get("status") not in ("rendered", "flagged", "retouched"):
                continue
            from shotrender.review.decisions import DecisionError

            try:
                if kind == "approve":
                    page_decides(shotlist, cut, "approve")
                elif step[2] == "region":  # inside the picture at either size
                    page_decides(shotlist, cut, "retake", "again", scope="region", region=[20, 10, 60, 40])
                elif step[2] == "candidates":
                    page_decides(shotlist, cut, "retake", "again", candidates=2)
                else:
                    page_decides(shotlist, cut, "retake", "again", scope=step[2])
            except DecisionError as e:  # refused (a retake of a retouch, a picture the page no longer shows)
                assert "retouch" in str(e) or "changed" in str(e), e
    _render(shotlist, out)
    yaml.safe_load(shotlist.read_text())
