"""The MAML image lesson's compute: the trace it records, a diverging learning rate, bad input, episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.compute import ComputeOutOfMemory
from lab.demos import fewshot
from lab.demos import maml_images as demo
from lab.learners.fewshot import build_model
from lab.learners.maml import AdaptationDiverged
from lab.learners.maml_images import MAMLClassifier
from lab.nets import load_params_, random_init
from lab.tasks.omniglot import default_omniglot_path

DIVERGING_LR = 1e12  # overflows the loss of these small untrained nets within a few steps


@pytest.fixture(scope="module")
def model() -> MAMLClassifier:
    """A seeded untrained Conv4 with 8 channels (a shipped model has 64; the maths is the same)."""
    net = build_model("maml", {"channels": 8})
    load_params_(net, random_init(net, 3))
    return net.eval()


@pytest.fixture(scope="module")
def episode():
    return demo.sample_episode("glyphs", 5, 1, 2, seed=0)


@pytest.mark.parametrize("n_way", [2, 5, 12])
def test_step_zero_gives_every_class_the_same_probability(model, n_way) -> None:
    # The head starts as n_way copies of one row, so the logits of every class are equal before any step.
    result = demo.maml_images_demo(model, demo.sample_episode("glyphs", n_way, 1, 2, seed=1), 2, 0.4)
    np.testing.assert_allclose(result.query_probs[0], 1.0 / n_way, atol=1e-6)
    np.testing.assert_allclose(result.support_loss[0], np.log(n_way), rtol=1e-5)
    assert np.abs(result.query_probs[-1] - 1.0 / n_way).max() > 1e-3  # and the steps do move them


def test_accuracy_per_step_is_the_argmax_of_the_probabilities(model, episode) -> None:
    result = demo.maml_images_demo(model, episode, 5, 0.4)
    predicted = result.query_probs.argmax(-1)  # [steps + 1, Q]
    np.testing.assert_allclose(result.query_accuracy, (predicted == result.query_labels).mean(-1))
    np.testing.assert_allclose(result.query_probs.sum(-1), 1.0, atol=1e-5)


def test_trace_shapes_and_labels(model) -> None:
    n_way, k_shot, n_query, steps = 4, 3, 2, 3
    result = demo.maml_images_demo(model, demo.sample_episode("glyphs", n_way, k_shot, n_query, seed=2), steps, 0.4)
    assert result.support.shape == (n_way, k_shot, 28, 28) and result.query.shape == (n_way, n_query, 28, 28)
    assert result.query_probs.shape == (steps + 1, n_way * n_query, n_way)
    assert len(result.support_loss) == len(result.query_loss) == len(result.query_accuracy) == steps + 1
    assert result.query_labels.tolist() == [c for c in range(n_way) for _ in range(n_query)]  # class-major
    assert len(result.class_names) == n_way and result.steps_done == steps and result.error is None
    assert (result.n_way, result.k_shot, result.n_query, result.inner_lr) == (n_way, k_shot, n_query, 0.4)


def test_same_numbers_as_the_learner_and_the_model_is_left_alone(model, episode) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lr_before = model.config.inner_lr
    result = demo.maml_images_demo(model, episode, 3, 0.1)
    reference = demo.private_copy(model, 0.1).adapt_episode(episode, 3)
    np.testing.assert_allclose(result.query_loss, [s.query_loss for s in reference], rtol=1e-6)
    np.testing.assert_allclose(result.query_probs, torch.stack([s.query_probs for s in reference]).numpy(), atol=1e-7)
    assert model.config.inner_lr == lr_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_diverging_learning_rate_raises_in_the_learner_and_is_reported_with_the_steps_before(model, episode) -> None:
    with pytest.raises(FloatingPointError, match="non-finite"):
        demo.private_copy(model, DIVERGING_LR).adapt_episode(episode, 10)
    result = demo.maml_images_demo(model, episode, 10, DIVERGING_LR)
    assert result.error is not None and "diverges" in result.error
    assert 0 <= result.steps_done < 10
    assert f"inner step {result.steps_done + 1}" in result.error  # the first step that overflowed
    assert np.isfinite(result.query_loss).all() and np.isfinite(result.query_probs).all()
    kept = demo.private_copy(model, DIVERGING_LR).adapt_episode(episode, result.steps_done)
    np.testing.assert_allclose(result.support_loss, [s.support_loss for s in kept])


def test_a_divergence_at_step_0_keeps_no_steps(model, episode, monkeypatch) -> None:
    def blow_up(self, episode, steps=None):
        raise AdaptationDiverged("the loss became non-finite at inner step 0", [])

    monkeypatch.setattr(MAMLClassifier, "adapt_episode", blow_up)
    result = demo.maml_images_demo(model, episode, 3, 0.4)
    assert result.steps_done == -1 and result.query_probs.shape == (0, 10, 5) and result.error


@pytest.mark.parametrize("steps,lr,match", [(11, 0.4, "between 0 and 10"), (-1, 0.4, "between 0 and 10"),
                                            (2, 0.0, "positive"), (2, float("nan"), "positive")])
def test_bad_input_raises_a_value_error_that_names_it(model, episode, steps, lr, match) -> None:
    with pytest.raises(ValueError, match=match):
        demo.maml_images_demo(model, episode, steps, lr)


def test_out_of_memory_becomes_a_message_naming_what_to_lower(model, episode, monkeypatch) -> None:
    def no_memory(self, episode, steps=None):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(MAMLClassifier, "adapt_episode", no_memory)
    with pytest.raises(ComputeOutOfMemory, match="ways, queries or inner steps"):
        demo.maml_images_demo(model, episode, 3, 0.4)


def test_episodes_are_seeded_and_come_from_held_out_alphabets() -> None:
    a, b = demo.sample_episode("glyphs", 5, 2, 3, seed=7), demo.sample_episode("glyphs", 5, 2, 3, seed=7)
    assert torch.equal(a.support_x, b.support_x) and a.meta["class_names"] == b.meta["class_names"]
    assert not torch.equal(a.query_x, demo.sample_episode("glyphs", 5, 2, 3, seed=8).query_x)
    assert a.support_x.shape == (1, 10, 1, 28, 28) and a.query_x.shape == (1, 15, 1, 28, 28)
    alphabets = {int(name.split()[1]) for name in a.meta["class_names"][0]}  # "alphabet 42 / char 3"
    assert alphabets <= set(range(40, 50))  # glyph_split holds alphabets 40-49 out of training


def test_impossible_or_unknown_requests_say_why(monkeypatch) -> None:
    with pytest.raises(ValueError, match="n_way=401"):
        demo.sample_episode("glyphs", 401, 1, 1, seed=0)
    monkeypatch.setattr(fewshot, "default_omniglot_path", lambda: None)  # no folder given and none configured
    with pytest.raises(FileNotFoundError, match="no Omniglot folder"):
        demo.sample_episode("omniglot", 5, 1, 1, seed=0, omniglot_path=None)
    with pytest.raises(ValueError, match="choose one of"):
        demo.sample_episode("mnist", 5, 1, 1, seed=0)


@pytest.mark.skipif(default_omniglot_path() is None, reason="no Omniglot copy (see lab.tasks.omniglot)")
def test_omniglot_test_alphabets_and_their_drawing_limit(model) -> None:
    folder = default_omniglot_path()
    ep = demo.sample_episode("omniglot", 5, 1, 3, seed=0, omniglot_path=folder)
    result = demo.maml_images_demo(model, ep, 1, 0.4, "omniglot")
    assert result.data == "omniglot" and result.query_probs.shape == (2, 15, 5)
    with pytest.raises(ValueError, match="k_shot \\+ n_query <= 20"):
        demo.sample_episode("omniglot", 5, 10, 11, seed=0, omniglot_path=folder)


def test_warm_up_leaves_the_model_alone(model) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    demo.warm_up(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
