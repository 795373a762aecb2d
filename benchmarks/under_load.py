"""Run tests repeatedly while every core is busy, to show that tests which wait on something
(the FiftyOne App, a browser, a server) wait for a condition and not for a time.

    python benchmarks/under_load.py                      # the App's browser test, 5 runs
    python benchmarks/under_load.py --runs 3 tests/test_audit.py -k html

One `python -c "while 1: pass"` per core runs for the whole measurement and is stopped at
the end; each run's outcome and wall time are printed as a table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

DEFAULT = [
    "tests/test_fiftyone_app.py::test_app_serves_on_loopback_renders_in_chromium_and_stops_with_its_command"
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy loops (default: one a core)"
    )
    parser.add_argument("pytest_args", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.hogs)]
    rows = []
    try:
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                capture_output=True,
                text=True,
            )
            tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            rows.append(
                (run, "pass" if done.returncode == 0 else "FAIL", time.perf_counter() - started, tail)
            )
            print(f"run {run}: {rows[-1][1]} in {rows[-1][2]:.0f} s ({tail})", flush=True)
            if done.returncode:
                print(done.stdout[-4000:])
    finally:
        for hog in hogs:
            hog.kill()
    print(f"\n{args.hogs} busy loops on {os.cpu_count()} cores; {' '.join(args.pytest_args)}")
    print("| run | result | wall s | pytest |\n|---|---|---|---|")
    for run, result, seconds, tail in rows:
        print(f"| {run} | {result} | {seconds:.0f} | {tail} |")
    sys.exit(0 if all(r[1] == "pass" for r in rows) else 1)


if __name__ == "__main__":
    main()
