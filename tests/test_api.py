"""``lab.api`` and ``lab.user_images``: a user's images are prepared like the training drawings, labels map
back to the user's values, and predictions are the model's own scores (checked against a second path)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import lab.api
from lab.api import Learner, load_learner
from lab.checkpoint import CheckpointError
from lab.learners.fewshot import KINDS
from lab.learners.protonet import ProtoNet
from lab.tasks.base import EpisodeBatch
from lab.tasks.glyphs import GlyphAlphabets
from lab.user_images import preprocess_image, preprocess_images


@pytest.fixture
def assets(lab_assets, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    return lab_assets


@pytest.fixture(scope="module")
def drawings() -> torch.Tensor:
    """Five glyph characters, two drawings each: float ``[5, 2, 1, 28, 28]``, ink = 1 on 0."""
    return GlyphAlphabets(1, 5, seed=3).drawings(torch.arange(5), 2, torch.Generator().manual_seed(0))


def as_page(drawing: torch.Tensor, scale: int = 3) -> np.ndarray:
    """Return a drawing ``[1, 28, 28]`` as a scanned page would be: uint8, black ink on white, larger."""
    ink = np.kron(drawing[0].numpy(), np.ones((scale, scale)))
    return np.round(255 * (1 - ink)).astype(np.uint8)


def test_a_drawing_and_its_inverse_give_the_same_tensor(drawings):
    page = as_page(drawings[0, 0])  # black on white
    inverse = 255 - page  # white on black
    expected = preprocess_image(inverse)
    torch.testing.assert_close(preprocess_image(page), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(preprocess_image(page / 255.0), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(preprocess_image(Image.fromarray(page)), expected, atol=1e-6, rtol=0)
    rgb = np.repeat(page[..., None], 3, axis=-1)
    torch.testing.assert_close(preprocess_image(rgb), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(preprocess_image(torch.from_numpy(page)[None]), expected, atol=1e-6, rtol=0)
    # black ink on a transparent background
    rgba = np.zeros((*page.shape, 4), np.uint8)
    rgba[..., 3] = 255 - page
    torch.testing.assert_close(preprocess_image(Image.fromarray(rgba, "RGBA")), expected, atol=1e-6, rtol=0)


def test_a_training_drawing_passes_through_unchanged(drawings):
    torch.testing.assert_close(preprocess_image(drawings[1, 0, 0].numpy()), drawings[1, 0], atol=1e-6, rtol=0)


def test_resize_keeps_the_aspect_and_the_range():
    page = np.full((30, 90), 255, np.uint8)
    page[14:16, :] = 0  # one black line across a wide white page
    out = preprocess_image(page)
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    rows = out[0].sum(dim=1)
    assert rows[:9].abs().max() == 0 and rows[-9:].abs().max() == 0  # the padding above and below the page
    assert bool((out[0].sum(dim=0) > 0.4).all())  # the line (2 of 90 pixels tall) spans the whole width


def test_a_grey_page_gets_a_black_background():
    page = np.full((56, 56), 200, np.uint8)
    page[20:36, 26:30] = 20  # dark ink on grey paper
    out = preprocess_image(page)
    assert float(out[0, :5].max()) == 0 and float(out.max()) > 0.85  # (235 - 55) / (255 - 55) = 0.9


@pytest.mark.parametrize("image, says", [
    (np.full((5, 5), 2.0), "float images must lie in [0, 1]"),
    (np.zeros(28), "expected a 2-D grayscale image"),
    (np.zeros((28, 28, 7)), "expected [H, W] grayscale"),
    (np.zeros((0, 28)), "holds no pixels"),
    (np.full((4, 4), np.nan), "NaN"),
])
def test_bad_images_say_what_to_change(image, says):
    with pytest.raises(ValueError) as info:
        preprocess_images([image], "query_images")
    assert says in str(info.value) and "query_images[0]" in str(info.value)


def test_a_single_image_or_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="wrap a single image"):
        preprocess_images(np.zeros((28, 28)), "query_images")
    with pytest.raises(ValueError, match="query_images is empty"):
        preprocess_images([], "query_images")


def episode_by_hand(support: list, labels: list, queries: list) -> tuple[EpisodeBatch, list]:
    """The second path: the same episode built image by image, classes in order of first appearance."""
    classes = list(dict.fromkeys(labels))
    support_x = torch.stack([preprocess_image(x) for x in support])
    query_x = torch.stack([preprocess_image(x) for x in queries])
    support_y = torch.tensor([classes.index(y) for y in labels])
    return EpisodeBatch(support_x[None], support_y[None], query_x[None], torch.zeros(1, len(queries), dtype=torch.long)), classes


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_are_the_models_own_scores(assets, drawings, kind):
    learner = load_learner(kind, device="cpu")
    support = [as_page(d) for d in drawings[:, 0]]
    labels = ["ka", 7, "ga", 7.5, ("x", 1)]  # any hashable values
    queries = [as_page(d, scale=2) for d in drawings[:, 1]] + [255 - as_page(drawings[2, 0])]
    prediction = learner.predict(support, labels, queries)
    batch, classes = episode_by_hand(support, labels, queries)
    expected = learner.model.scores(batch)[0]
    assert prediction.classes == labels == classes
    np.testing.assert_allclose(prediction.scores, expected.numpy(), rtol=1e-5, atol=1e-6)
    if kind == "relation":
        np.testing.assert_allclose(prediction.probabilities, (expected / expected.sum(-1, keepdim=True)).numpy(),
                                   rtol=1e-5)
    else:
        np.testing.assert_allclose(prediction.probabilities, expected.softmax(-1).numpy(), rtol=1e-4, atol=1e-7)
    assert prediction.labels == [labels[i] for i in expected.argmax(-1).tolist()]
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("kind", ["protonet", "relation"])
def test_queries_in_chunks_score_as_in_one_pass(assets, drawings, monkeypatch, kind):
    learner = load_learner(kind, device="cpu")
    support, queries = drawings[:, 0, 0], drawings[:, 1, 0]  # stacked [N, H, W] tensors
    one_pass = learner.predict(support, list("abcde"), queries).scores
    monkeypatch.setattr(lab.api, "QUERY_CHUNK", 2)
    np.testing.assert_allclose(learner.predict(support, list("abcde"), queries).scores, one_pass, rtol=1e-5,
                               atol=1e-6)


def test_identical_support_and_query_images_are_recognised(assets, drawings):
    learner = load_learner("protonet", device="cpu")
    support = [as_page(d) for d in drawings[:, 0]]
    labels = [10, 20, 30, 40, 50]
    prediction = learner.predict(support, labels, support[::-1])
    assert prediction.labels == labels[::-1]
    # euclidean ProtoNet, one shot: the logit of a query's own class is minus a distance of 0
    np.testing.assert_allclose(prediction.scores[np.arange(5), np.arange(5)[::-1]], 0, atol=1e-4)


def test_a_pixel_space_protonet_predicts_what_is_computed_by_hand():
    model = ProtoNet()
    model.encoder = nn.Flatten()  # embeddings = pixels: logits are minus squared distances to class means
    learner = Learner(model)
    page = np.zeros((28, 28), np.uint8)
    vertical, horizontal, dot = page.copy(), page.copy(), page.copy()
    vertical[4:24, 12:16] = 255
    horizontal[12:16, 4:24] = 255
    dot[13:15, 13:15] = 255
    shifted = np.roll(vertical, 2, axis=1)
    support = [vertical, shifted, horizontal, dot]
    labels = ["|", "|", "-", "."]
    queries = [np.roll(horizontal, 1, axis=0), np.roll(vertical, 1, axis=1), dot]
    prediction = learner.predict(support, labels, queries, classes=[".", "-", "|"])
    assert prediction.labels == ["-", "|", "."] and prediction.classes == [".", "-", "|"]
    means = np.stack([dot, horizontal, vertical / 2 + shifted / 2]).reshape(3, -1) / 255  # columns . - |
    q = np.stack(queries).reshape(3, -1) / 255
    by_hand = -((q[:, None] - means[None]) ** 2).sum(-1)
    np.testing.assert_allclose(prediction.scores, by_hand, rtol=1e-5)


def test_labels_given_as_arrays_come_back_as_python_values(assets, drawings):
    learner = load_learner("protonet", device="cpu")
    prediction = learner.predict(drawings[:3, 0, 0], np.array([3, 1, 2]), drawings[:3, 0, 0])
    assert prediction.classes == [3, 1, 2] and prediction.labels == [3, 1, 2]
    assert all(type(label) is int for label in prediction.labels)


@pytest.mark.parametrize("labels, kwargs, says", [
    (["a", "a"], {}, "at least 2 classes"),
    (["a", "b"], {"classes": ["a", "b", "c"]}, "class 'c' has no support image"),
    (["a", "z"], {"classes": ["a", "b"]}, "'z', which is not in classes"),
    (["a"], {}, "2 support_images but 1 support_labels"),
    (["a", ["b"]], {}, "support_labels[1] is a list"),
    ([], {"images": []}, "the support set has no images"),
])
def test_bad_support_sets_say_what_to_change(drawings, labels, kwargs, says):
    learner = Learner(ProtoNet())
    kwargs = dict(kwargs)
    support = kwargs.pop("images", drawings[:2, 0, 0])
    with pytest.raises(ValueError) as info:
        learner.predict(support, labels, drawings[:1, 1, 0], **kwargs)
    assert says in str(info.value)


def test_load_learner_finds_checkpoints_or_says_why_not(assets, tmp_path, monkeypatch):
    stem = assets / "relation_glyphs"
    for given in (stem, f"{stem}.pt", f"{stem}.json"):
        assert load_learner("relation", given, device="cpu").path == stem
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "models").mkdir(parents=True)
    for suffix in (".pt", ".json"):
        (tmp_path / "home" / "models" / f"mine{suffix}").write_bytes((assets / f"maml_glyphs{suffix}").read_bytes())
    assert load_learner("MAML", "mine", device="cpu").kind == "maml"
    with pytest.raises(ValueError, match="choose one of protonet, relation, maml"):
        load_learner("knn")
    with pytest.raises(CheckpointError, match="no model of that name"):
        load_learner("protonet", tmp_path / "nothing.pt")
    with pytest.raises(CheckpointError, match="not 'protonet'"):
        load_learner("protonet", stem)
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    with pytest.raises(CheckpointError, match="the shipped protonet checkpoint"):
        load_learner("protonet")


def test_import_lab_stays_cheap_and_exports_load_learner():
    code = ("import sys, lab; assert 'torch' not in sys.modules, 'import lab pulled in torch'; "
            "from lab import load_learner; assert callable(load_learner)")
    subprocess.run([sys.executable, "-c", code], check=True)
