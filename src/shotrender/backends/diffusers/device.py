"""Where the model runs: the device and dtype, the CPU thread setting, the libraries' versions and chatter."""

from __future__ import annotations

import os
import re
from importlib import metadata

from shotrender.errors import UsageError

DEVICES = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
DTYPES = ("float16", "bfloat16", "float32")


def resolve_device(device: str | None, dtype: str | None):
    """(device, torch dtype): CUDA in float16, else MPS, else CPU, both float32 unless told otherwise."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    elif device.startswith("cuda"):
        count = torch.cuda.device_count()
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "(not set)")
            raise UsageError(
                f"device {device!r} asked for, but torch sees {count} CUDA device(s) "
                f"(CUDA_VISIBLE_DEVICES={visible}, torch built for CUDA {torch.version.cuda})"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' asked for, but this torch build or machine has no MPS")
    if dtype is None:
        # fp16 halves memory and time on CUDA; MPS stays float32 as diffusers' own MPS guide does
        dtype = "float16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


def configured_threads() -> int:
    """The CPU thread setting, read without importing torch: MKL_NUM_THREADS, else OMP_NUM_THREADS.

    With neither set, the logical CPU count stands for the machine: torch then takes its physical core
    count, fixed per machine. The thread count changes float rounding, hence a CPU render's bytes.
    """
    for var in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def dtype_argument(dtype) -> dict:
    """diffusers 0.42 renamed `torch_dtype` to `dtype` and warns on the old name; older ones know only it."""
    from diffusers import __version__
    from packaging.version import Version

    return {"dtype" if Version(__version__) >= Version("0.42") else "torch_dtype": dtype}


def library_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def quiet_libraries() -> None:
    """Keep diffusers' and transformers' load-time chatter (optional-package notices, deprecations of
    arguments they pass themselves) out of the render log; real failures still raise."""
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    # their "Loading pipeline components" bars write carriage returns into farm logs; we report progress
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning, module=r"huggingface_hub\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers)\..*")
