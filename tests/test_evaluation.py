"""``maml-sine`` evaluation: the random start is the page's, no global randomness, the CPU steps in on OOM."""

from __future__ import annotations

import pytest
import torch

import lab.evaluation as evaluation
from lab.checkpoint import load_sine_model
from lab.compute import make_generator
from lab.evaluation import evaluate_maml_sine
from lab.learners.maml import evaluate_init
from lab.nets import random_init
from lab.tasks.sinusoid import SinusoidFamily

ARGS = dict(shots=5, steps=[0, 2], episodes=20, seed=6, inner_lr=0.01)


def test_evaluation_leaves_the_global_generator_alone(sine_assets):
    before = torch.get_rng_state()
    evaluate_maml_sine(sine_assets, **ARGS)
    assert torch.equal(torch.get_rng_state(), before)


def test_random_start_is_lab_nets_random_init_of_the_eval_seed(sine_assets):
    # The MAML page draws its random start with the same function and seed (tests/demos/test_maml_sine.py).
    report = evaluate_maml_sine(sine_assets, methods=("maml", "random"), **ARGS)
    net, _ = load_sine_model(sine_assets / "maml_sine")
    family = SinusoidFamily(k_shot=5, n_query=100)
    for row in (r for r in report["results"] if r["method"] == "random"):
        expected = evaluate_init(net, random_init(net, 6), family, 20, row["steps"], 0.01, make_generator(6))
        assert row["mean"] == expected["mean"]


def test_an_accelerator_out_of_memory_reruns_on_the_cpu_and_says_so(sine_assets, monkeypatch):
    # "meta" stands in for an accelerator: tensors move there without a GPU; evaluate_init fails on it.
    def evaluate_or_fail(net, params, *args, **kwargs):
        if next(iter(params.values())).device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return evaluate_init(net, params, *args, **kwargs)

    monkeypatch.setattr(evaluation, "get_device", lambda: torch.device("meta"))
    monkeypatch.setattr(evaluation, "evaluate_init", evaluate_or_fail)
    report = evaluate_maml_sine(sine_assets, **ARGS)
    assert report["config"]["device"] == "cpu"
    assert "ran out of memory, so this ran on the CPU" in report["config"]["note"]
    monkeypatch.setattr(evaluation, "get_device", lambda: torch.device("cpu"))
    plain = evaluate_maml_sine(sine_assets, **ARGS)
    assert "note" not in plain["config"] and plain["results"] == report["results"]


def test_one_episode_is_refused_naming_the_option(sine_assets):
    with pytest.raises(ValueError, match="--episodes >= 2"):
        evaluate_maml_sine(sine_assets, **{**ARGS, "episodes": 1})
