"""Finding the model: what a `model:` or `controlnet:` value is, and the configs a single file loads with.

Cheap: nothing here loads weights; a single file's type is read from its header.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from shotrender.errors import ModelError
from shotrender.shotlist import path_reason

ACCEPTED = (
    "a diffusers folder (with model_index.json), a .safetensors checkpoint, "
    "or a Hugging Face hub id such as 'stable-diffusion-v1-5/stable-diffusion-v1-5'"
)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
CONFIG_SUFFIX = ".config"
# what diffusers' single-file loader can detect and an img2img pipeline can run
SINGLE_FILE_TYPES = {"v1": "sd", "v2": "sd", "xl_base": "xl", "xl_refiner": "xl"}
PROBE_SECONDS = 3.0


def model_kind(model: str, allow_unsafe_checkpoint: bool) -> str:
    """'folder', 'file' or 'hub' for a `model:` value; ModelError when it is none of them."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(
                f"model folder {path} has no model_index.json, so it is not a diffusers pipeline folder; "
                f"`model:` accepts {ACCEPTED}"
            )
        return "folder"
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".safetensors":
            return "file"
        if suffix in PICKLE_SUFFIXES:
            if not allow_unsafe_checkpoint:
                raise ModelError(
                    f"{path} is a pickle checkpoint, and loading pickle can run arbitrary code. Use a "
                    ".safetensors version of it, or, if you trust where it came from, allow it with "
                    "--allow-unsafe-checkpoint"
                )
            return "file"
        raise ModelError(f"model file {path} is not a checkpoint this backend reads; `model:` accepts {ACCEPTED}")
    if HUB_ID.match(model) and path_reason(model, None) is None:
        return "hub"
    raise ModelError(f"model {model!r} not found: no such folder or file. `model:` accepts {ACCEPTED}")


def config_beside(checkpoint: Path) -> Path | None:
    """`<name>.config/` next to `<name>.safetensors`: the diffusers configs it loads with offline."""
    folder = checkpoint.with_suffix(CONFIG_SUFFIX)
    if not folder.is_dir():
        return None
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{folder} is there but has no model_index.json; it must be a diffusers config folder "
            "(model_index.json, one subfolder per component, no weights needed)"
        )
    return folder


def controlnet_folder(controlnet: str) -> Path:
    folder = Path(controlnet).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"controlnet {controlnet!r} is not a ControlNet folder: it needs config.json and the weights "
            "beside it (a diffusers ControlNetModel folder, e.g. from `hf download ... --local-dir`)"
        )
    return folder


def checkpoint_type(path: Path) -> str:
    """diffusers' own name for a checkpoint's architecture ('v1', 'v2', 'xl_base', …).

    For .safetensors only the header is read: shapes stand in for the tensors, as the detection
    looks at nothing but key names and shapes.
    """
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type, load_single_file_checkpoint

    if path.suffix.lower() != ".safetensors":
        return infer_diffusers_model_type(load_single_file_checkpoint(str(path)))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        shapes = {key: _Shape(tuple(f.get_slice(key).get_shape())) for key in f.keys()}
    return infer_diffusers_model_type(shapes)


class _Shape:
    """A tensor's stand-in for infer_diffusers_model_type, which reads only `.shape`."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def cached_hub_config(repo: str) -> Path | None:
    """The snapshot of `repo` in the local Hugging Face cache, if diffusers fetched its configs before."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo, local_files_only=True))
    except LocalEntryNotFoundError:
        return None
    return folder if (folder / "model_index.json").is_file() else None


def hub_problem(repo: str) -> str | None:
    """Why the hub id `repo` cannot be loaded, found in seconds at most; None when it is in the local Hugging Face
    cache, or the hub is reachable and lists it (or cannot say: a gated model, an HTTP error), so a load is worth
    trying."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if cached_hub_config(repo) is not None:
        return None
    offline = hub_unreachable()
    if offline is not None:
        return f"the hub cannot be used ({offline}) and it is not in the local Hugging Face cache"
    try:
        HfApi().model_info(repo, timeout=3 * PROBE_SECONDS)
    except GatedRepoError:
        return None  # it exists; the load says what access it needs
    except RepositoryNotFoundError:
        return "the Hugging Face hub has no model by that name"
    except (HfHubHTTPError, OSError, ValueError):
        return None
    return None


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be used, or None if it is worth trying.

    Offline switches first; otherwise one TCP connection (to the proxy if one is set), given at most
    PROBE_SECONDS, name resolution included, so an offline machine fails in seconds, not minutes.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    target = (
        os.environ.get("HTTPS_PROXY")
        or os.environ.get("https_proxy")
        or os.environ.get("HF_ENDPOINT")
        or "https://huggingface.co"
    )
    url = urlsplit(target if "://" in target else "http://" + target)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"cannot connect to {host}:{port}: {e}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {PROBE_SECONDS:g} s"
