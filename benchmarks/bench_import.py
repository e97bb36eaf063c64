"""Start-up cost of the package and the command line.

Each measurement runs in a fresh subprocess (nothing cached in the interpreter);
the median of `--repeats` runs is printed. The import times are measured inside
the child (time of the `import` statement alone); the command times are the wall
time of the whole process, interpreter start included, as a user sees them.

`--before SRC` also times another copy of the package's source (put first on
PYTHONPATH), interleaved round by round with this one, and prints the ratio
before/after: both sides then see the same machine load.

    python benchmarks/bench_import.py [--repeats 5]
    git archive 5ced289 src | tar -x -C /tmp/before    # the code before the start-up work
    python benchmarks/bench_import.py --before /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def environment(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def import_seconds(module: str, src: str | None = None) -> float:
    """Seconds spent in `import module` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_SNIPPET.format(module=module)],
        check=True,
        capture_output=True,
        text=True,
        env=environment(src),
    ).stdout
    return float(out.strip().splitlines()[-1])


def command_seconds(args: list[str], expect_rc: int, src: str | None = None) -> float:
    """Wall seconds of one `relneurons ...` process; checks its exit status so a broken command is not timed."""
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=environment(src))
    seconds = time.perf_counter() - start
    if done.returncode != expect_rc:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode} (expected {expect_rc}):\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", metavar="SRC", default=None, help="another copy of src/ to time alongside")
    args = parser.parse_args()

    script = shutil.which("relneurons")
    cli = [script] if script else [sys.executable, "-m", "relneurons"]
    with tempfile.TemporaryDirectory() as out:
        cases = {
            "import relneurons": lambda src: import_seconds("relneurons", src),
            "import relneurons.cli": lambda src: import_seconds("relneurons.cli", src),
            "relneurons --help": lambda src: command_seconds([*cli, "--help"], 0, src),
            "relneurons run --help": lambda src: command_seconds([*cli, "run", "--help"], 0, src),
            "relneurons run --set neurons.kk=3 (rejected)": lambda src: command_seconds(
                [*cli, "run", "--set", "neurons.kk=3", "--out", out], 2, src
            ),
        }
        sides = {"after": None, **({"before": args.before} if args.before else {})}
        times = {(name, side): [] for name in cases for side in sides}
        for _ in range(args.repeats):  # interleaved rounds: a burst of load hits every case alike
            for name, measure in cases.items():
                for side, src in sides.items():
                    times[name, side].append(measure(src))
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"median of {args.repeats} runs, python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")
    header = f"{'case':46s} {'this s':>8s}" + (f" {'before s':>9s} {'before/this':>12s}" if args.before else "")
    print(header)
    for name in cases:
        line = f"{name:46s} {median[name, 'after']:8.3f}"
        if args.before:
            line += f" {median[name, 'before']:9.3f} {median[name, 'before'] / median[name, 'after']:11.1f}x"
        print(line)


if __name__ == "__main__":
    main()
