"""Virtual-task training: the budget of real classes, virtual episodes, BatchNorm statistics kept to real
drawings, the alternating loop (both arms see the same real episodes; the generator learns while the
learner does), resuming, and the eval command's report and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.compute import make_generator
from lab.evaluation import validate_report
from lab.learners.generative import CharacterVAE, CharacterVAEConfig
from lab.learners.protonet import ProtoNet, ProtoNetConfig
from lab.nets import load_params_, random_init
from lab.tasks.augment import HandJitter
from lab.tasks.base import EpisodeBatch
from lab.tasks.omniglot import default_omniglot_path
from lab.tasks.splits import VALIDATION, data_split, validation_split
from lab.virtual_eval import same_config, virtual_recipe
from lab.virtual_training import (
    VirtualTrainConfig,
    budget_class_ids,
    joint_loss,
    real_statistics_only,
    spliced_canon,
    train_virtual,
    virtual_episode,
)

TINY = dict(data="glyphs", real_classes=5, iterations=4, train_way=5, gen_warmup=3, gen_batch=4, gen_drawings=2,
            channels=4, vae={"hidden": 16}, checkpoint_every=2)


class _Chars:
    """A stand-in Omniglot source: 30 characters, each also rotated (120 class ids)."""

    name, n_characters, n_classes, drawings_per_class = "chars", 30, 120, 20


def test_budget_is_seeded_distinct_and_unrotated():
    ids = budget_class_ids(_Chars(), 6, budget_seed=3)
    assert len(set(ids)) == 6 and all(0 <= i < 30 for i in ids)  # rotated copies (ids >= 30) never count
    assert ids == budget_class_ids(_Chars(), 6, budget_seed=3)
    assert ids != budget_class_ids(_Chars(), 6, budget_seed=4)
    assert budget_class_ids(_Chars(), 0, 0) == list(range(30))  # 0: all characters
    with pytest.raises(ValueError, match="real_classes=31 but the training set has 30 characters"):
        budget_class_ids(_Chars(), 31, 0)
    with pytest.raises(ValueError, match="at least 5 real classes"):
        budget_class_ids(_Chars(), 3, 0)


def test_virtual_episode_has_labelled_classes_of_dreamt_drawings():
    model = CharacterVAE(CharacterVAEConfig(hidden=16))
    load_params_(model, random_init(model, 0))
    pool = torch.randn(4, model.config.class_dim)
    for codes in (None, pool):
        ep = virtual_episode(model, 3, 2, 4, make_generator(1), codes)
        assert ep.support_x.shape == (1, 6, 1, 28, 28) and ep.query_x.shape == (1, 12, 1, 28, 28)
        assert ep.support_y.tolist() == [[0, 0, 1, 1, 2, 2]]
        assert ep.query_y.tolist() == [[0] * 4 + [1] * 4 + [2] * 4]
        assert 0 <= float(ep.support_x.min()) and float(ep.query_x.max()) <= 1


class _OneShape(CharacterVAE):
    """Draws the same lopsided L (ink in the top rows and left columns only) whatever the codes."""

    def decode(self, class_code: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        image = torch.zeros(1, 28, 28)
        image[:, 2:5, 2:20] = 1
        image[:, 2:14, 2:5] = 1
        return image.expand(*class_code.shape[:-1], 1, 28, 28).clone()


def test_rotated_virtual_classes_turn_all_their_drawings_alike():
    model = _OneShape(CharacterVAEConfig(hidden=16))
    still = HandJitter(0, 0, 0, 0, 0, 2, 0)  # no hand: only the class's turn changes the drawing
    ep = virtual_episode(model, 40, 1, 3, make_generator(2), torch.randn(5, model.config.class_dim), sizes=still,
                         mix=3, rotate=True)
    base = model.decode(torch.zeros(1, 16), torch.zeros(1, 4))[0]
    drawings = torch.cat([ep.support_x[0].view(40, 1, 1, 28, 28), ep.query_x[0].view(40, 3, 1, 28, 28)], 1)
    turns = []
    for per_class in drawings:
        matches = [r for r in range(4) if torch.allclose(per_class[0], torch.rot90(base, r, dims=(-2, -1)), atol=1e-4)]
        assert len(matches) == 1 and all(torch.allclose(d, per_class[0], atol=1e-4) for d in per_class)
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}  # 40 classes: every quarter turn comes up
    plain = virtual_episode(model, 8, 1, 1, make_generator(2), None, sizes=still)
    assert torch.allclose(plain.support_x[0], base.expand(8, 1, 28, 28), atol=1e-4)


class _Blurred(CharacterVAE):
    """Draws a grey, blurred bar five pixels thick whatever the codes (what an undertrained VAE dreams)."""

    def decode(self, class_code: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        image = torch.zeros(1, 1, 28, 28)
        image[..., 12:17, 4:24] = 0.7
        image = torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1)[0]
        return image.expand(*class_code.shape[:-1], 1, 28, 28).clone()


def test_pen_redraws_dreamt_drawings_as_thin_dark_lines():
    model = _Blurred(CharacterVAEConfig(hidden=16))
    still = HandJitter(0, 0, 0, 0, 0, 2, 0)
    blurred = virtual_episode(model, 3, 1, 1, make_generator(4), None, sizes=still).support_x[0]
    inked = virtual_episode(model, 3, 1, 1, make_generator(4), None, sizes=still, pen=True).support_x[0]
    assert float(blurred.max()) < 0.75 and float(inked.max()) == 1.0
    columns = (inked[0, 0, :, 8:20] > 0.5).sum(0)  # one dark pixel per column where the bar was 5 grey ones
    assert bool((columns == 1).all()), columns


def test_models_trained_before_a_config_field_existed_still_match_its_default():
    config = virtual_recipe("glyphs", 20, True)
    old_card = {k: v for k, v in config.card().items() if k != "pen"}
    assert same_config(old_card, config)
    assert not same_config(old_card, virtual_recipe("glyphs", 20, True, pen=True))
    assert not same_config({**config.card(), "retired_field": 1}, config)
    assert not same_config({**old_card, "seed": 1}, config)


def test_mixing_many_real_codes_stays_between_them():
    model = CharacterVAE(CharacterVAEConfig(hidden=16))
    pool = torch.stack([torch.full((16,), 100.0), torch.full((16,), 200.0), torch.full((16,), 300.0)])
    seen = []
    model.decode = lambda c, z: (seen.append(c[:, 0]), torch.zeros(*c.shape[:-1], 1, 28, 28))[1]
    virtual_episode(model, 50, 1, 1, make_generator(3), pool, mix=3)
    codes = seen[0][:, 0]  # the prior noise adds at most a few units to a mix of 100..300
    assert float(codes.min()) > 95 and float(codes.max()) < 305 and float(codes.std()) > 20


class _Flat(CharacterVAE):
    """Canonical drawing of class code ``c``: every pixel at ``sigmoid(c[0])`` (so each class is recognisable)."""

    def canonical_logits(self, class_code: torch.Tensor) -> torch.Tensor:
        return class_code[..., :1, None, None].expand(*class_code.shape[:-1], 1, 28, 28)


def test_spliced_characters_join_two_canonical_drawings_along_a_line():
    model = _Flat(CharacterVAEConfig(hidden=16))
    codes = torch.linspace(-3, 3, 30).unsqueeze(1).expand(30, 16)
    shade = torch.sigmoid(codes[:, 0])
    out = spliced_canon(model, codes, make_generator(8))
    joined = 0
    for i, row in enumerate(out.squeeze(1)):
        values = (row * 1e4).round().unique()  # to 1e-4: SIMD and scalar sigmoids may differ in the last bit
        own = (row - shade[i]).abs() < 1e-5
        assert bool(own.any()) and len(values) <= 2  # its own drawing on one side, another's on the other
        if len(values) == 2:
            joined += 1
            assert 0.15 < float(own.float().mean()) < 0.85
            # A line through the middle: a pixel is on the own side iff its mirror through the centre is not.
            assert bool((own ^ own.flip(-1, -2)).all())
    assert joined >= 25  # the other drawing is rarely the same class (1 in 30)


def test_joint_episode_loss_is_one_episode_of_real_and_dreamt_ways():
    net = ProtoNet(ProtoNetConfig(channels=4))
    load_params_(net, random_init(net, 5))
    net.eval()  # running statistics: embeddings do not depend on which pass an image is in
    rng = make_generator(4)

    def episode(n_way: int) -> EpisodeBatch:
        labels = torch.arange(n_way)
        return EpisodeBatch(torch.rand(1, n_way, 1, 28, 28, generator=rng), labels[None],
                            torch.rand(1, 2 * n_way, 1, 28, 28, generator=rng), labels.repeat_interleave(2)[None], {})

    real, dream = episode(3), episode(4)
    loss, real_loss, dream_loss = joint_loss(net, real, dream, virtual_weight=0.5)
    both = EpisodeBatch(torch.cat([real.support_x, dream.support_x], 1),
                        torch.cat([real.support_y, dream.support_y + 3], 1),
                        torch.cat([real.query_x, dream.query_x], 1),
                        torch.cat([real.query_y, dream.query_y + 3], 1), {})
    whole, _ = net.loss(both)  # mean over all 14 queries of the 7-way episode
    assert whole.item() == pytest.approx((6 * real_loss.item() + 8 * dream_loss.item()) / 14, rel=1e-5)
    assert loss.item() == pytest.approx(real_loss.item() + 0.5 * dream_loss.item(), rel=1e-6)
    alone, _ = net.loss(real)
    assert real_loss.item() > alone.item()  # dreamt prototypes are distractors for real queries


def test_virtual_drawings_leave_the_running_statistics_to_real_ones():
    net = ProtoNet(ProtoNetConfig(channels=4))
    first_norm = net.encoder.encoder[0][1]
    before = first_norm.running_mean.clone()
    with real_statistics_only(net):
        net.encoder(torch.rand(6, 1, 28, 28))
    assert torch.equal(first_norm.running_mean, before) and first_norm.momentum == 0.1
    net.encoder(torch.rand(6, 1, 28, 28))
    assert not torch.equal(first_norm.running_mean, before)


def test_both_arms_see_the_same_real_episodes_and_the_generator_learns():
    real: dict[bool, list[float]] = {False: [], True: []}
    warmup: list[float] = []

    def record(virtual: bool):
        def report(it: int, means: dict[str, float]) -> None:
            (real[virtual] if it > 0 else warmup).append(means["real"] if it > 0 else means["vae"])
        return report

    results = {v: train_virtual(VirtualTrainConfig(virtual=v, **{**TINY, "iterations": 1, "gen_warmup": 60}),
                                on_progress=record(v), log_every=1) for v in (False, True)}
    # One iteration from the same initial weights: the real loss is equal only if the real episode is.
    assert len(real[False]) == 1 and real[False] == pytest.approx(real[True])
    assert results[False].generator is None and results[True].generator is not None
    assert len(warmup) == 15 and warmup[-1] < 0.8 * warmup[0]  # the generator's negative ELBO falls
    _, real_loss, virtual_loss, vae_loss = results[True].curve[-1]
    assert all(torch.isfinite(torch.tensor([real_loss, virtual_loss, vae_loss])))  # both phases ran


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    config = VirtualTrainConfig(**TINY)
    whole = train_virtual(config)
    stopped = train_virtual(config, run_dir=tmp_path, on_progress=lambda it, m: it < 2, log_every=1)
    assert stopped.stopped and stopped.iterations == 2
    resumed = train_virtual(config, run_dir=tmp_path)
    for a, b in zip(whole.learner.state_dict().values(), resumed.learner.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float())


def test_eval_virtual_prints_both_arms_per_budget_and_reuses_trained_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    args = ["eval", "virtual", "--data", "glyphs", "--real-classes", "5", "--iterations", "2", "--warmup", "1",
            "--channels", "4", "--episodes", "3", "--draws", "1", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert [(r["method"], r["real_classes"]) for r in report["results"]] == [("real-only", 5), ("real+virtual", 5)]
    virtual_row = report["results"][1]
    assert virtual_row["gain"] == pytest.approx(virtual_row["mean"] - report["results"][0]["mean"], abs=1e-3)
    saved = sorted(p.name for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt"))
    assert saved == ["virtual_glyphs_5_real_seed0_it2.pt", "virtual_glyphs_5_virtual_seed0_it2.pt",
                     "virtual_glyphs_5_virtual_seed0_it2_generator.pt"]
    assert len(list((tmp_path / "home" / "models" / "virtual").glob("*.eval.json"))) == 2  # the measured episodes
    stamps = [p.stat().st_mtime_ns for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt")]
    assert main(args) == 0  # the second time loads them: same numbers, nothing rewritten
    assert json.loads(capsys.readouterr().out)["results"] == report["results"]
    assert [p.stat().st_mtime_ns for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt")] == stamps


def test_eval_virtual_averages_repeats_each_with_its_own_budget_and_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    args = ["eval", "virtual", "--data", "glyphs", "--real-classes", "5", "--iterations", "2", "--warmup", "1",
            "--channels", "4", "--episodes", "4", "--json"]
    assert main([*args, "--draws", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    real, virtual = report["results"]
    for row in (real, virtual):
        assert row["draws"] == 2 and row["n"] == 4
        assert row["mean"] == pytest.approx(sum(row["draw_means"]) / 2, abs=1e-3)
    assert virtual["gain"] == pytest.approx(virtual["mean"] - real["mean"], abs=1e-3)
    folder = tmp_path / "home" / "models" / "virtual"
    cards = {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("virtual_glyphs_5_real_*_it2.json"))}
    assert list(cards) == ["virtual_glyphs_5_real_seed0_it2.json", "virtual_glyphs_5_real_seed1_budget1_it2.json"]
    first, second = cards.values()
    assert (first["config"]["seed"], first["config"]["budget_seed"]) == (0, 0)
    assert (second["config"]["seed"], second["config"]["budget_seed"]) == (1, 1)
    assert first["extra"]["real_class_ids"] != second["extra"]["real_class_ids"]
    # The first repeat is the one-draw experiment: it is reused, and its mean is that run's.
    assert main([*args, "--draws", "1"]) == 0
    alone = json.loads(capsys.readouterr().out)["results"]
    assert [r["mean"] for r in alone] == pytest.approx([real["draw_means"][0], virtual["draw_means"][0]], abs=1e-4)


@pytest.mark.parametrize("argv, message", [
    (["--real-classes", "abc"], "must be whole numbers >= 5 or 'all'"),
    (["--real-classes", "3"], "must be whole numbers >= 5 or 'all'"),
    (["--real-classes", "5000", "--data", "glyphs"], "real_classes=5000 but the training set has 1600 characters"),
    (["--data", "mnist"], "choose from glyphs, omniglot"),
    (["--episodes", "1", "--data", "glyphs"], "at least 2 episodes"),
    (["--draws", "0", "--data", "glyphs"], "--draws"),
    (["--warmup", "-1", "--data", "glyphs"], "--warmup -1 must be >= 0"),
    (["--validate", "atlantis"], "invalid choice: 'atlantis'"),
    (["--validate", "korean", "--data", "glyphs"], "validation splits are of Omniglot's training alphabets"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    assert main(["eval", "virtual", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "home").exists()  # nothing trained before the input was checked


def test_validation_splits_hold_out_training_alphabets_and_never_touch_the_test_ones(tmp_path, monkeypatch, capsys):
    path = default_omniglot_path()
    if path is None or not (path / "images_background_small1.zip").exists():
        pytest.skip("the small Omniglot archives are not on this machine (../shared/data/omniglot)")
    lab_split = data_split("omniglot")
    for name, held in VALIDATION.items():
        split = validation_split(name)
        assert split.test.alphabets == sorted(held) and not split.test.rotations
        assert split.train.rotations and set(split.train.alphabets) == set(lab_split.train.alphabets) - set(held)
        assert not set(split.train.alphabets + split.test.alphabets) & set(lab_split.test.alphabets)
        assert split.train.n_characters + split.test.n_characters == lab_split.train.n_characters
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    assert main(["eval", "virtual", "--data", "omniglot", "--validate", "korean", "--real-classes", "5",
                 "--iterations", "2", "--warmup", "1", "--channels", "4", "--episodes", "3", "--draws", "1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["config"]["validate"] == "korean" and "validate on Korean" in report["config"]["split"]
    folder = tmp_path / "home" / "models" / "virtual"
    assert sorted(p.name for p in folder.glob("*.pt")) == []  # validation models never mix with the real ones
    card = json.loads((folder / "validate-korean" / "virtual_omniglot_5_real_seed0_it2.json").read_text())
    chosen = validation_split("korean").train.class_names(card["extra"]["real_class_ids"])
    assert len(chosen) == 5 and not [c for c in chosen if c.startswith("Korean")]
