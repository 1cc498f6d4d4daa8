"""The Memory page's compute: the read-to-writer link against a hand example, run-time memory settings, and
one episode's demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.checkpoint import save_checkpoint
from lab.demos.memory import instance_curve, links, mann_choices, memory_demo, with_memory
from lab.home import models_dir
from lab.learners.mann import MANN, MANNConfig
from lab.nets import load_params_, random_init
from tests.tasks.test_episodes import CountingSource


def _model() -> MANN:
    model = MANN(MANNConfig(n_classes=3, image_size=4, controller=8, memory_slots=6, memory_width=4, read_heads=2))
    load_params_(model, random_init(model, 1))
    return model.eval()


def test_links_point_to_the_biggest_earlier_write_since_the_last_wipe() -> None:
    write = np.zeros((4, 1, 3))
    write[0, 0, 0], write[1, 0, 1], write[2, 0, 0], write[3, 0, 2] = 0.9, 0.8, 0.3, 0.7
    read = np.zeros((4, 1, 3))
    read[:, 0, 0] = 0.6  # mostly slot 0, then slot 2
    read[:, 0, 2] = 0.4
    wiped = np.array([1, 2, 1, 0])  # slot 0 is wiped before step 3's write
    slot, writer = links(read, write, wiped)
    # step 0: nothing earlier; steps 1-2: slot 0, written most at step 0 (0.9 > 0.3); step 3: slot 0 was
    # wiped and slot 2 holds only step 3's own write, so nothing earlier is read.
    assert slot.tolist() == [-1, 0, 0, -1]
    assert writer.tolist() == [-1, 0, 0, -1]


def test_memory_settings_change_at_run_time_without_touching_the_model() -> None:
    model = _model()
    twin = with_memory(model, memory_slots=3, gamma=0.5)
    assert (twin.config.memory_slots, twin.config.gamma) == (3, 0.5)
    assert (model.config.memory_slots, model.config.gamma) == (6, 0.95)
    assert twin.output.weight is model.output.weight
    with pytest.raises(ValueError, match="read_heads=2"):
        with_memory(model, memory_slots=1)


def test_one_episode_demo_with_fewer_classes_than_the_model_has() -> None:
    source = CountingSource(n_classes=12, drawings_per_class=20)
    result = memory_demo(_model(), source, n_classes=2, instances=3, memory_slots=5, seed=4)
    assert result.images.shape == (6, 4, 4) and result.read_weights.shape == (6, 2, 5)
    assert result.delayed[0] == -1 and result.delayed[1:].tolist() == result.labels[:-1].tolist()
    assert set(result.predictions.tolist()) <= {0, 1}
    assert np.allclose(result.read_weights.sum(-1), 1, atol=1e-5)
    assert [second for _, second in result.second_sights()] == sorted(second for _, second in result.second_sights())
    with pytest.raises(ValueError, match="choose classes <= 3"):
        memory_demo(_model(), source, n_classes=4, instances=3)


def test_instance_curve_has_a_row_per_model() -> None:
    source = CountingSource(n_classes=12, drawings_per_class=20)
    curve = instance_curve({"mann": _model()}, source, n_classes=2, n_episodes=3)
    means, cis = curve.rows["mann"]
    assert len(means) == len(cis) == len(curve.instances) == 6


def test_the_picker_gives_every_ensemble_member_the_first_members_baseline(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path / "no_assets"))
    model = _model()
    config = {"data": "glyphs", "net": {"n_classes": 3, "image_size": 4, "controller": 8, "memory_slots": 6,
                                        "memory_width": 4, "read_heads": 2}}
    for name in ("ens", "ens_member1", "solo"):
        save_checkpoint(models_dir() / name, model.state_dict(), config, "mann")
    save_checkpoint(models_dir() / "ens_lstm", {}, config, "mann-lstm")
    choices, problems = mann_choices()
    baselines = {Path(c.path).name: c.baseline and Path(c.baseline).name for c in choices}
    assert problems == [] and baselines == {"ens": "ens_lstm", "ens_member1": "ens_lstm", "solo": None}
