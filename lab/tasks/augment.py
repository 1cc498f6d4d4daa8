"""Drawing-level augmentation that mimics different hands drawing the same character.

Omniglot has 20 drawings per character, so a few-shot learner trained on it soon memorises them. Each
drawing is re-drawn here as if by another person: a small random affine map (rotation, anisotropic scale,
shear, shift), a smooth elastic warp (Simard et al. 2003, "Best practices for convolutional neural
networks applied to visual document analysis") and a change of pen thickness (a partial grey-scale
dilation or erosion). All three are one ``grid_sample`` plus one pooling, batched over the drawings, and
every draw comes from the caller's generator.

:class:`AugmentedSource` wraps any :class:`~lab.tasks.episodes.ClassSource` so that every drawing it hands
out is jittered; wrap only the *training* source.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from lab.tasks.base import check_positive


@dataclass(frozen=True)
class HandJitter:
    """Sizes of the random changes; each drawing gets its own draw. Zero switches a change off."""

    rotate_deg: float = 10.0  # uniform in +-rotate_deg: people tilt characters by a few degrees
    scale: float = 0.12  # log-uniform per axis in +-scale (about +-12% size)
    shear: float = 0.15  # uniform shear factor in +-shear
    shift: float = 0.08  # uniform shift in +-shift of the half image width (about +-1 pixel at 28x28)
    elastic: float = 0.05  # peak displacement of the smooth warp, in half image widths (~0.7 pixel)
    elastic_grid: int = 4  # control points per side of the warp: low = smooth, large-scale wobble
    thickness: float = 0.6  # pen change: blend of up to this much dilation (or erosion) of the strokes

    def __post_init__(self) -> None:
        values = asdict(self)
        bad = {k: v for k, v in values.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"HandJitter sizes must be finite and >= 0, got {bad}")
        check_positive("elastic_grid", self.elastic_grid, minimum=2)

    def to_dict(self) -> dict[str, float]:
        """Return the sizes as a JSON-ready dict (for checkpoint cards)."""
        return asdict(self)


def _uniform(n: int, half_width: float, rng: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=rng, device=rng.device) * 2 - 1) * half_width


def jitter(images: torch.Tensor, rng: torch.Generator, sizes: HandJitter | None = None) -> torch.Tensor:
    """Return ``images`` ``[B, 1, H, W]`` (ink 1 on 0, float) each re-drawn with its own random hand.

    Output has the same shape, dtype and device, values in [0, 1].
    """
    if images.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got {list(images.shape)}")
    s = sizes or HandJitter()
    b, _, h, w = images.shape
    device, dtype = images.device, images.dtype
    angle = _uniform(b, math.radians(s.rotate_deg), rng)
    log_scale = torch.stack([_uniform(b, s.scale, rng), _uniform(b, s.scale, rng)], -1)
    shear = _uniform(b, s.shear, rng)
    shift = torch.stack([_uniform(b, s.shift, rng), _uniform(b, s.shift, rng)], -1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shearing = torch.eye(2, device=device).repeat(b, 1, 1)
    shearing[:, 0, 1] = shear
    # affine_grid maps output to input coordinates; the inverse of a small random map is just as random.
    linear = rotation @ shearing @ torch.diag_embed(torch.exp(log_scale))
    theta = torch.cat([linear, shift.unsqueeze(-1)], dim=-1).to(dtype)
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    if s.elastic > 0:
        g = s.elastic_grid
        coarse = (torch.rand((b, 2, g, g), generator=rng, device=device) * 2 - 1) * s.elastic
        warp = F.interpolate(coarse.to(dtype), size=(h, w), mode="bicubic", align_corners=True)
        grid = grid + warp.permute(0, 2, 3, 1)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if s.thickness > 0:
        amount = _uniform(b, s.thickness, rng).to(dtype).view(b, 1, 1, 1)
        thicker = F.max_pool2d(out, 3, stride=1, padding=1)
        thinner = -F.max_pool2d(-out, 3, stride=1, padding=1)
        out = out + amount.clamp(min=0) * (thicker - out) + (-amount).clamp(min=0) * (thinner - out)
    return out.clamp_(0, 1)


class AugmentedSource:
    """A class source whose drawings are all passed through :func:`jitter` (same classes, same names)."""

    def __init__(self, source, sizes: HandJitter | None = None) -> None:
        self.source = source
        self.sizes = sizes or HandJitter()
        self.name = source.name
        self.n_classes = source.n_classes
        self.drawings_per_class = source.drawings_per_class

    def __repr__(self) -> str:
        return f"AugmentedSource({self.source!r}, {self.sizes})"

    def class_groups(self) -> torch.Tensor:
        """Return the wrapped source's class groups (see :meth:`OmniglotSource.class_groups`)."""
        return self.source.class_groups()

    def class_names(self, class_ids: torch.Tensor | list[int]) -> list[str]:
        """Return the wrapped source's class names."""
        return self.source.class_names(class_ids)

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return the wrapped source's drawings ``[N, n_per_class, 1, H, W]``, each jittered."""
        images = self.source.drawings(class_ids, n_per_class, rng)
        flat = images.reshape(-1, *images.shape[2:])
        return jitter(flat, rng, self.sizes).view_as(images)
