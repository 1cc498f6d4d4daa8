"""The race figure's frames are pre-encoded for speed; they must be exactly what plotly's own objects send."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.io.json import to_json_plotly

from lab.demos import optimizers as demo
from lab.learners.learned_optimizer import LSTMOptimizer
from lab.tasks.optimizees import SURFACES
from lab.viz import optimizers as figs


def test_race_frames_equal_the_frames_plotly_objects_would_send() -> None:
    torch.manual_seed(0)
    race = demo.race_2d(LSTMOptimizer(), "rosenbrock", SURFACES["rosenbrock"].start, 130)
    fig = figs.race_figure(race)
    frames = fig.to_dict()["frames"]
    assert len(frames) <= figs.MAX_FRAMES + 1 and frames[-1]["name"] == "130"
    path_traces = frames[0]["traces"]
    validated = [go.Frame(name=f["name"], traces=path_traces,
                          data=[go.Scatter(x=np.asarray(p.path[: int(f["name"]) + 1, 0], np.float32),
                                           y=np.asarray(p.path[: int(f["name"]) + 1, 1], np.float32))
                                for p in race.paths.values()]) for f in frames]
    expected = go.Figure(fig.to_dict()["data"], frames=validated).to_dict()["frames"]
    assert to_json_plotly(frames) == to_json_plotly(expected)
    # the last frame draws every whole path (decoded the way plotly.js reads a typed array)
    for trace, p in zip(frames[-1]["data"], race.paths.values(), strict=True):
        decoded = np.frombuffer(base64.b64decode(trace["x"]["bdata"]), dtype=np.float32)
        np.testing.assert_array_equal(decoded, p.path[:, 0].astype(np.float32))
