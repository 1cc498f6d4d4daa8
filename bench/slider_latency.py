"""Slider-to-figure latency of the MAML page, measured the way a student feels it: in a real browser.

Starts ``streamlit run app.py`` on a free loopback port, opens the MAML page in headless Debian Chromium
(Playwright), then moves sliders one notch at a time to values not seen before (so no cache hit), and times
each move from the key press until every plotly chart shows new data and the app is idle again.

    python -m bench.slider_latency [--moves 30]

Prints a table (p50 / p95 / max ms per slider) and writes ``bench/results/slider_latency.csv``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from bench.app_server import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PLOT_DATA = "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => JSON.stringify(e.data)).join()"
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
# (slider label, starting URL value, key to press, notches before its end): each press gives a value this
# server has not computed yet.
SLIDERS = [("K shots", "k=1", "ArrowRight", 49), ("Inner gradient steps", "steps=0", "ArrowRight", 20),
           ("Amplitude", "amp=0.1", "ArrowRight", 49)]


def measure(moves: int) -> list[dict]:
    """Return one row per slider move: ``{"slider", "move", "ms"}``."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start_server(port)
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1440, "height": 1600})
            for label, start, key, notches in SLIDERS:
                tab.goto(f"http://127.0.0.1:{port}/maml?{start}&seed=7")
                tab.wait_for_selector(".js-plotly-plot", timeout=120_000)
                tab.wait_for_function(IDLE, timeout=120_000)
                tab.wait_for_timeout(500)
                thumb = tab.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
                for move in range(min(moves, notches)):
                    thumb.focus()
                    before = tab.evaluate(PLOT_DATA)
                    t0 = time.perf_counter()
                    thumb.press(key)
                    tab.wait_for_function(f"(b) => ({PLOT_DATA})() !== b", arg=before, timeout=60_000)
                    tab.wait_for_function(IDLE, timeout=60_000)
                    rows.append({"slider": label, "move": move, "ms": (time.perf_counter() - t0) * 1e3})
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the CSV; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20,
                        help="slider notches per slider (default 20; capped at each slider's range)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "slider_latency.csv")
    args = parser.parse_args(argv)
    rows = measure(args.moves)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["slider", "move", "ms"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{'slider':<24}{'moves':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for label in [row[0] for row in SLIDERS] + ["all"]:
        ms = sorted(r["ms"] for r in rows if label in ("all", r["slider"]))
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"{label:<24}{len(ms):>6}{statistics.median(ms):>9.0f}{p95:>9.0f}{ms[-1]:>9.0f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
