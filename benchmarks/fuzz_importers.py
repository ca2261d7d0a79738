"""A long run of the importer fuzzer (the suite runs 600 cases; this runs as many as asked).

    .venv/bin/python benchmarks/fuzz_importers.py [--iterations 20000] [--seed 0] [--work bench-out/fuzz]

Prints the cases, how many imported and were refused, and every crash (an exception that is
not a birdlab error) or refused import that still changed the project; exits 1 if any.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.formats.fuzz import run_fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("bench-out/fuzz"))
    args = parser.parse_args()
    started = time.perf_counter()
    report = run_fuzz(args.work, args.iterations, args.seed)
    print(f"{report.cases} cases in {time.perf_counter() - started:.0f} s: {report.imported} imported, "
          f"{report.refused} refused, {len(report.crashes)} crash(es), {len(report.changed)} changed on refusal")
    for problem in report.crashes + report.changed:
        print(problem, file=sys.stderr)
    return 1 if report.crashes or report.changed else 0


if __name__ == "__main__":
    sys.exit(main())
