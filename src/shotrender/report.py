"""The review report: a static HTML page and a contact sheet, made from the manifest and the files it names.

Nothing is recomputed and nothing heavy is imported: the page shows what the sidecars record. `report_html`
is pure (manifest + thumbnail names -> one HTML string); `write_report` does the I/O: it writes small JPEG
thumbnails under `<out>/thumbs/` (kept while newer than their source), `report.html` beside the renders and
`<episode>_contact.png`. Every image is referenced by a relative path, so the folder can be opened from disk,
copied, or served by any file server.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path

from shotrender.errors import UsageError
from shotrender.files import own_folder, write_atomic, write_text_atomic
from shotrender.shotlist import CONTACT_SHEET, ID_RE, THUMBS
from shotrender.store import SHEETS_FOLDER
from shotrender.words import counted

REPORT_NAME = "report.html"
THUMB_WIDTH = 400
STATUS_ORDER = ("rendered", "flagged", "cached", "retouched", "reused", "failed", "blocked", "missing")
STATUS_COLOURS = {  # RGB, shared by the page and the contact sheet
    "rendered": (46, 160, 67), "cached": (46, 160, 67), "reused": (88, 130, 220), "flagged": (230, 150, 20),
    "failed": (220, 60, 60), "blocked": (220, 60, 60), "missing": (130, 130, 130), "retouched": (176, 110, 235),
}


@dataclass(frozen=True)
class Thumb:
    """A thumbnail beside the report: its relative path, pixel size, and the full picture it links to."""

    src: str
    width: int
    height: int
    full: str | None = None


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    contact_sheet: Path
    cuts: int
    warnings: tuple[str, ...] = ()  # entries of the manifest skipped, fields and pictures not shown


# ------------------------------------------------------------------------------------------------ pure

def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _fmt(value, digits: int = 4) -> str:
    """A number for the page, HTML-escaped like any text."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value else "0"
    return _e(value)


def _score(cut: dict) -> float | None:
    c = cut.get("continuity") or {}
    attempts = c.get("attempts") or []
    chosen = c.get("chosen", 0)
    return attempts[chosen].get("score") if 0 <= chosen < len(attempts) else None


def chains_in_order(manifest: dict) -> list[tuple[str, list[dict]]]:
    """Chains in episode order (of their first cut), each with its cuts in episode order (the manifest's,
    the shot list's), reused and missing ones in their place; cuts of no chain in a group at the end."""
    chains: dict[str, list[dict]] = {}
    for cut in manifest.get("cuts", []):
        chains.setdefault(cut.get("chain") or "", []).append(cut)
    ordered = [(name, cuts) for name, cuts in chains.items() if name]
    if "" in chains:
        ordered.append(("", chains[""]))
    return ordered


def overview(manifest: dict) -> dict:
    """The figures at the top of the page: counts, times, model, backend, versions."""
    cuts = manifest.get("cuts", [])
    run = manifest.get("last_run") or {}
    counts = {s: n for s, n in (manifest.get("counts") or {}).items() if n}
    backends = {c.get("device", {}).get("backend") or c.get("inputs", {}).get("backend", {}).get("backend")
                for c in cuts} - {None}
    backend = (run.get("backend") or {}).get("backend") or ", ".join(sorted(backends)) or "unknown"
    times = [(c["timings"]["total"], c["cut"]) for c in cuts if (c.get("timings") or {}).get("total") is not None]
    versions = {"shotrender": ", ".join(sorted({c["shotrender"] for c in cuts if c.get("shotrender")}))}
    versions.update({f"backend {k}": v for k, v in (run.get("backend") or {}).items() if k != "backend"})
    for ident in ((c.get("inputs") or {}).get("backend") or {} for c in cuts):
        if ident.get("version") is not None:
            versions[f"{ident.get('backend')} version"] = ident["version"]
    return {
        "episode": manifest.get("episode", "?"), "counts": counts, "cuts": len(cuts),
        "model": ", ".join(sorted({c["model"] for c in cuts if c.get("model")})) or "unknown",
        "backend": backend, "draft": "draft" in backend.split(", "),
        "render_seconds": sum(t for t, _ in times), "mean_seconds": sum(t for t, _ in times) / len(times) if times
        else None, "slowest": max(times) if times else None, "last_run_seconds": run.get("seconds"),
        "versions": {k: v for k, v in versions.items() if v not in (None, "")},
        "size": manifest.get("size"), "updated": manifest.get("updated"), "shotlist": manifest.get("shotlist"),
    }


# A transparent 1×1 GIF: an image that is not loaded yet shows nothing rather than a broken-image icon.
_PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def _img(thumb: Thumb | None, alt: str, label: str) -> str:
    if thumb is None:
        return (f'<figure class="pic none"><div class="empty">no {_e(label)}</div>'
                f'<figcaption>{_e(label)}</figcaption></figure>')
    # The real address waits in data-src until the picture nears the screen (the script below): browsers,
    # headless ones above all, otherwise fetch every lazy image of a 300-cut page before the load event.
    img = (f'<img src="{_PLACEHOLDER}" data-src="{_e(thumb.src)}" width="{thumb.width}" height="{thumb.height}" '
           f'alt="{_e(alt)}" decoding="async">')
    if thumb.full:
        img = f'<a href="{_e(thumb.full)}">{img}</a>'
    return f'<figure class="pic">{img}<figcaption>{_e(label)}</figcaption></figure>'


def _pair(cut: dict, thumbs: dict[tuple[str, str], Thumb]) -> str:
    c = cut.get("continuity") or {}
    source = c.get("sheet") or c.get("reference")
    if not source:
        return ""
    score, limit = _score(cut), c.get("limit")
    over = score is not None and limit is not None and score > limit
    ratio = min(score / limit, 1.5) / 1.5 * 100 if score is not None and limit else (100 if over else 0)
    verdict = "over the limit" if over else ("within the limit" if limit is not None else "not checked")
    reason = f'<p class="reason">{_e(c["reason"])}</p>' if c.get("reason") else ""
    pics = "".join(_img(thumbs.get((cut["cut"], kind)), f"{cut['cut']} {kind}", label)
                   for kind, label in (("error", "warp error"), ("flow", "flow")) if (cut["cut"], kind) in thumbs)
    return (
        f'<div class="pair{" over" if over else ""}">'
        f'<div class="pairhead">{_e(source)} → {_e(cut["cut"])} · {_e(c.get("mode"))}</div>'
        f'<dl class="kv"><div><dt>overlap</dt><dd>{_fmt(c.get("overlap"), 2)}</dd></div>'
        f'<div><dt>score</dt><dd>{_fmt(score)} / limit {_fmt(limit)} — {verdict}</dd></div>'
        f'<div><dt>layouts</dt><dd>{_fmt(c.get("layout_error"))}</dd></div></dl>'
        f'<div class="meter" title="score / limit"><span style="width:{ratio:.0f}%"></span>'
        f'<i style="left:{100 / 1.5:.1f}%"></i></div>'
        f'{pics and f"<div class=pics>{pics}</div>"}{reason}</div>'
    )


def _attempts(cut: dict) -> str:
    c = cut.get("continuity") or {}
    attempts = c.get("attempts") or []
    if not attempts:
        return ""
    rows = "".join(
        f'<tr{" class=chosen" if i == c.get("chosen") else ""}><td>{i + 1}</td><td>{_e(a.get("seed"))}</td>'
        f'<td>{_fmt(a.get("strength"))}</td><td>{_fmt(a.get("score"))}</td><td>{_fmt(a.get("seconds"), 2)} s</td></tr>'
        for i, a in enumerate(attempts))
    return ('<table class="attempts"><thead><tr><th>#</th><th>seed</th><th>strength</th><th>score</th><th>time</th>'
            f'</tr></thead><tbody>{rows}</tbody></table>')


def _card(cut: dict, thumbs: dict[tuple[str, str], Thumb]) -> str:
    cid, status = cut["cut"], cut.get("status", "missing")
    params = (cut.get("inputs") or {}).get("params") or {}
    fields = [("seed", cut.get("seed_used", params.get("seed"))), ("steps", params.get("steps")),
              ("strength", cut.get("strength_used", params.get("strength"))), ("guidance", params.get("guidance")),
              ("time", f'{cut["timings"]["total"]:.2f} s' if (cut.get("timings") or {}).get("total") is not None
               else None)]
    kv = "".join(f"<div><dt>{name}</dt><dd>{_fmt(value)}</dd></div>" for name, value in fields if value is not None)
    notes = ""
    if cut.get("reuse_of"):
        notes += f'<p class="note">reuses {_e(cut["reuse_of"])}: linked, not rendered again</p>'
    retake = cut.get("retake") or {}
    if retake.get("instruction"):
        sent_back = f'take {retake["take"]}' if retake.get("take") else "the picture sent back"
        notes += (f'<p class="note">retake painted by the retake model from {sent_back}: '
                  f'{_e(retake["instruction"])}</p>')
    retouch = cut.get("retouch") or {}
    if status == "retouched" and retouch.get("file"):
        notes += (f'<p class="note retouch">retouched: {_e(retouch["file"])} '
                  f'(sha256 {_e(str(retouch.get("sha256"))[:12])}), final: never painted over</p>')
    if cut.get("retouches"):
        notes += f'<p class="note">painted from the retouches of {_e(", ".join(cut["retouches"]))}</p>'
    if cut.get("error"):
        notes += f'<p class="reason">{_e(cut["error"])}</p>'
    registered = cut.get("continuity") or {}  # why it is on no sheet, or not where the shot list's hint said
    if registered.get("alone"):
        notes += f'<p class="note alone">painted alone · {_e(registered["alone"])}</p>'
    if registered.get("hint"):
        notes += f'<p class="note hint">{_e(registered["hint"])}</p>'
    text = ""
    if params.get("prompt"):
        text += f'<p class="prompt">{_e(params["prompt"])}</p>'
    if params.get("negative"):
        text += f'<p class="negative">not: {_e(params["negative"])}</p>'
    position = cut.get("position")
    where = f" · #{position + 1}" if isinstance(position, int) else ""
    if cut.get("review"):  # the director's decisions on its current picture (review/decisions.py)
        notes += f'<p class="review">review: {_e(cut["review"])}</p>'
    return (
        f'<article class="cut" id="cut-{_e(cid)}" data-status="{_e(status)}" tabindex="-1">'
        f'<header><h3>{_e(cid)}</h3><span class="badge s-{_e(status)}">{_e(status)}</span>'
        f'<span class="muted">{_e(cut.get("chain") or "")}{where}</span></header>'
        + (f'<div class="pics">{_img(thumbs.get((cid, "before")), f"{cid} render", "render")}'
           f'{_img(thumbs.get((cid, "render")), f"{cid} retouch", "retouch")}'
           f'{_img(thumbs.get((cid, "layout")), f"{cid} layout", "layout")}</div>' if status == "retouched" else
           f'<div class="pics">{_img(thumbs.get((cid, "layout")), f"{cid} layout", "layout")}'
           f'{_img(thumbs.get((cid, "render")), f"{cid} render", "render")}</div>') + _move(cut, thumbs)
        + f'{text}<dl class="kv">{kv}</dl>{notes}{_attempts(cut)}{_pair(cut, thumbs)}</article>'
    )


def _move_of(cut: dict) -> dict | None:
    """A moving cut's camera summary, when it is whole: deliverable size, frames, easing, first and last framing."""
    move = cut.get("camera") or {}
    if (len(move.get("size", ())) == 2 and min(move["size"]) > 0 and len(move.get("start", ())) == 4
            and len(move.get("end", ())) == 4 and move.get("frames", 0) >= 2 and min(move["start"][2:]) > 0
            and min(move["end"][2:]) > 0):
        return move
    return None


def _framings_svg(move: dict, to_picture) -> str:
    """The first and last framings and the path of the frame's centre between them, in the picture's pixels
    (`to_picture` maps deliverable px there)."""
    shapes = []
    centres = []
    for name, (x, y, w, h) in (("start", move["start"]), ("end", move["end"])):
        corners = [to_picture(px, py) for px, py in ((x, y), (x + w, y), (x + w, y + h), (x, y + h))]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
        shapes.append(f'<polygon class="{name}" points="{points}"/>')
        centres.append(to_picture(x + w / 2, y + h / 2))
    (ax, ay), (bx, by) = centres
    shapes.append(f'<line class="path" x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}"/>'
                  f'<circle class="path" cx="{bx:.1f}" cy="{by:.1f}" r="3"/>')
    return "".join(shapes)


_PLAIN_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def _move(cut: dict, thumbs: dict[tuple[str, str], Thumb]) -> str:
    """A moving cut: its deliverable with the first (green) and last (red) framings and the path drawn on it,
    and the move played over it from the camera summary, as compositing will move the camera."""
    move, thumb = _move_of(cut), thumbs.get((cut["cut"], "render"))
    if move is None or thumb is None:
        return ""
    w, h = move["size"]
    (x, y, fw, fh), (ex, ey, ew, eh) = move["start"], move["end"]
    data = (f'data-size="{w} {h}" data-start="{x} {y} {fw} {fh}" data-end="{ex} {ey} {ew} {eh}" '
            f'data-frames="{move["frames"]}" data-easing="{_e(move.get("easing", "linear"))}"')
    preview = move.get("preview")
    # the name is the manifest's: only a plain file name beside the report becomes a link
    link = (f' · <a href="{_e(preview)}">{"movie" if preview.endswith(".mp4") else "frames"}</a>'
            if preview and _PLAIN_FILE.fullmatch(preview) else "")
    return (f'<figure class="move"><svg viewBox="0 0 {w} {h}" role="img" aria-label="{_e(cut["cut"])} camera move">'
            f'<image href="{_e(thumb.src)}" width="{w}" height="{h}"/>{_framings_svg(move, lambda px, py: (px, py))}'
            f'</svg><div class="play" {data} style="aspect-ratio:{fw} / {fh}"><img src="{_e(thumb.src)}" alt="'
            f'{_e(cut["cut"])} as the camera sees it"></div><figcaption>camera move · {w}×{h} · '
            f'{move["frames"]} frames, {_e(move.get("easing", "linear"))}{link}</figcaption></figure>')


def report_html(manifest: dict, thumbs: dict[tuple[str, str], Thumb]) -> str:
    """The whole page as one string, from a manifest as `clean_manifest` leaves it. `thumbs` maps (cut id, kind)
    to a thumbnail, kind being one of layout, render, error, flow. Every text from the shot list or the sidecars
    is HTML-escaped."""
    o = overview(manifest)
    counts = "".join(f'<button class="chip s-{_e(s)}" data-filter="{_e(s)}"><b>{n}</b> {_e(s)}</button>'
                     for s, n in sorted(o["counts"].items(), key=lambda kv: _status_rank(kv[0])))
    problems = sum(o["counts"].get(s, 0) for s in ("flagged", "failed", "blocked", "missing"))
    facts = [("cuts", o["cuts"]), ("model", o["model"]), ("backend", o["backend"]),
             ("size", "×".join(map(str, o["size"])) if o["size"] else None),
             ("render time", f'{o["render_seconds"]:.1f} s total' + (f', {o["mean_seconds"]:.2f} s per cut'
                                                                       if o["mean_seconds"] is not None else "")),
             ("slowest", f'{o["slowest"][1]} {o["slowest"][0]:.2f} s' if o["slowest"] else None),
             ("last run", f'{o["last_run_seconds"]:.1f} s' if o["last_run_seconds"] is not None else None),
             *o["versions"].items(), ("updated", o["updated"]), ("shot list", o["shotlist"])]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v is not None)
    sections = []
    for name, cuts in chains_in_order(manifest):
        title = f"chain {_e(name)}" if name else "not rendered yet"
        cards = "".join(_card(c, thumbs) for c in cuts)
        moves = {c["cut"]: m for c in cuts if (m := _move_of(c)) is not None}
        sheets = "".join(_sheet(s, manifest.get("size"), thumbs, moves) for s in manifest.get("sheets", ())
                         if s.get("chain") == name)
        how_many = counted(len(cuts), "cut")
        sections.append(f'<section class="chain"><h2>{title} <span class="muted">{how_many}</span></h2>'
                        f'{sheets}<div class="grid">{cards}</div>{_neighbours(cuts, thumbs)}</section>')
    draft = ('<span class="draft" title="draft backend: colour-key previews, not paintings">DRAFT</span>'
             if o["draft"] else "")
    return _PAGE.format(
        title=_e(f"{o['episode']} — shotrender report"), episode=_e(o["episode"]), draft=draft, chips=counts,
        facts=facts_html, sections="".join(sections), problems=problems, total=o["cuts"], css=_CSS, js=_JS,
    )


def _sheet(sheet: dict, frame, thumbs: dict[tuple[str, str], Thumb], moves: dict[str, dict]) -> str:
    """A sheet's painting with the frame of each of its cuts drawn on it, as a background director reads a
    PAN sheet: an SVG over the thumbnail, in sheet pixels. A moving cut (`moves`: its camera summary) shows
    its first and last framings and the path between them."""
    thumb, size = thumbs.get((sheet["cut"], "sheet")), sheet.get("size")
    if thumb is None or not size or len(size) != 2 or not frame or len(frame) != 2:
        return ""
    w, h = size
    frames = []
    for cut in sheet.get("cuts", ()):
        m = (sheet.get("camera") or {}).get(cut)
        if not m or len(m) != 3 or any(len(row) != 3 for row in m):
            continue
        def on_sheet(x, y, m=m):
            z = m[2][0] * x + m[2][1] * y + m[2][2] or 1.0
            return (m[0][0] * x + m[0][1] * y + m[0][2]) / z, (m[1][0] * x + m[1][1] * y + m[1][2]) / z

        if cut in moves:
            start = moves[cut]["start"]
            frames.append(f'{_framings_svg(moves[cut], on_sheet)}<text x="{on_sheet(*start[:2])[0] + 6:.1f}" '
                          f'y="{on_sheet(*start[:2])[1] + 22:.1f}">{_e(cut)}</text>')
            continue
        corners = [on_sheet(x, y) for x, y in ((0, 0), (frame[0], 0), (frame[0], frame[1]), (0, frame[1]))]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in corners)
        frames.append(f'<polygon points="{points}"/><text x="{corners[0][0] + 6:.1f}" y="{corners[0][1] + 22:.1f}">'
                      f'{_e(cut)}</text>')
    return (f'<figure class="sheet"><svg viewBox="0 0 {w} {h}" role="img" aria-label="sheet {_e(sheet["sheet"])}">'
            f'<image href="{_e(thumb.src)}" width="{w}" height="{h}"/>{"".join(frames)}</svg>'
            f'<figcaption>sheet {_e(sheet["sheet"])} · {w}×{h} · {counted(len(sheet.get("cuts", ())), "cut")} · '
            f'{_e(sheet.get("status"))}</figcaption></figure>')


def _neighbours(cuts: list[dict], thumbs: dict[tuple[str, str], Thumb]) -> str:
    """Each painted cut's render beside the one before it in its place, at thumbnail size side by side, where
    a seam, a patch or a change of colour between two views of one place shows."""
    painted = [c["cut"] for c in cuts if isinstance(c.get("position"), int) and (c["cut"], "render") in thumbs]
    pairs = "".join(
        '<figure class="neighbours">' + "".join(_img(thumbs[(cid, "render")], f"{cid} render", cid) for cid in pair)
        + f"<figcaption>{_e(pair[0])} → {_e(pair[1])}</figcaption></figure>"
        for pair in zip(painted, painted[1:], strict=False))
    return f'<details class="seams"><summary>neighbours side by side</summary>{pairs}</details>' if pairs else ""


def _status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


_CSS = """
:root{--bg:#15171c;--panel:#1e2128;--line:#2e323c;--text:#e6e8ec;--muted:#9097a3;--accent:#6aa7ff;
--ok:#2ea043;--warn:#e69614;--bad:#dc3c3c;--reuse:#5882dc;--miss:#828282}
.sheet{margin:0 0 16px}.sheet svg{width:100%;height:auto;display:block;background:var(--panel)}
.sheet polygon{fill:none;stroke:#ffd23c;stroke-width:3;vector-effect:non-scaling-stroke}
.sheet text{fill:#ffd23c;font:600 20px system-ui,sans-serif;paint-order:stroke;stroke:#000;stroke-width:4px}
.sheet figcaption{color:var(--muted);font-size:13px;margin-top:4px}
.sheet polygon.start,.move polygon.start{stroke:#4cd964}.sheet polygon.end,.move polygon.end{stroke:#ff5a5a}
.move polygon{fill:none;stroke-width:3;vector-effect:non-scaling-stroke}
.sheet .path,.move .path{stroke:#ffd23c;fill:#ffd23c;stroke-width:2;stroke-dasharray:6 4;
vector-effect:non-scaling-stroke}
.move{margin:8px 0}.move svg{width:100%;height:auto;display:block;background:var(--panel)}
.move .play{position:relative;overflow:hidden;width:min(100%,400px);margin-top:6px;background:#000}
.move .play img{position:absolute;left:0;top:0;max-width:none}
.move figcaption{color:var(--muted);font-size:13px;margin-top:4px}.move a{color:var(--accent)}
.seams{margin:12px 0}.seams summary{cursor:pointer;color:var(--muted)}
.neighbours{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0}.neighbours figure{margin:0}
.neighbours figure.pic{flex:0 0 min(400px,calc(50% - 2px))}.neighbours img{width:100%;height:auto}
.neighbours figcaption{width:100%;color:var(--muted);font-size:13px}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--text);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK JP",sans-serif}
header.top{position:sticky;top:0;z-index:2;background:rgba(21,23,28,.96);border-bottom:1px solid var(--line);
padding:14px 24px}
h1{margin:0 0 8px;font-size:22px;display:flex;align-items:center;gap:12px}
.draft{background:var(--warn);color:#1a1200;font-size:13px;font-weight:800;padding:3px 10px;border-radius:4px;
letter-spacing:.12em}
.bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
button{font:inherit;cursor:pointer;border:1px solid var(--line);background:var(--panel);color:var(--text);
border-radius:999px;padding:4px 12px}
button.active{border-color:var(--accent);box-shadow:0 0 0 1px var(--accent) inset}
.chip b{margin-right:2px}.keys{color:var(--muted);margin-left:auto;font-size:12px}
kbd{border:1px solid var(--line);border-radius:3px;padding:0 4px;background:var(--panel)}
main{padding:16px 24px 80px}
.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr max-content 1fr;gap:4px 14px;
margin:0 0 8px;padding:12px 16px;background:var(--panel);border:1px solid var(--line);border-radius:8px}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
h2{font-size:17px;margin:26px 0 10px}.muted{color:var(--muted);font-weight:400;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
.cut{background:var(--panel);border:1px solid var(--line);
border-radius:8px;padding:10px 12px;outline:none}
.cut[data-status=flagged]{border-color:var(--warn);box-shadow:0 0 0 1px var(--warn) inset}
.cut[data-status=failed],.cut[data-status=blocked]{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad) inset}
.cut.current{box-shadow:0 0 0 3px var(--accent)}
.cut header{display:flex;align-items:center;gap:10px;margin-bottom:8px}.cut h3{margin:0;font-size:16px}
.badge{font-size:12px;font-weight:700;padding:1px 8px;border-radius:999px;color:#fff;background:var(--miss)}
.badge.s-rendered,.badge.s-cached{background:var(--ok)}.badge.s-flagged{background:var(--warn);color:#1a1200}
.badge.s-failed,.badge.s-blocked{background:var(--bad)}.badge.s-reused{background:var(--reuse)}
.badge.s-retouched{background:#b06eeb}.chip.s-retouched{border-color:#b06eeb}.note.retouch{color:#c9a2f2}
.chip.s-rendered,.chip.s-cached{border-color:var(--ok)}.chip.s-flagged{border-color:var(--warn)}
.chip.s-failed,.chip.s-blocked{border-color:var(--bad)}.chip.s-reused{border-color:var(--reuse)}
.pics{display:grid;grid-template-columns:1fr 1fr;gap:8px}
figure{margin:0}figure img{display:block;width:100%;height:auto;border-radius:4px;background:#000}
figcaption{color:var(--muted);font-size:12px;margin-top:2px}
.empty{aspect-ratio:16/9;display:grid;place-items:center;border:1px dashed var(--line);border-radius:4px;
color:var(--muted)}
.prompt{margin:8px 0 2px}.negative{margin:0 0 6px;color:var(--muted);font-size:12px}
.kv{display:flex;flex-wrap:wrap;gap:2px 16px;margin:6px 0}.kv div{display:flex;gap:5px;white-space:nowrap}
.kv dt{color:var(--muted)}.kv dd{margin:0}
.note{color:var(--reuse);margin:6px 0}.reason{color:var(--warn);margin:6px 0}
.review{margin:6px 0;font-weight:600}
.cut[data-status=failed] .reason,.cut[data-status=blocked] .reason{color:#ff8a8a}
table.attempts{border-collapse:collapse;font-size:12px;margin:4px 0;width:100%}
.attempts th,.attempts td{border-bottom:1px solid var(--line);padding:2px 6px;text-align:right}
.attempts th{color:var(--muted);font-weight:400}.attempts tr.chosen td{color:var(--accent);font-weight:600}
.pair{margin-top:8px;padding:8px 10px;border-radius:6px;background:#191c22;border-left:3px solid var(--ok)}
.pair.over{border-left-color:var(--warn);background:#2a2113}
.pairhead{font-weight:600}
.meter{position:relative;height:6px;background:#2b2f38;border-radius:3px;margin:4px 0 8px}
.meter span{position:absolute;left:0;top:0;bottom:0;background:var(--ok);border-radius:3px}
.pair.over .meter span{background:var(--warn)}.meter i{position:absolute;top:-3px;bottom:-3px;width:2px;
background:var(--text)}
body[data-filter] .cut{display:none}body[data-filter] .chain.empty{display:none}
body[data-filter=flagged] .cut[data-status=flagged],body[data-filter=failed] .cut[data-status=failed],
body[data-filter=failed] .cut[data-status=blocked],body[data-filter=problems] .cut[data-status=flagged],
body[data-filter=problems] .cut[data-status=failed],body[data-filter=problems] .cut[data-status=blocked],
body[data-filter=problems] .cut[data-status=missing],body[data-filter=rendered] .cut[data-status=rendered],
body[data-filter=reused] .cut[data-status=reused],body[data-filter=missing] .cut[data-status=missing],
body[data-filter=cached] .cut[data-status=cached],body[data-filter=blocked] .cut[data-status=blocked],
body[data-filter=retouched] .cut[data-status=retouched]{display:block}
"""

# Images load as they near the screen; filters and keyboard navigation. With `?check` in the address every
# image loads at once. After loading, the
# count of broken images and the page's own timings are written onto <body> for a headless browser's --dump-dom.
_JS = """
(function () {
  var body = document.body;
  var check = /[?&]check\\b/.test(location.search);
  var imgs = Array.prototype.slice.call(document.images);
  function show(img) {  // once: the observer may still report a picture shown by showAll below
    if (img.hasAttribute("data-src")) { img.src = img.getAttribute("data-src"); img.removeAttribute("data-src"); }
  }
  var waiting = imgs.filter(function (img) { return img.hasAttribute("data-src"); });
  if (check || !("IntersectionObserver" in window)) waiting.forEach(show);
  else {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { show(e.target); seen.unobserve(e.target); } });
    }, {rootMargin: "800px"});
    waiting.forEach(function (img) { seen.observe(img); });
  }
  // the pictures still waiting load once the page has: a full-page capture or a print shows every card
  function showAll() { waiting.forEach(show); }
  window.addEventListener("beforeprint", showAll);
  window.addEventListener("load", function () {
    setTimeout(showAll, 0);
    var broken = imgs.filter(function (img) { return img.complete && img.naturalWidth === 0; }).length;
    var pending = imgs.filter(function (img) { return !img.complete; }).length;
    body.setAttribute("data-broken-images", String(broken));
    body.setAttribute("data-pending-images", String(pending));
    body.setAttribute("data-images", String(imgs.length));
    var t = performance.getEntriesByType("navigation")[0];
    body.setAttribute("data-ready-ms", String(Math.round(t.domContentLoadedEventEnd)));
    body.setAttribute("data-load-ms", String(Math.round(performance.now())));
  });
  // A moving cut's preview: the deliverable moved behind a frame-shaped window at 24 frames a second, from the
  // first framing to the last with the cut's easing (camera.py), then again.
  Array.prototype.forEach.call(document.querySelectorAll(".move .play"), function (view) {
    function nums(name) { return view.getAttribute(name).split(" ").map(Number); }
    var size = nums("data-size"), a = nums("data-start"), b = nums("data-end");
    var frames = Number(view.getAttribute("data-frames")), slow = view.getAttribute("data-easing") === "slow-in-out";
    var img = view.querySelector("img"), frame = 0;
    function step() {
      var t = frame / (frames - 1);
      if (slow) t = (1 - Math.cos(Math.PI * t)) / 2;
      var f = a.map(function (v, i) { return v + (b[i] - v) * t; });
      img.style.width = (size[0] / f[2] * 100) + "%";
      img.style.left = (-f[0] / f[2] * 100) + "%";
      img.style.top = (-f[1] / f[3] * view.clientHeight) + "px";
      frame = (frame + 1) % frames;
    }
    step();
    setInterval(step, 1000 / 24);
  });
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-filter]"));
  function setFilter(name) {
    if (!name || name === "all" || body.getAttribute("data-filter") === name) body.removeAttribute("data-filter");
    else body.setAttribute("data-filter", name);
    var active = body.getAttribute("data-filter") || "all";
    buttons.forEach(function (b) { b.classList.toggle("active", b.getAttribute("data-filter") === active); });
    Array.prototype.forEach.call(document.querySelectorAll(".chain"), function (s) {
      s.classList.toggle("empty", !Array.prototype.some.call(s.querySelectorAll(".cut"), visible));
    });
  }
  buttons.forEach(function (b) {
    b.addEventListener("click", function () { setFilter(b.getAttribute("data-filter")); });
  });
  function visible(el) { return el.offsetParent !== null; }
  var current = -1;
  function move(step) {
    var cuts = Array.prototype.filter.call(document.querySelectorAll(".cut"), visible);
    if (!cuts.length) return;
    var at = cuts.indexOf(document.querySelector(".cut.current"));
    current = at < 0 ? (step > 0 ? 0 : cuts.length - 1) : Math.max(0, Math.min(cuts.length - 1, at + step));
    Array.prototype.forEach.call(document.querySelectorAll(".cut.current"), function (c) {
      c.classList.remove("current");
    });
    var cut = cuts[current];
    cut.classList.add("current");
    cut.focus({preventScroll: true});
    cut.scrollIntoView({block: "center"});
    try { history.replaceState(null, "", "#" + cut.id); } catch (e) { /* some file:// pages refuse it */ }
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var step = {j: 1, ArrowDown: 1, ArrowRight: 1, k: -1, ArrowUp: -1, ArrowLeft: -1}[ev.key];
    if (step) { ev.preventDefault(); move(step); }
    else if (ev.key === "f") setFilter("flagged");
    else if (ev.key === "x") setFilter("failed");
    else if (ev.key === "a") setFilter("all");
  });
  setFilter(body.getAttribute("data-filter"));
})();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
<header class="top"><h1>{episode} {draft}</h1>
<div class="bar"><button data-filter="all" class="active">all <b>{total}</b></button>{chips}
<button data-filter="problems">needs review <b>{problems}</b></button>
<span class="keys"><kbd>j</kbd>/<kbd>k</kbd> or arrows: next/previous cut · <kbd>f</kbd> flagged ·
<kbd>x</kbd> failed · <kbd>a</kbd> all</span></div></header>
<main><dl class="facts">{facts}</dl>{sections}</main>
<script>{js}</script>
</body></html>
"""


# ------------------------------------------------------------------------------------------------ the manifest

# What the page reads of a manifest, and as what. A manifest is read from the output folder, which anyone may
# have edited: every field is checked against this before the page or the file names use it. TEXT is shown
# (escaped), STR is also sorted or compared, NUMBER and INT are computed with; "*" stands for any other key,
# which must be an id.
TEXT, STR, NUMBER, INT = "text", "str", "number", "int"
_PARAMS = {name: TEXT for name in ("prompt", "negative", "seed", "steps", "strength", "guidance")}
_CUT = {
    "chain": STR, "position": INT, "status": STR, "model": STR, "shotrender": STR, "error": TEXT, "reuse_of": TEXT,
    "seed_used": TEXT, "strength_used": TEXT, "timings": {"total": NUMBER}, "device": {"backend": STR},
    "inputs": {"params": _PARAMS, "backend": {"backend": STR, "version": TEXT}}, "image": {"file": STR},
    "pictures": {"flow": STR, "error": STR, "before": STR}, "retouch": {"file": TEXT, "sha256": TEXT},
    "retake": {"instruction": TEXT, "take": INT, "picture": TEXT},
    "retouches": {"*": TEXT},
    "camera": {"size": [INT], "frames": INT, "easing": STR, "start": [NUMBER], "end": [NUMBER], "preview": STR},
    "continuity": {"sheet": TEXT, "mode": TEXT, "reference": TEXT, "reason": TEXT, "alone": TEXT, "hint": TEXT,
                   "limit": NUMBER,
                   "overlap": TEXT, "layout_error": TEXT, "chosen": INT,
                   "attempts": [{"seed": TEXT, "strength": TEXT, "score": NUMBER, "seconds": TEXT}]},
}
_SHEET = {"sheet": STR, "cut": STR, "chain": STR, "status": STR, "image": {"file": STR}, "size": [INT],
          "cuts": [STR], "camera": {"*": [[NUMBER]]}}
_TOP = {"episode": STR, "updated": TEXT, "shotlist": TEXT, "last_run": {"seconds": NUMBER, "backend": {
    "backend": STR, "*": TEXT}}, "size": [INT], "sheets": [_SHEET]}
_DROP = object()
# a sheet's name in sheets/: park_1, or a variant's park_1@night (sheets.variant_of)
SHEET_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+(@[A-Za-z0-9_-]+)?\Z")
MAX_WARNINGS = 10


def _clean(value, spec, path: str, bad: list[str]):
    """`value` as `spec` describes it, unknown keys left out; _DROP (and its path in `bad`) when it is not."""
    if value is None:
        return _DROP
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            bad.append(path)
            return _DROP
        out = {}
        for key, item in value.items():
            sub = spec.get(key) or (spec.get("*") if key != "*" else None)
            if sub is None:
                continue
            if key not in spec and not ID_RE.match(key):
                bad.append(f"{path}.{key}")
                continue
            item = _clean(item, sub, f"{path}.{key}", bad)
            if item is not _DROP:
                out[key] = item
        return out
    if isinstance(spec, list):
        items = [_clean(v, spec[0], f"{path}[{i}]", bad) for i, v in enumerate(value)] \
            if isinstance(value, list) else [_DROP]
        if _DROP in items:
            bad.append(path)
            return _DROP
        return items
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec == NUMBER and number:
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        ok = math.isfinite(value)
    else:
        ok = {TEXT: number or isinstance(value, (str, bool)), STR: isinstance(value, str),
              INT: number and isinstance(value, int)}.get(spec, False)
    if not ok:
        bad.append(path)
        return _DROP
    return value


def clean_manifest(manifest: dict) -> tuple[dict, list[str]]:
    """The manifest as the page may use it, and a warning for each entry skipped or field left out.

    An entry without a cut id (or with one already seen) is skipped; a field of the wrong type is not shown.
    Counts are made again from the entries shown, so the page's figures agree with its cards.
    """
    warnings: list[str] = []
    bad: list[str] = []
    out = _clean({k: v for k, v in manifest.items() if k in _TOP}, _TOP, "manifest", bad)
    size = out.get("size")
    if size is not None and not (len(size) == 2 and all(0 < v <= 65536 for v in size)
                                 and 1 / 16 <= size[0] / size[1] <= 16):
        bad.append("manifest.size")
        del out["size"]
    if any(not SHEET_NAME_RE.match(sheet.get("cut", "")) or not ID_RE.match(sheet.get("chain", ""))
           or "sheet" not in sheet for sheet in out.get("sheets", ())):  # a sheet is named by its id on the page
        bad.append("manifest.sheets")
        del out["sheets"]
    if "episode" in out and not ID_RE.match(out["episode"]):
        bad.append("manifest.episode")
        del out["episode"]
    if bad:
        warnings.append(f"{', '.join(bad)} not as shotrender writes them; not shown")
    entries = manifest.get("cuts")
    if not isinstance(entries, list):
        warnings.append("manifest.cuts is not a list; no cuts shown")
        entries = []
    cuts, seen = [], set()
    for i, entry in enumerate(entries):
        cid = entry.get("cut") if isinstance(entry, dict) else None
        if not isinstance(cid, str) or not ID_RE.match(cid) or cid in seen:
            why = "has no valid cut id" if not isinstance(cid, str) or cid not in seen else \
                "repeats the cut id of an earlier entry"
            warnings.append(f"manifest cuts[{i}] {why}; skipped")
            continue
        seen.add(cid)
        bad = []
        cut = _clean({k: v for k, v in entry.items() if k in _CUT}, _CUT, f"cut {cid}", bad)
        if bad:
            warnings.append(f"{', '.join(bad)} not as shotrender writes them; not shown")
        cuts.append({"cut": cid, **cut})
    out["cuts"] = cuts
    out["counts"] = _counts(cuts)
    if len(warnings) > MAX_WARNINGS:
        warnings[MAX_WARNINGS:] = [f"and {len(warnings) - MAX_WARNINGS} more problems in the manifest"]
    return out, warnings


def _counts(cuts: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cut in cuts:
        status = cut.get("status", "missing")
        counts[status] = counts.get(status, 0) + 1
    return counts


# ------------------------------------------------------------------------------------------------ I/O

def read_manifest(out_dir: Path) -> dict:
    """The output folder's manifest.json as written; a symlink there is refused, not followed."""
    path = Path(out_dir) / "manifest.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO there would block the open
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise UsageError(f"{path} is not a regular file; remove it and render again to rebuild it")
            manifest = json.loads(f.read())
    except FileNotFoundError as e:
        raise UsageError(f"{path} does not exist; render the episode first (shotrender render …)") from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symlink; remove it and render again to rebuild it") from e
        raise UsageError(f"{path} is unreadable ({e.strerror or e}); render again to rebuild it") from e
    except ValueError as e:
        raise UsageError(f"{path} is unreadable ({e}); render again to rebuild it") from e
    if not isinstance(manifest, dict) or not str(manifest.get("schema", "")).startswith("shotrender.manifest/"):
        raise UsageError(f"{path} is not a shotrender manifest")
    return manifest


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's header, or None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _make_thumb(src: Path, dst: Path, width: int) -> tuple[int, int] | None:
    """A JPEG thumbnail of `src`, remade only when `src` is newer; its size, or None if `src` is unreadable.
    Raises WriteError when the thumbnail cannot be written.

    OpenCV rather than Pillow: twice as fast here, and it lets threads run in parallel."""
    import cv2
    import numpy as np
    from PIL import Image

    if _newer_than(dst, src):
        try:
            with Image.open(dst) as im:
                return im.size
        except (OSError, ValueError, Image.DecompressionBombError):
            pass  # damaged: made again
    try:
        image = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
        if image is None:
            return None
        if image.dtype != np.uint8:  # 16-bit layouts
            image = (image / 257).astype(np.uint8)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:  # transparent line art lies on white paper, as in read_layout
            alpha = image[:, :, 3:] / 255.0
            image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
        h, w = image.shape[:2]
        if w > width:
            h, w = max(1, round(h * width / w)), width
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 82])
    except (OSError, ValueError, cv2.error):
        return None
    if not ok:
        return None
    write_atomic(dst, data.tobytes())
    return w, h


def _own_file(out_dir: Path, name: str) -> bool:
    """Whether `name` is a plain file name of the output folder: no folder part, no `..`, not a symlink out.

    The manifest names the pictures the report copies into thumbs/; anything else it names is not read."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        return False
    path = out_dir / name
    if os.path.lexists(path) and not path.is_file():  # a FIFO would block the thumbnail's read for ever
        return False
    return not path.is_symlink() or Path(os.path.realpath(path)).parent == Path(os.path.realpath(out_dir))


def _sources(manifest: dict, out_dir: Path, layouts: dict[str, Path],
             warnings: list[str]) -> list[tuple[str, str, Path, str | None]]:
    """(cut, kind, source file, link target relative to the report) for every picture the report shows.

    Layouts are the shot list's; pictures are the output folder's own files the manifest names (a name that
    leads elsewhere is skipped with a warning)."""
    items = []
    for cut in manifest["cuts"]:
        cid = cut["cut"]
        if cid in layouts:
            items.append((cid, "layout", layouts[cid], None))
        image = (cut.get("image") or {}).get("file")
        names = {"render": image} if image and cut.get("status") not in ("missing", "failed") else {}
        for kind, name in {**names, **(cut.get("pictures") or {})}.items():
            if _own_file(out_dir, name):
                items.append((cid, kind, out_dir / name, name))
            else:
                warnings.append(f"cut {cid}: {kind} picture {name!r} is not a file of {out_dir}; not shown")
    folder = out_dir / SHEETS_FOLDER
    for sheet in manifest.get("sheets", ()):
        name = (sheet.get("image") or {}).get("file")
        if name and sheet.get("status") not in ("missing", "failed") and _own_file(folder, name):
            items.append((sheet["cut"], "sheet", folder / name, f"{SHEETS_FOLDER}/{name}"))
    return items


def thumbs_folder(out_dir: Path) -> Path:
    """<out>/thumbs, made if need be; refused when it is a symlink or not a folder (nothing is written through it)."""
    return own_folder(out_dir / THUMBS, "the report writes its thumbnails there")


def make_thumbs(manifest: dict, out_dir: Path, layouts: dict[str, Path], bar: bool = False,
                warnings: list[str] | None = None) -> dict[tuple[str, str], Thumb]:
    """Thumbnails of every layout, render, flow and error picture of a cleaned manifest, under <out>/thumbs/.

    `bar`: a progress bar on standard error while they are made (a long episode's first report takes seconds).
    `warnings` collects the pictures skipped.
    """
    from tqdm import tqdm

    folder = thumbs_folder(out_dir)
    episode = manifest.get("episode", "ep")
    items = _sources(manifest, out_dir, layouts, [] if warnings is None else warnings)

    def one(item):
        cid, kind, src, full = item
        size = _png_size(src) if full else None
        if size and size[0] <= THUMB_WIDTH:  # already thumbnail-sized: shown as it is
            return (cid, kind), Thumb(full, *size, full)
        name = f"{episode}_{cid}.{kind}.jpg"
        size = _make_thumb(src, folder / name, THUMB_WIDTH)
        return (cid, kind), (Thumb(f"{THUMBS}/{name}", *size, full) if size else None)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool, \
            tqdm(total=len(items), desc="thumbnails", unit="picture", disable=not bar, leave=False) as progress:
        thumbs = {}
        for key, thumb in pool.map(one, items):
            progress.update(1)
            if thumb is not None:
                thumbs[key] = thumb
        return thumbs


def contact_sheet(manifest: dict, out_dir: Path, thumbs: dict[tuple[str, str], Thumb]):
    """One PIL image of a cleaned manifest: every cut in episode order, its render thumbnail, its id and status."""
    from PIL import Image, ImageDraw, ImageFont

    cuts = manifest["cuts"]
    n = len(cuts)
    cols = max(1, min(12, n, round(math.sqrt(n * 1.6))))
    tile = 320 if n <= 48 else 240 if n <= 120 else 160  # a long episode's sheet stays near 6 Mpx
    w, h = manifest.get("size") or (16, 9)
    th = max(1, round(tile * h / w))
    label, pad, head = 30, 10, 52
    rows = max(1, -(-len(cuts) // cols))
    sheet = Image.new("RGB", (pad + cols * (tile + pad), head + rows * (th + label + pad)), (21, 23, 28))
    draw = ImageDraw.Draw(sheet)
    font, small = ImageFont.load_default(size=18), ImageFont.load_default(size=15)
    o = overview(manifest)
    counts = sorted(o["counts"].items(), key=lambda kv: _status_rank(kv[0]))
    title = f"{o['episode']}  ·  {counted(o['cuts'], 'cut')}  ·  " + ", ".join(f"{n} {s}" for s, n in counts)
    draw.text((pad, 14), title + ("   DRAFT" if o["draft"] else ""), fill=(230, 232, 236), font=font)
    for i, cut in enumerate(cuts):
        x, y = pad + (i % cols) * (tile + pad), head + (i // cols) * (th + label + pad)
        status = cut.get("status", "missing")
        colour = STATUS_COLOURS.get(status, (130, 130, 130))
        move = _move_of(cut)
        tile_image = _tile(out_dir, thumbs.get((cut["cut"], "render")), tile, th, move)
        if tile_image is not None:
            sheet.paste(tile_image, (x, y))
        else:
            draw.rectangle((x, y, x + tile - 1, y + th - 1), fill=(40, 43, 50))
            draw.text((x + tile // 2, y + th // 2), f"no render ({status})", fill=(150, 150, 150), font=small,
                      anchor="mm")
        before = _tile(out_dir, thumbs.get((cut["cut"], "before")), tile // 2, th // 2) if status == "retouched" \
            else None
        if before is not None:  # the render beside the retouch: in its top-left quarter, framed
            sheet.paste(before, (x, y))
            draw.rectangle((x, y, x + tile // 2, y + th // 2), outline=colour, width=2)
            draw.rectangle((x, y + th // 2 - 20, x + 62, y + th // 2), fill=(30, 33, 40))
            draw.text((x + 6, y + th // 2 - 4), "render", fill=(230, 232, 236), font=small, anchor="ls")
        draw.rectangle((x, y + th, x + tile - 1, y + th + label - 1), fill=(30, 33, 40))
        draw.rectangle((x, y + th, x + 5, y + th + label - 1), fill=colour)
        draw.text((x + 12, y + th + label // 2), cut["cut"], fill=(230, 232, 236), font=font, anchor="lm")
        draw.text((x + tile - 8, y + th + label // 2), status, fill=colour, font=small, anchor="rm")
        if status in ("flagged", "failed", "blocked"):
            draw.rectangle((x, y, x + tile - 1, y + th + label - 1), outline=colour, width=3)
    return sheet


def _tile(out_dir: Path, thumb: Thumb | None, width: int, height: int, move: dict | None = None):
    """A render's thumbnail at the contact sheet's tile size, or None when there is none or it is unreadable.
    A moving cut's deliverable is fitted into the tile whole, its first (green) and last (red) framings and
    the path between them drawn on it."""
    from PIL import Image, ImageDraw

    if thumb is None:
        return None
    try:
        with Image.open(out_dir / thumb.src) as im:
            im.draft("RGB", (width, height))  # JPEG decodes straight at a half or a quarter of the size
            if move is None:
                return im.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
            scale = min(width / move["size"][0], height / move["size"][1])
            w, h = max(1, round(move["size"][0] * scale)), max(1, round(move["size"][1] * scale))
            tile = Image.new("RGB", (width, height), (40, 43, 50))
            x0, y0 = (width - w) // 2, (height - h) // 2
            tile.paste(im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), (x0, y0))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    draw = ImageDraw.Draw(tile)
    centres = []
    for (x, y, fw, fh), colour in ((move["start"], (76, 217, 100)), (move["end"], (255, 90, 90))):
        left, top = x0 + x * scale, y0 + y * scale
        # a framing under a tile pixel (an edited manifest's) is drawn as one: Pillow refuses a box whose end
        # is before its start
        box = [left, top, max(left, x0 + (x + fw) * scale - 1), max(top, y0 + (y + fh) * scale - 1)]
        draw.rectangle(box, outline=colour, width=2)
        centres.append((x0 + (x + fw / 2) * scale, y0 + (y + fh / 2) * scale))
    draw.line(centres, fill=(255, 210, 60), width=2)
    return tile


def _newer_than(path: Path, *sources: Path) -> bool:
    """Whether `path` is a file (not a symlink) written after every source changed (the sheet's PNG is slow to
    encode). A symlink planted there is never kept: the write that follows replaces it."""
    try:
        own = os.lstat(path)
        return stat.S_ISREG(own.st_mode) and own.st_mtime >= max(src.stat().st_mtime for src in sources)
    except OSError:
        return False


def write_report(out_dir: Path, layouts: dict[str, Path] | None = None, bar: bool = False,
                 reviews: dict[str, str] | None = None) -> ReportFiles:
    """Write `<out>/report.html`, its thumbnails and `<out>/<episode>_contact.png` from the manifest.

    `layouts` maps cut ids to layout files (the shot list's); a cut without one shows no layout. Every file is
    written atomically through shotrender.files; `ReportFiles.warnings` lists what of the manifest was skipped.
    `bar`: show a progress bar on standard error while the thumbnails are made. `reviews` maps cut ids to their
    review state (review/decisions.py), shown on each cut's card.
    """
    out_dir = Path(out_dir)
    manifest, warnings = clean_manifest(read_manifest(out_dir))
    for cut in manifest["cuts"]:
        cut["review"] = (reviews or {}).get(cut["cut"])
    thumbs = make_thumbs(manifest, out_dir, layouts or {}, bar, warnings)
    html_path = out_dir / REPORT_NAME
    write_text_atomic(html_path, report_html(manifest, thumbs))
    sheet_path = out_dir / f"{manifest.get('episode', 'episode')}_{CONTACT_SHEET}.png"
    if not _newer_than(sheet_path, out_dir / "manifest.json", Path(__file__)):
        data = io.BytesIO()
        contact_sheet(manifest, out_dir, thumbs).save(data, "PNG", compress_level=1)  # level 6 takes seconds
        write_atomic(sheet_path, data.getvalue())
    return ReportFiles(html_path, sheet_path, len(manifest["cuts"]), tuple(warnings))
