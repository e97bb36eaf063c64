"""Start-up cost of the package and the command line (issue 13 §3).

Each measurement runs in a fresh subprocess (nothing cached in the interpreter);
the median of `--repeats` runs is printed. The import times are measured inside
the child (time of the `import` statement alone); the command times are the wall
time of the whole process, interpreter start included, as a user sees them.

    python benchmarks/bench_import.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str) -> float:
    """Seconds spent in `import module` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(module=module)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def command_seconds(args: list[str], expect_rc: int) -> float:
    """Wall seconds of one `relneurons ...` process; checks its exit status so a broken command is not timed."""
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != expect_rc:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode} (expected {expect_rc}):\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    script = shutil.which("relneurons")
    cli = [script] if script else [sys.executable, "-m", "relneurons"]
    with tempfile.TemporaryDirectory() as out:
        cases = {
            "import relneurons": lambda: import_seconds("relneurons"),
            "import relneurons.cli": lambda: import_seconds("relneurons.cli"),
            "relneurons --help": lambda: command_seconds([*cli, "--help"], 0),
            "relneurons run --help": lambda: command_seconds([*cli, "run", "--help"], 0),
            "relneurons run --set neurons.kk=3 (rejected)": lambda: command_seconds(
                [*cli, "run", "--set", "neurons.kk=3", "--out", out], 2),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):  # interleaved rounds: a burst of load hits every case alike
            for name, measure in cases.items():
                times[name].append(measure())
    print(f"{'case':46s} {'median s':>9s} {'min s':>7s}  ({args.repeats} runs, python {sys.version.split()[0]})")
    for name, values in times.items():
        print(f"{name:46s} {statistics.median(values):9.3f} {min(values):7.3f}")


if __name__ == "__main__":
    main()
