"""The retouch round trip: layered files out to a background artist, retouched pictures in.

`export` writes, per cut, `<out>/retouch/<episode>_<cut>.psd`: layers `painting` (the render), `lines` (the
layout's dark lines over transparency), `layout` (hidden) and, for a cut of a sheet, `shared` (hidden: where
the other cuts of its place see the same painting). The artist saves the retouched picture back there as
`<episode>_<cut>.psd`, `.png` or `.tif`. `render` takes it in (`take_in`): the PSD's visible layers flattened
become the cut's picture, state `retouched`, with the file's sha256 in the sidecar; state.py never lets
anything paint over it, and render writes it into the cut's sheet (patches.py) so the place's other cuts follow.

shotrender only ever reads the artist's file. What it writes in retouch/ is its own: the exported PSDs and
`<episode>_<cut>.shotrender.json`, which names the files it exported (an untouched export is not a retouch)
and the retouches given back to the renderer (`release`), by hash.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shotrender import patches, sheets
from shotrender.errors import UsageError
from shotrender.files import own_folder, read_regular, write_atomic, write_text_atomic
from shotrender.store import Store, sha256_bytes

if TYPE_CHECKING:  # state and render import this module: their types are for the type checker only
    from shotrender.plan import Job, Plan
    from shotrender.render import Run
    from shotrender.state import State, Verdict

FOLDER = "retouch"
SUFFIXES = (".psd", ".png", ".tif", ".tiff")
RECORD_SCHEMA = "shotrender.retouch/1"
MAX_BYTES = 1 << 30  # a retouch of a 4K frame with a few dozen layers is well under this
# psd-tools takes ~70 ms a layer and decodes each layer's rectangle whole, so what a PSD may hold is capped
# before it sees the file: a retouch has a few dozen layers (the format allows 32,767), and its layers'
# pixels, all of them together, at most this many pictures' worth (a 560 kB file could ask for 3.4 GB)
MAX_LAYERS = 200
MAX_LAYER_PICTURES = 64
SHARED_TINT = (255, 0, 200, 110)  # the `shared` layer: a magenta veil, shown over the painting when turned on


class RetouchError(UsageError):
    """A retouch that cannot be used, or a retouch command given what it cannot do (exit 2, nothing changed)."""


@dataclass(frozen=True)
class Incoming:
    """A retouch file waiting to be taken in: where it is, its bytes as read and their sha256."""

    cut: str
    path: Path
    data: bytes
    sha256: str


class Folder:
    """The output folder's retouch/ for one episode: the artist's files in it, and shotrender's records."""

    def __init__(self, out_dir: Path, episode: str):
        self.dir = Path(out_dir) / FOLDER
        self.episode = episode
        self._names: set[str] | None = None

    def names(self) -> set[str]:
        """The folder's file names, listed once: status asks for every cut."""
        if self._names is None:
            try:
                self._names = set(os.listdir(self.dir)) if self.dir.is_dir() and not self.dir.is_symlink() else set()
            except OSError:
                self._names = set()
        return self._names

    def record_path(self, cut: str) -> Path:
        return self.dir / f"{self.episode}_{cut}.shotrender.json"

    def record(self, cut: str) -> dict:
        """The files shotrender exported for the cut and the retouches released, by sha256 (empty when none)."""
        empty = {"schema": RECORD_SCHEMA, "exported": [], "released": []}
        try:
            record = json.loads(read_regular(self.record_path(cut), 1 << 20))
        except FileNotFoundError:
            return empty
        except (OSError, ValueError) as e:
            raise RetouchError(f"{self.record_path(cut)} is unreadable ({e}); it is shotrender's record of the "
                               "files it exported for the cut: remove it and the exported PSD it names, then "
                               "export again (a retouch of your own is kept: move it aside first)") from e
        if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA or not all(
                isinstance(record.get(k), list) for k in ("exported", "released")):
            raise RetouchError(f"{self.record_path(cut)} is not a {RECORD_SCHEMA} record; remove it and run again")
        return record

    def write_record(self, cut: str, record: dict) -> None:
        write_text_atomic(self.record_path(cut), json.dumps(record, indent=2, sort_keys=True) + "\n")

    def incoming(self, cut: str, current: str | None) -> Incoming | None:
        """The cut's retouch file that is not yet its picture, or None.

        `current`: the sha256 of the retouch the cut holds now. A file shotrender exported untouched, or a
        retouch released, is not a retouch. Two new ones for one cut are refused: the artist says which.
        """
        found = [name for name in (f"{self.episode}_{cut}{s}" for s in SUFFIXES) if name in self.names()]
        if not found:
            return None
        record = self.record(cut)
        skip = set(record["exported"]) | set(record["released"])
        files = []
        for name in found:
            path = self.dir / name
            if path.is_symlink():
                raise RetouchError(f"{path} is a symlink; shotrender reads a retouch only as a file of "
                                   f"{self.dir}: put the file itself there")
            try:
                data = read_regular(path, MAX_BYTES)
            except ValueError as e:
                raise RetouchError(f"{path} is too large to be a retouch ({e}); flatten it or save it as PNG") from e
            except OSError as e:
                raise RetouchError(f"{path} cannot be read ({e.strerror or e}); save it again as a file") from e
            sha = sha256_bytes(data)
            if sha not in skip:
                files.append(Incoming(cut, path, data, sha))
        if len(files) > 1:
            files = [f for f in files if f.sha256 != current] or files[:1]
        if len(files) > 1:
            names = ", ".join(f.path.name for f in files)
            raise RetouchError(f"cut {cut} has {len(files)} retouches in {self.dir}: {names}; keep the one that "
                               "is final and move the others away")
        if not files or files[0].sha256 == current:
            return None
        return files[0]


# ------------------------------------------------------------------------------------------------ reading

def flatten(incoming: Incoming, width: int, height: int) -> np.ndarray:
    """The retouch as the cut's picture: RGB uint8 at width×height, transparency laid over white.

    A PSD is its visible layers composited (psd-tools), not the preview stored in it. Refused, with the way
    out: another size, CMYK, 16 or 32 bits per channel, adjustment layers psd-tools cannot apply, a damaged file.
    """
    data, name = incoming.data, incoming.path
    if data[:4] == b"8BPS":
        return _flatten_psd(data, name, width, height)
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:4] in (b"II*\0", b"MM\0*"):
        return _flatten_pillow(data, name, width, height)
    raise RetouchError(f"{name} is not a PSD, PNG or TIFF file (damaged, or saved in another format); save it "
                       "again as PSD, PNG or TIFF")


def _check_size(name: Path, size: tuple[int, int], width: int, height: int) -> None:
    if size != (width, height):
        raise RetouchError(f"{name} is {size[0]}×{size[1]}; the cut is delivered at {width}×{height}: save the "
                           f"retouch at {width}×{height} (do not resize or crop the canvas)")


def _flatten_psd(data: bytes, name: Path, width: int, height: int) -> np.ndarray:
    from psd_tools import PSDImage
    from psd_tools.constants import ColorMode

    try:
        problem = psd_problem(data)
        if problem is None:
            _check_size(name, psd_canvas(data), width, height)
            bound = psd_bounds_problem(data)
            if bound:
                raise RetouchError(f"{name} {bound}: merge or delete layers (Photoshop: Layer > Merge Visible) and "
                                   "save again, or save a flattened PNG")
        psd = None if problem else PSDImage.open(io.BytesIO(data))
    except RetouchError:
        raise
    except Exception as e:  # psd-tools raises whatever its parser meets in a damaged file
        problem = f"{type(e).__name__}: {e}"
    if problem:
        raise RetouchError(f"{name} cannot be read as a PSD ({problem}); it may be damaged: save it again, or save "
                           "a PNG")
    _check_size(name, (psd.width, psd.height), width, height)
    if psd.color_mode not in (ColorMode.RGB, ColorMode.GRAYSCALE):
        raise RetouchError(f"{name} is a {psd.color_mode.name} PSD, which cannot be flattened faithfully to the "
                           "RGB picture a cut is: convert it to RGB (Photoshop: Image > Mode > RGB Color) and save "
                           "again, or save an 8-bit RGB PNG")
    if psd.depth != 8:
        raise RetouchError(f"{name} has {psd.depth} bits per channel: convert it to 8 bits per channel (Photoshop: "
                           "Image > Mode > 8 Bits/Channel) and save again, or save an 8-bit RGB PNG")
    adjustments = [layer.name for layer in psd.descendants() if layer.is_visible() and layer.kind == "adjustment"]
    if adjustments:
        raise RetouchError(f"{name} has visible adjustment layers ({', '.join(adjustments)}) that cannot be applied "
                           "faithfully here: merge them down or save a flattened PNG")
    from psd_tools.compression import PSDDecompressionWarning

    try:
        with warnings.catch_warnings():  # psd-tools paints a layer it cannot inflate black, with a warning
            warnings.simplefilter("error", PSDDecompressionWarning)
            image = psd.composite(force=True)
    except Exception as e:
        raise RetouchError(f"{name}: its layers cannot be flattened ({type(e).__name__}: {e}); save a flattened "
                           "PNG instead") from e
    if image is None:
        raise RetouchError(f"{name} has no visible layer; turn the painting layer on and save again")
    return _on_white(image)


def psd_canvas(data: bytes) -> tuple[int, int]:
    """A PSD's width and height from its header (psd_problem has checked there is one)."""
    return int.from_bytes(data[18:22], "big"), int.from_bytes(data[14:18], "big")


def psd_bounds_problem(data: bytes) -> str | None:
    """Why a PSD holds more than a retouch is read with (MAX_LAYERS layers; MAX_LAYER_PICTURES canvases' worth
    of layer pixels), or None. Read from its layer records alone, before anything is decoded; psd_problem has
    checked that the sections are there."""
    version = int.from_bytes(data[4:6], "big")
    width, height = psd_canvas(data)
    at = 26
    for size in (4, 4):  # colour mode data, image resources
        at += size + int.from_bytes(data[at:at + size], "big")
    at += 4 * version  # the layer and mask information's length
    size = 4 * version
    if int.from_bytes(data[at - size:at], "big") < size + 2:
        return None  # no layer information: the merged image alone
    at += size  # the layer information's length
    count = abs(int.from_bytes(data[at:at + 2], "big", signed=True))
    if count > MAX_LAYERS:
        return f"has {count} layers; a retouch is read with at most {MAX_LAYERS}"
    at += 2
    pixels = 0
    for _ in range(count):
        record = data[at:at + 18]
        if len(record) < 18:
            return None  # cut short: psd-tools says so
        top, left, bottom, right = (int.from_bytes(record[i:i + 4], "big", signed=True) for i in range(0, 16, 4))
        channels = int.from_bytes(record[16:18], "big")
        pixels += max(bottom - top, 0) * max(right - left, 0) * min(channels, 64)
        at += 18 + channels * (2 + 4 * version) + 12
        at += 4 + int.from_bytes(data[at:at + 4], "big")  # extra data
    budget = MAX_LAYER_PICTURES * max(width * height, 1) * 4
    if pixels > budget:
        return (f"has layers of {pixels / 1e6:.0f} million channel pixels in all, more than {MAX_LAYER_PICTURES} "
                f"pictures of {width}x{height} (a retouch is read with at most {budget / 1e6:.0f} million)")
    return None


def psd_problem(data: bytes) -> str | None:
    """Why a PSD's sections do not add up to the file (a save cut short), or None. psd-tools reads a truncated
    file without a word, its missing pixels blank, so the lengths are checked here: each section's, and the
    merged image's to the last byte."""
    version = int.from_bytes(data[4:6], "big")
    if len(data) < 26 or version not in (1, 2):
        return "not a PSD header"
    channels, height, width = (int.from_bytes(data[i:j], "big") for i, j in ((12, 14), (14, 18), (18, 22)))
    depth = int.from_bytes(data[22:24], "big")
    at = 26
    for size in (4, 4, 4 * version):  # colour mode data, image resources, layer and mask information
        if at + size > len(data):
            return "it ends inside its sections"
        at += size + int.from_bytes(data[at:at + size], "big")
    if at + 2 > len(data):
        return "it ends before its image data"
    compression, at = int.from_bytes(data[at:at + 2], "big"), at + 2
    rows = channels * height
    if compression == 0:
        expected = rows * width * depth // 8
    elif compression == 1:
        count = 2 * version
        if at + rows * count > len(data):
            return "it ends inside its image data"
        expected = rows * count + sum(int.from_bytes(data[at + i * count:at + (i + 1) * count], "big")
                                      for i in range(rows))
    else:
        return None  # zip-compressed image data: the lengths do not tell, psd-tools' inflate does
    return None if len(data) - at >= expected else f"its image data is {len(data) - at} of {expected} bytes"


def _flatten_pillow(data: bytes, name: Path, width: int, height: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_size(name, im.size, width, height)
            bits = _bits(data, im)
            if im.mode == "CMYK":
                raise RetouchError(f"{name} is CMYK, which cannot be turned faithfully into the RGB picture a cut "
                                   "is: export it as RGB, 8 bits per channel")
            if bits != 8 or im.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA"):
                raise RetouchError(f"{name} has {bits} bits per channel (mode {im.mode}): export it as 8 bits per "
                                   "channel RGB (Photoshop: Image > Mode > 8 Bits/Channel)")
            im.load()
            return _on_white(im)
    except RetouchError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise RetouchError(f"{name} cannot be decoded ({e}); it may be damaged: save it again") from e


def _bits(data: bytes, im) -> int:
    """Bits per channel as the file stores them (Pillow reads a 16-bit RGB PNG as 8-bit RGB, silently)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data[24]
    samples = im.tag_v2.get(258, (8,))
    return int(samples[0] if isinstance(samples, tuple) else samples)


def _on_white(im) -> np.ndarray:
    from PIL import Image

    rgba = im.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.ascontiguousarray(np.asarray(Image.alpha_composite(paper, rgba).convert("RGB")))


# ------------------------------------------------------------------------------------------------ taking in

def take_in(run: Run, jobs: Iterable[Job]) -> list[str]:
    """Take in every new retouch of these jobs' cuts: each is checked first, so a retouch that cannot be used
    changes nothing. Each cut's render is kept beside it (`<episode>_<cut>.before.png`), then its picture and
    sidecar replaced (status `retouched`). Returns the cuts taken in.

    `run` is a render.Run; the cut's sheet follows in paint_sheets (`onto_sheet`).
    """
    from shotrender import __version__
    from shotrender.images import encode_png

    store, sl = run.store, run.sl
    folder = Folder(store.dir, sl.episode)
    found = []
    for job in jobs:
        stored = store.read_state(job.cut)
        # a retouched cut whose picture went missing takes its retouch in again, as state.py judges it
        incoming = folder.incoming(job.cut, current_retouch(stored.record) if stored.image_ok else None)
        if incoming is not None:
            delivery = run.state.delivery(job)  # a moving cut's picture is its deliverable (camera.py)
            found.append((job, incoming, flatten(incoming, *(delivery.size if delivery else (sl.width, sl.height)))))
    for job, incoming, image in found:
        verdict = run.state.job(job)
        before = _keep_render(store, job.cut, verdict.stored)
        png, pictures = encode_png(image), {"before": before} if before else {}
        # a moving cut's camera file and preview follow its picture: the retouch is what compositing moves over
        moved = run.deliver_move(job, run.state.delivery(job), image, png, pictures) if job.camera else {}
        store.drop_move_files(job.cut, set(pictures.values()))
        store.write_cut(job.cut, png, {
            "key": verdict.key, "inputs": verdict.inputs, "chain": job.chain, "position": job.position,
            "layout": str(job.layout), "model": run.options.settings.model or sl.model, "shotrender": __version__,
            "status": "retouched", "guided_by": {}, "pictures": pictures, **moved,
            "retouch": {"file": f"{FOLDER}/{incoming.path.name}", "sha256": incoming.sha256},
        })
        run.progress.message(f"{job.cut}: retouch {incoming.path.name} taken in (sha256 {incoming.sha256[:12]})")
    return [job.cut for job, _, _ in found]


def link_problem(folder: Folder, link) -> str | None:
    """Why a retouch file saved for a reused cut cannot be taken in (its picture is its source's, and a copy of
    it), or None when there is none: status says it, render refuses to run with it."""
    found = [name for name in (f"{folder.episode}_{link.cut}{s}" for s in SUFFIXES) if name in folder.names()]
    if not found:
        return None
    suffix = Path(found[0]).suffix
    return (f"retouch {FOLDER}/{found[0]} cannot be taken in: {link.cut} reuses {link.source}, whose picture it "
            f"shows; save it as {FOLDER}/{folder.episode}_{link.source}{suffix} to retouch the picture both show, "
            "or move it away")


def refuse_links(folder: Folder, links) -> None:
    """Raise RetouchError for the first reused cut that has a retouch file (link_problem)."""
    for link in links:
        problem = link_problem(folder, link)
        if problem:
            raise RetouchError(problem)


def current_retouch(record: dict | None) -> str | None:
    """The sha256 of the retouch a cut's sidecar holds, or None when it is not retouched."""
    if not record or record.get("status") != "retouched" or not isinstance(record.get("retouch"), dict):
        return None
    return record["retouch"].get("sha256")


def _keep_render(store: Store, cut: str, stored) -> str | None:
    """The file name of the cut's render kept beside its retouch, written now from a render the sidecar vouches
    for; a cut retouched before keeps the render it had. It is written before the sidecar is replaced and the
    old sidecar does not name it, so a kill at any moment leaves the cut as it was or retouched."""
    record = stored.record
    if current_retouch(record):
        return (record.get("pictures") or {}).get("before")
    if not stored.image_ok or record.get("status") not in ("rendered", "flagged"):
        return None
    png = read_regular(store.png_path(cut))
    if sha256_bytes(png) != record["image"]["sha256"]:
        return None
    path = store.dir / f"{store.episode}_{cut}.before.png"
    write_atomic(path, png)
    return path.name


def held(run: Run, sheet: sheets.Sheet) -> tuple[dict[str, str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The patches the sheet's painting must hold (state.State.retouches), their pictures, as the cuts'
    sidecars vouch for them, and the masks of those that are region retakes (patches.onto_sheet)."""
    wanted = run.state.retouches(sheet, waiting=False)
    pictures = {cut: run.store.read_image(cut) for cut in wanted}
    masks = {}
    for cut, image in pictures.items():
        region = (run.store.read_state(cut).record or {}).get("region") if image is not None else None
        if isinstance(region, dict):
            masks[cut] = patches.region_mask(region["rects"], (image.shape[1], image.shape[0]))
    return ({c: sha for c, sha in wanted.items() if pictures[c] is not None},
            {c: image for c, image in pictures.items() if image is not None}, masks)


def update_sheet(run: Run, sheet: sheets.Sheet, verdict: Verdict) -> bool:
    """Lay new retouches onto a sheet's painting that is otherwise up to date, without painting it again;
    False when it must be painted (its inputs changed, or a retouch it holds was released or redrawn)."""
    from shotrender.images import encode_png
    from shotrender.state import sheet_name

    stored = verdict.stored
    if not stored.image_ok or stored.record["key"] != verdict.key or stored.record["status"] == "failed":
        return False
    wanted, pictures, masks = held(run, sheet)
    if any(cut not in wanted for cut in stored.record.get("retouches") or {}):
        return False  # a retouch cannot be taken out of a painting: it is painted again
    if wanted == (stored.record.get("retouches") or {}):
        return True  # a patch it waits for was not made (a region retake that failed): nothing to lay in
    name = sheet_name(sheet)
    painting = run.sheet_store.read_picture(name)
    if painting is None:
        return False
    record = {k: v for k, v in stored.record.items() if k not in ("schema", "cut", "episode", "image")}
    run.sheet_store.write_cut(name, encode_png(patches.onto_sheet(painting[0], sheet, pictures, masks)),
                              {**record, "retouches": wanted})
    why = ", ".join(run.state.patch_reasons(stored.record.get("retouches") or {}, wanted))
    run.progress.message(f"sheet {sheet.id}: {why}: written into its painting")
    return True


# ------------------------------------------------------------------------------------------------ export

def export(state: State, jobs: Iterable[Job], links: Iterable = ()) -> list[tuple[str, str]]:
    """A layered PSD per cut that has a picture, in <out>/retouch/; returns (cut, what happened) per job, and
    per reused cut (`links`) that it is skipped: its picture is its source's, retouched there.

    `state` is the run's state.State. A file the artist changed (not one shotrender exported) is never
    replaced: that cut is listed as kept.
    """
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer


    store, sl = state.store, state.sl
    folder = Folder(store.dir, sl.episode)
    own_folder(folder.dir, "retouch export writes its layered files there")
    done = []
    for job in jobs:
        path = folder.dir / f"{sl.episode}_{job.cut}.psd"
        record = folder.record(job.cut)
        if os.path.lexists(path):
            if path.is_symlink() or not path.is_file() or sha256_bytes(read_regular(path)) not in record["exported"]:
                done.append((job.cut, f"kept: {path.name} is the artist's file"))
                continue
        picture = store.read_image(job.cut)
        if picture is None:
            done.append((job.cut, "skipped: no render yet (render it first)"))
            continue
        layout = state.layout_of(job)  # at the picture's size: a moving cut's deliverable (camera.py)
        psd = PSDImage.new("RGBA", (picture.shape[1], picture.shape[0]))  # RGBA: layers keep their alpha
        layers = [("layout", _rgba(layout), False), ("painting", _rgba(picture), True),
                  ("lines", lines_layer(layout), True)]
        sheet = state.sheet_of(job)
        if sheet is not None:
            layers.append(("shared", shared_layer(state, sheet, job.cut), False))
        for name, rgba, visible in layers:
            PixelLayer.frompil(_pil(rgba), psd, name).visible = visible  # frompil appends it, bottom to top
        buffer = io.BytesIO()
        psd.save(buffer)
        data = buffer.getvalue()
        # the record first: a kill between the two writes leaves an export it knows, never one taken for a retouch
        folder.write_record(job.cut, {**record, "exported": [*record["exported"], sha256_bytes(data)][-20:]})
        write_atomic(path, data)
        done.append((job.cut, f"exported {FOLDER}/{path.name}"))
    done += [(link.cut, f"skipped: reuses {link.source}, whose picture it shows; retouch {link.source}")
             for link in links]
    return done


def release(store: Store, plan: Plan, cut: str) -> str:
    """Give a retouched cut back to the renderer: its retouch file is kept, and no longer taken in (by hash);
    the cut's sidecar goes, so the next render paints it, and its sheet is painted again without the retouch.
    The manifest is rebuilt (`plan`: the episode's), its last run's summary kept. Returns the retouch's file."""
    state = store.read_state(cut)
    sha = current_retouch(state.record)
    if sha is None:
        raise RetouchError(f"cut {cut} is not retouched (its sidecar in {store.dir} says "
                           f"{(state.record or {}).get('status', 'nothing')}); there is nothing to release")
    folder = Folder(store.dir, store.episode)
    record = folder.record(cut)
    if sha not in record["released"]:
        folder.write_record(cut, {**record, "released": [*record["released"], sha]})
    # the record first: a kill between the two leaves the cut retouched, and `release` run again finishes
    store._drop_sidecar(cut)
    try:
        last_run = json.loads(read_regular(store.manifest_path, 64 << 20)).get("last_run") or {}
    except (OSError, ValueError, AttributeError):
        last_run = {}
    store.write_manifest(plan, last_run)
    return state.record["retouch"]["file"]


def lines_layer(layout: np.ndarray) -> np.ndarray:
    """The layout's dark lines over transparency: its colour, alpha from how dark it is (RGBA uint8)."""
    gray = layout.astype(np.float32).mean(axis=2)
    alpha = np.clip((200 - gray) * (255 / 140), 0, 255).astype(np.uint8)  # paper (>200) transparent
    return np.dstack([layout, alpha])


def shared_layer(state: State, sheet: sheets.Sheet, cut: str) -> np.ndarray:
    """Where the cut's neighbours on its sheet see the same painting: a tint over transparency (RGBA uint8)."""
    w, h = sheet.size_of(cut)
    others = np.zeros((sheet.size[1], sheet.size[0]), np.uint8)
    variant = {j.cut: j.variant for j in state.chain_jobs(sheet.id.split("/")[0])}
    for other in sheet.cuts:
        if other != cut and variant[other] == sheet.variant:  # a variant's painting is its own cuts' alone
            ow, oh = sheet.size_of(other)
            others |= sheets.place(np.ones((oh, ow), np.uint8), sheet, other)[1].astype(np.uint8)
    seen, inside = sheets.view(others * 255, sheet, cut)
    shared = (seen > 127) & inside
    out = np.zeros((h, w, 4), np.uint8)
    out[shared] = SHARED_TINT
    return out


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _pil(rgba: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
