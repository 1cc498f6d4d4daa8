"""``python -m lab``: the eval JSON follows the schema, runs are reproducible, bad input is one clear line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lab.cli import EVAL_COMMANDS, build_parser, main
from lab.evaluation import validate_report
from lab.training import SineTrainConfig, train_sine


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assets")
    for method in ("maml", "pretrained"):
        train_sine(SineTrainConfig(method=method, iterations=40), out=out, run_dir=None)
    return out


def _eval(ckpt: Path, *extra: str) -> list[str]:
    return ["eval", "maml-sine", "--checkpoint-dir", str(ckpt), "--episodes", "20", "--steps", "0,1,5", *extra]


def test_eval_json_follows_the_schema(ckpt, capsys):
    assert main(_eval(ckpt, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert report["task"] == "maml-sine" and report["config"]["shots"] == 5
    rows = report["results"]
    assert [(r["method"], r["steps"]) for r in rows] == [
        (m, s) for m in ("maml", "pretrained", "random") for s in (0, 1, 5)]
    assert all(r["metric"] == "mse" and r["n"] == 20 and r["shots"] == 5 and r["ci95"] >= 0 for r in rows)


def test_eval_is_reproducible_from_the_seed(ckpt, capsys):
    main(_eval(ckpt, "--json", "--seed", "4"))
    first = capsys.readouterr().out
    main(_eval(ckpt, "--json", "--seed", "4"))
    assert capsys.readouterr().out == first
    main(_eval(ckpt, "--json", "--seed", "5"))
    assert capsys.readouterr().out != first


def test_eval_table_without_json(ckpt, capsys):
    assert main(_eval(ckpt)) == 0
    out = capsys.readouterr().out
    assert out.startswith("task: maml-sine") and "pretrained" in out and "± ci95" in out


@pytest.mark.parametrize("args, says", [
    (["--shots", "0"], "--shots: 0 must be >= 1"),
    (["--steps", "1,x"], "must be whole numbers >= 0 separated by commas"),
    (["--episodes", "-3"], "--episodes: -3 must be >= 1"),
    (["--seed", "abc"], "'abc' is not a whole number"),
    (["--inner-lr", "1e9"], "lower --inner-lr"),
])
def test_bad_eval_arguments_exit_2_with_one_line(ckpt, capsys, args, says):
    assert main(_eval(ckpt, *args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_missing_and_corrupt_checkpoints_exit_2_with_the_fix(ckpt, tmp_path, capsys):
    assert main(_eval(tmp_path)) == 2
    assert "maml_sine.pt is missing; re-run `python -m lab pretrain`" in capsys.readouterr().err
    for name in ("maml_sine.pt", "maml_sine.json", "pretrained_sine.pt", "pretrained_sine.json"):
        (tmp_path / name).write_bytes((ckpt / name).read_bytes())
    pt = tmp_path / "maml_sine.pt"
    pt.write_bytes(pt.read_bytes()[:-10])
    assert main(_eval(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "maml_sine.pt is corrupted (checksum mismatch); re-run" in err


def test_path_errors_exit_2_with_one_line(ckpt, tmp_path, capsys):
    # pretrain --out under a file: NotADirectoryError; a card that is a folder: IsADirectoryError.
    assert main(["pretrain", "--iterations", "1", "--only", "pretrained", "--out", "/dev/null/x",
                 "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/dev/null/x" in err and "Traceback" not in err
    (tmp_path / "maml_sine.pt").write_bytes((ckpt / "maml_sine.pt").read_bytes())
    (tmp_path / "maml_sine.json").mkdir()
    assert main(_eval(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "maml_sine.json" in err and "Traceback" not in err


def test_one_episode_exits_2_naming_the_option(ckpt, capsys):
    assert main(_eval(ckpt, "--episodes", "1")) == 2
    assert "--episodes >= 2" in capsys.readouterr().err


def test_checkpoint_folders_default_to_the_apps(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    parser = build_parser()
    assert parser.parse_args(["eval", "maml-sine"]).checkpoint_dir == str(tmp_path)
    assert parser.parse_args(["pretrain"]).out == str(tmp_path)


def test_one_iteration_gives_a_finite_final_loss(tmp_path, capsys):
    assert main(["pretrain", "--iterations", "1", "--out", str(tmp_path), "--runs", str(tmp_path / "r")]) == 0
    assert "nan" not in capsys.readouterr().out
    for kind in ("maml_sine", "pretrained_sine"):
        card = json.loads((tmp_path / f"{kind}.json").read_text())
        assert math.isfinite(card["extra"]["final_loss"]) and len(card["extra"]["loss_curve"]) == 1


def test_unknown_eval_task_and_missing_command(capsys):
    assert main(["eval", "nope"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main([]) == 2


def test_info_json_parses(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"device", "torch", "threads", "host_memory_gib"} <= info.keys()


def test_pretrain_writes_both_checkpoints_and_resumes(tmp_path, capsys):
    args = ["pretrain", "--iterations", "30", "--out", str(tmp_path / "a"), "--runs", str(tmp_path / "r")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "maml: 30 iterations" in out and "pretrained: 30 iterations" in out
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "maml_sine.json", "maml_sine.pt", "pretrained_sine.json", "pretrained_sine.pt"]
    card = json.loads((tmp_path / "a" / "maml_sine.json").read_text())
    assert card["config"]["train"]["iterations"] == 30 and card["config"]["maml"]["first_order"] is False
    assert card["config"]["maml"]["inner_steps"] == 5 and card["extra"]["seed"] == 0


def test_eval_registry_lists_maml_sine():
    assert "maml-sine" in EVAL_COMMANDS
