"""Checkpoints round-trip exactly and refuse, with a helpful message, anything damaged or foreign.

Also checks the shipped sinusoid checkpoints in ``assets/`` reproduce MAML's headline result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lab.checkpoint import (
    CheckpointError,
    checkpoint_stamp,
    load_checkpoint,
    load_sine_model,
    save_checkpoint,
    sha256_of,
)
from lab.evaluation import evaluate_maml_sine
from lab.nets import SineMLP

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CONFIG = {"net": {"name": "SineMLP", "hidden": 40, "layers": 2}}


@pytest.fixture
def stem(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m", SineMLP().state_dict(), CONFIG, "maml_sine", {"iterations": 3, "seed": 0})
    return tmp_path / "m"


def _edit_card(stem: Path, **changes) -> None:
    card = stem.with_suffix(".json")
    meta = json.loads(card.read_text())
    meta.update(changes)
    card.write_text(json.dumps(meta))


def test_round_trip_gives_identical_outputs(stem: Path):
    torch.manual_seed(0)
    original = SineMLP()
    net, meta = load_sine_model(stem)
    x = torch.linspace(-5, 5, 33).view(-1, 1)
    assert torch.equal(net(x), original(x))
    assert meta["kind"] == "maml_sine" and meta["extra"] == {"iterations": 3, "seed": 0}
    assert meta["config"] == CONFIG and meta["lab_version"] == "0.1.0"
    assert meta["sha256"] == sha256_of(stem.with_suffix(".pt"))


def test_missing_files_say_how_to_remake_them(tmp_path: Path):
    with pytest.raises(CheckpointError, match=r"nothing\.pt is missing; re-run `python -m lab pretrain`"):
        load_checkpoint(tmp_path / "nothing", "maml_sine")


def test_checkpoint_stamp_changes_when_rewritten(tmp_path: Path):
    stem = tmp_path / "m"
    assert checkpoint_stamp(stem) == "-/-"
    (tmp_path / "m.pt").write_bytes(b"a")
    (tmp_path / "m.json").write_text("{}")
    first = checkpoint_stamp(stem)
    (tmp_path / "m.pt").write_bytes(b"bb")  # the size changes even when the mtime does not
    assert checkpoint_stamp(stem) != first and "-" not in first.split("/")


def test_truncated_pt_is_reported_as_corrupted(stem: Path):
    pt = stem.with_suffix(".pt")
    pt.write_bytes(pt.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"m\.pt is corrupted \(checksum mismatch\); re-run"):
        load_sine_model(stem)


def test_flipped_bytes_are_reported_as_corrupted(stem: Path):
    pt = stem.with_suffix(".pt")
    data = bytearray(pt.read_bytes())
    data[-200] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_sine_model(stem)


def test_unreadable_pt_with_matching_checksum_is_a_load_error(stem: Path):
    pt = stem.with_suffix(".pt")
    pt.write_bytes(b"not a torch file")
    _edit_card(stem, sha256=sha256_of(pt))
    with pytest.raises(CheckpointError, match="cannot be read by torch.load"):
        load_sine_model(stem)


def test_bad_json_card(stem: Path):
    stem.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"m\.json is not valid JSON"):
        load_sine_model(stem)


def test_wrong_kind(stem: Path):
    with pytest.raises(CheckpointError, match="holds a 'maml_sine' model, not 'pretrained_sine'"):
        load_checkpoint(stem, "pretrained_sine")


def test_other_lab_version_is_refused_with_the_fix(stem: Path):
    _edit_card(stem, lab_version="0.0.3")
    with pytest.raises(CheckpointError, match=r"made by lab 0\.0\.3 .*this is lab 0\.1\.0 .*python -m lab pretrain"):
        load_sine_model(stem)


def test_patch_version_difference_is_accepted(stem: Path):
    _edit_card(stem, lab_version="0.1.9")
    load_sine_model(stem)


def test_other_format_is_refused(stem: Path):
    _edit_card(stem, format=99)
    with pytest.raises(CheckpointError, match="format 99"):
        load_sine_model(stem)


@pytest.mark.parametrize("config", [[1, 2], "SineMLP", {"net": "40x2"}, {"hidden": 40}])
def test_config_and_its_net_must_be_objects(stem: Path, config):
    _edit_card(stem, config=config)
    with pytest.raises(CheckpointError, match=r"m\.json has no config\.net object .*re-run `python -m lab pretrain`"):
        load_sine_model(stem)


def test_a_card_without_the_inner_lr_says_how_to_fix_it(tmp_path: Path):
    for kind in ("maml_sine", "pretrained_sine"):
        save_checkpoint(tmp_path / kind, SineMLP().state_dict(), CONFIG, kind)  # CONFIG has no "maml" part
    with pytest.raises(CheckpointError, match=r"maml_sine\.json lacks config\.maml\.inner_lr; re-run `python -m lab "
                                              r"pretrain`"):
        evaluate_maml_sine(tmp_path, episodes=4)
    assert evaluate_maml_sine(tmp_path, episodes=4, inner_lr=0.01)["config"]["inner_lr"] == 0.01


def test_shapes_that_do_not_match_the_config(tmp_path: Path):
    save_checkpoint(tmp_path / "small", SineMLP(hidden=20).state_dict(), CONFIG, "maml_sine")
    with pytest.raises(CheckpointError, match=r"body\.0\.weight is \[20, 1\], the config needs \[40, 1\]"):
        load_sine_model(tmp_path / "small")
    save_checkpoint(tmp_path / "deep", SineMLP(layers=3).state_dict(), CONFIG, "maml_sine")
    with pytest.raises(CheckpointError, match="unexpected"):
        load_sine_model(tmp_path / "deep")


def test_shipped_checkpoints_reproduce_maml_over_pretraining():
    report = evaluate_maml_sine(ASSETS, shots=5, steps=[10], episodes=200, seed=1, methods=("maml", "pretrained"))
    mse = {r["method"]: r["mean"] for r in report["results"]}
    assert mse["maml"] <= 0.6, mse
    assert mse["pretrained"] >= 3 * mse["maml"], mse


def _full_disk_torch_save(obj, f, *args, **kwargs):
    Path(f).write_bytes(b"PK\x03\x04 half a file")  # what a disk that fills up mid-write leaves behind
    raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
                       "data/0: file write failed")


@pytest.mark.parametrize("fails", ["weights", "card"])
def test_a_failed_save_says_so_and_leaves_the_previous_checkpoint_intact(stem: Path, monkeypatch, fails: str):
    before = {p.name: p.read_bytes() for p in stem.parent.iterdir()}
    if fails == "weights":
        monkeypatch.setattr(torch, "save", _full_disk_torch_save)
    else:
        real_write_text = Path.write_text

        def full_disk(self, *args, **kwargs):
            if self.name.endswith(".json.tmp"):
                raise OSError(28, "No space left on device")
            return real_write_text(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full_disk)
    torch.manual_seed(1)
    with pytest.raises(OSError, match="left as it was — free some disk space") as info:
        save_checkpoint(stem, SineMLP().state_dict(), CONFIG, "maml_sine", {"iterations": 9})
    assert info.value.filename.endswith(".pt" if fails == "weights" else ".json")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in stem.parent.iterdir()} == before  # no .tmp left, nothing changed
    state, meta = load_checkpoint(stem, "maml_sine")
    assert meta["extra"]["iterations"] == 3 and state


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path: Path, monkeypatch, capsys):
    from lab.cli import main

    monkeypatch.setattr(torch, "save", _full_disk_torch_save)
    code = main(["pretrain", "--iterations", "2", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
                 "--only", "maml"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]  # progress lines aside
    assert code == 2 and len(errors) == 1
    assert "is the disk full?" in errors[0] and "left as it was" in errors[0], errors
    assert not list(tmp_path.rglob("*.tmp"))
