"""The Relation page's compute: both learners see the very same episode; the shared few-shot page helpers."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lab.checkpoint import save_checkpoint
from lab.demos import fewshot
from lab.demos.relation import draw_episode, relation_demo
from lab.learners.fewshot import build_model
from lab.nets import load_params_, random_init


def _model(kind: str, seed: int = 0) -> torch.nn.Module:
    model = build_model(kind, {"channels": 8})
    load_params_(model, random_init(model, seed))
    return model.eval()


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, torch.nn.Module]:
    return _model("relation", 1), _model("protonet", 2)


def test_both_learners_score_the_same_episode(models) -> None:
    relation, protonet = models
    source = fewshot.held_out_source("glyphs")
    demo = relation_demo(relation, protonet, source, 4, 2, 3, seed=7)
    episode = draw_episode(source, 4, 2, 3, seed=7)  # what the seed gives, drawn again
    with torch.no_grad():
        rel = relation.episode(episode.support_x, episode.support_y, episode.query_x, 4)
        proto = protonet.episode(episode.support_x, episode.support_y, episode.query_x, 4)
    np.testing.assert_allclose(demo.relation_scores, rel.scores[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(demo.proto_distances, proto.distances[0].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(demo.query, episode.query_x[0, :, 0].numpy())
    np.testing.assert_array_equal(demo.support.reshape(8, 28, 28), episode.support_x[0, :, 0].numpy())
    np.testing.assert_array_equal(demo.query_labels, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    assert demo.class_names == episode.meta["class_names"][0]


def test_shapes_predictions_and_disagreements(models) -> None:
    demo = relation_demo(*models, fewshot.held_out_source("glyphs"), 5, 1, 2, seed=0)
    assert demo.support.shape == (5, 1, 28, 28) and demo.query.shape == (10, 28, 28)
    assert demo.relation_scores.shape == demo.proto_probs.shape == demo.proto_distances.shape == (10, 5)
    assert ((demo.relation_scores >= 0) & (demo.relation_scores <= 1)).all()
    np.testing.assert_allclose(demo.proto_probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(demo.proto_pred, demo.proto_distances.argmin(axis=1))
    assert demo.relation_accuracy == np.mean(demo.relation_scores.argmax(1) == demo.query_labels)
    expected = [i for i in range(10) if demo.relation_pred[i] != demo.proto_pred[i]]
    assert demo.disagreements.tolist() == expected


def test_seeded(models) -> None:
    source = fewshot.held_out_source("glyphs")
    a, b = (relation_demo(*models, source, 3, 1, 2, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.query, b.query)
    assert not np.array_equal(a.query, relation_demo(*models, source, 3, 1, 2, seed=4).query)


def test_impossible_requests_and_training_mode_raise(models) -> None:
    source = fewshot.held_out_source("glyphs")
    with pytest.raises(ValueError, match="n_way"):
        relation_demo(*models, source, 1, 1, 2, seed=0)
    with pytest.raises(ValueError, match="k_shot"):
        relation_demo(*models, source, 5, 0, 2, seed=0)
    relation, protonet = models
    with pytest.raises(ValueError, match="training mode"):
        relation_demo(relation.train(), protonet, source, 3, 1, 1, seed=0)
    relation.eval()


def test_held_out_source(monkeypatch) -> None:
    glyphs = fewshot.held_out_source("glyphs")
    assert glyphs.n_classes == 400  # the 10 held-out alphabets of 40 characters
    with pytest.raises(ValueError, match="data='mnist'"):
        fewshot.held_out_source("mnist")
    assert fewshot.held_out_source("glyphs") is glyphs  # cached, its skeletons generated once
    monkeypatch.setattr(fewshot, "default_omniglot_path", lambda: None)
    with pytest.raises(FileNotFoundError, match="no Omniglot folder is configured; set LAB_OMNIGLOT_DIR"):
        fewshot.held_out_source("omniglot")
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):  # the reader's message, not cached
        fewshot.held_out_source("omniglot", "/nowhere")


def test_held_out_omniglot_is_read_again_when_its_folder_changes(tmp_path, monkeypatch) -> None:
    reads = []
    monkeypatch.setattr(fewshot, "omniglot_split", lambda path: reads.append(path) or SimpleNamespace(test=object()))
    os.utime(tmp_path, ns=(10**18, 10**18))
    first = fewshot.held_out_source("omniglot", tmp_path)
    assert fewshot.held_out_source("omniglot", str(tmp_path)) is first and len(reads) == 1
    (tmp_path / "images_background.zip").write_bytes(b"")  # a replaced archive changes the folder's mtime
    os.utime(tmp_path, ns=(2 * 10**18, 2 * 10**18))
    assert fewshot.held_out_source("omniglot", tmp_path) is not first and len(reads) == 2


def test_model_choices_split_maml_by_first_order(lab_assets, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    model = build_model("maml", {"channels": 8, "first_order": True})
    save_checkpoint(tmp_path / "models" / "fomaml_run", model.state_dict(),
                    {"data": "glyphs", "net": model.config.to_dict()}, "maml")
    maml, _ = fewshot.model_choices("maml")
    fomaml, problems = fewshot.model_choices("fomaml")
    assert [c.shipped for c in maml] == [True]
    assert [c.label for c in fomaml] == ["fomaml_run · glyphs"] and not problems
    assert len(fewshot.model_choices("relation")[0]) == 1
    with pytest.raises(ValueError, match="method='knn'"):
        fewshot.model_choices("knn")
