"""Task families and episode sampling (synthetic sinusoids, procedural glyphs, Omniglot)."""

from lab.tasks.base import EpisodeBatch, TaskFamily
from lab.tasks.sinusoid import SinusoidFamily, sine_targets

__all__ = ["EpisodeBatch", "TaskFamily", "SinusoidFamily", "sine_targets"]
