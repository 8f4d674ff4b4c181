"""Benchmark: export a 50,000-item bank to a QTI 2.1 package and import it back (targets: ≤ 60 s and ≤ 120 s).

Usage: .venv/bin/python bench/qti.py [N_ITEMS] [--keep PATH] [--no-check]

Generates N synthetic items (default 50,000: 55 % single choice, 15 % multiple choice, 20 % true/false,
10 % fill blank — half of those numeric with a tolerance and unit; 1 % of the items with an image), times
export_qti_package and read_qti_package (with near-duplicate detection), checks that the round trip is exact
(unless --no-check), and prints the package size, wall and CPU times, the load average (the machine is
shared) and the peak resident memory.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from question_bank.formats.qti import export_qti_package, read_qti_package  # noqa: E402
from question_bank.item_types.examples import example_item  # noqa: E402
from question_bank.items import canonical_item_dict  # noqa: E402

EXPORT_TARGET_S = 60.0
IMPORT_TARGET_S = 120.0
PNG = (ROOT / "tests" / "question_bank" / "data" / "qti_foreign" / "images" / "shaft.png").read_bytes()


def peak_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 1024 / 1024


def make_items(n: int, seed: int = 7) -> tuple[list[dict], dict[str, bytes]]:
    rng = random.Random(seed)
    kinds = ["single_choice"] * 55 + ["multiple_choice"] * 15 + ["true_false"] * 20 + ["fill_blank"] * 10
    items, media = [], {}
    for i in range(n):
        t = rng.choice(kinds)
        d = example_item(t, id=f"Q{i:06d}", version=rng.randint(1, 3), difficulty=round(rng.random(), 3),
                         kp=f"B-C-{rng.randint(1, 60):03d}", grades=rng.choice([[4], [4, 3], [3]]))
        d["stem"] = f"第{i}题：{d['stem']}" + "数控车床加工工艺与切削参数的选择。" * rng.randint(0, 4)
        if "options" in d:
            d["options"] = [f"{o}（{i}-{k}）" for k, o in enumerate(d["options"])]
        if t == "fill_blank" and rng.random() < 0.5:
            d.update(answers=[f"背吃刀量{i}", "切削深度"], tolerance=None, unit=None)
        if rng.random() < 0.01:
            ref = f"img{i:06d}"
            media[ref] = PNG
            d["images"] = [ref]
        items.append(d)
    return items, media


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 50_000
    keep = argv[argv.index("--keep") + 1] if "--keep" in argv else None
    check = "--no-check" not in argv
    items, media = make_items(n)
    print(f"items: {n:,} ({len(media)} with an image); load average before: {os.getloadavg()[0]:.2f}")

    c0, t0 = time.process_time(), time.perf_counter()
    data = export_qti_package(items, media)
    t_export, c_export = time.perf_counter() - t0, time.process_time() - c0
    if keep:
        Path(keep).write_bytes(data)
    print(f"export: {t_export:6.1f} s wall, {c_export:6.1f} s CPU  (target ≤ {EXPORT_TARGET_S:.0f} s); "
          f"package {len(data) / 2**20:.1f} MiB; peak RSS {peak_mib():.0f} MiB")

    c0, t0 = time.process_time(), time.perf_counter()
    res = read_qti_package(data)
    t_import, c_import = time.perf_counter() - t0, time.process_time() - c0
    print(f"import: {t_import:6.1f} s wall, {c_import:6.1f} s CPU  (target ≤ {IMPORT_TARGET_S:.0f} s); "
          f"{len(res.items):,} items, {len(res.problems)} problems, {len(res.warnings)} warnings; "
          f"peak RSS {peak_mib():.0f} MiB")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ok = res.ok and t_export <= EXPORT_TARGET_S and t_import <= IMPORT_TARGET_S
    if check:
        exact = list(res.items) == [canonical_item_dict(d) for d in items] and dict(res.media) == media
        print(f"round trip exact: {exact}")
        ok = ok and exact
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
