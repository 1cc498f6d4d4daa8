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


def make_fewshot_assets(folder: Path, channels: int = 8) -> Path:
    """Write untrained ``protonet_glyphs``, ``relation_glyphs`` and ``maml_glyphs`` checkpoints (seeded, narrow
    nets of ``channels`` filters, so pages run fast) into ``folder``; return it."""
    from lab.checkpoint import save_checkpoint
    from lab.fewshot_training import FewShotTrainConfig
    from lab.learners.fewshot import KINDS, build_model
    from lab.nets import load_params_, random_init

    for seed, kind in enumerate(KINDS):
        model = build_model(kind, {"channels": channels})
        load_params_(model, random_init(model, seed))
        card = FewShotTrainConfig(learner=kind).card()
        card["net"] = model.config.to_dict()
        save_checkpoint(folder / f"{kind}_glyphs", model.state_dict(), card, kind, {"untrained": True})
    return folder


@pytest.fixture
def one_thread():
    """Run the test with one torch thread, as the CLI and the app run the small meta-RL LSTMs (two threads
    on a busy 2-core machine made a 100-update training run 20x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_meta_rl_assets(folder: Path) -> Path:
    """Write untrained ``meta_rl_bandit_independent``, ``meta_rl_bandit_correlated`` and ``meta_rl_harlow``
    checkpoints (seeded, small LSTMs, so pages run fast) into ``folder``; return it."""
    from lab.checkpoint import save_checkpoint
    from lab.learners.meta_rl import MetaRLAgent
    from lab.meta_rl_training import KIND, MetaRLTrainConfig
    from lab.nets import load_params_, random_init

    for seed, task in enumerate(("bandit-independent", "bandit-correlated", "harlow")):
        config = MetaRLTrainConfig(task=task, net={"hidden": 16, "object_features": 8})
        agent = MetaRLAgent(config.agent_config())
        load_params_(agent, random_init(agent, seed))
        save_checkpoint(folder / f"meta_rl_{task.replace('-', '_')}", agent.state_dict(), config.card(), KIND,
                        {"untrained": True})
    return folder


def make_mann_assets(folder: Path) -> Path:
    """Write untrained ``mann_glyphs`` and ``mann_glyphs_lstm`` checkpoints (seeded, a small controller, so the
    Memory page runs fast) into ``folder``; return it."""
    from lab.checkpoint import save_checkpoint
    from lab.learners.mann import build_mann
    from lab.mann_training import MANNTrainConfig
    from lab.nets import load_params_, random_init

    for seed, (kind, name) in enumerate((("mann", "mann_glyphs"), ("mann-lstm", "mann_glyphs_lstm"))):
        model = build_mann(kind, {"controller": 16, "memory_slots": 40, "memory_width": 8})
        load_params_(model, random_init(model, seed))
        card = MANNTrainConfig(learner=kind).card()
        card["net"] = model.config.to_dict()
        save_checkpoint(folder / name, model.state_dict(), card, kind, {"untrained": True})
    return folder


def make_l2o_assets(folder: Path) -> Path:
    """Write untrained ``l2o_quadratic`` and ``l2o_mlp`` learned optimizers and the ``meta_sgd_sine`` /
    ``maml_sine_k5`` pair (seeded, so pages run without ``python -m lab pretrain``) into ``folder``; return it."""
    from lab.checkpoint import save_checkpoint
    from lab.compute import make_generator
    from lab.l2o_training import L2OTrainConfig
    from lab.learners.learned_optimizer import LSTMOptimizer
    from lab.meta_sgd_training import MetaSGDTrainConfig, build_model
    from lab.nets import load_params_, random_init

    lrs = {"sgd": 0.01, "momentum": 0.01, "rmsprop": 0.01, "adam": 0.1}
    for seed, problem in enumerate(("quadratic", "mlp")):
        config = L2OTrainConfig(problem=problem)
        opt = load_params_(LSTMOptimizer(), random_init(LSTMOptimizer(), seed))
        save_checkpoint(folder / config.kind, opt.state_dict(), config.card(), config.kind,
                        {"untrained": True, "baseline_lrs": lrs})
    for seed, learn in enumerate((True, False)):
        config = MetaSGDTrainConfig(learn_rates=learn)
        model = build_model(config.card())
        load_params_(model.net, random_init(model.net, seed))
        model.fill_rates_(make_generator(seed), *config.learner_config().rate_init)
        save_checkpoint(folder / config.kind, model.state_dict(), config.card(), config.kind, {"untrained": True})
    return folder


def make_virtual_assets(folder: Path) -> Path:
    """Write an untrained small ``virtual_glyphs`` generator and a ``virtual_eval.json`` report (numbers made
    up for page tests, in the evaluation schema) into ``folder``; return it."""
    import json

    from lab.checkpoint import save_checkpoint
    from lab.generator_training import GeneratorTrainConfig
    from lab.learners.generative import CharacterVAE, CharacterVAEConfig
    from lab.nets import load_params_, random_init

    model = CharacterVAE(CharacterVAEConfig(hidden=32))
    load_params_(model, random_init(model, 0))
    config = GeneratorTrainConfig(vae={"hidden": 32})
    save_checkpoint(folder / "virtual_glyphs", model.state_dict(), {**config.card(), "net": model.config.to_dict()},
                    CharacterVAE.kind, {"untrained": True})
    rows = [{"method": m, "metric": "accuracy", "mean": acc, "ci95": 0.01, "n": 10, "data": data,
             "real_classes": n, "budget": n, "ways": 5, "shots": 1,
             **({"gain": 0.05, "gain_ci95": 0.01} if m == "real+virtual" else {})}
            for data in ("glyphs", "omniglot") for n, base in ((20, 0.6), (136, 0.8))
            for m, acc in (("real-only", base), ("real+virtual", base + 0.05))]
    (folder / "virtual_eval.json").write_text(json.dumps({"task": "virtual", "config": {"episodes": 10},
                                                          "results": rows}))
    return folder


@pytest.fixture(scope="session")
def lab_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder with every checkpoint the app loads (sinusoid and few-shot), all small and untrained.

    Point ``LAB_ASSETS_DIR`` at it (``monkeypatch.setenv``) to run pages without ``python -m lab pretrain``."""
    folder = tmp_path_factory.mktemp("lab_assets")
    return make_virtual_assets(
        make_l2o_assets(make_mann_assets(make_meta_rl_assets(make_fewshot_assets(make_sine_assets(folder))))))
