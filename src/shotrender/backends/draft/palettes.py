"""The draft backend's palettes: hand-made colour families per setting, relit per light, picked by the prompt.

The prompt names a setting and a light (`prompt_cues`); the seed picks one of the setting's palettes and
shifts its white balance (`choose_colours`). See the package's doc for how the colours are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Palette:
    """One setting in daylight, as hex colours. Lists run from high/far/light to low/near/dark."""

    sky: tuple[str, str]  # top of frame, horizon (indoors: the ceiling)
    ground: tuple[str, ...]
    natural: tuple[str, ...]  # foliage, water, fabric
    built: tuple[str, ...]  # walls, roofs, furniture, posts
    accents: tuple[str, ...]  # window glass, signs, small lit things
    haze: float = 0.3  # how far distant masses fade toward the horizon colour


@dataclass(frozen=True)
class Light:
    """How a time of day or the weather relights a daylight palette."""

    sky: tuple[str, str] | None
    multiply: tuple[float, float, float]
    ambient: str
    ambient_mix: float
    accents: tuple[str, ...] | None = None  # lit windows after dark


# fmt: off
SETTINGS: dict[str, tuple[Palette, ...]] = {
    "town": (
        Palette(("#5b9bd5", "#cfe5f3"), ("#b8b2a4", "#a39d8f", "#8c8679"),
                ("#a9c98f", "#86b07a", "#6f9a6a", "#5d7f5e"), ("#ece3d2", "#cdbb9f", "#a9b5bd", "#b58a6e"),
                ("#e6f0f6", "#f0c36a", "#8a5d4a")),
        Palette(("#74aee0", "#e4eef2"), ("#c4bba8", "#aaa08c", "#938a77"),
                ("#b5d19a", "#94bb84", "#79a372", "#628766"), ("#f1e7d5", "#d8c4a5", "#9fb3c2", "#c49a7a"),
                ("#f3f6f8", "#e9a86b", "#6f5a4e")),
    ),
    "spring": (
        Palette(("#6fb2e6", "#e6f1f7"), ("#b7d98b", "#dccdab", "#8fbf68"),
                ("#f7d3de", "#eeb0c3", "#b9d98f", "#8dbb76"), ("#f1ebe0", "#d9cdb8", "#a9bccb", "#8c7466"),
                ("#fff4f6", "#e4a06f", "#5e7080")),
        Palette(("#86bde8", "#f2eef0"), ("#c6de95", "#e4d6b8", "#9dc978"),
                ("#fbe1e8", "#f2c0cf", "#cde4a3", "#9fc787"), ("#f4efe6", "#e0d2bd", "#b3c4d0", "#957c6c"),
                ("#fffaf2", "#f0b87c", "#6b7c8a")),
    ),
    "autumn": (
        Palette(("#7fb0da", "#efe3cc"), ("#cdb27c", "#b8955f", "#a2804c"),
                ("#f1b860", "#e0863f", "#c65a38", "#a4915a"), ("#efe2c9", "#d3bd98", "#a9a9a0", "#7a5f4c"),
                ("#fbf1dc", "#c9d6de", "#5c4a3e")),
        Palette(("#92b9d8", "#f4e6c8"), ("#d6bb84", "#bf9c62", "#a8854f"),
                ("#f6cd78", "#ec9d52", "#d2704a", "#b1a068"), ("#f3e8d2", "#dcc7a3", "#b2b0a5", "#85695a"),
                ("#fff6e2", "#b9cdd8", "#634f42")),
    ),
    "forest": (
        Palette(("#8fc2d6", "#dbeadf"), ("#8fae6a", "#b59d74", "#6b8f52"),
                ("#b7d494", "#88b878", "#5f9a62", "#3f7a55"), ("#d9ccb0", "#a68f72", "#7d6a55", "#5e4b3b"),
                ("#eef5e4", "#d9b56f", "#46584c")),
        Palette(("#9ccbd8", "#e6efe0"), ("#9dba74", "#c2a97c", "#74985a"),
                ("#c6dea2", "#98c487", "#6ea86c", "#4b8660"), ("#e1d5ba", "#b09a7c", "#88745f", "#6a5443"),
                ("#f4f8ea", "#e2c07a", "#505f52")),
    ),
    "sea": (
        Palette(("#4fa0dc", "#d4ecf7"), ("#ecdfb8", "#dbc99b", "#c9b486"),
                ("#8fd0dc", "#4fb0c8", "#2f8fb0", "#7fa88a"), ("#f4efe4", "#e3d2ae", "#b9a58a", "#7a8a94"),
                ("#ffffff", "#f2b96b", "#4d6a7a")),
        Palette(("#64addf", "#e2f2f7"), ("#f1e5c4", "#e0cfa4", "#cfbb8d"),
                ("#a4dce4", "#62bcd2", "#3b9cbb", "#8cb394"), ("#f7f2e8", "#e8d9b8", "#c4b296", "#84949e"),
                ("#fbfdfd", "#e8a866", "#56707e")),
    ),
    "snow": (
        Palette(("#9fb7cc", "#e6edf2"), ("#f4f6f8", "#e3e9ef", "#d6dfe8"),
                ("#eef2f5", "#c9d6df", "#8fa595", "#6f8576"), ("#e9e4dc", "#c9c2b8", "#9aa6b4", "#7d6d66"),
                ("#fff7e6", "#f2c27a", "#55606c")),
        Palette(("#a9bfd6", "#eef1f4"), ("#f7f8fa", "#e8edf3", "#dbe3ec"),
                ("#f3f5f8", "#d3dde6", "#9aae9f", "#7a8f80"), ("#eee9e1", "#d1cac0", "#a5b1be", "#86766e"),
                ("#fffaf0", "#e9b46e", "#5d6874")),
    ),
    "interior": (
        Palette(("#f2ebde", "#e9dfcc"), ("#c99f74", "#b58a60", "#9e744f"),
                ("#e9c9b8", "#c7a7a0", "#9fb4c4", "#d8b27a"), ("#efe5d2", "#e0cfb2", "#b89474", "#8aa0ae"),
                ("#dbeef7", "#f2c27c", "#8a5b49"), haze=0.0),
        Palette(("#eef0ea", "#e2e3da"), ("#d2b08a", "#bf9a72", "#a8835d"),
                ("#e8d2c0", "#d1aa8f", "#a9bfb0", "#e0c082"), ("#ecebe1", "#d9d3bf", "#a9876b", "#9bb09a"),
                ("#e4f1f6", "#f3cf8a", "#7d5a4c"), haze=0.0),
    ),
}

LIGHTS: dict[str, Light] = {
    "day": Light(None, (1.0, 1.0, 1.0), "#ffffff", 0.0),
    "dawn": Light(("#98a6d6", "#f8d9c6"), (0.98, 0.93, 0.92), "#c9b6cf", 0.14),
    "dusk": Light(("#6c5a9c", "#f6b27c"), (1.0, 0.82, 0.72), "#7d5d86", 0.18,
                  ("#ffd89a", "#ffc46b", "#f29f6b")),
    "night": Light(("#141c38", "#34466e"), (0.34, 0.38, 0.55), "#1a2440", 0.22,
                   ("#ffd27a", "#ffe7ad", "#f5b25e")),
    "rain": Light(("#7f8a95", "#b4bcc3"), (0.8, 0.84, 0.88), "#8a949e", 0.25),
}

SETTING_WORDS = {
    "spring": ("spring", "cherry", "sakura", "blossom", "blossoms"),
    "autumn": ("autumn", "fall", "maple"),
    "forest": ("forest", "woods", "jungle"),
    "sea": ("sea", "beach", "ocean", "coast", "shore", "harbor", "harbour"),
    "snow": ("snow", "snowy", "winter"),
    "interior": ("interior", "indoor", "indoors", "room", "bedroom", "classroom", "kitchen", "hallway",
                 "corridor"),
}
LIGHT_WORDS = {
    "day": ("day", "daytime", "noon", "midday", "afternoon", "sunny"),
    "dawn": ("dawn", "sunrise", "morning"),
    "dusk": ("dusk", "sunset", "evening", "twilight"),
    "night": ("night", "midnight", "moonlight", "moonlit", "starry"),
    "rain": ("rain", "rainy", "overcast", "storm"),
}
# fmt: on
SETTING_CUES = {word: name for name, words in SETTING_WORDS.items() for word in words}
LIGHT_CUES = {word: name for name, words in LIGHT_WORDS.items() for word in words}


def prompt_cues(prompt: str) -> tuple[str, str]:
    """(setting, light) named by a prompt: "street at dusk" → ("town", "dusk")."""
    setting, light = "town", "day"
    for word in re.findall(r"[a-z]+", prompt.lower()):
        setting = SETTING_CUES.get(word, setting)
        light = LIGHT_CUES.get(word, light)
    return setting, light


def _rgb(hex_colours) -> np.ndarray:
    return np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hex_colours], np.float32) / 255


@dataclass(frozen=True)
class Colours:
    """A palette relit and jittered: float32 RGB in 0..1, ready to paint."""

    sky: np.ndarray  # 2×3: top, horizon
    cloud: np.ndarray
    ground: np.ndarray  # n×3
    natural: np.ndarray
    built: np.ndarray
    accents: np.ndarray
    line: np.ndarray
    haze: float


def choose_colours(setting: str, light_name: str, rng: np.random.Generator) -> Colours:
    """The seed picks one of the setting's palettes and shifts its white balance a little."""
    variants = SETTINGS[setting]
    palette = variants[int(rng.integers(len(variants)))]
    light = LIGHTS[light_name]
    balance = (1 + rng.normal(0, 0.03, 3) + rng.normal(0, 0.03)).astype(np.float32)
    multiply = np.array(light.multiply, np.float32)
    ambient = _rgb([light.ambient])[0] * light.ambient_mix

    def relight(hexes) -> np.ndarray:
        c = _rgb(hexes) * balance * (1 + 0.02 * rng.standard_normal((len(hexes), 1), np.float32))
        return np.clip(c * multiply * (1 - light.ambient_mix) + ambient, 0, 1)

    # Indoors the "sky" is the ceiling: relit like the room, never replaced by an evening sky.
    if setting == "interior" or light.sky is None:
        sky = relight(palette.sky)
    else:
        sky = np.clip(_rgb(light.sky) * balance, 0, 1)
    natural, built = relight(palette.natural), relight(palette.built)
    masses = np.concatenate([natural, built])
    return Colours(
        sky=sky,
        cloud=np.clip(sky[1] * 0.45 + multiply * balance * 0.55, 0, 1),
        ground=relight(palette.ground),
        natural=natural,
        built=built,
        accents=relight(palette.accents) if light.accents is None else _rgb(light.accents),
        line=masses[np.argmin(masses.sum(axis=1))] * 0.35,
        haze=palette.haze,
    )

