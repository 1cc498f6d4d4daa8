"""Procedural glyph alphabets: an Omniglot-like source of hand-drawn characters made by our own code.

Three levels, each a generative model of the one below (in the spirit of Lake, Salakhutdinov & Tenenbaum
2015, "Human-level concept learning through probabilistic program induction"):

* an **alphabet** has a stroke style: which primitives it favours (lines, corners, arcs, loops, curves,
  dots), whether points snap to a grid, how many strokes a character has, symmetry, slant, aspect, a
  shared headline, pen thickness;
* a **character** is a deterministic composition of 1-4 strokes from that style, a function of
  ``(seed, alphabet, char)``; candidates too similar to earlier characters of the alphabet are redrawn;
* a **drawing** is the character drawn by a different hand: stroke wobble, a smooth warp, a small affine
  (rotation, scale, shear, shift) and pen thickness, all from the caller's ``torch.Generator``.

Strokes are polylines of ``POINTS`` points in a canonical ``[-1, 1]^2`` box. Rendering is batched: ink at a
pixel is an anti-aliased threshold on its distance to the nearest segment, evaluated only in a small window
around each segment and merged with a scatter-max (see :func:`render_strokes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from lab.tasks.base import check_positive
from lab.tasks.glyph_strokes import MAX_STROKES, POINTS, alphabet_skeletons

_BEZ = None  # quadratic Bernstein basis over the polyline, built lazily: [POINTS, 3]


def _bernstein() -> torch.Tensor:
    global _BEZ
    if _BEZ is None:
        t = torch.linspace(0, 1, POINTS)
        _BEZ = torch.stack([(1 - t) ** 2, 2 * t * (1 - t), t**2], dim=1)
    return _BEZ


@lru_cache(maxsize=512)
def _alphabet_tensors(seed: int, alphabet: int, n_chars: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    points, mask, thickness = alphabet_skeletons(seed, alphabet, n_chars)
    return torch.from_numpy(points).float(), torch.from_numpy(mask), thickness


def render_strokes(points: torch.Tensor, owner: torch.Tensor, radius: torch.Tensor, n_images: int,
                   size: int) -> torch.Tensor:
    """Return ink images ``[n_images, size, size]`` in [0, 1] from polylines in pixel coordinates.

    ``points`` is ``[K, P, 2]`` (x, y; pixel centres at ``i + 0.5``), ``owner`` ``[K]`` the image each
    stroke belongs to, ``radius`` ``[K]`` the pen radius in pixels. Ink is ``clamp(radius - d + 0.5, 0, 1)``
    for distance ``d`` to the nearest segment: a one-pixel linear ramp, i.e. box-filter anti-aliasing.
    """
    device = points.device
    a, b = points[:, :-1], points[:, 1:]  # segments [K, S, 2]
    seg = b - a
    # Pixels with ink have centres within seg_len/2 + radius + 0.5 of the segment's midpoint.
    half = float((seg.norm(dim=-1).max() / 2 + radius.max() + 0.5).item()) if len(points) else 1.0
    win = int(2 * half) + 1
    pad = win + 1
    full = size + 2 * pad
    # Top-left pixel of each segment's window [K, S, 2], kept inside the padded canvas.
    base = torch.ceil((a + b) / 2 - half - 0.5).clamp(-pad, size + pad - win)
    offs = torch.arange(win, device=device, dtype=points.dtype) + 0.5
    cx = (base[..., 0] - a[..., 0]).unsqueeze(-1) + offs  # pixel centre minus segment start [K, S, win]
    cy = (base[..., 1] - a[..., 1]).unsqueeze(-1) + offs
    sx, sy = seg[..., 0, None, None], seg[..., 1, None, None]
    inv_len2 = 1.0 / (seg.pow(2).sum(-1) + 1e-9)[..., None, None]
    # Projection t of each pixel centre on the segment, clamped to its ends; rows are y, columns x.
    t = torch.addcmul(cx.unsqueeze(-2) * sx, cy.unsqueeze(-1), sy).mul_(inv_len2).clamp_(0, 1)
    dist = torch.hypot(torch.addcmul(cx.unsqueeze(-2), t, sx, value=-1),
                       torch.addcmul(cy.unsqueeze(-1), t, sy, value=-1))
    ink = torch.rsub(dist, (radius + 0.5).view(-1, 1, 1, 1)).clamp_(0, 1)
    start = owner.view(-1, 1) * (full * full) + (base[..., 1].long() + pad) * full + base[..., 0].long() + pad
    grid = (torch.arange(win, device=device).view(win, 1) * full + torch.arange(win, device=device)).view(-1)
    flat = start.unsqueeze(-1) + grid  # [K, S, win*win]
    canvas = torch.zeros(n_images * full * full, device=device)
    canvas.scatter_reduce_(0, flat.reshape(-1), ink.reshape(-1), reduce="amax")
    return canvas.view(n_images, full, full)[:, pad:pad + size, pad:pad + size]


class GlyphAlphabets:
    """``n_alphabets`` procedural alphabets of ``chars_per_alphabet`` characters each; unlimited drawings.

    Class id ``i * chars_per_alphabet + c`` is character ``c`` of the ``i``-th alphabet in this source. A
    source made by :meth:`subset` or :meth:`split` keeps the global alphabet numbers (``alphabet_ids``), so
    its characters are the same as in the full source.
    """

    drawings_per_class: int | None = None

    def __init__(self, n_alphabets: int = 50, chars_per_alphabet: int = 40, seed: int = 0,
                 image_size: int = 28, *, alphabet_ids: Sequence[int] | None = None) -> None:
        check_positive("n_alphabets", n_alphabets)
        check_positive("chars_per_alphabet", chars_per_alphabet)
        check_positive("image_size", image_size, minimum=8)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        ids = tuple(range(n_alphabets)) if alphabet_ids is None else tuple(int(i) for i in alphabet_ids)
        if not ids or min(ids) < 0 or len(set(ids)) != len(ids):
            raise ValueError(f"alphabet_ids={ids} must be distinct non-negative integers (at least one)")
        self.alphabet_ids = ids
        self.n_alphabets = len(ids)
        self.chars_per_alphabet = chars_per_alphabet
        self.seed = seed
        self.image_size = image_size
        self.name = "glyphs"
        self.n_classes = self.n_alphabets * chars_per_alphabet

    def __repr__(self) -> str:
        return (f"GlyphAlphabets(alphabet_ids={list(self.alphabet_ids)}, chars_per_alphabet="
                f"{self.chars_per_alphabet}, seed={self.seed}, image_size={self.image_size})")

    @property
    def alphabets(self) -> list[str]:
        """Return the alphabet names, e.g. ``["alphabet 0", "alphabet 1", ...]``."""
        return [f"alphabet {i}" for i in self.alphabet_ids]

    def alphabet_of(self, class_id: int) -> int:
        """Return the index into :attr:`alphabets` of the alphabet that ``class_id`` belongs to."""
        self._check_ids([int(class_id)])
        return int(class_id) // self.chars_per_alphabet

    def class_names(self, class_ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Return ``"alphabet A / char C"`` for each class id (A is the global alphabet number)."""
        ids = [int(i) for i in (class_ids.tolist() if isinstance(class_ids, torch.Tensor) else class_ids)]
        self._check_ids(ids)
        n = self.chars_per_alphabet
        return [f"alphabet {self.alphabet_ids[i // n]} / char {i % n}" for i in ids]

    def subset(self, alphabet_ids: Sequence[int]) -> GlyphAlphabets:
        """Return a source over the given global alphabet numbers (same characters, same seed)."""
        return GlyphAlphabets(len(alphabet_ids), self.chars_per_alphabet, self.seed, self.image_size,
                              alphabet_ids=alphabet_ids)

    def split(self, train_alphabets: int) -> tuple[GlyphAlphabets, GlyphAlphabets]:
        """Return ``(train, test)``: the first ``train_alphabets`` alphabets and the held-out rest."""
        if not isinstance(train_alphabets, int) or not 1 <= train_alphabets < self.n_alphabets:
            raise ValueError(f"train_alphabets={train_alphabets!r} must leave at least one alphabet on each "
                             f"side; choose 1 <= train_alphabets <= {self.n_alphabets - 1}")
        ids = self.alphabet_ids
        return self.subset(ids[:train_alphabets]), self.subset(ids[train_alphabets:])

    def _check_ids(self, ids: Sequence[int]) -> None:
        bad = [i for i in ids if not 0 <= i < self.n_classes]
        if bad:
            raise ValueError(f"class id {bad[0]} out of range; this source has {self.n_classes} classes")

    def skeletons(self, class_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the canonical strokes of each class: points ``[N, MAX_STROKES, POINTS, 2]`` in
        ``[-1, 1]``, a bool stroke mask ``[N, MAX_STROKES]`` and the pen radius ``[N]`` (pixels at 28x28)."""
        ids = class_ids.reshape(-1).cpu().tolist()
        self._check_ids(ids)
        n = self.chars_per_alphabet
        points = torch.empty(len(ids), MAX_STROKES, POINTS, 2)
        mask = torch.empty(len(ids), MAX_STROKES, dtype=torch.bool)
        radius = torch.empty(len(ids))
        for row, i in enumerate(ids):
            pts, msk, thick = _alphabet_tensors(self.seed, self.alphabet_ids[i // n], n)
            points[row], mask[row], radius[row] = pts[i % n], msk[i % n], thick
        return points, mask, radius

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return float32 ``[N, n_per_class, 1, S, S]`` in [0, 1] (S = ``image_size``): new random drawings
        of each class, all randomness from ``rng``; the images live on ``rng.device``."""
        check_positive("n_per_class", n_per_class)
        device = rng.device
        points, mask, radius = (t.to(device) for t in self.skeletons(class_ids))
        n_classes = points.shape[0]
        d = n_classes * n_per_class
        points = points.repeat_interleave(n_per_class, 0)  # [D, MAX_STROKES, POINTS, 2]
        mask = mask.repeat_interleave(n_per_class, 0)

        def normal(*shape: int) -> torch.Tensor:
            return torch.randn(shape, generator=rng, device=device)

        # Hand 1: each stroke bends on its own (endpoints move less than the middle so joints stay close).
        ctrl = normal(d, MAX_STROKES, 3, 2) * torch.tensor([0.035, 0.06, 0.035], device=device).view(1, 1, 3, 1)
        points = points + torch.einsum("pk,dskc->dspc", _bernstein().to(device), ctrl)
        # Hand 2: a smooth warp of the whole character, a sum of two random low-frequency waves.
        freq = normal(d, 2, 2, 2) * 1.2
        phase = torch.rand((d, 2, 1, 1, 2), generator=rng, device=device) * 6.2832
        amp = normal(d, 2, 1, 1, 2) * 0.035
        wave = torch.einsum("dspc,dkcj->dkspj", points, freq) + phase
        points = points + (amp * torch.sin(wave)).sum(dim=1)
        # Hand 3: rotation, anisotropic scale, shear and shift.
        angle = normal(d) * 0.09
        scale = torch.exp(normal(d, 2) * 0.08)
        shear = normal(d) * 0.08
        cos, sin = torch.cos(angle), torch.sin(angle)
        affine = torch.stack([torch.stack([cos, -sin + shear * cos], -1),
                              torch.stack([sin, cos + shear * sin], -1)], -2) * scale.unsqueeze(1)
        shift = normal(d, 2) * 0.09
        points = torch.einsum("dij,dspj->dspi", affine, points) + shift.view(d, 1, 1, 2)

        size = self.image_size
        pixels = points * (size * 0.34) + size / 2  # canonical [-1, 1] -> about 19 pixels of 28
        pen = radius.repeat_interleave(n_per_class) * torch.exp(normal(d) * 0.12) * (size / 28)
        owner = torch.arange(d, device=device).view(d, 1).expand(d, MAX_STROKES)
        images = render_strokes(pixels[mask], owner[mask], pen.view(d, 1).expand(d, MAX_STROKES)[mask],
                                d, size)
        return images.view(n_classes, n_per_class, 1, size, size)
