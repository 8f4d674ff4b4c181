"""Benchmark: 2PL MML-EM on a simulated 100,000 x 200 response matrix.

Run:  .venv/bin/python bench/irt.py [--persons N] [--items J] [--seed S]

Simulation (seeded): theta ~ N(0, 1), a ~ U(0.8, 2.0), b ~ U(-2, 2),
x = 1{u < 1 / (1 + exp(-a (theta - b)))}. Prints the wall time of fit_2pl
(61 quadrature nodes, tol 1e-4; EM + full observed-information SEs + EAP),
the EM iteration count, the time without SEs, and parameter recovery.
Target (issue 6): <= 15 s on 2 cores for 100,000 x 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scoring.irt import fit_2pl  # noqa: E402


def simulate(n_persons: int, n_items: int, seed: int):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n_persons)
    a = rng.uniform(0.8, 2.0, n_items)
    b = rng.uniform(-2.0, 2.0, n_items)
    x = np.empty((n_persons, n_items), dtype=np.float64)
    step = 20000
    for i in range(0, n_persons, step):
        z = a * (theta[i:i + step, None] - b)
        x[i:i + step] = rng.random(z.shape) < 1.0 / (1.0 + np.exp(-z))
    return x, theta, a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()

    x, theta, a, b = simulate(args.persons, args.items, args.seed)
    print(f"2PL MML-EM, {args.persons:,} x {args.items}, 61 nodes, tol 1e-4, seed {args.seed}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs (other jobs slow multi-threaded BLAS down a lot)")

    t0, c0 = time.perf_counter(), time.process_time()
    res = fit_2pl(x, se="none")
    t_none, c_none = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    res = fit_2pl(x)
    t_all, c_all = time.perf_counter() - t0, time.process_time() - c0

    rmse_a = float(np.sqrt(np.mean((res.a - a) ** 2)))
    rmse_b = float(np.sqrt(np.mean((res.b - b) ** 2)))
    r_theta = float(np.corrcoef(res.theta, theta)[0, 1])
    print(f"fit_2pl (EM + EAP, se='none'):          {t_none:6.2f} s wall, {c_none:6.2f} s CPU")
    print(f"fit_2pl (EM + EAP + SEs, se='{res.se_method}'):    {t_all:6.2f} s wall, {c_all:6.2f} s CPU")
    print(f"EM iterations: {res.n_iter} (converged: {res.converged}), "
          f"{t_none / res.n_iter:.3f} s/iteration incl. setup")
    print(f"loglik {res.loglik:.1f}; RMSE a {rmse_a:.4f}, RMSE b {rmse_b:.4f}; "
          f"r(EAP, theta) {r_theta:.4f}; median SE a {np.median(res.se_a):.4f}")


if __name__ == "__main__":
    main()
