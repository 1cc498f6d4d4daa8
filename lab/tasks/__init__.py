"""Task families and episode sampling (synthetic sinusoids, procedural glyphs, Omniglot)."""

from lab.tasks.base import EpisodeBatch, TaskFamily
from lab.tasks.episodes import ClassSource, FewShotFamily
from lab.tasks.glyphs import GlyphAlphabets
from lab.tasks.omniglot import OmniglotSource, default_omniglot_path
from lab.tasks.sinusoid import SinusoidFamily, sine_targets

__all__ = [
    "EpisodeBatch", "TaskFamily", "SinusoidFamily", "sine_targets",
    "ClassSource", "FewShotFamily", "GlyphAlphabets", "OmniglotSource", "default_omniglot_path",
]
