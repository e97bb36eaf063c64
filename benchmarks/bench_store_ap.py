"""Benchmark: identification over an activation store larger than its memory budget.

Builds a synthetic store (float32 activations with planted signal; made-up
data, the same shape as a real one) of --size-gb on disk, then

1. read throughput of one block of neurons for every row, for several block
   widths: the store's neuron-major chunks (`ActivationStore.columns`, one
   contiguous read per chunk) against the same matrix stored row-major (store
   format 1), read through a memory map as format 1 did (`array[:, a:b]`);
2. `identify` with --memory-gb below the store size, in a fresh process per
   budget (peak RSS from /proc/self/status VmHWM, also the RSS of a process that
   only imports relneurons, for the interpreter's share): neurons scored per
   second and peak RSS (VmHWM of the child);
3. the AP tables of every capped run are compared byte for byte with the
   first one.

    python benchmarks/bench_store_ap.py                      # 1 GB store, budgets 0.5 and 0.125 GB, ~3 min
    python benchmarks/bench_store_ap.py --size-gb 4 --memory-gb 1 0.25

Writes the store under --work (default runs/bench-store-ap, deleted unless
--keep), the figure benchmarks/store_ap.png and prints the numbers. The page
cache is not dropped (no root here): a store that fits in RAM is read from
cache after the first pass, so the read comparison shows the CPU/copy cost of
the strided read; the bytes each layout must fetch from disk when the store
does not fit are printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from relneurons.activations.store import ActivationStore, StoreWriter, matrix_path
from relneurons.model.sites import NeuronSet, Site

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0, help="store size on disk (GB)")
    parser.add_argument("--rows", type=int, default=3000, help="stored rows (validated prompt texts)")
    parser.add_argument("--chunk-rows", type=int, default=256, help="rows per chunk")
    parser.add_argument("--relations", type=int, default=12)
    parser.add_argument("--memory-gb", type=float, nargs="+", default=[0.5, 0.125], help="identify budgets (GB)")
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[64, 1024, 16384], help="block widths for the read test"
    )
    parser.add_argument("--work", default="runs/bench-store-ap", help="scratch folder (on disk, not tmpfs)")
    parser.add_argument("--figure", default=str(HERE / "store_ap.png"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, metavar=("STORE", "OUT", "GB"), help=argparse.SUPPRESS)
    return parser.parse_args()


def build_store(
    folder: Path, rows: int, n_neurons: int, chunk_rows: int, n_relations: int, seed: int
) -> ActivationStore:
    """Every row kept; relation r = rows with row % n_relations == r; neuron r planted for relation r."""
    rng = np.random.default_rng(seed)
    relation = np.arange(rows) % n_relations
    table = pd.DataFrame(
        {
            "relation": [f"rel{r:02d}" for r in relation],
            "subject": [f"s{i}" for i in range(rows)],
            "object": "o",
            "template": "{}",
            "text": [f"text {i}" for i in range(rows)],
            "text_id": np.arange(rows),
        }
    )
    writer = StoreWriter(folder, {"n_neurons": n_neurons, "benchmark": True}, table, chunk_rows)
    for c in range(writer.n_chunks):
        ids = np.array(writer.chunk_range(c))
        means = rng.standard_normal((len(ids), n_neurons), dtype=np.float32)
        means[:, :n_relations] += 2.0 * (relation[ids][:, None] == np.arange(n_relations))
        writer.write_chunk(c, pd.DataFrame({"text_id": ids, "generation": "o", "kept": True}), means)

    def mark(prompts):
        prompts["correct"] = True
        return prompts

    site = Site(layer=0, path="model.layers.0.mlp.act_fn", module="mlp.act_fn", role="ffn", width=n_neurons, offset=0)
    return writer.finish({"neuron_set": NeuronSet("ffn", (site,), n_neurons).to_json()}, mark)


def write_row_major(store: ActivationStore, folder: Path) -> list[Path]:
    """The same chunks stored row-major [rows, neurons] (store format 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in range(store.manifest["n_chunks"]):
        path = folder / f"{c:06d}.npy"
        np.save(path, np.load(matrix_path(store.folder, c), mmap_mode="r").T, allow_pickle=False)
        paths.append(path)
    return paths


def read_row_major(paths: list[Path], n_rows: int, start: int, stop: int) -> np.ndarray:
    """Format 1's read: a memory map per chunk, columns [start, stop) of every row."""
    out = np.empty((n_rows, stop - start), np.float32)
    row = 0
    for path in paths:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        out[row : row + array.shape[0]] = array[:, start:stop]
        row += array.shape[0]
    return out


def timed_reads(read, n_neurons: int, width: int, budget_s: float = 6.0) -> tuple[float, int]:
    """Seconds per block (median over blocks spread across the store, within ~budget_s) and blocks read."""
    starts = np.linspace(0, n_neurons - width, num=min(24, max(1, n_neurons // width))).astype(int)
    times = []
    spent = time.perf_counter()
    for start in starts:
        t = time.perf_counter()
        read(int(start), int(start) + width)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - spent > budget_s and len(times) >= 3:
            break
    return float(np.median(times)), len(times)


def _peak_rss() -> int:
    """Peak resident set of this process (VmHWM). Not ru_maxrss: Linux carries the forking parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(store: str, out: str, gb: str) -> None:
    """One identify run in this process; prints JSON with its time and peak RSS."""
    from relneurons.expertise.identify import IdentifyConfig, identify

    base = _peak_rss()
    started = time.perf_counter()
    summary = identify(
        store,
        out,
        IdentifyConfig(k=100, memory_gb=float(gb) if float(gb) > 0 else None, min_positives=1),
        progress=False,
    )
    seconds = time.perf_counter() - started
    peak = _peak_rss()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss": peak,
                "import_rss": base,
                "block": summary["block"],
                "block_bytes": summary["block_bytes"],
                "n_neurons": summary["n_neurons"],
            }
        )
    )


def run_child(store: Path, out: Path, gb: float) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(store), str(out), str(gb)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def figure(path: str, widths, new_mbs, old_mbs, runs, store_gb: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.arange(len(widths))
    a.bar(x - 0.2, old_mbs, 0.4, label="row-major, memory map (format 1)", color="#bbbbbb")
    a.bar(x + 0.2, new_mbs, 0.4, label="neuron-major, file reads (format 2)", color="#3b6ea8")
    a.set_xticks(x, [f"{w:,}" for w in widths])
    a.set_xlabel("neurons per block")
    a.set_ylabel("block read throughput (MB/s)")
    a.set_yscale("log")
    a.legend(fontsize=8)
    a.set_title("Reading a block of neurons for every row")
    caps = [r["memory_gb"] for r in runs]
    b.bar(np.arange(len(runs)) - 0.2, [r["peak_rss"] / 2**30 for r in runs], 0.4, label="peak RSS", color="#3b6ea8")
    b.bar(
        np.arange(len(runs)) + 0.2,
        [r["block_bytes"] / 2**30 for r in runs],
        0.4,
        label="planned block + AP working set",
        color="#e0a040",
    )
    b.axhline(store_gb, color="k", ls="--", lw=1, label=f"store on disk ({store_gb:.2f} GB)")
    b.axhline(runs[0]["import_rss"] / 2**30, color="grey", ls=":", lw=1, label="RSS after imports")
    b.set_xticks(np.arange(len(runs)), [f"{c:g} GB" for c in caps])
    b.set_xlabel("identify --memory-gb")
    b.set_ylabel("GB")
    b.legend(fontsize=8)
    b.set_title("identify under a memory budget")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    n_neurons = int(args.size_gb * 2**30 // (4 * args.rows))
    store_bytes = 4 * n_neurons * args.rows
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print(
        f"store: {args.rows:,} rows x {n_neurons:,} neurons = {store_bytes / 2**30:.2f} GB, {args.chunk_rows} rows per chunk"
    )
    t = time.perf_counter()
    store = build_store(work / "store", args.rows, n_neurons, args.chunk_rows, args.relations, args.seed)
    print(f"  built in {time.perf_counter() - t:.1f} s")
    old = write_row_major(store, work / "row-major")

    print("\nblock read (every row), median seconds per block:")
    widths = [w for w in args.widths if w <= n_neurons]
    new_mbs, old_mbs = [], []
    for width in widths:
        mb = 4 * width * args.rows / 1e6
        s_new, n_new = timed_reads(store.columns, n_neurons, width)
        s_old, n_old = timed_reads(lambda a, b: read_row_major(old, args.rows, a, b), n_neurons, width)
        np.testing.assert_array_equal(store.columns(0, width), read_row_major(old, args.rows, 0, width))
        new_mbs.append(mb / s_new)
        old_mbs.append(mb / s_old)
        # pages each layout must bring from disk for one block when nothing is cached (readahead adds to row-major)
        touched_old = args.rows * (-(-(4 * width) // PAGE) + 1) * PAGE
        print(
            f"  {width:6,d} neurons ({mb:7.1f} MB): neuron-major {s_new * 1e3:8.1f} ms ({new_mbs[-1]:7.0f} MB/s, {n_new} blocks)"
            f" | row-major mmap {s_old * 1e3:8.1f} ms ({old_mbs[-1]:7.0f} MB/s, {n_old} blocks)"
            f" | ratio {s_old / s_new:5.1f}x | pages touched per block {mb:.1f} vs {min(touched_old, store_bytes) / 1e6:.1f} MB (before readahead)"
        )
    shutil.rmtree(work / "row-major")

    print("\nidentify (fresh process per budget):")
    runs = []
    for gb in args.memory_gb:
        r = run_child(work / "store", work / f"identify-{gb:g}", gb)
        r["memory_gb"] = gb
        runs.append(r)
        print(
            f"  --memory-gb {gb:g}: block {r['block']:,} neurons (planned {r['block_bytes'] / 2**30:.3f} GB), "
            f"{r['seconds']:.1f} s, {r['n_neurons'] / r['seconds']:,.0f} neurons/s, peak RSS {r['peak_rss'] / 2**30:.2f} GB "
            f"(after imports {r['import_rss'] / 2**30:.2f} GB; store {store_bytes / 2**30:.2f} GB)"
        )
    first = work / f"identify-{args.memory_gb[0]:g}"
    for gb in args.memory_gb[1:]:
        other = work / f"identify-{gb:g}"
        same = all(
            (first / p).read_bytes() == (other / p).read_bytes()
            for p in [q.relative_to(first) for q in sorted(first.glob("ap/*.parquet"))] + [Path("topk.parquet")]
        )
        print(f"  AP and top-k tables of budget {gb:g} GB identical to {args.memory_gb[0]:g} GB: {same}")
        if not same:
            raise SystemExit("tables differ between budgets")
    figure(args.figure, widths, new_mbs, old_mbs, runs, store_bytes / 2**30)
    print(f"\nfigure: {args.figure}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
