"""The Compare page's compute: identical episodes for every learner, rows in the evaluation schema."""

from __future__ import annotations

import math

import pytest
import torch

from lab.compute import make_generator
from lab.demos import compare
from lab.demos.fewshot import held_out_source
from lab.evaluation import ROW_KEYS, make_report, validate_report
from lab.learners.fewshot import build_model, evaluate_accuracy
from lab.nets import load_params_, random_init
from lab.tasks.episodes import FewShotFamily

TEMPLATES = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]],
                          [[0.0, 0.0], [0.0, 1.0]]])


class ToySource:
    """Four classes of 2x2 images: a class's bright pixel plus uniform noise (enough to make mistakes)."""

    name = "toy"
    n_classes = 4
    drawings_per_class = None

    def class_names(self, class_ids) -> list[str]:
        return [f"c{int(i)}" for i in class_ids]

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        noise = torch.rand((len(class_ids), n_per_class, 1, 2, 2), generator=rng)
        return TEMPLATES[class_ids][:, None, None] + 1.2 * noise


def _model(kind: str) -> torch.nn.Module:
    model = build_model(kind, {"channels": 8})
    load_params_(model, random_init(model, 0))
    return model.eval()


def test_every_learner_gets_the_very_same_batches() -> None:
    seen: dict[str, list] = {"a": [], "b": []}

    def recorder(name: str):
        def score(batch):
            seen[name].append(batch)
            return torch.zeros(batch.query_y.shape + (int(batch.support_y.max()) + 1,))
        return score

    compare.compare_learners({"a": recorder("a"), "b": recorder("b")}, ToySource(), [3], [2], 9, seed=1, n_query=2)
    assert len(seen["a"]) == len(seen["b"]) >= 2  # warm-up on one task, then the batches
    for x, y in zip(seen["a"], seen["b"], strict=True):
        assert x is y or torch.equal(x.query_x, y.query_x) and torch.equal(x.support_x, y.support_x)
    assert sum(b.n_tasks for b in seen["a"][1:]) == 9


def test_rows_equal_evaluate_accuracy_on_the_same_seed() -> None:
    model = _model("protonet")
    source = held_out_source("glyphs")
    rows = compare.compare_learners({"protonet": model.scores}, source, [5], [1, 2], 6, seed=11, n_query=3)
    for row, shots in zip(rows, [1, 2], strict=True):
        family = FewShotFamily(source, 5, shots, 3)
        ref = evaluate_accuracy(model.scores, family, 6, make_generator(11),
                                batch_size=compare.episodes_per_batch(5, shots, 3))
        assert row["shots"] == shots and row["mean"] == pytest.approx(ref["mean"])
        assert row["ci95"] == pytest.approx(ref["ci95"])


def test_pixel_nearest_neighbour_matches_a_hand_computation() -> None:
    source, ways, shots, queries, n, seed = ToySource(), 3, 2, 3, 8, 5
    [row] = compare.compare_learners({"pixel-nn": compare.score_function("pixel-nn", None, "cpu")}, source,
                                     [ways], [shots], n, seed, queries)
    family, rng, accs, drawn = FewShotFamily(source, ways, shots, queries), make_generator(seed), [], 0
    while drawn < n:
        batch = family.sample(rng, min(compare.episodes_per_batch(ways, shots, queries), n - drawn))
        drawn += batch.n_tasks
        for t in range(batch.n_tasks):
            right = 0
            for qx, qy in zip(batch.query_x[t], batch.query_y[t], strict=True):
                dists = [float(((qx - sx) ** 2).sum()) for sx in batch.support_x[t]]
                right += int(batch.support_y[t][dists.index(min(dists))]) == int(qy)
            accs.append(right / len(batch.query_y[t]))
    assert row["mean"] == pytest.approx(sum(accs) / n)
    assert 0 < row["mean"] < 1  # the noise makes it a real test


def test_rows_follow_the_schema_and_order() -> None:
    def guess(batch):  # a stand-in learner: 2x2 images are too small for a Conv4
        return torch.rand(batch.query_y.shape + (int(batch.support_y.max()) + 1,), generator=make_generator(0))

    fns = {"relation": guess, "pixel-nn": compare.pixel_nn_scores}
    calls = []
    rows = compare.compare_learners(fns, ToySource(), [2, 3], [1, 2], 3, seed=0, n_query=2,
                                    on_progress=lambda done, total: calls.append((done, total)))
    assert [(r["method"], r["ways"], r["shots"]) for r in rows] == [
        (m, w, s) for m in ("relation", "pixel-nn") for w in (2, 3) for s in (1, 2)]
    for row in rows:
        assert set(row) == {*ROW_KEYS, "ways", "shots", "ms_per_episode"}
        assert row["metric"] == "accuracy" and row["n"] == 3 and row["ms_per_episode"] >= 0
        assert 0 <= row["mean"] <= 1 and math.isfinite(row["ci95"])
    validate_report(make_report(compare.TASK, {}, rows))
    assert calls[-1] == (4 * 3 * 2, 4 * 3 * 2)


def test_impossible_settings_raise_before_anything_runs() -> None:
    def never(batch):
        raise AssertionError("a learner ran")

    with pytest.raises(ValueError, match="n_way=5 but toy has 4 classes"):
        compare.compare_learners({"x": never}, ToySource(), [2, 5], [1], 5)
    with pytest.raises(ValueError, match="at least 2 episodes"):
        compare.compare_learners({"x": never}, ToySource(), [2], [1], 1)
    with pytest.raises(ValueError, match="at least one"):
        compare.compare_learners({"x": never}, ToySource(), [], [1], 5)
    with pytest.raises(ValueError, match="needs a trained model"):
        compare.score_function("maml", None, "cpu")
    with pytest.raises(ValueError, match="method='knn'"):
        compare.score_function("knn", None, "cpu")


def test_episodes_per_batch_shrinks_for_big_episodes() -> None:
    assert compare.episodes_per_batch(5, 1, 5) == compare.MAX_BATCH
    assert compare.episodes_per_batch(20, 5, 15) == 1
    assert compare.episodes_per_batch(20, 1, 5) in range(1, compare.MAX_BATCH)


def test_compare_models_report_on_private_copies() -> None:
    models = {"protonet": _model("protonet"), "maml": _model("maml"), "pixel-nn": None}
    before = {k: v.clone() for k, v in models["maml"].state_dict().items()}
    report = compare.compare_models(models, "glyphs", [3], [1], 4, seed=2, n_query=2, device="cpu")
    validate_report(report)
    assert report["task"] == "fewshot-compare" and report["config"]["device"] == "cpu"
    assert [r["method"] for r in report["results"]] == ["protonet", "maml", "pixel-nn"]
    for k, v in models["maml"].state_dict().items():
        assert torch.equal(v, before[k])
    with pytest.raises(ValueError, match="unknown methods"):
        compare.compare_models({"knn": None}, "glyphs", [3], [1], 4)
