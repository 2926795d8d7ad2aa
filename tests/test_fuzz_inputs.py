"""Fuzzing the files a user hands shotrender from elsewhere: EDLs and OTIO timelines (`init`) and PSD retouches
(`render` takes them in). Whatever the bytes, the answer is a scaffold or a picture, or a refusal with exit 2:
never a traceback, a crash or a hang.

The suite runs FUZZ_EXAMPLES cases of each (100); `SHOTRENDER_FUZZ_EXAMPLES=1000 python -m pytest -q
tests/test_fuzz_inputs.py` runs the long pass.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotrender.errors import ShotRenderError
from test_hardening import AV_EDL, crafted_psd

FUZZ_EXAMPLES = int(os.environ.get("SHOTRENDER_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def scaffold_or_exit_2(name: str, data: bytes) -> None:
    """`init` from the edit file `data`: a scaffold, or a ShotRenderError of exit 2; anything else fails."""
    from shotrender.editorial import make_scaffold

    with tempfile.TemporaryDirectory() as folder:
        edit = Path(folder) / name
        edit.write_bytes(data)
        try:
            make_scaffold(edit=edit, base_dir=Path(folder))
        except ShotRenderError as e:
            assert e.exit_code == 2, e


# ------------------------------------------------------------------------------------------------- EDL

timecode = st.one_of(
    st.builds(lambda h, m, s, f: f"{h:02d}:{m:02d}:{s:02d}:{f:02d}", st.integers(0, 99), st.integers(0, 99),
              st.integers(0, 99), st.integers(0, 99)),
    st.sampled_from(["01:00:00:00", "00:00:01:00", "99:99:99:99", "1:2:3:4", "01:00:00;00", "--"]), text)
event = st.builds(
    lambda n, reel, channel, transition, times: f"{n:03d}  {reel}  {channel}  {transition}  {' '.join(times)}",
    st.integers(0, 4), st.sampled_from(["AX", "BL", "C001_lo", "C002", "ep07_C010", "R1"]),
    st.sampled_from(["V", "A", "A2", "AA", "B", "AA/V", "V2", "NONE", "X"]),
    st.sampled_from(["C", "D    012", "W001 010", "K", "KB", "D", "Z"]), st.lists(timecode, min_size=0, max_size=6))
edl_line = st.one_of(
    event, event, event,
    st.builds(lambda t: f"* FROM CLIP NAME: {t}", text), st.builds(lambda t: f"* LOC: 01:00:00:05 RED {t}", text),
    st.builds(lambda t: f"M2   C001  024.0  01:00:00:00 {t}", text),
    st.sampled_from(["TITLE: ep07", "FCM: NON-DROP FRAME", "FCM: DROP FRAME", "", "SPLIT: AUDIO DELAY= 00:00:00:05"]),
    text)


@FUZZ
@given(st.lists(edl_line, max_size=14), st.sampled_from(["", AV_EDL]))
def test_any_edl_is_a_scaffold_or_exit_2(lines, start):
    scaffold_or_exit_2("cut.edl", (start + "\n".join(lines)).encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------------------------------------------- OTIO

SCHEMAS = ["Timeline.1", "Stack.1", "Track.1", "Clip.2", "Clip.1", "Gap.1", "Transition.1", "RationalTime.1",
           "TimeRange.1", "ExternalReference.1", "GeneratorReference.1", "MissingReference.1", "Marker.2", "Nope.9"]
KEYS = ["tracks", "children", "name", "kind", "source_range", "media_references", "active_media_reference_key",
        "start_time", "duration", "rate", "value", "markers", "marked_range", "metadata", "effects", "color",
        "generator_kind", "target_url", "DEFAULT_MEDIA", "in_offset", "out_offset"]
scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True), text,
                   st.sampled_from(["Video", "Audio", "DEFAULT_MEDIA", "C001"]))
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.builds(lambda schema, pairs: {"OTIO_SCHEMA": schema, **pairs}, st.sampled_from(SCHEMAS),
                  st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=30)


def a_timeline() -> dict:
    """A valid OTIO timeline of two clips, as JSON data."""
    def time(value):
        return {"OTIO_SCHEMA": "RationalTime.1", "rate": 24.0, "value": value}

    clips = [{"OTIO_SCHEMA": "Clip.2", "name": f"C00{i}", "source_range": {
        "OTIO_SCHEMA": "TimeRange.1", "start_time": time(0.0), "duration": time(24.0)}, "markers": [], "effects": [],
        "metadata": {}, "media_references": {"DEFAULT_MEDIA": {"OTIO_SCHEMA": "MissingReference.1", "metadata": {}}},
        "active_media_reference_key": "DEFAULT_MEDIA"} for i in (1, 2)]
    track = {"OTIO_SCHEMA": "Track.1", "name": "V1", "kind": "Video", "children": clips, "metadata": {}}
    return {"OTIO_SCHEMA": "Timeline.1", "name": "ep07", "metadata": {},
            "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "children": [track], "metadata": {}}}


def replaced(document, path: list[int], value):
    """`document` with the node that `path` walks to (each step an index into a container's items) replaced."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = replaced(document[key], path[1:], value)
    return copy


@FUZZ
@given(st.one_of(
    st.builds(replaced, st.just(a_timeline()), st.lists(st.integers(0, 9), min_size=1, max_size=9), json_value),
    json_value,
    st.builds(lambda depth: {"OTIO_SCHEMA": "Timeline.1", "tracks": json.loads('{"children": [' * depth +
                                                                                "]}" * depth)}, st.integers(1, 400))))
def test_any_otio_file_is_a_scaffold_or_exit_2(document):
    scaffold_or_exit_2("cut.otio", json.dumps(document).encode())


# -------------------------------------------------------------------------------------------------- PSD

BASE_PSD = crafted_psd(64, 32, [(0, 0, 32, 64), (4, 4, 20, 20)])
BASE_ZIPPED = crafted_psd(64, 32, [(0, 0, 32, 64)], zipped=True)
LAYER_COUNT = 26 + 4 + 4 + 4 + 4  # header, colour mode, resources, layer and mask length, layer info length


def mutated(base: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
    data = bytearray(base)
    for at, value in edits:
        at %= len(data)
        data[at:at + len(value)] = value
    return bytes(data[:cut] if cut is not None else data)


psd_bytes = st.one_of(
    st.builds(mutated, st.sampled_from([BASE_PSD, BASE_ZIPPED]),
              st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(min_size=1, max_size=4)), max_size=6),
              st.none() | st.integers(0, len(BASE_PSD))),
    # the fields a crafted file would lie in: the layer count, a layer's rectangle and channel count
    st.builds(lambda count, rect, channels: mutated(BASE_PSD, [(LAYER_COUNT, struct.pack(">h", count)),
                                                               (LAYER_COUNT + 2, struct.pack(">iiii", *rect)),
                                                               (LAYER_COUNT + 18, struct.pack(">H", channels))], None),
              st.integers(-2**15, 2**15 - 1), st.tuples(*[st.integers(-2**31, 2**31 - 1)] * 4), st.integers(0, 70)),
    st.builds(lambda tail: b"8BPS" + tail, st.binary(max_size=64)))


@FUZZ
@given(psd_bytes)
def test_any_psd_retouch_is_a_picture_or_refused(data):
    from shotrender.retouch import Incoming, RetouchError, flatten

    try:
        image = flatten(Incoming("C001", Path("retouch/ep01_C001.psd"), data, "0" * 64), 64, 32)
    except RetouchError as e:
        assert e.exit_code == 2
    else:
        assert image.shape == (32, 64, 3)
