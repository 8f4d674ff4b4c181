"""Paper-assembly benchmark: MILP (LP + RENS pipeline on pruned candidates) vs the steered greedy baseline.

Synthetic banks of 2k / 10k / 50k eligible items (question_bank.synthetic, the generator of the assembly
notes); the notes' full blueprint: 单选 120 × 0.5 + 多选 20 × 1 + 判断 40 × 0.5 = 100 points, 180 items,
areas ± 1 point, every X point ≥ 1, any point ≤ 2, Z ≤ 5 %, Y+Z ≤ 20 %, mean p in [0.63, 0.69], K forms
disjoint with mean-p spread ≤ 0.02 and objective spread ≤ 2 %.

Printed: per bank × K the assembler's status, wall time, objective (sum of D over the forms), certified
gap (against the LP bound of the model solved), model size, and the greedy baseline's time, objective
and rule violations side by side; the loss against the exact model (no pruning, HiGHS to 1e-4) where
it finishes, and against the LP bound of the full model otherwise; the supply-conflict explanation
time; a 10 s time limit on the exact 50k × 5 model (HiGHS alone overruns it by minutes).

    .venv/bin/python bench/assembly.py            # everything (a few minutes)
    .venv/bin/python bench/assembly.py --quick    # 2k and 10k only, no exact runs

Timings depend on the machine's load (print shows nproc and load average); HiGHS times vary between
near-identical models.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from question_bank.assembly import SOLVER_VERSIONS, assemble, explain, greedy_assemble  # noqa: E402
from question_bank.synthetic import synthetic_bank, synthetic_blueprint  # noqa: E402

TARGETS = {  # (n, K): seconds
    (10_000, 1): 1.0,
    (10_000, 2): 3.0,
    (50_000, 5): 15.0,
}


def fmt_violations(check) -> str:
    if check is None:
        return "-"
    v = Counter(c.rule for c in check.violations)
    if not v:
        return "0"
    return f"{sum(v.values())} (" + ", ".join(f"{k} {n}" for k, n in v.most_common()) + ")"


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"nproc {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2k and 10k banks only, no exact reference runs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--exact-limit", type=float, default=180.0, help="seconds for each exact reference MILP")
    args = ap.parse_args()
    sizes = (2_000, 10_000) if args.quick else (2_000, 10_000, 50_000)
    forms = (1, 2, 5)
    print(f"# assembly bench — scipy {SOLVER_VERSIONS['scipy']}, HiGHS {SOLVER_VERSIONS['highs']}, "
          f"numpy {SOLVER_VERSIONS['numpy']}; {machine()} (shared machine)")
    bp = synthetic_blueprint()
    banks = {}
    for n in sizes:
        t = time.perf_counter()
        banks[n] = synthetic_bank(n, seed=1)
        print(f"# bank {n}: generated in {time.perf_counter() - t:.2f} s "
              f"({len(banks[n].kp_index)} points, {sum(v.importance == 'X' for v in banks[n].kp_index.values())} X)")

    print()
    print("| bank | K | status | time s | objective ΣD | gap (cert.) | cand./binaries | stages | "
          "greedy time s | greedy ΣD | greedy vs MILP | greedy violations | target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for n in sizes:
        for K in forms:
            bank = banks[n]
            t = time.perf_counter()
            r = assemble(bank.candidates, bp, forms=K, seed=args.seed, time_limit=60, kp_index=bank.kp_index)
            wall = time.perf_counter() - t
            g = greedy_assemble(bank.candidates, bp, forms=K, seed=args.seed, kp_index=bank.kp_index)
            results[(n, K)] = (r, wall)
            tgt = TARGETS.get((n, K))
            tgt_s = "" if tgt is None else (f"≤ {tgt:g} s: {'met' if wall <= tgt else 'MISSED'}")
            stages = "+".join(s["stage"].replace("kp_neighbourhood", "kp") for s in r.model.get("stages", []))
            rel = (g.objective / r.objective - 1) * 100 if r.objective else float("nan")
            print(f"| {n} | {K} | {r.status}{'' if r.ok else ' (check FAILED)'} | {wall:.2f} | {r.objective:.2f} | "
                  f"{(r.gap or 0) * 100:.3f} % | {r.model.get('model_candidates')}/{r.model.get('binaries')} | "
                  f"{stages} | {g.total_time_s:.3f} | {g.objective:.2f} | {rel:+.1f} % | {fmt_violations(g.check)} | "
                  f"{tgt_s} |", flush=True)

    print()
    print("## loss against the exact model (same seed and perturbed objective)")
    print("| bank | K | ours: model objective, time s | exact: how | exact objective | time s | loss |")
    print("|---|---|---|---|---|---|---|")
    refs = [(2_000, 5), (10_000, 2), (10_000, 5)] if not args.quick else [(2_000, 5)]
    for n, K in refs:
        r, wall = results[(n, K)]
        bank = banks[n]
        t = time.perf_counter()
        e = assemble(bank.candidates, bp, forms=K, seed=args.seed, time_limit=args.exact_limit,
                     kp_index=bank.kp_index, prune=False, strategy="milp", mip_rel_gap=1e-4)
        et = time.perf_counter() - t
        ours = r.model["model_objective"]
        ex = e.model.get("model_objective")
        if ex is not None and e.status in ("optimal", "feasible"):
            loss = (ex - ours) / ex * 100
            print(f"| {n} | {K} | {ours:.3f}, {wall:.2f} | full MILP, HiGHS gap 1e-4 ({e.status}, gap "
                  f"{(e.gap or 0) * 100:.3f} %) | {ex:.3f} | {et:.1f} | {loss:+.3f} % |", flush=True)
        else:
            print(f"| {n} | {K} | {ours:.3f}, {wall:.2f} | full MILP: {e.status} | - | {et:.1f} | - |", flush=True)
    if not args.quick:
        for n, K in [(50_000, 5)]:
            r, wall = results[(n, K)]
            bank = banks[n]
            t = time.perf_counter()
            e = assemble(bank.candidates, bp, forms=K, seed=args.seed, time_limit=240, kp_index=bank.kp_index,
                         prune=False, strategy="lp", mip_rel_gap=1e-4)
            et = time.perf_counter() - t
            ours = r.model["model_objective"]
            bound = e.model.get("lp_bound")
            ex = e.model.get("model_objective")
            if bound is not None:
                best = max(ours, ex or ours)
                print(f"| {n} | {K} | {ours:.3f}, {wall:.2f} | LP bound of the full model (+ RENS on it: "
                      f"{ex if ex is None else round(ex, 3)}) | ≤ {bound:.3f} | {et:.1f} | "
                      f"≤ {(bound - ours) / bound * 100:.3f} % (vs best found {(best - ours) / best * 100:+.3f} %) |",
                      flush=True)
            else:
                print(f"| {n} | {K} | {ours:.3f}, {wall:.2f} | full LP did not finish ({e.status}) | - | {et:.1f} | - |")

    print()
    print("## infeasibility explanation (supply checks) and the time limit")
    n = sizes[-1]
    bank = banks[n]
    bp5 = synthetic_blueprint(forms=5)
    x_kp = sorted(k for k, v in bank.kp_index.items() if v.importance == "X")[7]
    of_kp = [c for c in bank.candidates if c.kp == x_kp]
    thin = [c for c in bank.candidates if c.kp != x_kp] + of_kp[:4]
    t = time.perf_counter()
    ex = explain(thin, bp5, kp_index=bank.kp_index)
    et = time.perf_counter() - t
    f = ex.findings[0] if ex.findings else None
    print(f"- thin bank ({n} items, K=5, X point {x_kp} cut to 4 items): explain() {et:.3f} s "
          f"({'≤ 1 s: met' if et <= 1 else 'MISSED'}), stage {ex.stage}")
    if f is not None:
        print(f"  - {f.message_zh}\n  - {f.message_en}")
    if not args.quick:
        t = time.perf_counter()
        r = assemble(bank.candidates, bp5, seed=args.seed, time_limit=10, kp_index=bank.kp_index, prune=False,
                     strategy="milp")
        wall = time.perf_counter() - t
        print(f"- time limit 10 s on the exact {n} × 5 model (HiGHS alone: minutes): returned after {wall:.1f} s "
              f"({'≤ 12.5 s: met' if wall <= 12.5 else 'MISSED'}), status {r.status}, check "
              f"{'passed' if r.ok else 'failed: ' + fmt_violations(r.check)}")
        print(f"  - {r.message_en}")
    print()
    print(f"# {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
