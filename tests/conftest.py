"""Shared fixtures. Tests never touch the network: the hub switches below are set before anything imports
huggingface_hub, transformers or diffusers, which read them once at import."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random-weight SD 1.x pipeline in diffusers folder form (tests/tinymodel.py)."""
    from tinymodel import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tinymodel") / "tiny")


@pytest.fixture(scope="session")
def tiny_single_file(tmp_path_factory):
    """The same weights as `tiny_model`, as one original-layout .safetensors with `tiny.config/` beside it."""
    from tinymodel import build_tiny_single_file

    return build_tiny_single_file(tmp_path_factory.mktemp("tinysingle"))


@pytest.fixture(scope="session")
def tiny_controlnet(tmp_path_factory, tiny_model):
    """A ControlNet grown from `tiny_model`'s UNet, with nonzero output convolutions."""
    from tinymodel import build_tiny_controlnet

    return build_tiny_controlnet(tmp_path_factory.mktemp("tinycontrolnet") / "controlnet", tiny_model / "unet")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: on a small shared machine two threads per process make the tiny
    model crawl, and a CPU render's bytes depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hash_cache(tmp_path, monkeypatch):
    """A hash cache of the test's own, so that no test reads or writes the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "shotrender" / "hashes.json"


@pytest.fixture(scope="session")
def tiny_loras(tmp_path_factory, tiny_model):
    """Two LoRAs for `tiny_model` (UNet and text encoder), different random weights: their .safetensors files."""
    from tinymodel import build_tiny_lora

    folder = tmp_path_factory.mktemp("tinyloras")
    return [build_tiny_lora(folder / f"lora{seed}", tiny_model, seed) for seed in (1, 2)]


@pytest.fixture(scope="session")
def tiny_ip_adapter(tmp_path_factory, tiny_model):
    """IP-Adapter weights for `tiny_model` with a tiny image encoder beside them: the weights file."""
    from tinymodel import build_tiny_ip_adapter

    return build_tiny_ip_adapter(tmp_path_factory.mktemp("tinyipadapter") / "ip", tiny_model / "unet")
