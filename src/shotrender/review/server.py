"""The review page's server: a Starlette app of a few routes, one middleware for the token.

Every request must carry the token (`?token=…`, printed with the address, as Jupyter does); without it the
answer is 403, whatever the route. Pictures are named by cut id, never by path: `/picture/C003/render`
serves the cut's current render from the episode's output folder, `/take/C003/2` its second take, and an
id that is not a cut of the shot list (`..`, `/etc/passwd`) is 404. Files are read with files.read_regular
(no symlink followed). The page, its script and its style are package data; the page builds every text
with textContent, and a Content-Security-Policy allows nothing but this server, so no note can run script
and the page loads nothing from the network.

A client's mistake is answered with a short reason, never a 500 or a traceback: a body over MAX_BODY bytes is
413, JSON nested deeper than MAX_JSON_DEPTH or not JSON at all 400, a take number that is not a few ASCII digits
404. A decision that cannot be written (disk full: 507, another write error: 503) is answered with the reason,
which the director's terminal shows on one line; so does anything unforeseen (500, one line, no traceback).

    app = make_app(shotlist, out_dir, token="…", reviewer="ana")
    uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shotrender.errors import UsageError
from shotrender.files import DISK_FULL, WriteError, read_regular
from shotrender.review import decisions, takes
from shotrender.review.decisions import DecisionError, NoSuchCut, PictureChanged, Reviews
from shotrender.state import PLACE_CHANGED, place_painted_since
from shotrender.store import SHEETS_FOLDER, Store

STATIC = {"review.js": "text/javascript", "review.css": "text/css", "icon.svg": "image/svg+xml"}
PICTURES = ("render", "layout", "flow", "error")
MAX_BODY = 64 << 10  # a decision is a few hundred bytes; a note is at most decisions.MAX_NOTE characters
MAX_JSON_DEPTH = 8  # a decision nests two levels ({"changes": {...}})
MAX_TAKE_DIGITS = 6  # takes are numbered from 1; a million is far beyond any cut's
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # the token is in the address: it must not leave in a Referer
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("shotrender.review").joinpath("static", name).read_bytes()


class Episode:
    """What the page shows, read from the output folder and the decisions file on every request."""

    def __init__(self, shotlist, out_dir: Path, reviewer: str):
        from shotrender.plan import make_plan

        self.sl, self.out_dir, self.reviewer = shotlist, Path(out_dir), reviewer
        self.store = Store(out_dir, shotlist.episode)  # remembers verified pictures: each is hashed once
        self.sheet_store = Store(self.out_dir / SHEETS_FOLDER, shotlist.episode)
        self.decisions_path = decisions.path_for(shotlist.source)
        self.cuts = {c.id: c for c in shotlist.cuts}
        self.jobs = {j.cut: j for j in make_plan(shotlist).jobs}
        self.lock = threading.Lock()  # the store's memory is shared by the server's threads

    def current(self, cut: str) -> dict | None:
        with self.lock:
            state = self.store.read_state(cut)
        return state.record if state.image_ok else None

    def summary(self) -> dict:
        reviews = Reviews(decisions.read(self.decisions_path))
        all_takes = takes.list_takes(self.store)
        places: dict[str, list[str]] = {}
        cuts = []
        for cut in self.sl.cuts:
            record = self.current(cut.id)
            sha = record["image"]["sha256"] if record else None
            state, _ = reviews.state(cut.id, sha, takes.current(all_takes.get(cut.id, []), sha) if sha else None)
            job = self.jobs.get(cut.id)
            place = cut.bg or (f"reuses {cut.reuse}" if cut.reuse else "no background")
            places.setdefault(place, []).append(cut.id)
            cont = dict((record or {}).get("continuity") or {})
            attempts, chosen = cont.get("attempts"), cont.get("chosen")
            if isinstance(attempts, list) and isinstance(chosen, int) and 0 <= chosen < len(attempts) \
                    and isinstance(attempts[chosen], dict):
                cont["score"] = attempts[chosen].get("score")  # the chosen attempt's: the one written
            cuts.append({
                "id": cut.id, "place": place, "reuse": cut.reuse, "state": state, "picture": sha,
                # approved, and the sheet it was painted from painted again since (state.py's words)
                "place_changed": state == decisions.APPROVED and place_painted_since(self.sheet_store, record),
                # the prompt the current picture was painted with (a retake's words in it), else the shot list's
                "prompt": ((record or {}).get("inputs") or {}).get("params", {}).get("prompt")
                or (job.prompt if job else None),
                "seed": (record or {}).get("seed_used"),
                "layout": cut.layout is not None,
                "pictures": sorted((record or {}).get("pictures") or {}),
                "check": {k: cont.get(k) for k in ("mode", "score", "limit", "flagged", "reason", "sheet", "reference",
                                                     "alone", "hint")
                          if cont.get(k) is not None} if record and record.get("status") != "reused" else {},
                "status": (record or {}).get("status"),
                "takes": [{"take": t.number, "picture": t.picture, "seed": t.record.get("seed_used"),
                           "strength": t.record.get("strength_used"), "candidate": t.record.get("candidate")}
                          for t in all_takes.get(cut.id, ())],
                "candidates": (record or {}).get("candidate"),  # the retake round its picture is a candidate of
                "decisions": [d.to_dict() for d in reviews.by_cut.get(cut.id, ())],
            })
        return {"episode": self.sl.episode, "size": [self.sl.width, self.sl.height], "reviewer": self.reviewer,
                "place_changed": PLACE_CHANGED,
                "places": [{"name": k, "cuts": v} for k, v in places.items()], "cuts": cuts}

    def decide(self, body) -> dict:
        """Record one decision posted by the page (decisions.decide); raises DecisionError for a bad one,
        NoSuchCut, and PictureChanged when the picture decided on is no longer the cut's current one."""
        if not isinstance(body, dict):
            raise DecisionError("post a JSON object with cut, kind, picture, reviewer, note and changes")
        picture = body.get("picture") if isinstance(body.get("picture"), str) else ""  # the page always sends it
        with self.lock:
            decision = decisions.decide(self.sl, self.store, body.get("cut"), body.get("kind"), body.get("reviewer"),
                                        body.get("note", ""), body.get("changes"), picture, body.get("take"))
        return decision.to_dict()

    def picture(self, cut: str, kind: str) -> bytes | None:
        if cut not in self.cuts or kind not in PICTURES:
            return None
        if kind == "layout":  # the shot list's own: its load checked that it stays in its folder, links resolved
            path = Path(os.path.realpath(self.sl.layout_path(self.cuts[cut]))) if self.cuts[cut].layout else None
        else:
            record = self.current(cut)
            if record is None:
                return None
            name = record["image"]["file"] if kind == "render" else (record.get("pictures") or {}).get(kind)
            path = self.out_dir / name if name else None  # sidecar_problem checked it is a plain file name
        try:
            return read_regular(path) if path else None
        except OSError:
            return None

    def take(self, cut: str, number: str) -> bytes | None:
        # str.isdigit() takes '²' and int() 5,000 digits only to fail: a take number is a few ASCII digits
        if cut not in self.cuts or not (number.isascii() and number.isdigit() and len(number) <= MAX_TAKE_DIGITS):
            return None
        found = next((t for t in takes.list_takes(self.store, [cut]).get(cut, ()) if t.number == int(number)), None)
        return takes.picture(found) if found else None


def make_app(shotlist, out_dir: Path, token: str, reviewer: str, log=None) -> Starlette:
    """The app; `log` takes the one-line reasons the director's terminal shows (default: standard error)."""
    episode = Episode(shotlist, out_dir, reviewer)
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def page(request: Request) -> Response:
        # the page's own script and style are fetched with the token too; token_urlsafe's letters need no escaping
        html = _static("review.html").replace(b"{token}", token.encode())
        return Response(html, media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _missing()
        return Response(_static(name), media_type=STATIC[name])

    def summary(request: Request) -> Response:
        try:
            return JSONResponse(episode.summary())
        except DecisionError as e:  # the decisions file is damaged: not the page's doing, and it stays so until fixed
            log(f"review: {e}")
            return JSONResponse({"error": str(e)}, status_code=503)

    async def decide(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        from starlette.concurrency import run_in_threadpool

        try:  # the file's lock and fsync block: off the event loop, so the other client's requests go on
            return JSONResponse(await run_in_threadpool(episode.decide, body), status_code=201)
        except NoSuchCut:
            return JSONResponse({"error": "no such cut in the shot list"}, status_code=404)
        except PictureChanged as e:
            return JSONResponse({"error": str(e)}, status_code=409)
        except WriteError as e:  # disk full, or the folder went read-only: the decision is not recorded
            cause = e.__cause__
            log(f"review: a decision on {body.get('cut')} was not recorded: {e}")
            full = isinstance(cause, OSError) and cause.errno in DISK_FULL
            return JSONResponse({"error": f"not recorded: {e}"}, status_code=507 if full else 503)
        except DecisionError as e:
            return JSONResponse({"error": str(e)}, status_code=400)

    def picture(request: Request) -> Response:
        data = episode.picture(request.path_params["cut"], request.path_params["kind"])
        return Response(data, media_type="image/png") if data is not None else _missing()

    def take(request: Request) -> Response:
        data = episode.take(request.path_params["cut"], request.path_params["number"])
        return Response(data, media_type="image/png") if data is not None else _missing()

    app = Starlette(routes=[
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/episode", summary),
        Route("/api/decisions", decide, methods=["POST"]),
        Route("/picture/{cut}/{kind}", picture),
        Route("/take/{cut}/{number}", take),
    ])
    return TokenGuard(app, token, log)


def _missing() -> Response:
    return Response("not found", status_code=404, media_type="text/plain")


async def _json_body(request: Request):
    """The request's JSON body, read up to MAX_BODY bytes and refused deeper than MAX_JSON_DEPTH before the
    parser sees it; or the 400/413 answer saying why not."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return _too_large()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            return _too_large()
    if json_depth(bytes(data)) > MAX_JSON_DEPTH:
        return JSONResponse({"error": f"the body nests deeper than {MAX_JSON_DEPTH} levels; post a decision "
                                      "object"}, status_code=400)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return JSONResponse({"error": "the body must be JSON (UTF-8)"}, status_code=400)


def _too_large() -> Response:
    return JSONResponse({"error": f"the body is larger than {MAX_BODY >> 10} KiB; a decision is a few hundred "
                                  "bytes"}, status_code=413)


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings not counted), read without
    parsing: a parser recurses once per level."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


class TokenGuard:
    """ASGI middleware: 403 for any request without the token, before any route is looked at; the security
    headers on every answer; and the last word on anything unforeseen: a 500 with one line in the terminal,
    never a traceback."""

    def __init__(self, app, token: str, log):
        self.app, self.token, self.log = app, token.encode(), log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from urllib.parse import parse_qs

        # percent-decoded as UTF-8 (errors replaced), so any value compares, '€' too; the token is ASCII
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[-1].encode()
        headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        if not secrets.compare_digest(given, self.token):
            await Response("403: this page needs the token printed by `shotrender review`", status_code=403,
                           media_type="text/plain")(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as e:  # a bug of ours: said in one line, the page told, the server goes on
            self.log(f"review: {scope.get('method')} {scope.get('path')} failed: {type(e).__name__}: {e}")
            if not started:
                await Response("500: the review server failed; its terminal says why", status_code=500,
                               media_type="text/plain")(scope, receive, send_with_headers)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(shotlist, out_dir: Path, host: str, port: int, reviewer: str, echo) -> None:
    """Bind, print the address with its token, and serve until interrupted."""
    import socket

    import uvicorn

    token = new_token()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # bound here, so that port 0 picks a free port whose number can be printed
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host} port {port} ({e.strerror or e}); give another --port, or "
                         "--port 0 for a free one") from None
    sock.listen(128)  # from here on a connection waits for the server instead of being refused
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    if not is_loopback(host):
        echo(f"warning: serving on {host}, not loopback: anyone who can reach this machine and learns the "
             "address below can decide on this episode's cuts", err=True)
    echo(f"{shotlist.episode}: review page at http://{shown}:{bound}/?token={token}")
    echo(f"decisions go to {decisions.path_for(shotlist.source)}; Ctrl-C stops the server")
    app = make_app(shotlist, out_dir, token, reviewer, log=lambda line: echo(line, err=True))
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
