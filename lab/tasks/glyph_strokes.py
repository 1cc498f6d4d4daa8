"""The stroke model behind :mod:`lab.tasks.glyphs`: alphabet styles and the characters they generate.

Pure numpy and deterministic: an alphabet's style comes from ``(seed, alphabet)``, a character's strokes from
``(seed, alphabet, char)``; nothing here depends on the caller's random generator. A character is up to
``MAX_STROKES`` polylines of ``POINTS`` points in the canonical box ``[-1, 1]^2`` (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POINTS = 24  # points per stroke polyline; segments stay under about 2.6 pixels at 28x28
MAX_STROKES = 4
PRIMITIVES = ("line", "corner", "arc", "loop", "curve", "dot")
# Prior weights over PRIMITIVES per kind of alphabet; each alphabet draws its own mix around one of these.
_KINDS = {
    "angular": (5.0, 4.0, 0.4, 0.2, 0.3, 0.6),
    "round": (0.8, 0.2, 4.0, 2.5, 2.0, 0.8),
    "cursive": (0.4, 0.2, 1.5, 1.5, 5.0, 0.3),
    "mixed": (2.0, 1.5, 2.0, 1.0, 2.0, 0.6),
}
_BOX = 0.8  # strokes are generated inside [-_BOX, _BOX]^2, then the character is normalised
_MIN_DISTINCT = 0.18  # redraw a character whose coverage pattern is this close to an earlier one
_TRIES = 30


@dataclass(frozen=True)
class AlphabetStyle:
    """How one alphabet draws: primitive mix, grid snapping, stroke count and shape habits."""

    kind: str
    weights: np.ndarray  # probabilities over PRIMITIVES
    grid: int  # 0: free positions; else control points snap to a grid x grid lattice
    mean_strokes: float
    symmetry: float  # probability that a character is mirror-symmetric
    connect: float  # probability that a stroke starts on an earlier stroke
    aspect: float  # width / height of the character box
    slant: float  # shear x += slant * y applied to every character
    headline: bool  # every character hangs from a bar across the top (as in Devanagari)
    thickness: float  # pen radius in pixels at 28x28
    curvature: float  # how far curve control points leave the chord


def alphabet_style(seed: int, alphabet: int) -> AlphabetStyle:
    """Return the style of ``alphabet`` under ``seed``."""
    rng = np.random.default_rng([seed, alphabet, 7])
    kind = str(rng.choice(list(_KINDS)))
    weights = rng.dirichlet(np.array(_KINDS[kind]) * 4)
    grid = int(rng.choice([3, 4])) if kind == "angular" else int(rng.choice([0, 0, 5])) if kind == "mixed" else 0
    strokes = {"angular": (2.2, 3.6), "round": (1.5, 3.0), "cursive": (1.0, 2.2), "mixed": (1.8, 3.2)}[kind]
    slant = -rng.uniform(0.1, 0.35) if kind == "cursive" else rng.uniform(-0.15, 0.15) * (rng.random() < 0.5)
    return AlphabetStyle(
        kind=kind, weights=weights, grid=grid, mean_strokes=rng.uniform(*strokes),
        symmetry=rng.uniform(0.0, 0.5), connect=0.9 if kind == "cursive" else rng.uniform(0.3, 0.85),
        aspect=rng.uniform(0.75, 1.15), slant=float(slant), headline=kind != "cursive" and rng.random() < 0.2,
        thickness=rng.uniform(0.6, 1.0), curvature=rng.uniform(0.3, 0.9),
    )


def _resample(dense: np.ndarray, n: int = POINTS) -> np.ndarray:
    """Return ``n`` points evenly spaced by arc length along the polyline ``dense`` [M, 2]."""
    steps = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] < 1e-9:
        return np.repeat(dense[:1], n, axis=0)
    at = np.linspace(0, arc[-1], n)
    return np.stack([np.interp(at, arc, dense[:, 0]), np.interp(at, arc, dense[:, 1])], axis=1)


def _ellipse(center: np.ndarray, rx: float, ry: float, start: float, sweep: float) -> np.ndarray:
    theta = start + sweep * np.linspace(0, 1, 64)
    return center + np.stack([rx * np.cos(theta), ry * np.sin(theta)], axis=1)


class _CharacterMaker:
    """Draws one character's strokes from a style with a numpy generator."""

    def __init__(self, style: AlphabetStyle, rng: np.random.Generator) -> None:
        self.style, self.rng = style, rng
        self.lattice = np.linspace(-_BOX, _BOX, style.grid) if style.grid else None

    def point(self) -> np.ndarray:
        if self.lattice is not None:
            return self.rng.choice(self.lattice, size=2)
        return self.rng.uniform(-_BOX, _BOX, size=2)

    def far_point(self, p0: np.ndarray, min_dist: float = 0.6) -> np.ndarray:
        for _ in range(20):
            p1 = self.point()
            if np.linalg.norm(p1 - p0) >= min_dist:
                return p1
        return -p0 if np.linalg.norm(p0) > 0.3 else np.array([_BOX, _BOX])

    def start(self, strokes: list[np.ndarray]) -> np.ndarray:
        if strokes and self.rng.random() < self.style.connect:
            stroke = strokes[self.rng.integers(len(strokes))]
            idx = self.rng.choice([0, POINTS - 1, int(self.rng.integers(POINTS))])
            return stroke[idx].copy()
        return self.point()

    def stroke(self, kind: str, p0: np.ndarray) -> np.ndarray:
        rng, style = self.rng, self.style
        if kind == "line":
            return _resample(np.stack([p0, self.far_point(p0)]))
        if kind == "corner":
            p1 = self.far_point(p0, 0.5)
            p2 = self.far_point(p1, 0.5)
            legs = np.linalg.norm(p1 - p0), np.linalg.norm(p2 - p1)
            n1 = int(np.clip(round((POINTS - 1) * legs[0] / sum(legs)), 2, POINTS - 3))
            return np.concatenate([_resample(np.stack([p0, p1]), n1 + 1)[:-1],
                                   _resample(np.stack([p1, p2]), POINTS - n1)])
        if kind in ("arc", "loop", "dot"):
            r = {"arc": (0.3, 0.75), "loop": (0.18, 0.42), "dot": (0.03, 0.05)}[kind]
            rx = rng.uniform(*r)
            ry = rx * (rng.uniform(0.7, 1.3) if kind != "dot" else 1.0)
            start = rng.uniform(0, 2 * np.pi)
            if self.lattice is not None:
                start = np.round(start / (np.pi / 2)) * (np.pi / 2)
            sweep = 2 * np.pi if kind != "arc" else rng.uniform(0.7, 1.4) * np.pi * rng.choice([-1, 1])
            center = p0 - np.array([rx * np.cos(start), ry * np.sin(start)])
            return _resample(_ellipse(center, rx, ry, start, sweep))
        p3 = self.far_point(p0, 0.7)
        chord = p3 - p0
        normal = np.array([-chord[1], chord[0]])
        b = rng.normal(0, style.curvature)
        bend = (b, b * rng.uniform(0.5, 1.5) * (1 if rng.random() < 0.6 else -1))  # C-curve or S-curve
        c1, c2 = p0 + chord / 3 + normal * bend[0], p0 + 2 * chord / 3 + normal * bend[1]
        t = np.linspace(0, 1, 64)[:, None]
        dense = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3
        return _resample(dense)

    def character(self) -> list[np.ndarray]:
        style, rng = self.style, self.rng
        budget = MAX_STROKES - int(style.headline)
        n = int(np.clip(round(rng.normal(style.mean_strokes, 0.7)), 1, budget))
        mirrored = n >= 2 and rng.random() < style.symmetry
        n_draw = min((n + 1) // 2, budget // 2) if mirrored else n
        strokes: list[np.ndarray] = []
        for i in range(n_draw):
            kind = PRIMITIVES[rng.choice(len(PRIMITIVES), p=style.weights)]
            if i == 0 and kind == "dot":
                kind = "curve"
            stroke = self.stroke(kind, self.start(strokes))
            if mirrored:
                stroke[:, 0] = -np.abs(stroke[:, 0])  # draw the left half; the mirror makes the right
            strokes.append(stroke)
        if mirrored:
            strokes += [s * np.array([-1.0, 1.0]) for s in strokes]
        return self.normalise(strokes)

    def normalise(self, strokes: list[np.ndarray]) -> list[np.ndarray]:
        style = self.style
        pts = np.concatenate(strokes)
        lo, hi = pts.min(0), pts.max(0)
        size = np.maximum(hi - lo, 1e-3)
        scale = min(1.7 * style.aspect / size[0], 1.7 / size[1], 2.5)
        out = [(s - (lo + hi) / 2) * scale for s in strokes]
        out = [s + np.stack([style.slant * s[:, 1], np.zeros(len(s))], 1) for s in out]
        if style.headline:
            pts = np.concatenate(out)
            left, right, top = pts[:, 0].min() - 0.1, pts[:, 0].max() + 0.1, pts[:, 1].min()
            out.append(_resample(np.array([[left, top], [right, top]])))
        return out


def _coverage(strokes: list[np.ndarray], bins: int = 10) -> np.ndarray:
    """Return a unit-length blurred occupancy histogram of the strokes (a cheap shape descriptor)."""
    pts = np.concatenate(strokes)
    cells = np.clip(((pts + 1.1) / 2.2 * bins).astype(int), 0, bins - 1)
    hist = np.bincount(cells[:, 1] * bins + cells[:, 0], minlength=bins * bins).reshape(bins, bins)
    padded = np.pad(hist.astype(float), 1)
    hist = padded[1:-1, 1:-1] * 2 + padded[:-2, 1:-1] + padded[2:, 1:-1]  # [1, 2, 1] blur along y
    padded = np.pad(hist, ((0, 0), (1, 1)))
    hist = padded[:, 1:-1] * 2 + padded[:, :-2] + padded[:, 2:]  # and along x
    return hist.ravel() / (np.linalg.norm(hist) + 1e-9)


def alphabet_skeletons(seed: int, alphabet: int, n_chars: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the strokes of the first ``n_chars`` characters of ``alphabet``: points
    ``[n_chars, MAX_STROKES, POINTS, 2]`` (unused strokes zero), a bool mask ``[n_chars, MAX_STROKES]`` and
    the alphabet's pen radius. Character ``c`` does not depend on ``n_chars``."""
    style = alphabet_style(seed, alphabet)
    points = np.zeros((n_chars, MAX_STROKES, POINTS, 2), dtype=np.float32)
    mask = np.zeros((n_chars, MAX_STROKES), dtype=bool)
    seen: list[np.ndarray] = []
    for c in range(n_chars):
        maker = _CharacterMaker(style, np.random.default_rng([seed, alphabet, c]))
        best, best_gap = None, -1.0
        for _ in range(_TRIES):
            strokes = maker.character()
            code = _coverage(strokes)
            gap = min((1.0 - float(code @ s) for s in seen), default=1.0)
            if gap > best_gap:
                best, best_gap, best_code = strokes, gap, code
            if gap >= _MIN_DISTINCT:
                break
        seen.append(best_code)
        for s, stroke in enumerate(best):
            points[c, s], mask[c, s] = stroke, True
    return points, mask, float(style.thickness)
