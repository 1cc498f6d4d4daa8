"""The few-shot command line: eval's JSON schema with the pixel baseline on the same episodes, train into the
lab folder and find the model again, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from lab.cli import main
from lab.evaluation import validate_report


@pytest.fixture
def assets(lab_assets, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return lab_assets


@pytest.mark.parametrize("learner", ["protonet", "relation", "maml"])
def test_eval_json_follows_the_schema_with_a_baseline_row_per_cell(assets, capsys, learner):
    assert main(["eval", learner, "--ways", "3,5", "--shots", "1", "--episodes", "4", "--queries", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["task"] == f"fewshot-{learner}" and report["config"]["trained_on"] == "glyphs"
    cells = {(r["method"], r["ways"], r["shots"]) for r in report["results"]}
    assert cells == {(m, w, 1) for m in (learner, "pixel-nn") for w in (3, 5)}
    assert all(r["metric"] == "accuracy" and 0 <= r["mean"] <= 1 and r["n"] == 4 for r in report["results"])


def test_the_baseline_is_the_same_whatever_the_learner(assets, capsys):
    rows = {}
    for learner in ("protonet", "relation"):
        main(["eval", learner, "--episodes", "5", "--queries", "3", "--json"])
        report = json.loads(capsys.readouterr().out)
        rows[learner] = [r for r in report["results"] if r["method"] == "pixel-nn"][0]["mean"]
    assert rows["protonet"] == rows["relation"]


def test_train_saves_into_the_lab_folder_and_eval_finds_it(assets, capsys, tmp_path):
    assert main(["train", "protonet", "--iterations", "2", "--way", "3", "--query", "2", "--threads", "1",
                 "--no-augment", "--eval-episodes", "2"]) == 0
    saved = tmp_path / "home" / "models" / "protonet_glyphs_seed0.pt"
    assert saved.exists()
    capsys.readouterr()
    assert main(["eval", "protonet", "--episodes", "3", "--queries", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["checkpoint"] == str(saved.with_suffix(""))


def test_train_without_the_last_pool_records_it_in_the_card(assets, tmp_path):
    assert main(["train", "protonet", "--iterations", "1", "--way", "3", "--query", "2", "--threads", "1",
                 "--no-augment", "--eval-episodes", "2", "--no-last-pool", "--name", "wide"]) == 0
    card = json.loads((tmp_path / "home" / "models" / "wide.json").read_text())
    assert card["config"]["net"]["last_pool"] is False


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "protonet", "--episodes", "1"], "at least 2 episodes"),
    (["eval", "protonet", "--ways", "500", "--episodes", "2"], "n_way=500"),
    (["eval", "protonet", "--ways", "five"], "whole numbers >= 1"),
    (["eval", "protonet", "--checkpoint", "/nonexistent/model"], "model.pt is missing"),
    (["train", "protonet", "--way", "1", "--iterations", "1"], "train_way"),
    (["train", "maml", "--no-last-pool", "--iterations", "1"], "last_pool is not an option of maml"),
    (["train", "protonet", "--first-order", "--iterations", "1"], "first_order is not an option of protonet"),
])
def test_bad_input_is_one_line_and_status_2(assets, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_omniglot_training_starts_from_the_shipped_glyph_model_with_the_omniglot_recipe(assets):
    from lab.cli import build_parser
    from lab.cli_fewshot import train_config
    from lab.fewshot_training import OMNIGLOT_RECIPES

    parse = build_parser().parse_args
    config = train_config(parse(["train", "protonet", "--data", "omniglot"]))
    assert config.init_from == str(assets / "protonet_glyphs")
    assert config.iterations == OMNIGLOT_RECIPES["protonet"]["iterations"]
    assert config.net["last_pool"] is False
    assert train_config(parse(["train", "maml", "--data", "omniglot", "--from-scratch"])).init_from is None
    assert train_config(parse(["train", "relation", "--data", "glyphs"])).init_from is None
    with pytest.raises(ValueError, match="contradict"):
        train_config(parse(["train", "maml", "--from-scratch", "--init-from", "x"]))


def test_eval_shows_progress_and_ctrl_c_prints_the_finished_settings(assets, capsys, monkeypatch):
    import lab.fewshot_eval as fewshot_eval

    real, calls = fewshot_eval.evaluate_accuracy, []

    def stopped_in_the_second_setting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the learner's pass over the 5-way setting: the student presses Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fewshot_eval, "evaluate_accuracy", stopped_in_the_second_setting)
    assert main(["eval", "protonet", "--ways", "3,5", "--shots", "1", "--episodes", "4", "--queries", "2",
                 "--json"]) == 130
    out, err = capsys.readouterr()
    report = json.loads(out)
    validate_report(report)
    assert {(r["method"], r["ways"]) for r in report["results"]} == {("protonet", 3), ("pixel-nn", 3)}
    assert report["config"]["stopped"] == "after 1 of 2 settings"
    assert "stopped after 1 of 2 settings" in err and "the results above are the finished settings" in err
    monkeypatch.undo()
    monkeypatch.setenv("LAB_ASSETS_DIR", str(assets))
    assert main(["eval", "protonet", "--ways", "3,5", "--shots", "1", "--episodes", "4", "--queries", "2"]) == 0
    assert "[eval protonet] 16/16 episodes" in capsys.readouterr().err  # 2 settings x 2 methods x 4 episodes
