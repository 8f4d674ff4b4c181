"""A small synthetic occupation, bank and blueprint for the paper tests (fast: ~60 items)."""
from __future__ import annotations

import copy

from examsys import clock
from examsys.extensions import db

OCC = "9-99-01-01"

TAXONOMY = {
    "occupation": {"code": OCC, "name": "测试工", "work_type": "数控测试工"},
    "grades": [4, 3],
    "weights": {"theory": {4: {"A": 40, "B": 60}, 3: {"A": 30, "B": 70}},
                "practical": {4: {"P-A": 60, "P-B": 40}, 3: {"P-A": 50, "P-B": 50}}},
    "tree": [
        {"code": "A", "name": "基础知识", "part": "theory", "units": [
            {"code": "A-A", "name": "机械制图", "points": [
                {"code": "A-A-001", "name": "三视图", "importance": "X", "grades": [4, 3]},
                {"code": "A-A-002", "name": "剖视图", "importance": "Y", "grades": [4, 3]},
                {"code": "A-A-003", "name": "螺纹画法", "importance": "X", "grades": [4, 3]}]}]},
        {"code": "B", "name": "专业知识", "part": "theory", "units": [
            {"code": "B-A", "name": "数控编程", "points": [
                {"code": "B-A-001", "name": "坐标系", "importance": "X", "grades": [4, 3]},
                {"code": "B-A-002", "name": "G代码", "importance": "X", "grades": [4, 3]},
                {"code": "B-A-003", "name": "宏程序", "importance": "Z", "grades": [4, 3]}]},
            {"code": "B-B", "name": "刀具", "points": [
                {"code": "B-B-001", "name": "刀具材料", "importance": "X", "grades": [4, 3]}]}]},
        {"code": "P-A", "name": "零件加工", "part": "practical", "units": [
            {"code": "P-A-A", "name": "轴类零件", "points": [
                {"code": "P-A-A-001", "name": "台阶轴加工", "importance": "X", "grades": [4, 3]}]}]},
        {"code": "P-B", "name": "精度检验", "part": "practical", "units": [
            {"code": "P-B-A", "name": "测量", "points": [
                {"code": "P-B-A-001", "name": "尺寸测量", "importance": "X", "grades": [4, 3]}]}]},
    ],
}

THEORY_POINTS = ["A-A-001", "A-A-002", "A-A-003", "B-A-001", "B-A-002", "B-A-003", "B-B-001"]
KEY_MARK = "参考答案甲乙丙"  # appears only in keys (reference answers), never on a candidate paper


def item_dicts() -> list[dict]:
    out = []
    n = 0
    for kp in THEORY_POINTS:
        for k in range(4):
            n += 1
            out.append({"type": "single_choice", "occupation": OCC, "grades": [4, 3], "kp": kp, "points": 1.0,
                        "difficulty": 0.55 + 0.1 * (k % 4), "discrimination": 0.2 + 0.05 * k,
                        "stem": f"单选题{n}：关于{kp}的说法正确的是（　）。",
                        "options": [f"选项甲{n}", f"选项乙{n}", f"选项丙{n}", f"选项丁{n}"], "key": "ABCD"[k]})
        for k in range(3):
            n += 1
            out.append({"type": "true_false", "occupation": OCC, "grades": [4, 3], "kp": kp, "points": 1.0,
                        "difficulty": 0.6 + 0.1 * k, "discrimination": 0.25,
                        "stem": f"判断题{n}：{kp}相关的陈述。", "key": bool(k % 2)})
    # fill-blank and short-answer items whose keys carry KEY_MARK (used by MIXED_BLUEPRINT only)
    for kp in ("B-A-001", "B-A-002", "A-A-001", "A-A-003"):
        n += 1
        out.append({"type": "fill_blank", "occupation": OCC, "grades": [4, 3], "kp": kp, "points": 1.0,
                    "difficulty": 0.7, "discrimination": 0.3, "stem": f"填空题{n}：{kp}的代号是____。",
                    "answers": [f"{KEY_MARK}{n}"], "tolerance": None, "unit": None})
    for k in range(2):
        n += 1
        out.append({"type": "short_answer", "occupation": OCC, "grades": [4, 3], "kp": "B-B-001", "points": 5.0,
                    "difficulty": 0.6, "discrimination": 0.4, "stem": f"简答题{n}：简述刀具材料应具备的性能。",
                    "reference_answer": f"{KEY_MARK}：高硬度、高耐磨性、足够的强度和韧性。",
                    "marking_points": [{"text": "高硬度、高耐磨性", "points": 3.0}, {"text": "强度和韧性", "points": 2.0}],
                    "score_step": 0.5})
    for area, kp in (("P-A", "P-A-A-001"), ("P-B", "P-B-A-001")):
        for k in range(3):
            n += 1
            out.append({"type": "practical_task", "occupation": OCC, "grades": [4, 3], "kp": kp, "points": 100.0,
                        "difficulty": 0.7, "discrimination": 0.3, "stem": f"实操任务{n}：按图样完成{area}考核。",
                        "time_limit_min": 60, "materials": [f"45钢棒料 φ50×{100 + k}"],
                        "equipment": ["CK6140 数控车床", "游标卡尺 0-150"],
                        "criteria": [{"content": "尺寸精度", "element": "外圆尺寸", "points": 60.0,
                                      "standard": f"超差不得分{KEY_MARK}", "mode": "deduction"},
                                     {"content": "安全文明", "element": "操作规范", "points": 40.0,
                                      "standard": "违规一次扣10分", "mode": "deduction"}],
                        "veto": ["发生撞刀等严重事故"]})
    for d in out:
        d.setdefault("source", "tests")
        d.setdefault("status", "approved")
        d.setdefault("images", [])
    return out


BLUEPRINT = {
    "schema": "examsys.blueprint/1",
    "occupation": OCC,
    "grade": 4,
    "name": "测试工四级 A/B 卷",
    "theory": {
        "total_points": 20, "duration_min": 60,
        "sections": [{"type": "single_choice", "count": 12, "points": 1},
                     {"type": "true_false", "count": 8, "points": 1}],
        "areas": {"weights": {"A": 40, "B": 60}, "tolerance": 2},
        "coverage": {"x_points": "all", "min_per_x_point": 1, "max_per_point": 4},
        "importance": {"z_max": None, "yz_max": None},
        "difficulty": {"mean_p": [0.5, 0.9]},
    },
    "practical": {"total_points": 100, "duration_min": 180,
                  "modules": [{"area": "P-A", "weight": 60, "tasks": 1}, {"area": "P-B", "weight": 40, "tasks": 1}]},
    "forms": {"count": 2, "max_uses": 1, "mean_p_spread": None, "objective_spread": None},
}


MIXED_BLUEPRINT = {
    "schema": "examsys.blueprint/1", "occupation": OCC, "grade": 4, "name": "测试工四级 混合题型",
    "theory": {
        "total_points": 22, "duration_min": 90,
        "sections": [{"type": "single_choice", "count": 10, "points": 1}, {"type": "true_false", "count": 5, "points": 1},
                     {"type": "fill_blank", "count": 2, "points": 1}, {"type": "short_answer", "count": 1, "points": 5}],
        "areas": {"weights": {"A": 40, "B": 60}, "tolerance": 2},
        "coverage": {"x_points": "all", "min_per_x_point": 1, "max_per_point": 4},
        "importance": {"z_max": None, "yz_max": None},
        "difficulty": {"mean_p": [0.5, 0.9]},
    },
    "forms": {"count": 2, "max_uses": 1, "mean_p_spread": None, "objective_spread": None},
}


def blueprint(**changes) -> dict:
    bp = copy.deepcopy(BLUEPRINT)
    bp.update(changes)
    return bp


def seed_bank(app) -> int:
    """Load the taxonomy and the items (approved, version 1) into the test database; returns the occupation id."""
    from examsys.models import Item, ItemVersion, KnowledgeNode
    from examsys.services import taxonomy as taxonomy_service

    with app.app_context():
        occ = taxonomy_service.upsert_taxonomy(copy.deepcopy(TAXONOMY))
        db.session.flush()
        nodes = {n.code: n for n in db.session.query(KnowledgeNode).filter_by(occupation_id=occ.id)}
        now = clock.now()
        common = ("type", "occupation", "grades", "kp", "points", "difficulty", "discrimination", "source",
                  "status", "stem", "images", "id", "version")
        for d in item_dicts():
            node = nodes[d["kp"]]
            mask = sum(1 << g for g in d["grades"])
            item = Item(occupation_id=occ.id, status=d["status"], created_at=now, updated_at=now, type=d["type"],
                        kp_id=node.id, kp_code=d["kp"], importance=node.importance, grade_mask=mask,
                        difficulty=d["difficulty"], discrimination=d["discrimination"], points=d["points"],
                        search_text=d["stem"])
            db.session.add(item)
            db.session.flush()
            ver = ItemVersion(item_id=item.id, number=1, type=d["type"], kp_code=d["kp"], grades=d["grades"],
                              points=d["points"], difficulty=d["difficulty"], discrimination=d["discrimination"],
                              source=d["source"], stem=d["stem"], images=[], created_at=now,
                              content={k: v for k, v in d.items() if k not in common})
            db.session.add(ver)
            db.session.flush()
            item.current_version_id = ver.id
        db.session.commit()
        return occ.id
