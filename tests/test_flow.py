"""Flow between line-art layouts on synthetic pans with a known answer."""

import cv2
import numpy as np
import pytest

from shotrender import flow
from shotrender.images import read_layout

from helpers import pan_layouts

W, H = 512, 288


def pan(tmp_path, step, seed=3):
    a, b = pan_layouts(tmp_path, 2, W, H, step=step, seed=seed)
    return read_layout(a, W, H), read_layout(b, W, H)


@pytest.mark.parametrize("step", [37, 150])
def test_flow_recovers_a_known_pan(tmp_path, step):
    a, b = pan(tmp_path, step)
    p = flow.pair_flow(a, b)
    dx, dy = p.flow[..., 0][p.mask], p.flow[..., 1][p.mask]
    assert np.median(np.abs(dx - step)) < 0.5 and np.median(np.abs(dy)) < 0.5
    # B pixels left of the revealed strip are seen by A; the strip itself is not
    assert p.mask[:, : W - step - 8].mean() > 0.95
    assert p.mask[:, W - step + 8:].mean() < 0.1
    assert abs(p.overlap - (W - step) / W) < 0.05
    assert flow.warp_error(b, flow.warp(a, p.flow), p.mask) < 0.02


def test_flow_follows_a_zoom(tmp_path):
    a, _ = pan(tmp_path, 10)
    # B: the middle 80 % of A, enlarged to the full frame (a push-in)
    x0, x1, y0, y1 = int(W * 0.1), int(W * 0.9), int(H * 0.1), int(H * 0.9)
    b = cv2.resize(a[y0:y1, x0:x1], (W, H), interpolation=cv2.INTER_LINEAR)
    p = flow.pair_flow(a, b)
    x, y = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    # cv2.resize samples destination pixel centres: src = (dst + 0.5) * scale - 0.5
    expected_x = x0 + (x + 0.5) * (x1 - x0) / W - 0.5 - x
    expected_y = y0 + (y + 0.5) * (y1 - y0) / H - 0.5 - y
    # A zoom is harder than a pan: within a pixel. All of B is in A (it is a crop of A); the mask is
    # conservative in wide empty paper, where nothing pins the flow down, and where resampling makes
    # the enlarged lines differ from A's (measured 0.63 here; 0.56 on the example's 1.28x push-in).
    assert np.median(np.abs(p.flow[..., 0] - expected_x)[p.mask]) < 1.0
    assert np.median(np.abs(p.flow[..., 1] - expected_y)[p.mask]) < 1.0
    assert p.overlap > 0.55


def test_identical_and_unrelated_layouts(tmp_path):
    a, _ = pan(tmp_path / "one", 10, seed=1)
    other, _ = pan(tmp_path / "two", 10, seed=2)
    same = flow.pair_flow(a, a)
    assert same.overlap > 0.98 and np.abs(same.flow).max() < 0.5
    unrelated = flow.pair_flow(a, other)
    assert unrelated.overlap < 0.2  # below any sensible min_overlap: flow is not trusted


def test_pictures_and_small_functions(tmp_path):
    a, b = pan(tmp_path, 40)
    p = flow.pair_flow(a, b)
    picture = flow.flow_to_color(p.flow)
    assert picture.shape == (H, W, 3) and picture.dtype == np.uint8
    heat = flow.error_heatmap(b, flow.warp(a, p.flow), p.mask)
    assert heat.shape == (H, W, 3) and (heat[~p.mask] == 128).all()
    weights = flow.feather(p.mask, 16)
    assert weights.dtype == np.float32 and weights.max() == 1.0 and (weights[~p.mask] == 0).all()
    assert flow.warp_error(a, a, np.zeros((H, W), bool)) == 0.0
    assert flow.overlap(p.mask) == pytest.approx(p.mask.mean())
