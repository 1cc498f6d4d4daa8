"""The MANN command line: eval's JSON schema (MANN and LSTM at each instance), train into a folder and
continue a run, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.evaluation import validate_report
from lab.home import models_dir
from lab.mann_eval import INSTANCES, baseline_stem, ensemble_members

TINY = ["--classes", "2", "--length", "4", "--controller", "8", "--memory-slots", "4", "--memory-width", "4",
        "--read-heads", "1", "--batch", "2", "--eval-episodes", "2", "--threads", "1"]


@pytest.fixture
def assets(lab_assets, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return lab_assets


def test_eval_json_has_both_methods_at_every_instance(assets, capsys):
    assert main(["eval", "mann", "--classes", "5", "--episodes", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["task"] == "mann-instances" and report["config"]["classes"] == 5
    cells = {(r["method"], r["instance"]) for r in report["results"]}
    assert cells == {(m, k) for m in ("mann", "mann-lstm") for k in INSTANCES}
    for row in report["results"]:
        assert row["metric"] == "accuracy" and row["n"] == 4 and row["classes"] == 5
        assert row["mean"] >= 0
        assert row["mean"] <= 1
    assert report["config"]["models"]["mann"]["checkpoint"].endswith("mann_glyphs")


def test_train_writes_the_pair_eval_reads_it_and_more_iterations_continue(assets, tmp_path, capsys):
    out, runs = tmp_path / "models", tmp_path / "runs"
    args = ["train", "mann", *TINY, "--out", str(out), "--runs", str(runs), "--name", "tiny"]
    assert main([*args, "--iterations", "2"]) == 0
    assert (out / "tiny.pt").exists() and (out / "tiny_lstm.pt").exists()
    first = capsys.readouterr().out
    assert "mann: 2 iterations" in first and "mann-lstm: 2 iterations" in first
    assert main([*args, "--iterations", "3"]) == 0  # a constant rate: continues from iteration 2
    card = json.loads((out / "tiny.json").read_text())
    assert card["extra"]["iterations"] == 3 and card["config"]["net"]["read_heads"] == 1
    assert len(list(runs.glob("mann_glyphs_seed0_*.state.pt"))) == 1
    assert [row[0] for row in card["extra"]["held_out_curve"]] == [0, 2, 3]  # the curve of both runs
    capsys.readouterr()
    assert main(["eval", "mann", "--classes", "2", "--episodes", "3", "--checkpoint", str(out / "tiny"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["models"]["mann-lstm"]["checkpoint"].endswith("tiny_lstm")


def test_conv_encoder_with_the_aux_loss_trains_continues_and_evaluates(assets, tmp_path, capsys):
    out, runs = tmp_path / "models", tmp_path / "runs"
    args = ["train", "mann", *TINY, "--encoder", "conv", "--encoder-channels", "3", "--aux-weight", "0.5",
            "--out", str(out), "--runs", str(runs), "--name", "conv"]
    assert main([*args, "--iterations", "2"]) == 0
    assert main([*args, "--iterations", "3"]) == 0  # continues: the aux head's state was saved with the run
    card = json.loads((out / "conv.json").read_text())
    assert card["config"]["net"]["encoder"] == "conv" and card["config"]["aux_weight"] == 0.5
    assert [row[0] for row in card["extra"]["held_out_curve"]] == [0, 2, 3]
    capsys.readouterr()
    assert main(["eval", "mann", "--classes", "2", "--episodes", "3", "--checkpoint", str(out / "conv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["method"] for r in report["results"]} == {"mann", "mann-lstm"}
    assert {m["test_views"] for m in report["config"]["models"].values()} == {1}
    assert main(["eval", "mann", "--classes", "2", "--episodes", "3", "--checkpoint", str(out / "conv"), "--json",
                 "--views", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {m["test_views"] for m in report["config"]["models"].values()} == {3}  # both models, recorded


def test_init_from_starts_both_learners_from_a_pair_and_refuses_a_mismatch(assets, tmp_path, capsys):
    out, runs = tmp_path / "models", tmp_path / "runs"
    conv = [*TINY, "--encoder", "conv", "--encoder-channels", "3", "--out", str(out), "--runs", str(runs)]
    assert main(["train", "mann", *conv, "--iterations", "2", "--name", "first"]) == 0
    assert main(["train", "mann", *conv, "--iterations", "1", "--name", "second", "--init-from", str(out / "first")]) == 0
    for suffix in ("", "_lstm"):
        card = json.loads((out / f"second{suffix}.json").read_text())
        assert card["config"]["init_from"] == str(out / f"first{suffix}")
        assert card["extra"]["init_from"] == str(out / f"first{suffix}")
    capsys.readouterr()
    assert main(["train", "mann", *TINY, "--out", str(out), "--runs", str(runs), "--iterations", "1", "--name", "third",
                 "--init-from", str(out / "first")]) == 2  # pixels from a conv checkpoint
    err = capsys.readouterr().err.strip()
    assert "holds another network" in err and len(err.splitlines()) == 1
    assert main(["train", "mann", *conv, "--iterations", "1", "--init-from", str(tmp_path / "none")]) == 2
    assert "none.pt not found" in capsys.readouterr().err


def test_baseline_iterations_train_the_lstm_for_its_own_count(assets, tmp_path):
    out = tmp_path / "models"
    assert main(["train", "mann", *TINY, "--iterations", "3", "--baseline-iterations", "1", "--out", str(out),
                 "--runs", str(tmp_path / "runs"), "--name", "b"]) == 0
    assert json.loads((out / "b.json").read_text())["extra"]["iterations"] == 3
    assert json.loads((out / "b_lstm.json").read_text())["extra"]["iterations"] == 1


def test_a_named_recipe_sets_options_that_explicit_ones_override(assets, tmp_path, capsys):
    out = tmp_path / "models"
    assert main(["train", "mann", "--recipe", "omniglot-conv", *TINY, "--data", "glyphs", "--encoder-warmup", "1",
                 "--iterations", "2", "--no-baseline", "--out", str(out), "--runs", str(tmp_path / "runs"),
                 "--name", "r"]) == 0
    assert (out / "r_member1.pt").exists()  # the recipe's two members
    config = json.loads((out / "r.json").read_text())["config"]
    assert config["data"] == "glyphs" and config["iterations"] == 2 and config["encoder_warmup"] == 1  # overridden
    assert config["encoder_lr"] == 0.1 and config["net"]["encoder"] == "conv"  # from the recipe
    assert config["net"]["feature_keys"] is True and config["net"]["feature_norm"] == 5.0
    assert config["warmup_loss"] == "prototypes"  # from the recipe
    assert config["lr_min"] == 1e-5 and config["decay_iterations"] == 2  # the recipe's late decay, cut to the run
    assert main(["train", "mann", "--recipe", "imagenet"]) == 2
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["eval", "mann", "--episodes", "1"], "at least 2 episodes"),
    (["eval", "mann", "--classes", "3", "--episodes", "2"], "trained with 5 classes"),
    (["eval", "mann", "--data", "mnist"], "invalid choice"),
    (["eval", "mann", "--views", "2", "--episodes", "2"], "needs a conv encoder"),
    (["eval", "mann", "--memory-slots", "2", "--episodes", "2"], "read_heads=4"),
    (["train", "mann", "--classes", "1"], "n_classes=1"),
    (["train", "mann", "--gamma", "1.5"], "gamma=1.5"),
    (["train", "mann", "--labels", "words"], "invalid choice"),
    (["train", "mann", "--memory-slots", "2", "--read-heads", "4"], "read_heads=4"),
    (["train", "mann", "--aux-weight", "0.5"], "need encoder='conv'"),
    (["train", "mann", "--encoder-warmup", "100"], "need encoder='conv'"),
    (["train", "mann", "--warmup-loss", "prototypes"], "need encoder='conv'"),
    (["train", "mann", "--encoder", "conv", "--warmup-loss", "prototypes", "--length", "5"], "episode_length=5"),
    (["train", "mann", "--encoder", "conv", "--warmup-loss", "pairs"], "invalid choice"),
    (["train", "mann", "--encoder", "vit"], "invalid choice"),
    (["train", "mann", "--decay-last", "10"], "lr_min = lr"),
    (["train", "mann", "--decay-last", "0"], "--decay-last"),
    (["train", "mann", "--data", "omniglot", "--encoder", "conv4", "--encoder-from", "nowhere"],
     "train protonet --data omniglot"),
    (["train", "mann", "--encoder", "conv4", "--encoder-from", "pn"], "needs data='omniglot'"),
    (["train", "mann", "--data", "omniglot", "--encoder", "conv4", "--feature-views", "2"], "encoder must be frozen"),
    (["train", "mann", "--encoder", "conv", "--encoder-from", "pn"], "needs encoder='conv4'"),
])
def test_bad_input_exits_2_with_one_line(assets, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_eval_memory_slots_changes_only_the_manns_memory(assets, capsys):
    def rows(*extra):
        assert main(["eval", "mann", "--episodes", "20", "--json", *extra]) == 0
        report = json.loads(capsys.readouterr().out)
        return report, {(r["method"], r["instance"]): r["mean"] for r in report["results"]}
    default, as_trained = rows()
    trained_slots = default["config"]["models"]["mann"]["memory_slots"]
    assert rows("--memory-slots", str(trained_slots))[1] == as_trained
    small, smaller = rows("--memory-slots", "5")
    assert small["config"]["models"]["mann"]["memory_slots"] == 5
    assert {k: v for k, v in smaller.items() if k[0] == "mann-lstm"} == \
        {k: v for k, v in as_trained.items() if k[0] == "mann-lstm"}  # the baseline has no memory
    assert any(smaller[k] != as_trained[k] for k in as_trained if k[0] == "mann")  # 5 slots for 50 steps: it forgets


def test_a_frozen_protonet_encoder_is_looked_up_in_the_models_folder(assets, tmp_path, capsys):
    import argparse

    from lab.cli_mann import run_train, train_config, train_parser
    parser = train_parser(argparse.ArgumentParser, "train mann", int, float, int)
    a = parser.parse_args(["--data", "omniglot", "--encoder", "conv4", "--encoder-channels", "64", "--encoder-from",
                           "protonet_omniglot_seed0", "--encoder-lr", "0", "--feature-views", "4",
                           "--feature-dropout", "0.3", "--out", str(tmp_path)])
    config = train_config(a)
    assert config.net["encoder"] == "conv4" and config.net["image_size"] == 28 and config.net["encoder_channels"] == 64
    assert config.encoder_lr == 0 and config.feature_views == 4 and config.feature_dropout == 0.3
    assert config.encoder_from == "protonet_omniglot_seed0" and config.data == "omniglot"
    assert "read_first" not in config.net  # only when asked: older resume keys still match
    assert train_config(parser.parse_args(["--read-first"])).net["read_first"] is True
    with pytest.raises(ValueError, match="train protonet --data omniglot"):  # not made yet: says how to make it
        run_train(a)
    (tmp_path / "protonet_omniglot_seed0.pt").write_bytes(b"")
    from lab.cli_mann import _protonet_stem
    assert _protonet_stem("protonet_omniglot_seed0", tmp_path) == str(tmp_path / "protonet_omniglot_seed0")


def test_same_alphabet_flag_reaches_the_config_and_bad_values_say_what_to_give():
    import argparse

    from lab.cli_mann import train_config, train_parser
    parser = train_parser(argparse.ArgumentParser, "train mann", int, float, int)
    assert train_config(parser.parse_args(["--data", "omniglot", "--same-alphabet", "0.5"])).same_alphabet == 0.5
    with pytest.raises(ValueError, match="only data='omniglot' has alphabets"):
        train_config(parser.parse_args(["--same-alphabet", "0.5"]))


def test_validate_needs_omniglot_in_both_commands(capsys):
    assert main(["eval", "mann", "--validate", "korean", "--episodes", "3"]) == 2
    assert "it needs --data omniglot" in capsys.readouterr().err
    assert main(["train", "mann", "--validate", "korean", "--iterations", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs data='omniglot'" in err and len(err.splitlines()) == 1


def test_members_train_side_by_side_from_successive_seeds_and_eval_measures_their_ensemble(assets, tmp_path, capsys):
    out, runs = models_dir(), tmp_path / "runs"  # the lab folder, where eval looks by default
    args = ["train", "mann", *TINY, "--iterations", "2", "--seed", "5"]
    assert main([*args, "--runs", str(runs), "--name", "ens", "--members", "2"]) == 0
    printed = capsys.readouterr().out
    assert "mann m0: 2 iterations" in printed and "mann m1: 2 iterations" in printed and "mann-lstm" in printed
    assert sorted(p.name for p in out.glob("*.pt")) == ["ens.pt", "ens_lstm.pt", "ens_member1.pt"]
    cards = [json.loads((out / f"{n}.json").read_text()) for n in ("ens", "ens_member1")]
    assert [c["config"]["seed"] for c in cards] == [5, 6]
    first, second = (torch.load(out / f"{n}.pt") for n in ("ens", "ens_member1"))
    assert any(not torch.equal(first[k], second[k]) for k in first)
    # member 0 is the very model a single run from --seed 5 makes (its own runs folder: nothing to resume)
    assert main([*args, "--out", str(tmp_path / "single"), "--runs", str(tmp_path / "runs1"), "--name", "one",
                 "--no-baseline"]) == 0
    single = torch.load(tmp_path / "single" / "one.pt")
    assert all(torch.equal(first[k], single[k]) for k in first)
    capsys.readouterr()
    for named in (["--checkpoint", str(out / "ens"), str(out / "ens_member1")], []):  # named, or the newest found
        assert main(["eval", "mann", "--classes", "2", "--episodes", "3", "--json", *named]) == 0
        models = json.loads(capsys.readouterr().out)["config"]["models"]
        assert [p.rsplit("/", 1)[-1] for p in models["mann"]["members"]] == ["ens", "ens_member1"]
        assert models["mann-lstm"]["checkpoint"].endswith("ens_lstm") and "members" not in models["mann-lstm"]


def test_ensemble_members_and_their_baseline_are_found_from_any_member(tmp_path):
    for name in ("a", "a_member1", "a_member2", "a_member4", "b", "c_member1"):
        (tmp_path / f"{name}.pt").touch()
    three = [tmp_path / n for n in ("a", "a_member1", "a_member2")]
    assert ensemble_members(tmp_path / "a") == three and ensemble_members(tmp_path / "a_member2") == three
    assert ensemble_members(tmp_path / "b") == [tmp_path / "b"]
    assert ensemble_members(tmp_path / "c_member1") == [tmp_path / "c_member1"]  # no first member: alone
    assert baseline_stem(tmp_path / "a_member2") == baseline_stem(tmp_path / "a") == tmp_path / "a_lstm"
    assert baseline_stem(tmp_path / "c_member1") == tmp_path / "c_member1_lstm"
