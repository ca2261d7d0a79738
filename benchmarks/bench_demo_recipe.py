"""The full demo recipe (20 epochs on 7 synthetic recordings) against the committed demo model.

    .venv/bin/python benchmarks/bench_demo_recipe.py [--work bench-out/demo-recipe]

Trains the recipe from scratch on the CPU (about a minute on 2 free cores), prints its
metrics and time, and exits 1 when it falls short of the committed card: per-class AP on
the held-out recordings >= 0.9 and within 0.08 of the committed AP, cmAP within 0.05, ONNX
parity < 1e-3. The test suite checks the committed model's quality and a two-epoch run of
the recipe instead (tests/training/test_demo_recipe.py), so no test waits for this.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from birdlab.core.synthetic.demo import DEMO_MODEL  # noqa: E402
from training.recipes import DEMO, run_recipe  # noqa: E402


def shortfalls(card: dict, committed: dict) -> list[str]:
    """Every way the new card falls short of the committed one (empty: it holds)."""
    ap, problems = card["metrics"]["ap"], []
    for name, value in ap.items():
        if value < 0.9:
            problems.append(f"{name}: AP {value:.3f} < 0.9")
    for name, value in committed["metrics"]["ap"].items():
        if ap.get(name, 0.0) < value - 0.08:
            problems.append(f"{name}: AP {ap.get(name, 0.0):.3f} < committed {value:.3f} - 0.08")
    if card["metrics"]["cmap"] < committed["metrics"]["cmap"] - 0.05:
        problems.append(f"cmAP {card['metrics']['cmap']:.3f} < committed {committed['metrics']['cmap']:.3f} - 0.05")
    if card["parity_max_abs_diff"] >= 1e-3:
        problems.append(f"ONNX parity {card['parity_max_abs_diff']:.2e} >= 1e-3")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out/demo-recipe"))
    args = parser.parse_args()
    started = time.perf_counter()
    card = run_recipe(DEMO, args.work)
    seconds = time.perf_counter() - started
    committed = json.loads((DEMO_MODEL / "card.json").read_text())
    print(json.dumps({"seconds": round(seconds, 1), "metrics": card["metrics"],
                      "committed": committed["metrics"]}, indent=1))
    problems = shortfalls(card, committed)
    for line in problems:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
