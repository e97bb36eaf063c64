"""Controlled generation against the bare model: where the time goes.

Same machine, same prompts (P_eva of the quick study: the relations its identify folder ranks,
template 0, suffix "? Answer:"), same length-sorted batches, measured in one run (interleaved rounds,
best of each). Every rate is a ratio to (b):

  (a) bare prefill: one forward pass per batch, last-position logits only, no decoding
  (b) bare 2-token greedy loop with plain transformers: tokenizer(padding), prefill with
      logits_to_keep=1, one KV-cache step, batch_decode
  (c) relneurons `generate_pairs`, every row "original" (no hooks)
  (d) `generate_pairs`, every row under one condition (a relation's top-k off)
  (e) `generate_pairs` with the quick study's condition mix: each prompt under original, its relation's
      top-k and 3 random k-sets (intra's P_eva pairs), all in one call
  (e1) the same pairs, one condition per batch with the in-place setter (`deactivate` + `generate_batch`)
  (f) collect: validation + capture of every FFN neuron (`capture_batch`) vs a bare prefill with the same
      capture hooks (`capture_means`)

Rates of (e)/(e1) count generations (prompt-condition pairs) per second. Also printed: a per-part profile of
(e), whether (b), (c) and (e1) generate the same text as (e) row for row, and the float32 matmul peak of this
machine (GFLOP/s of a 2048^3 torch.mm) so readers can scale.

    python benchmarks/bench_generation.py                 # 300 P_eva prompts, ~6 min on 2 busy cores
    python benchmarks/bench_generation.py --prompts 10    # 10 per relation: ~1-2 min
    python benchmarks/bench_generation.py --device cuda --identify RUN/identify --no-profile   # on a GPU

On a GPU every timed part ends with torch.cuda.synchronize(), the matmul peak is the GPU's, and the CPU-time
columns only say how busy the host was. The last line is a one-line summary (benchmarks/gpu_check.sh prints it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from relneurons.activations.capture import capture_batch, capture_means, capturing
from relneurons.data import PAPER_RELATIONS, build_prompts, load_relations, resolve_data_dir, split
from relneurons.intervention import Condition, deactivate
from relneurons.intervention import hooks as hooks_module
from relneurons.intervention.evaluate import generate_pairs, random_neurons
from relneurons.model import generate_batch, load_model, make_policy, neuron_set, pad_left, token_ids
from relneurons.model.generation import input_device

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "lre"
DEFAULT_IDENTIFY = ROOT.parent / "runs" / "quick-base" / "identify"


def matmul_peak(n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """Best GFLOP/s of an n x n x n float32 torch.mm on `device`."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = min(_time(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _sync() -> None:
    """Wait for queued GPU work, so that a timer around it measures it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _time(fn) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else None)
    parser.add_argument(
        "--identify",
        default=str(DEFAULT_IDENTIFY),
        help="an identify folder (rankings and k); missing: 6 paper relations, random sets, k = 307",
    )
    parser.add_argument("--prompts", type=int, default=50, help="P_eva prompts per relation (50 = all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); on a shared machine use 1 and read the CPU-time ratios",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or auto (default: float32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model(args.model, args.dtype, device=args.device)
    device = input_device(model)
    policy = make_policy(tokenizer, model.config.model_type)
    ffn = neuron_set(model, "ffn")
    identify = Path(args.identify)
    if (identify / "summary.json").is_file():
        summary = json.loads((identify / "summary.json").read_text())
        names, k = list(summary["relations"]), int(summary["k"])
        top = {
            r: np.sort(
                pd.read_parquet(identify / "ap" / f"{r}.parquet", columns=["global_index", "rank"])
                .sort_values("rank")["global_index"]
                .to_numpy()[:k]
            )
            for r in names
        }
        source = f"top-k sets of {identify}"
    else:
        names, k = list(PAPER_RELATIONS[:6]), 307
        top = {r: random_neurons(ffn.global_ids, k, 100 + i) for i, r in enumerate(names)}
        source = "random sets (no identify folder)"
    relations = load_relations(names, resolve_data_dir(args.data))
    prompts = [
        (r.name, p.text) for r in relations for p in build_prompts(r, split(r)[0][: args.prompts], (0,), "? Answer:")
    ]
    texts = [t for _, t in prompts]

    catalogue = {"original": Condition("original", np.zeros(0, np.int64))}
    catalogue.update({f"rel:{r}": Condition(f"rel:{r}", top[r]) for r in names})
    catalogue.update({f"random:{s}": Condition(f"random:{s}", random_neurons(ffn.global_ids, k, s)) for s in range(3)})
    mix_texts = [t for _, t in prompts for _ in range(5)]
    mix_conds = [c for r, _ in prompts for c in ("original", f"rel:{r}", "random:0", "random:1", "random:2")]
    one = f"rel:{names[0]}"

    encoded = token_ids(tokenizer, policy, texts)
    order = sorted(range(len(texts)), key=lambda i: (len(encoded[i]), i))  # generate_pairs' order for one condition
    chunks = [order[s : s + args.batch_size] for s in range(0, len(order), args.batch_size)]
    bs = args.batch_size

    @torch.inference_mode()
    def bare_prefill() -> None:
        for rows in chunks:
            batch = pad_left([encoded[i] for i in rows], policy.pad_token_id, device)
            model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=1,
            )

    @torch.inference_mode()
    def bare_loop() -> list[str]:
        out = [""] * len(texts)
        for rows in chunks:
            enc = tokenizer([texts[i] for i in rows], padding=True, padding_side="left", return_tensors="pt").to(device)
            mask = enc.attention_mask
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            first = model(
                input_ids=enc.input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=True
            )
            t1 = first.logits[:, -1].argmax(-1)
            second = model(
                input_ids=t1[:, None],
                attention_mask=torch.cat([mask, torch.ones_like(mask[:, :1])], 1),
                position_ids=positions[:, -1:] + 1,
                cache=first.cache,
                logits_to_keep=1,
                use_cache=True,
            )
            new = torch.stack([t1, second.logits[:, -1].argmax(-1)], 1)
            for i, text in zip(rows, tokenizer.batch_decode(new, skip_special_tokens=True)):
                out[i] = text
        return out

    def pairs(conds: list[str], rows_texts: list[str]) -> list[str]:
        return generate_pairs(model, tokenizer, policy, rows_texts, conds, catalogue, batch_size=bs, progress=False)

    def per_condition() -> list[str]:
        """(e1): the mix's pairs, one condition per batch, in-place setter."""
        enc = token_ids(tokenizer, policy, mix_texts)
        out = [""] * len(mix_texts)
        for name, cond in catalogue.items():
            rows = sorted((i for i, c in enumerate(mix_conds) if c == name), key=lambda i: (len(enc[i]), i))
            if not rows:
                continue
            with deactivate(model, cond.neurons, cond.value) if len(cond.neurons) else contextlib.nullcontext():
                for s in range(0, len(rows), bs):
                    part = rows[s : s + bs]
                    new = generate_batch(model, pad_left([enc[i] for i in part], policy.pad_token_id, device), 2)
                    for r, i in enumerate(part):
                        out[i] = tokenizer.decode(new[r].tolist(), skip_special_tokens=True)
        return out

    capture_chunks = [[encoded[i] for i in rows] for rows in chunks]

    def collect_like() -> None:
        with capturing(model, ffn) as cap:
            for seqs in capture_chunks:
                capture_batch(model, cap, seqs, policy, 2)

    def prefill_with_capture() -> None:
        capture_means(model, ffn, encoded, policy, batch_size=bs)

    work = {
        "(a) bare prefill": (len(texts), bare_prefill),
        "(b) bare 2-token loop": (len(texts), bare_loop),
        "(c) generate_pairs, original": (len(texts), lambda: pairs(["original"] * len(texts), texts)),
        "(d) generate_pairs, one condition": (len(texts), lambda: pairs([one] * len(texts), texts)),
        "(e) generate_pairs, intra mix": (len(mix_texts), lambda: pairs(mix_conds, mix_texts)),
        "(e1) same pairs, one condition per batch": (len(mix_texts), per_condition),
        "(f) collect: validate + capture": (len(texts), collect_like),
        "(f0) prefill with the capture hooks": (len(texts), prefill_with_capture),
    }
    best = {name: float("inf") for name in work}
    cpu = {name: float("inf") for name in work}
    outputs = {}
    bare_prefill()  # warm-up
    for _ in range(args.rounds):
        for name, (_, fn) in work.items():
            _sync()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn()
            _sync()
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
            if result is not None:
                outputs[name] = result
    rate = {name: n / best[name] for name, (n, _) in work.items()}
    cpu_rate = {name: n / cpu[name] for name, (n, _) in work.items()}
    base, cpu_base = rate["(b) bare 2-token loop"], cpu_rate["(b) bare 2-token loop"]

    print(
        f"model {args.model}; {len(texts)} P_eva prompts of {len(names)} relations ({source}, k = {k}); "
        f"batch {bs}; torch threads {torch.get_num_threads()}; best of {args.rounds} interleaved rounds; "
        f"device {device}, {model.dtype}"
    )
    print(f"float32 matmul peak (2048^3 torch.mm on {device}): {matmul_peak(device=str(device)):.1f} GFLOP/s")
    print(
        "rates in items/s (prompts, or generations for (e)/(e1)); ratio = rate / rate of (b); wall and process CPU time"
    )
    print(f"{'':44s} {'wall s':>7s} {'items/s':>8s} {'ratio':>6s} {'CPU s':>7s} {'items/s':>8s} {'ratio':>6s}")
    for name in work:
        print(
            f"{name:44s} {best[name]:7.2f} {rate[name]:8.1f} {rate[name] / base:6.2f} "
            f"{cpu[name]:7.2f} {cpu_rate[name]:8.1f} {cpu_rate[name] / cpu_base:6.2f}"
        )
    e, e1, f, f0 = (
        "(e) generate_pairs, intra mix",
        "(e1) same pairs, one condition per batch",
        "(f) collect: validate + capture",
        "(f0) prefill with the capture hooks",
    )
    print(
        f"one condition per batch vs mixed batches (e1)/(e): wall {rate[e1] / rate[e]:.2f}, CPU {cpu_rate[e1] / cpu_rate[e]:.2f}"
    )
    print(
        f"collect vs prefill with the same hooks (f)/(f0): wall {rate[f] / rate[f0]:.2f}, CPU {cpu_rate[f] / cpu_rate[f0]:.2f}"
    )
    mixed = outputs["(e) generate_pairs, intra mix"]
    original = [g for g, c in zip(mixed, mix_conds) if c == "original"]
    print(
        f"identical generations: (b) vs (c) {sum(a == b for a, b in zip(outputs['(b) bare 2-token loop'], outputs['(c) generate_pairs, original']))}/{len(texts)}; "
        f"(c) vs original rows of (e) {sum(a == b for a, b in zip(outputs['(c) generate_pairs, original'], original))}/{len(texts)}; "
        f"(e) vs (e1) {sum(a == b for a, b in zip(mixed, outputs['(e1) same pairs, one condition per batch']))}/{len(mix_texts)}"
    )
    if not args.no_profile:
        print_profile(model, tokenizer, policy, lambda: pairs(mix_conds, mix_texts), mix_texts, bs, len(mix_texts))
    c, b = "(c) generate_pairs, original", "(b) bare 2-token loop"
    print(
        f"generation on {device}: controlled mix (e) {rate[e]:.1f} gen/s = {rate[e] / base:.2f} x the bare loop "
        f"(b, {base:.1f} prompts/s), no condition (c) {rate[c] / base:.2f} x, bare prefill (a) "
        f"{rate['(a) bare prefill'] / base:.2f} x; (b) and (c) agree on "
        f"{sum(x == y for x, y in zip(outputs[b], outputs[c]))}/{len(texts)} generations"
    )


def print_profile(model, tokenizer, policy, run, texts, bs, n) -> None:
    """Per-part profile of one (e) pass: timers on the parts, torch.profiler inside the model."""
    enc = token_ids(tokenizer, policy, texts)
    tokenise = _time(lambda: token_ids(tokenizer, policy, texts))
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    padding = _time(
        lambda: [pad_left([enc[i] for i in order[s : s + bs]], policy.pad_token_id) for s in range(0, n, bs)]
    )
    detok = _time(lambda: [tokenizer.decode([int(t) for t in e[-2:]], skip_special_tokens=True) for e in enc])

    forward, head = model.forward, model.lm_head.forward

    @functools.wraps(forward)  # generate_batch reads the forward's signature (logits_to_keep, the cache argument)
    def labelled_forward(*a, **kw):
        with record_function("prefill" if kw["input_ids"].shape[1] > 1 else "decode step"):
            return forward(*a, **kw)

    @functools.wraps(head)
    def labelled_head(*a, **kw):
        with record_function("LM head"):
            return head(*a, **kw)

    hook_for = hooks_module.ConditionBatch.hook_for

    def labelled(hook):
        def wrapped(*a):
            with record_function("hooks"):
                return hook(*a)

        return wrapped

    model.forward, model.lm_head.forward = labelled_forward, labelled_head
    hooks_module.ConditionBatch.hook_for = lambda self, *a: labelled(hook_for(self, *a))
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            run()
            wall = time.perf_counter() - start
    finally:
        del model.forward, model.lm_head.forward
        hooks_module.ConditionBatch.hook_for = hook_for
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()}
    selfs = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    prefill, decode = totals.get("prefill", 0.0), totals.get("decode step", 0.0)
    parts = [
        ("tokenisation (token_ids)", tokenise),
        ("padding (pad_left)", padding),
        ("prefill forward", prefill),
        ("decode step forward", decode),
        ("  of which LM head (both)", totals.get("LM head", 0.0)),
        ("  of which hooks", totals.get("hooks", 0.0)),
        ("    of which torch.where", selfs.get("aten::where", 0.0)),
        ("detokenisation (decode)", detok),
        ("Python and the rest", wall - tokenise - padding - prefill - decode - detok),
    ]
    print(f"per-part profile of one (e) pass under torch.profiler ({n} generations, {wall:.2f} s wall):")
    for name, seconds in parts:
        print(f"  {name:32s} {seconds:7.2f} s  {seconds / wall:6.1%}")


if __name__ == "__main__":
    main()
