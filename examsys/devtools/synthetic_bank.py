"""Synthetic banks for benchmarks and tests: bulk-insert N items (with version 1) for an occupation.

Stems are built from a small vocabulary of CNC-lathe terms so that free-text search has realistic
selectivity. Inserts go through SQLAlchemy Core in batches (about 20k items/s on SQLite).
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import insert, select, update

from question_bank.normalize import normalize_text

from .. import clock
from ..extensions import db
from ..models import Item, ItemVersion, KnowledgeNode, Occupation

TERMS = ["G71 外圆粗车循环", "G70 精车循环", "G92 螺纹切削循环", "主偏角", "前角", "后角", "刀尖圆弧半径补偿",
         "基孔制 H7/g6", "45钢调质", "40Cr 淬火", "HT200 铸铁", "千分尺读数", "游标卡尺", "百分表找正", "切削速度",
         "进给量", "背吃刀量", "三爪卡盘装夹", "顶尖", "中心孔", "表面粗糙度 Ra1.6", "圆柱度", "同轴度", "M30×2 螺纹",
         "梯形螺纹", "对刀", "工件坐标系", "机床回零", "急停按钮", "冷却液", "安全文明生产", "职业道德", "劳动合同"]
TYPES = ["single_choice"] * 6 + ["true_false"] * 2 + ["multiple_choice", "fill_blank"]
STATUSES = ["approved"] * 7 + ["draft", "in_review", "retired"]


def ensure_occupation(code: str = "9-99-99-99", n_points: int = 200) -> Occupation:
    """A synthetic occupation with areas A–F, 5 units each and ``n_points`` points (codes like C-B-007)."""
    occ = db.session.execute(select(Occupation).where(Occupation.code == code)).scalar_one_or_none()
    if occ is not None:
        return occ
    occ = Occupation(code=code, name="合成职业", work_type="合成工种", grades=[4, 3])
    db.session.add(occ)
    db.session.flush()
    areas = "ABCDEF"
    per_unit = max(1, n_points // (len(areas) * 5))
    rng = np.random.default_rng(1)
    for a in areas:
        an = KnowledgeNode(occupation_id=occ.id, code=a, name=f"范围{a}", level=1, part="theory", grades=[4, 3])
        db.session.add(an)
        db.session.flush()
        for u in "ABCDE":
            un = KnowledgeNode(occupation_id=occ.id, parent_id=an.id, code=f"{a}-{u}", name=f"内容{a}{u}", level=2,
                               part="theory", grades=[4, 3])
            db.session.add(un)
            db.session.flush()
            for k in range(1, per_unit + 1):
                imp = rng.choice(["X", "Y", "Z"], p=[0.75, 0.2, 0.05])
                db.session.add(KnowledgeNode(occupation_id=occ.id, parent_id=un.id, code=f"{a}-{u}-{k:03d}",
                                             name=f"鉴定点{a}{u}{k}", level=3, part="theory", importance=str(imp),
                                             grades=[4, 3]))
    db.session.flush()
    return occ


def insert_items(occ: Occupation, n: int, *, seed: int = 0, batch: int = 5000, author_id: int | None = None) -> int:
    """Insert ``n`` synthetic items (each with version 1) into ``occ``; returns the number inserted."""
    rng = np.random.default_rng(seed)
    points = list(db.session.execute(select(KnowledgeNode.id, KnowledgeNode.code, KnowledgeNode.importance)
                                     .where(KnowledgeNode.occupation_id == occ.id, KnowledgeNode.level == 3)).all())
    now = clock.now()
    done = 0
    while done < n:
        m = min(batch, n - done)
        item_rows, version_rows = [], []
        for i in range(m):
            kp_id, kp_code, imp = points[int(rng.integers(len(points)))]
            t = TYPES[int(rng.integers(len(TYPES)))]
            words = [TERMS[int(j)] for j in rng.integers(len(TERMS), size=3)]
            stem = f"第{done + i + 1}题：关于{words[0]}与{words[1]}，下列说法正确的是（  ）。"
            options = [f"{w}的要求{k}" for k, w in enumerate([words[2], words[0], words[1], "以上都不对"])]
            grades = [4, 3] if rng.random() < 0.5 else [int(rng.choice([4, 3]))]
            p = float(np.clip(rng.beta(7, 3), 0.05, 0.99))
            status = STATUSES[int(rng.integers(len(STATUSES)))]
            content = {"options": options, "key": "B"} if t in ("single_choice",) else \
                {"options": options, "key": "AB"} if t == "multiple_choice" else \
                {"key": True} if t == "true_false" else {"answers": ["G71"], "tolerance": None, "unit": None}
            text = stem + "".join(options if "options" in content else [])
            item_rows.append(dict(occupation_id=occ.id, status=status, created_by=author_id, created_at=now,
                                  updated_at=now, type=t, kp_id=kp_id, kp_code=kp_code, importance=imp,
                                  grade_mask=sum(1 << g for g in grades), difficulty=round(p, 3), points=1.0,
                                  search_text=normalize_text(text), fingerprint=""))
            version_rows.append(dict(number=1, type=t, kp_code=kp_code, grades=grades, points=1.0, difficulty=round(p, 3),
                                     source="synthetic", stem=stem, content=content, images=[], comment="",
                                     created_by=author_id, created_at=now))
        ids = db.session.execute(insert(Item).returning(Item.id), item_rows).scalars().all()
        for item_id, row in zip(ids, version_rows):
            row["item_id"] = item_id
        vids = db.session.execute(insert(ItemVersion).returning(ItemVersion.id, ItemVersion.item_id),
                                  version_rows).all()
        db.session.execute(update(Item), [{"id": item_id, "current_version_id": vid} for vid, item_id in vids])
        db.session.commit()
        done += m
    return done
