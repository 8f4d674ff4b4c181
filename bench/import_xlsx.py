"""Benchmark: import a 10,000-item bank workbook with read_bank_xlsx (target < 15 s).

Usage: .venv/bin/python bench/import_xlsx.py [N_ITEMS] [--keep PATH]

Generates N items (default 10,000; a realistic mix: 60 % single choice, 15 % multiple choice, 15 % true/false,
5 % fill blank, 3 % short answer, 2 % practical tasks with 3 criteria), writes them with write_bank_xlsx,
then times read_bank_xlsx (with the example taxonomy and near-duplicate detection) and prints the file
size, the wall and CPU times, the load average, and the peak resident memory of the process (resource.getrusage, ru_maxrss) measured
before and after the import.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from question_bank.formats.xlsx import read_bank_xlsx, write_bank_xlsx  # noqa: E402
from question_bank.item_types.examples import example_item, example_taxonomy  # noqa: E402
from question_bank.taxonomy import Taxonomy  # noqa: E402


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 1024 / 1024


def make_items(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    kinds = (["single_choice"] * 60 + ["multiple_choice"] * 15 + ["true_false"] * 15 + ["fill_blank"] * 5
             + ["short_answer"] * 3 + ["practical_task"] * 2)
    items = []
    for i in range(n):
        t = rng.choice(kinds)
        d = example_item(t, id=f"Q{i:06d}", version=rng.randint(1, 3), difficulty=round(rng.random(), 3))
        d["stem"] = f"第{i}题：{d['stem']}" + "数控车床加工工艺与切削参数的选择。" * rng.randint(0, 4)
        if "options" in d:
            d["options"] = [f"{o}（{i}-{k}）" for k, o in enumerate(d["options"])]
        items.append(d)
    return items


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 10_000
    keep = argv[argv.index("--keep") + 1] if "--keep" in argv else None
    taxonomy = Taxonomy.from_dict(example_taxonomy())
    items = make_items(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "bank.xlsx"
        t0 = time.perf_counter()
        write_bank_xlsx(items, path, taxonomy=taxonomy)
        t_write = time.perf_counter() - t0
        size = path.stat().st_size
        before = peak_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        result = read_bank_xlsx(path, taxonomy=taxonomy, max_bytes=100 * 1024 * 1024)
        t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
        after = peak_mib()
    assert result.ok, result.problems[:5]
    assert len(result.items) == n, len(result.items)
    print(f"items: {n}  file: {size / 1024 / 1024:.2f} MiB")
    print(f"write_bank_xlsx: {t_write:.2f} s")
    print(f"read_bank_xlsx:  {t_read:.2f} s wall, {c_read:.2f} s CPU  ({n / t_read:,.0f} items/s; "
          f"target < 15 s: {'OK' if t_read < 15 else 'MISSED'})")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (wall time grows on a busy machine)")
    print(f"peak RSS: {before:.0f} MiB before the import, {after:.0f} MiB after "
          f"(the import added at most {after - before:.0f} MiB)")
    print(f"warnings (near-duplicates): {len(result.warnings)}")


if __name__ == "__main__":
    main(sys.argv)
