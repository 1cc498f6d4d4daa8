"""Thinning and pen re-inking (lab.tasks.pen), checked against scipy's connected-component labelling."""

import pytest
import torch
from scipy import ndimage

from lab.tasks.pen import pen_strokes, thin

EIGHT = torch.ones(3, 3).numpy()  # 8-connectivity for ink


def _ring(size: int = 28, outer: float = 10.0, inner: float = 5.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2).sqrt()
    return ((r <= outer) & (r >= inner)).float().view(1, 1, size, size)


def test_a_thick_bar_thins_to_a_line_one_pixel_wide_inside_its_ink():
    bar = torch.zeros(1, 1, 28, 28)
    bar[..., 10:16, 3:25] = 1
    skeleton = thin(bar)
    assert bool((skeleton <= bar).all())
    columns = skeleton[0, 0, :, 6:22].sum(0)  # away from the ends
    assert bool((columns == 1).all()), columns
    assert ndimage.label(skeleton[0, 0].numpy(), EIGHT)[1] == 1


def test_thinning_keeps_a_ring_a_ring_and_is_idempotent():
    ring = _ring()
    skeleton = thin(ring)
    ink_parts = ndimage.label(skeleton[0, 0].numpy(), EIGHT)[1]
    background_parts = ndimage.label(1 - skeleton[0, 0].numpy())[1]  # 4-connected: the hole and the outside
    assert (ink_parts, background_parts) == (1, 2)
    assert skeleton.sum() < 0.5 * ring.sum()
    assert torch.equal(thin(skeleton), skeleton)


def test_pen_strokes_redraw_faint_blurred_ink_as_dark_thin_lines():
    blurred = torch.nn.functional.avg_pool2d(_ring(), 5, stride=1, padding=2) * 0.6  # grey, wide, soft
    out = pen_strokes(blurred)
    assert out.shape == blurred.shape
    assert float(out.min()) >= 0 and float(out.max()) == 1.0
    assert (out > 0.5).sum() < (blurred > 0.1).sum() / 2
    empty = pen_strokes(torch.zeros(2, 1, 28, 28) + 0.01)
    assert float(empty.max()) == 0.0


def test_pen_strokes_refuse_a_threshold_outside_0_1():
    with pytest.raises(ValueError, match="threshold"):
        pen_strokes(torch.zeros(1, 1, 8, 8), threshold=1.5)


def test_pen_strokes_keep_any_leading_shape_and_treat_each_image_alone():
    rings = torch.cat([_ring(), 0.5 * _ring(outer=8, inner=4)]).view(2, 1, 1, 28, 28).expand(2, 3, 1, 28, 28)
    out = pen_strokes(rings)
    assert out.shape == (2, 3, 1, 28, 28)
    assert torch.equal(out[1, 2], pen_strokes(rings[1, 2].unsqueeze(0))[0])  # the faint ring, scaled to its own peak
