"""The per-user lab folder: LAB_HOME and the platform defaults, and listing trained checkpoints in it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from lab.checkpoint import save_checkpoint
from lab.cli import main
from lab.home import data_dir, lab_home, list_trained_models, models_dir, scan_models
from lab.nets import SineMLP

CONFIG = {"net": {"hidden": 8, "layers": 1}, "train": {"method": "maml", "k_shot": 5, "seed": 3},
          "maml": {"inner_steps": 5, "inner_lr": 0.01}}


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _save(folder: Path, name: str, kind: str = "maml_sine", mtime: float | None = None) -> Path:
    torch.manual_seed(0)
    pt, _ = save_checkpoint(folder / name, SineMLP(hidden=8, layers=1).state_dict(), CONFIG, kind,
                            {"final_loss": 0.123456})
    if mtime is not None:
        os.utime(pt, (mtime, mtime))
    return folder / name


def test_lab_home_honours_the_environment_and_creates_nothing(home):
    assert lab_home() == home
    assert models_dir() == home / "models" and data_dir() == home / "data"
    assert list_trained_models() == [] and not home.exists()


def test_platform_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_HOME", raising=False)
    monkeypatch.setattr("lab.home.sys.platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert lab_home() == tmp_path / "cache" / "neurometa-lab"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says to ignore it
    assert lab_home() == Path.home() / ".cache" / "neurometa-lab"
    monkeypatch.setattr("lab.home.sys.platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert lab_home() == tmp_path / "local" / "neurometa-lab"


def test_listing_finds_checkpoints_newest_first_and_skips_broken_ones(home, caplog):
    old = _save(models_dir(), "old", mtime=1_000_000)
    _save(models_dir(), "new", kind="protonet_omniglot", mtime=2_000_000)
    (models_dir() / "broken.pt").write_bytes(b"x")
    (models_dir() / "broken.json").write_text("{not json")
    (models_dir() / "orphan.pt").write_bytes(b"x")

    scan = scan_models()
    assert [m.name for m in scan.models] == ["new", "old"]
    first = scan.models[1]
    assert first.path == old and first.kind == "maml_sine" and first.mtime == 1_000_000
    assert first.card["config"] == CONFIG
    assert first.key_config() == {"method": "maml", "k_shot": 5, "inner_steps": 5, "inner_lr": 0.01,
                                  "seed": 3, "final_loss": 0.1235}
    assert {p.path.name: p.reason for p in scan.skipped}.keys() == {"broken.json", "orphan.pt"}
    assert "not valid JSON" in next(p.reason for p in scan.skipped if p.path.name == "broken.json")

    with caplog.at_level(logging.WARNING, logger="lab.home"):
        assert [m.name for m in list_trained_models(kind="maml_sine")] == ["old"]
    assert "broken.json" in caplog.text and "orphan.pt has no card" in caplog.text


def test_cli_models_lists_name_kind_and_config(home, capsys):
    assert main(["models"]) == 0
    assert f"no trained models in {home / 'models'}" in capsys.readouterr().out
    _save(models_dir(), "mine")
    (models_dir() / "bad.json").write_text("[]")
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert "mine" in out and "maml_sine" in out and "k_shot=5" in out and "final_loss=0.1235" in out
    assert err.count("\n") == 1 and "bad.json" in err
    assert main(["models", "--json", "--kind", "maml_sine"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "mine" and row["config"]["inner_steps"] == 5
