"""The learning-to-optimize command line: eval's JSON schema (learned optimizer vs the four tuned baselines on
the same held-out problems; Meta-SGD vs MAML on the same tasks), train into a folder, one-line errors with
exit status 2, and a diverging learning rate reported by name instead of a table of NaNs."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.evaluation import validate_report


@pytest.fixture
def assets(lab_assets, monkeypatch, tmp_path):
    for name, value in (("LAB_ASSETS_DIR", lab_assets), ("LAB_HOME", tmp_path / "home")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # eval and train would set the process's
    return lab_assets


def test_eval_l2o_json_has_the_learned_optimizer_and_four_baselines(assets, capsys):
    assert main(["eval", "l2o", "--problem", "quadratic", "--steps", "5", "--runs", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["task"] == "l2o"
    assert [r["method"] for r in report["results"]] == ["learned", "sgd", "momentum", "rmsprop", "adam"]
    for row in report["results"]:
        assert row["metric"] == "loss" and row["n"] == 3 and row["steps"] == 5 and row["problem"] == "quadratic"
    assert report["config"]["baseline_lrs"]["adam"] == 0.1  # the card's tuned rates
    assert report["config"]["lr_source"].startswith("checkpoint card")


def test_eval_meta_sgd_json_compares_with_maml_on_the_same_tasks(assets, capsys):
    assert main(["eval", "meta-sgd", "--shots", "5", "--episodes", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert [r["method"] for r in report["results"]] == ["meta-sgd", "maml", "maml-shipped"]
    assert all(r["metric"] == "mse" and r["steps"] == 1 and r["shots"] == 5 and r["n"] == 4
               for r in report["results"])


@pytest.mark.parametrize("argv", [
    ["eval", "l2o", "--problem", "cubic"],
    ["eval", "l2o", "--runs", "1"],
    ["eval", "l2o", "--steps", "0"],
    ["eval", "l2o", "--checkpoint", "/nonexistent/l2o"],
    ["eval", "l2o", "--lr", "-1"],
    ["eval", "meta-sgd", "--steps", "one"],
    ["eval", "meta-sgd", "--episodes", "1"],
    ["train", "l2o", "--problem", "cubic"],
])
def test_bad_input_exits_2_with_one_line(assets, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err


def test_a_diverging_learning_rate_is_named_not_a_nan_table(assets, capsys):
    assert main(["eval", "l2o", "--lr", "100", "--steps", "20", "--runs", "3", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "sgd with lr=100.0 diverges on 3 of 3 quadratic problems" in captured.err
    assert "lower --lr" in captured.err


def test_train_l2o_writes_a_checkpoint_that_eval_reads(assets, capsys, tmp_path):
    out = tmp_path / "models"
    argv = ["train", "l2o", "--problem", "quadratic", "--iterations", "2", "--meta-batch", "4", "--threads", "1",
            "--out", str(out), "--runs", str(tmp_path / "runs")]
    assert main(argv) == 0
    assert (out / "l2o_quadratic_seed0.pt").exists()
    assert main(["eval", "l2o", "--checkpoint", str(out / "l2o_quadratic_seed0"), "--steps", "5", "--runs", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["config"]["trained_runs"] == 2
