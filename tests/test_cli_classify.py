"""``python -m lab classify``: one line per query file (or one JSON object), accuracy for labelled queries,
and one line on stderr with exit status 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lab.cli import main
from lab.tasks.glyphs import GlyphAlphabets

CLASSES = ["alpha", "beta", "gamma"]


@pytest.fixture
def assets(lab_assets, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    return lab_assets


def write_png(path: Path, drawing: torch.Tensor) -> None:
    """Write a glyph drawing ``[1, 28, 28]`` as a 56x56 PNG, black ink on white, like a scan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ink = np.kron(drawing[0].numpy(), np.ones((2, 2)))
    Image.fromarray(np.round(255 * (1 - ink)).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """``support/<class>/0.png``, ``query/<n>.png`` (the same drawings, unlabelled) and ``labelled/<class>/q.png``."""
    root = tmp_path_factory.mktemp("classify")
    drawings = GlyphAlphabets(1, 3, seed=5).drawings(torch.arange(3), 1, torch.Generator().manual_seed(1))
    for i, name in enumerate(CLASSES):
        write_png(root / "support" / name / "0.png", drawings[i, 0])
        write_png(root / "query" / f"{i}.png", drawings[i, 0])
        write_png(root / "labelled" / name / "q.png", drawings[i, 0])
    return root


def classify(root: Path, *extra: str, query: str = "query", support: str = "support") -> list[str]:
    return ["classify", "--support", str(root / support), "--query", str(root / query), *extra]


@pytest.mark.parametrize("learner", ["protonet", "relation", "maml"])
def test_one_line_per_query_file(assets, folders, capsys, learner):
    assert main(classify(folders, "--learner", learner)) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 3 and out.err == ""
    for i, line in enumerate(lines):
        name, label, probability = line.split()
        assert name == f"{i}.png" and label in CLASSES and 0 <= float(probability) <= 1


def test_labelled_queries_give_accuracy(assets, folders, capsys):
    # a one-shot ProtoNet recognises its own support drawings, trained or not
    assert main(classify(folders, query="labelled")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("accuracy 1.000 over 3")
    assert all(line.split()[0] == f"{c}/q.png" and line.split()[1] == c and line.endswith("right")
               for line, c in zip(lines[:3], CLASSES, strict=True))


def test_json_is_one_object(assets, folders, capsys):
    assert main(classify(folders, "--json", "--checkpoint", str(assets / "protonet_glyphs.pt"),
                         query="labelled")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["learner"] == "protonet" and report["classes"] == CLASSES
    assert [r["file"] for r in report["predictions"]] == [f"{c}/q.png" for c in CLASSES]
    assert report["accuracy"] == 1.0 and report["n_labelled"] == 3
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-5 for r in report["predictions"])


def make_bad(root: Path, case: str) -> list[str]:
    """Build the folders of one bad-input case under ``root``; return the classify arguments."""
    good = np.full((28, 28), 255, np.uint8)
    good[10:18, 12:16] = 0
    for name in ("a", "b"):
        (root / "support" / name).mkdir(parents=True)
        Image.fromarray(good).save(root / "support" / name / "x.png")
    (root / "query").mkdir()
    Image.fromarray(good).save(root / "query" / "q.png")
    if case == "missing support":
        return classify(root, support="nowhere")
    if case == "one class":
        (root / "support" / "b" / "x.png").unlink()
        (root / "support" / "b").rmdir()
    elif case == "empty class":
        (root / "support" / "b" / "x.png").unlink()
    elif case == "loose support file":
        Image.fromarray(good).save(root / "support" / "stray.png")
    elif case == "unreadable image":
        (root / "query" / "broken.png").write_bytes(b"not a png at all")
    elif case == "no query images":
        (root / "query" / "q.png").unlink()
    elif case == "unknown query class":
        (root / "query" / "zeta").mkdir()
        Image.fromarray(good).save(root / "query" / "zeta" / "q.png")
    elif case == "missing checkpoint":
        return classify(root, "--checkpoint", str(root / "none.pt"))
    return classify(root)


@pytest.mark.parametrize("case, says", [
    ("missing support", "support folder"),
    ("one class", "at least 2 classes"),
    ("empty class", "has no images"),
    ("loose support file", "put each class's images in a subfolder"),
    ("unreadable image", "broken.png: not a readable image"),
    ("no query images", "query folder"),
    ("unknown query class", "'zeta' is not a class"),
    ("missing checkpoint", "no model of that name"),
])
def test_bad_input_is_one_line_and_status_2(assets, tmp_path, capsys, case, says):
    assert main(make_bad(tmp_path, case)) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.splitlines()) == 1 and says in out.err


def test_the_support_and_query_options_are_required(capsys):
    assert main(["classify", "--query", "q"]) == 2
    assert "--support" in capsys.readouterr().err
