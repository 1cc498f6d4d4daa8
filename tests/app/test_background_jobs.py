"""A page whose evaluation runs in the background: it shows progress and a Stop button instead of blocking, a
stop keeps the rest of the page and offers to run again, and a finished job draws its figure."""

from __future__ import annotations

import threading

import pytest
from helpers import figures, page

import pages
from lab.demos import protonet as demo
from lab.jobs import BOARD


@pytest.fixture(autouse=True)
def _assets(lab_assets, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setattr(pages, "JOB_WAIT_S", 0.05)  # poll at once, as the app does after 1.5 s


@pytest.fixture
def slow_curve(monkeypatch):
    """Make the shot curve wait for a gate; return the gate (set it to let the curve finish)."""
    gate, real = threading.Event(), demo.accuracy_by_shots

    def slow(*args, on_progress=None, **kwargs):
        on_progress(0, 5)
        assert gate.wait(30), "the test never opened the gate"
        on_progress(1, 5)  # a stop requested meanwhile takes effect here
        return real(*args, on_progress=on_progress, **kwargs)

    monkeypatch.setattr(demo, "accuracy_by_shots", slow)
    yield gate
    gate.set()


def test_a_running_evaluation_shows_progress_then_its_figure(slow_curve) -> None:
    at = page("pages/protonet.py")
    at.query_params["seed"] = "101"  # inputs no other test used: a fresh job
    at.run()
    assert not at.exception
    assert {"map", "strip"} <= set(figures(at)) and "shots_curve" not in figures(at)  # the page did not wait
    (bar,) = at.get("progress")
    assert "Accuracy against shots" in bar.proto.text and at.button(key="shots_stop")
    slow_curve.set()
    job = next(j for j in BOARD._jobs.values() if j.key[0] == "protonet.shots" and 101 in j.key)
    assert job.wait(60) and job.state == "done"
    at.run()
    assert "shots_curve" in figures(at) and not at.get("progress")


def test_stop_keeps_the_page_and_offers_to_run_again(slow_curve) -> None:
    at = page("pages/protonet.py")
    at.query_params["seed"] = "102"
    at.run()
    at.button(key="shots_stop").click().run()
    assert not at.exception
    assert any("stopped after" in i.value for i in at.info) and at.button(key="shots_restart")
    assert {"map", "strip"} <= set(figures(at))  # what was on the page stays
    slow_curve.set()
    at.button(key="shots_restart").click().run()
    job = next(j for j in BOARD._jobs.values() if j.key[0] == "protonet.shots" and 102 in j.key
               and j.state != "stopped")
    assert job.wait(60)
    at.run()
    assert "shots_curve" in figures(at)
