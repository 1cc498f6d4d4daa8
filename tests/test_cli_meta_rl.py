"""The meta-RL command line: eval's JSON schema with every baseline on the same episodes, train into the
lab folder, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.evaluation import validate_report


@pytest.fixture
def assets(lab_assets, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    before = torch.get_num_threads()
    yield lab_assets
    torch.set_num_threads(before)  # train sets the process's threads


@pytest.mark.parametrize("task", ["bandit-independent", "bandit-correlated"])
def test_bandit_eval_json_has_regret_rows_for_agent_and_baselines(assets, capsys, task):
    assert main(["eval", "meta-rl", "--task", task, "--episodes", "6", "--trials", "12", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["task"] == f"meta-rl {task}" and report["config"]["trials"] == 12
    methods = [r["method"] for r in report["results"]]
    assert methods == ["meta-rl", "meta-rl-greedy", "ucb", "thompson", "bayes-optimal", "random"]
    for row in report["results"]:
        assert row["metric"] == "regret" and row["n"] == 6 and row["trials"] == 12
        assert row["mean"] >= 0 and row["mean"] <= 12  # at most 1 point lost per trial


def test_harlow_eval_reports_trial_one_and_the_rest(assets, capsys):
    assert main(["eval", "meta-rl", "--task", "harlow", "--episodes", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    cells = {(r["method"], r["trials"]) for r in report["results"]}
    methods = ("meta-rl", "meta-rl-greedy", "wsls-object", "wsls-position", "random")
    assert cells == {(m, t) for m in methods for t in ("1", "2-6")}
    wsls = [r for r in report["results"] if r["method"] == "wsls-object" and r["trials"] == "2-6"][0]
    assert wsls["mean"] == 1.0


def test_table_output(assets, capsys):
    assert main(["eval", "meta-rl", "--task", "bandit-correlated", "--episodes", "3", "--trials", "5"]) == 0
    out = capsys.readouterr().out
    assert "bayes-optimal" in out and "regret" in out


def test_train_saves_into_the_lab_folder_for_eval(assets, tmp_path, capsys):
    args = ["train", "meta-rl", "--task", "bandit-correlated", "--updates", "3", "--batch", "4", "--hidden", "8",
            "--threads", "1", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "meta-rl bandit-correlated: 3 updates" in out
    saved = tmp_path / "home" / "models" / "meta_rl_bandit_correlated_seed3"
    assert saved.with_suffix(".pt").exists()
    card = json.loads(saved.with_suffix(".json").read_text())
    assert card["kind"] == "meta_rl" and card["config"]["net"]["hidden"] == 8 and card["config"]["lr"] == 7e-4  # the recipe's, the paper's
    assert main(["eval", "meta-rl", "--task", "bandit-correlated", "--episodes", "2", "--trials", "5",
                 "--checkpoint", str(saved)]) == 0


@pytest.mark.parametrize("argv, words", [
    (["eval", "meta-rl", "--task", "maze"], "invalid choice"),
    (["eval", "meta-rl", "--task", "harlow", "--episodes", "1"], "at least 2 episodes"),
    (["eval", "meta-rl", "--task", "harlow", "--episodes", "0"], "must be >= 1"),
    (["eval", "meta-rl", "--task", "harlow", "--checkpoint", "/nonexistent/agent"], "missing"),
    (["eval", "meta-rl", "--task", "bandit-independent", "--checkpoint", "HARLOW"], "harlow agent"),
    (["train", "meta-rl", "--task", "harlow", "--gamma", "2", "--updates", "1"], "gamma"),
])
def test_bad_input_exits_2_with_one_line(assets, capsys, argv, words):
    argv = [str(assets / "meta_rl_harlow") if a == "HARLOW" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
