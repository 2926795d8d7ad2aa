"""A background's art board (美術ボード): `art_board: {image: PATH, strength: NUMBER}`, the picture of the
place everyone paints to. The shot-list side: reading and checking it, and its part of a cut's cache key.

The draft backend takes the place's palette from it (backends/draft/boards.py); a backend reads it when
"art_board" is in its `reads`. docs/shotlist.md#art-boards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from shotrender.files import read_named_image

KEYS = ("image", "strength")
FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")


@dataclass(frozen=True)
class ArtBoard:
    image: str  # as written, relative to the shot list's folder
    strength: float = 1.0
    line: int | None = None


def read(ck, data: dict, path: tuple) -> ArtBoard | None:
    """A background's `art_board:` (`ck` is the shot list's checker), checked; None when unset."""
    value = data.get("art_board")
    if value is None:
        return None
    where = (*path, "art_board")
    block = ck.mapping(value, where, "art_board")
    if not block:
        if block == {}:
            ck.add(where, "is empty", "give art_board: {image: boards/park.png, strength: 1.0}")
        return None
    ck.unknown_keys(block, where, KEYS)
    image = ck.text(block, where, "image", required=True)
    strength = ck.number(block, where, "strength")
    if strength is not None and not 0 <= strength <= 1:
        ck.add((*where, "strength"), f"must be between 0 and 1, got {strength:g}",
               "1.0 paints in the board's colours, 0 ignores the board")
        return None
    if not image:
        return None
    return ArtBoard(image, 1.0 if strength is None else strength, ck.line(where))


def resolved(board: ArtBoard | None, base_dir: Path) -> tuple[str, float] | None:
    """(absolute path, strength) as jobs and requests carry it."""
    return None if board is None else (str((base_dir / Path(board.image).expanduser()).absolute()), board.strength)


def file_problems(shotlist, problem, refused: set[str] = frozenset()) -> list:
    """Art boards that are missing or are no image, as `problem(line, field, message, fix, cut)`s; those in
    `refused` (as written: the shot list's path rule refused them) are not opened."""
    from PIL import Image, UnidentifiedImageError

    out = []
    written = [(bg.art_board, f"backgrounds.{bg.id}") for bg in shotlist.backgrounds.values()]
    written += [(v.art_board, f"backgrounds.{bg.id}.variants.{v.name}") for bg in shotlist.backgrounds.values()
                for v in bg.variants.values()]
    for board, where in written:
        if board is None or board.image in refused:
            continue
        path = Path(resolved(board, shotlist.base_dir)[0])
        field = f"{where}.art_board.image"
        try:
            with Image.open(io.BytesIO(read_named_image(path))) as image:
                if image.format not in FORMATS:
                    raise UnidentifiedImageError(image.format)
                image.verify()
        except FileNotFoundError:
            out.append(problem(board.line, field, f"art board '{board.image}' does not exist "
                               f"(paths are relative to {shotlist.base_dir})", "give the board's image file", None))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
            out.append(problem(board.line, field, f"art board '{board.image}' is not an image this "
                               f"reads ({', '.join(FORMATS)})", "give the board as a PNG or JPEG", None))
    return out


def key_inputs(board: tuple[str, float]) -> dict:
    """The art board's part of a cache key: its content hash (through the hash cache) and strength."""
    from shotrender.model_settings import lora_inputs

    (entry,) = lora_inputs(((board[0], board[1]),))
    return {"sha256": entry["sha256"], "strength": board[1]}
