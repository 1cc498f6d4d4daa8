"""Benchmark: for every page's main control, the time from a new value to the finished figures, per page.

Each page runs in Streamlit's AppTest (no browser: :mod:`bench.slider_latency` measures that for the MAML
page) on the shipped checkpoints in ``assets/``. After a first, untimed run (models load, caches warm), the
main control is set to values this page has not computed yet, one at a time, and two times are taken from
the new value: until the page hands its last finished figure to ``st.plotly_chart`` (the page's compute and
the plotly figure builders, after Streamlit re-ran the script down to there: the measure of the target),
and until the whole script run is over (Streamlit's own work on the figures included). The target (issue 7, DESIGN.md "Speed") is under 300 ms median per page
on a 2-core CPU, one torch thread per request as the app runs. The machine's load average is recorded.

    python -m bench.interaction [--pages maml,protonet] [--moves 7]

Prints one row per page (median, 90th percentile and slowest ms), the slowest three pages, and writes
``bench/results/interaction.csv`` (one row per move).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "interaction.csv"
TARGET_MS = 300.0


@dataclass
class Control:
    """A page's main control: the page file, its query parameters, the widget and the values to move to."""

    page: str
    script: str
    widget: str  # AppTest accessor: "slider" or "select_slider"
    key: str
    values: list
    query: dict[str, str] = field(default_factory=dict)
    setup: tuple[str, int] | None = None  # a button to click this many times first (untimed)


# Values avoid each control's default, so every move is a new computation (no cache hit).
CONTROLS = [
    Control("tasks", "pages/tasks.py", "slider", "points", [5, 15, 20, 30, 40, 3, 25]),
    Control("maml (sine)", "pages/maml.py", "slider", "k", [2, 5, 8, 15, 20, 30, 40]),
    Control("maml (characters)", "pages/maml.py", "slider", "img_ways", [3, 4, 6, 7, 8, 10, 12], {"tab": "images"}),
    Control("protonet", "pages/protonet.py", "slider", "ways", [3, 4, 6, 7, 8, 10, 12]),
    Control("relation", "pages/relation.py", "slider", "ways", [3, 4, 6, 7, 8, 10, 12]),
    Control("memory", "pages/memory.py", "slider", "slots", [8, 16, 24, 32, 48, 64, 96]),
    # The agent's figures appear once the student has played an episode (20 trials); then the episode slider.
    Control("meta_rl", "pages/meta_rl.py", "slider", "inspect", [2, 3, 4, 5, 6, 7, 8], setup=("play_left", 20)),
    Control("optimizers", "pages/optimizers.py", "slider", "steps", [20, 50, 80, 120, 150, 200, 250]),
    # Not here: the Compare page, whose table and chart come after an evaluation of every learner over many
    # episodes, shown with a progress bar and a stop button (like training), not as a slider's instant redraw.
    Control("virtual", "pages/virtual.py", "slider", "temp", [0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3]),
]


_FIGURES_AT: list[float] = []  # perf_counter() of every figure handed to st.plotly_chart in this run


def _record_figures() -> None:
    """Make ``st.plotly_chart`` (and ``column.plotly_chart``) note when each finished figure arrives."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    if getattr(DeltaGenerator.plotly_chart, "_timed", False):
        return
    original = DeltaGenerator.plotly_chart

    def timed(self, *args, **kwargs):
        _FIGURES_AT.append(time.perf_counter())
        return original(self, *args, **kwargs)

    timed._timed = True
    DeltaGenerator.plotly_chart = timed
    st.plotly_chart = lambda *args, **kwargs: timed(st._main, *args, **kwargs)


def measure(control: Control, moves: int) -> list[dict]:
    """Return one row per move of ``control``: ``{"page", "control", "value", "ms", "figures_ms", "error"}``:
    the whole script run, and the time until its last figure was finished (handed to ``st.plotly_chart``)."""
    from streamlit.testing.v1 import AppTest

    _record_figures()

    at = AppTest.from_file(str(ROOT / control.script), default_timeout=300)
    for k, v in control.query.items():
        at.query_params[k] = v
    at.run()  # models load, caches warm: not timed
    if control.setup is not None:
        button, times = control.setup
        for _ in range(times):
            at.button(key=button).click().run()
    if at.exception:
        return [{"page": control.page, "control": control.key, "value": None, "ms": float("nan"),
                 "figures_ms": float("nan"), "error": str(at.exception[0].message)[:200]}]
    rows = []
    for value in control.values[:moves]:
        widget = getattr(at, control.widget)(key=control.key)
        _FIGURES_AT.clear()
        start = time.perf_counter()
        widget.set_value(value).run()
        ms = (time.perf_counter() - start) * 1e3
        figures_ms = (max(_FIGURES_AT) - start) * 1e3 if _FIGURES_AT else float("nan")
        error = str(at.exception[0].message)[:200] if at.exception else ""
        rows.append({"page": control.page, "control": control.key, "value": value, "ms": ms,
                     "figures_ms": figures_ms, "error": error})
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Return one summary per page: moves, median / 90th percentile / max ms, whether the target holds."""
    out = []
    for page in dict.fromkeys(r["page"] for r in rows):
        mine = [r for r in rows if r["page"] == page and not r["error"]]
        ms = sorted(r["figures_ms"] for r in mine)
        errors = [r["error"] for r in rows if r["page"] == page and r["error"]]
        if not ms:
            out.append({"page": page, "moves": 0, "median_ms": float("nan"), "p90_ms": float("nan"),
                        "max_ms": float("nan"), "run_median_ms": float("nan"), "meets_target": False,
                        "error": errors[0] if errors else ""})
            continue
        median = statistics.median(ms)
        out.append({"page": page, "moves": len(ms), "median_ms": median,
                    "p90_ms": ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))], "max_ms": ms[-1],
                    "run_median_ms": statistics.median(r["ms"] for r in mine),
                    "meets_target": median < TARGET_MS, "error": errors[0] if errors else ""})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the CSV; return 0 if every page meets the target."""
    parser = argparse.ArgumentParser(prog="python -m bench.interaction", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=None, help="comma-separated page names (default: all)")
    parser.add_argument("--moves", type=int, default=7, help="new values per control (at most 7)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))  # the pages import their helpers from pages/
    wanted = None if args.pages is None else {p.strip() for p in args.pages.split(",")}
    controls = [c for c in CONTROLS if wanted is None or c.page in wanted or c.page.split(" ")[0] in wanted]
    controls = [c for c in controls if (ROOT / c.script).exists()]
    load_start = os.getloadavg()
    rows = []
    for control in controls:
        try:
            rows += measure(control, args.moves)
        except Exception as exc:  # noqa: BLE001 - one page's failure is reported, the others still run
            rows.append({"page": control.page, "control": control.key, "value": None, "ms": float("nan"),
                         "error": f"{type(exc).__name__}: {exc}"[:200]})
        print(f"  {control.page}: done", file=sys.stderr, flush=True)
    load_end = os.getloadavg()
    summary = summarize(rows)
    print(f"slider -> finished figures (AppTest, shipped checkpoints), load average "
          f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end (1-min), {os.cpu_count()} CPUs")
    print("ms from the new value to the last figure finished (median, p90, max), and to the end of the whole "
          "script run (median)")
    print(f"{'page':<20}{'control':<10}{'moves':>6}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}{'run ms':>9}"
          f"  < {TARGET_MS:.0f} ms")
    for s, c in zip(summary, controls, strict=True):
        flag = "yes" if s["meets_target"] else ("ERROR " + s["error"] if s["error"] and not s["moves"] else "no")
        print(f"{s['page']:<20}{c.key:<10}{s['moves']:>6}{s['median_ms']:>11.0f}{s['p90_ms']:>9.0f}"
              f"{s['max_ms']:>9.0f}{s['run_median_ms']:>9.0f}  {flag}")
    slowest = sorted((s for s in summary if s["moves"]), key=lambda s: -s["median_ms"])[:3]
    print("slowest three (median): " + ", ".join(f"{s['page']} {s['median_ms']:.0f} ms" for s in slowest))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["page", "control", "value", "figures_ms", "ms", "error", "load_start",
                                                "load_end"])
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "load_start": round(load_start[0], 2), "load_end": round(load_end[0], 2)})
    print(f"wrote {RESULTS}")
    return 0 if all(s["meets_target"] for s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
