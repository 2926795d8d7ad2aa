"""Remake docs/images/tracker.png: the example episode's Background tasks in Kitsu after one round of review,
drawn from the Kitsu API's data (Kitsu's own web page needs its front end, which zou does not serve).

The story runs on a real zou server started as the tests start it (tests/kitsu_server.py; run
scripts/install-kitsu.sh first): a copy of the example episode is rendered (draft backend) and pushed with
--create; pushed again; the director, with gazu, asks for a retake of C006 and approves C001; pull;
status; `render --retakes`; push. Each command's output is printed, then each task as Kitsu holds it:
status, revisions, newest comment, and the figure shows them with the thumbnails Kitsu made.

    python docs/make_tracker_figure.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "tracker.png"
PROJECT = "Spring Park"


def shotrender(*args: str, env: dict | None = None) -> None:
    result = subprocess.run([sys.executable, "-m", "shotrender", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    print(f"$ shotrender {' '.join(args)}\n{result.stderr}{result.stdout}(exit {result.returncode})\n")


def director(client, task_type):
    import gazu

    project = gazu.project.get_project_by_name(PROJECT, client=client)
    episode = gazu.shot.get_episode_by_name(project, "ep01", client=client)
    shots = sorted(gazu.shot.all_shots_for_episode(episode, client=client), key=lambda s: s["name"])
    return [(s, gazu.task.get_task_by_entity(s, task_type, client=client)) for s in shots]


def draw(client, rows) -> None:
    import gazu
    from PIL import Image, ImageDraw, ImageFont

    width, row_h, thumb_w = 1100, 86, 128
    fig = Image.new("RGB", (width, 70 + row_h * len(rows)), (246, 247, 249))
    d = ImageDraw.Draw(fig)
    big, font, small = (ImageFont.load_default(size) for size in (22, 16, 13))
    d.text((20, 18), f"Kitsu · {PROJECT} · ep01 · Background (from the API)", fill=(40, 40, 50), font=big)
    for i, (shot, task) in enumerate(rows):
        y = 60 + i * row_h
        d.rectangle((10, y, width - 10, y + row_h - 8), fill=(255, 255, 255), outline=(225, 227, 232))
        d.text((24, y + 30), shot["name"], fill=(30, 30, 40), font=font)
        previews = gazu.task.all_previews_for_task(task, client=client)  # newest first
        if previews:
            with tempfile.TemporaryDirectory() as tmp:
                gazu.files.download_preview_file_thumbnail(previews[0], f"{tmp}/thumb.png", client=client)
                thumb = Image.open(f"{tmp}/thumb.png").convert("RGB")
            thumb.thumbnail((thumb_w, row_h - 16))
            fig.paste(thumb, (90, y + 4))
        fresh = gazu.task.get_task(task["id"], client=client)
        status = gazu.task.get_task_status(fresh["task_status_id"], client=client)
        x = 90 + thumb_w + 20
        d.rounded_rectangle((x, y + 26, x + 90, y + 50), 6, fill=status["color"])
        d.text((x + 45, y + 38), status["short_name"].upper(), fill="white", font=font, anchor="mm")
        d.text((x + 110, y + 30), f"{len(previews)} revision{'s' if len(previews) != 1 else ''}", fill=(60, 60, 70),
               font=font)
        statuses = {st["id"]: st for st in gazu.task.all_task_statuses(client=client)}
        for j, c in enumerate(gazu.task.all_comments_for_task(task, client=client)[:2]):  # the newest two
            words = (c["text"] or "(no note)").splitlines()[0]
            head = f"{statuses[c['task_status_id']]['short_name'].upper()} · {c['person']['full_name']} · " \
                   f"{c['created_at'][:16].replace('T', ' ')}" + (f" · revision {c['previews'][0]['revision']}"
                                                                  if c["previews"] else "")
            d.text((x + 230, y + 6 + j * 38), head, fill=(120, 120, 130), font=small)
            words = words if len(words) <= 84 else words[:83] + "…"
            d.text((x + 230, y + 22 + j * 38), words, fill=(40, 40, 50), font=small)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.save(OUT)
    print(f"wrote {OUT}")


def main() -> None:
    import gazu

    sys.path.insert(0, str(ROOT / "tests"))
    from kitsu_server import running

    work = Path(tempfile.mkdtemp(prefix="shotrender-tracker-figure-"))
    with running() as server:
        client = gazu.client.create_client(server.url)
        gazu.log_in(server.email, server.password, client=client)
        task_type = gazu.task.new_task_type("Background", for_entity="Shot", client=client)
        gazu.project.new_project(PROJECT, production_type="tvshow", production_style="2d", task_types=[task_type],
                                 client=client)
        shutil.copytree(ROOT / "shots" / "example", work / "example")
        shots = str(work / "example" / "episode.yaml")
        env = {"KITSU_HOST": server.url, "KITSU_EMAIL": server.email, "KITSU_PASSWORD": server.password}
        shotrender("render", shots)
        shotrender("tracker", "push", shots, "--project", PROJECT, "--create", env=env)
        shotrender("tracker", "push", shots, "--project", PROJECT, env=env)
        tasks = {s["name"]: t for s, t in director(client, task_type)}
        for cut, status, text in (("C006", "retake", "the window light should be warmer, late afternoon"),
                                  ("C001", "done", "")):
            gazu.task.add_comment(tasks[cut], gazu.task.get_task_status_by_short_name(status, client=client), text,
                                  client=client)
            print(f"director (gazu): {status} on {cut}" + (f": {text!r}" if text else ""))
        print()
        shotrender("tracker", "pull", shots, "--project", PROJECT, env=env)
        shotrender("status", shots)
        shotrender("render", shots, "--retakes")
        shotrender("tracker", "push", shots, "--project", PROJECT, env=env)
        shotrender("tracker", "push", shots, "--project", PROJECT,
                   env={**env, "KITSU_PASSWORD": "Wrong-Pa55word"})
        rows = director(client, task_type)
        for shot, task in rows:
            fresh = gazu.task.get_task(task["id"], client=client)
            status = gazu.task.get_task_status(fresh["task_status_id"], client=client)["short_name"]
            revisions = [p["revision"] for p in gazu.task.all_previews_for_task(task, client=client)]
            print(f"Kitsu: {shot['name']} {status:<7} revisions {revisions}")
        draw(client, rows)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
