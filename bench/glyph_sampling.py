"""Benchmark: milliseconds to sample one few-shot episode of procedural glyphs and of real Omniglot.

Glyph episodes are rendered from strokes on every call (:mod:`lab.tasks.glyphs`); Omniglot episodes index a
decoded in-memory tensor (:mod:`lab.tasks.omniglot`, decoding is cached and not timed). The target is a
20-way 5-shot episode with 15 queries per class (400 images) in well under 50 ms on a 2-core CPU. Prints a
table (median and 90th-percentile ms) and writes ``bench/results/glyph_sampling.csv``.

    python -m bench.glyph_sampling [--repeats 50] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch

from lab.compute import make_generator
from lab.tasks import FewShotFamily, GlyphAlphabets, OmniglotSource, default_omniglot_path

RESULTS = Path(__file__).resolve().parent / "results" / "glyph_sampling.csv"
CASES = (("5-way 1-shot", 5, 1, 15), ("20-way 5-shot", 20, 5, 15), ("20-way 1-shot", 20, 1, 15))


def time_sampling(family: FewShotFamily, repeats: int, seed: int = 0) -> tuple[float, float]:
    """Return (median ms, 90th-percentile ms) of ``family.sample(rng, 1)`` over ``repeats`` calls."""
    rng = make_generator(seed)
    for _ in range(3):  # warm-up: caches (stroke skeletons) and allocator
        family.sample(rng, 1)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        family.sample(rng, 1)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.9 * len(times)))]


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Run the benchmark; return the result rows (also printed and written as CSV)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: leave as is)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sources: list[tuple[str, object]] = [("glyphs", GlyphAlphabets())]
    path = default_omniglot_path()
    if path is not None and path.exists():
        sources.append(("omniglot", OmniglotSource.from_path(path)))
    else:
        print("Omniglot not found (set LAB_OMNIGLOT_DIR); timing glyphs only")
    rows: list[dict[str, object]] = []
    for source_name, source in sources:
        for label, n_way, k_shot, n_query in CASES:
            family = FewShotFamily(source, n_way, k_shot, n_query)
            median, p90 = time_sampling(family, args.repeats)
            rows.append({"source": source_name, "episode": f"{label} {n_query} queries",
                         "images": n_way * (k_shot + n_query), "median_ms": round(median, 2),
                         "p90_ms": round(p90, 2), "threads": torch.get_num_threads()})
    print(f"{'source':<10}{'episode':<30}{'images':>7}{'median ms':>11}{'p90 ms':>9}")
    for row in rows:
        print(f"{row['source']:<10}{row['episode']:<30}{row['images']:>7}{row['median_ms']:>11.2f}"
              f"{row['p90_ms']:>9.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {RESULTS}")
    return rows


if __name__ == "__main__":
    main()
