"""Shared fixtures: small untrained sinusoid checkpoints, so page tests never depend on `python -m lab pretrain`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lab.nets import SineMLP, parameters_of

NET_CONFIG = {"net": {"hidden": 40, "layers": 2}}


def make_sine_assets(folder: Path) -> Path:
    """Write ``maml_sine`` and ``pretrained_sine`` checkpoints of seeded untrained nets into ``folder``."""
    from lab.checkpoint import save_checkpoint

    for seed, kind in ((1, "maml_sine"), (2, "pretrained_sine")):
        torch.manual_seed(seed)
        save_checkpoint(folder / kind, SineMLP().state_dict(), NET_CONFIG, kind)
    return folder


@pytest.fixture(scope="session")
def sine_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding test checkpoints ``maml_sine.{pt,json}`` and ``pretrained_sine.{pt,json}``."""
    return make_sine_assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture
def sine_params() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Return two seeded untrained SineMLP parameter dicts (stand-ins for MAML's and the pretrained net's)."""
    torch.manual_seed(1)
    maml = parameters_of(SineMLP())
    torch.manual_seed(2)
    return maml, parameters_of(SineMLP())
