"""Shared helpers for the item bank tests (imported by test_items*.py, test_review*.py, test_media*.py):
a small taxonomy, one valid item dict per type, tiny images."""
from __future__ import annotations

import copy
import io

import pytest

OCC = "9-99-00-00"

TAXONOMY = {
    "occupation": {"code": OCC, "name": "测试工", "work_type": "测试工种"},
    "grades": [4, 3],
    "weights": {"theory": {4: {"A": 100}, 3: {"A": 100}}, "practical": {4: {"P": 100}, 3: {"P": 100}}},
    "tree": [
        {"code": "A", "name": "基础知识", "part": "theory", "units": [
            {"code": "A-A", "name": "机械制图", "points": [
                {"code": "A-A-001", "name": "三视图", "importance": "X", "grades": [4, 3]},
                {"code": "A-A-002", "name": "剖视图", "importance": "Y", "grades": [3]},
            ]}]},
        {"code": "P", "name": "操作技能", "part": "practical", "units": [
            {"code": "P-A", "name": "零件加工", "points": [
                {"code": "P-A-001", "name": "轴类零件加工", "importance": "X", "grades": [4, 3]},
            ]}]},
    ],
}

_COMMON = {"occupation": OCC, "grades": [4, 3], "kp": "A-A-001", "points": 1.0, "difficulty": 0.7,
           "discrimination": None, "source": "测试", "images": []}

ITEMS = {
    "single_choice": {**_COMMON, "type": "single_choice", "stem": "主视图反映物体的（　）。",
                      "options": ["长和高", "长和宽", "宽和高", "长、宽和高"], "key": "A"},
    "multiple_choice": {**_COMMON, "type": "multiple_choice", "points": 2.0, "stem": "三视图包括（　）。",
                        "options": ["主视图", "俯视图", "左视图", "剖视图"], "key": "ABC"},
    "true_false": {**_COMMON, "type": "true_false", "stem": "俯视图反映物体的长和宽。", "key": True},
    "fill_blank": {**_COMMON, "type": "fill_blank", "stem": "公称直径为 20 mm 的粗牙普通螺纹螺距为____ mm。",
                   "answers": ["2.5"], "tolerance": 0.0, "unit": "mm"},
    "short_answer": {**_COMMON, "type": "short_answer", "points": 5.0, "stem": "简述三视图的投影规律。",
                     "reference_answer": "长对正、高平齐、宽相等。", "score_step": 0.5,
                     "marking_points": [{"text": "长对正", "points": 2.0}, {"text": "高平齐", "points": 1.5},
                                        {"text": "宽相等", "points": 1.5}]},
    "calculation": {**_COMMON, "type": "calculation", "points": 10.0, "stem": "计算 n=1000v/(πd)，v=100，d=50。",
                    "reference_answer": "n≈637 r/min", "score_step": 1.0,
                    "marking_points": [{"text": "公式", "points": 4.0}, {"text": "结果", "points": 6.0}]},
    "essay": {**_COMMON, "type": "essay", "points": 20.0, "stem": "论述数控车床的日常维护。",
              "reference_answer": "润滑、清洁、检查。", "score_step": 0.5,
              "marking_points": [{"text": "润滑", "points": 10.0}, {"text": "清洁与检查", "points": 10.0}]},
    "practical_task": {**_COMMON, "type": "practical_task", "kp": "P-A-001", "points": 100.0, "difficulty": None,
                       "stem": "按图纸加工阶梯轴。", "time_limit_min": 120, "materials": ["45 钢 Φ50×100"],
                       "equipment": ["CK6140 数控车床", "游标卡尺"],
                       "criteria": [{"content": "外圆", "element": "Φ48±0.02", "points": 60.0,
                                     "standard": "超差 0.01 扣 5 分", "mode": "deduction"},
                                    {"content": "安全文明生产", "element": "着装与操作", "points": 40.0,
                                     "standard": "按规范分级评分", "mode": "level"}],
                       "veto": ["发生撞刀事故"]},
}

TYPES = list(ITEMS)


def item(type_: str = "single_choice", **changes) -> dict:
    d = copy.deepcopy(ITEMS[type_])
    d.update(changes)
    return d


def load_taxonomy(app) -> None:
    from examsys.extensions import db
    from examsys.services import taxonomy
    with app.app_context():
        taxonomy.upsert_taxonomy(copy.deepcopy(TAXONOMY))
        db.session.commit()


def png_bytes(color=(200, 30, 30), size=(8, 6)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def gif_bytes() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, "GIF")
    return buf.getvalue()


def jpeg_bytes() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 100, 0)).save(buf, "JPEG")
    return buf.getvalue()


def webp_bytes() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 0, 100)).save(buf, "WEBP")
    return buf.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def bank(app, users):
    """The test taxonomy loaded, with the standard users (returns the users dict)."""
    load_taxonomy(app)
    return users


def get_user(username: str):
    from sqlalchemy import select

    from examsys.extensions import db
    from examsys.models import User
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _show(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def form_data(d: dict, token: str, action: str = "save", comment: str = "") -> dict:
    """The editor form fields (examsys/bank/forms.py) describing item dict ``d``."""
    f: dict = {"csrf_token": token, "action": action, "comment": comment, "type": d["type"],
               "occupation": d["occupation"], "grades": [str(g) for g in d["grades"]], "kp": d["kp"],
               "points": _show(d.get("points")), "difficulty": _show(d.get("difficulty")),
               "discrimination": _show(d.get("discrimination")), "source": d.get("source", ""),
               "stem": d["stem"], "images": list(d.get("images") or [])}
    t = d["type"]
    if t in ("single_choice", "multiple_choice"):
        for i, text in enumerate(d["options"]):
            f["option_" + "ABCDEFGH"[i]] = text
        f["key"] = list(d["key"])
    elif t == "true_false":
        f["tf_key"] = {True: "true", False: "false"}.get(d["key"], "")
    elif t == "fill_blank":
        f["answer"] = list(d["answers"])
        f["tolerance"] = _show(d.get("tolerance"))
        f["unit"] = d.get("unit") or ""
    elif t in ("short_answer", "calculation", "essay"):
        f["reference_answer"] = d["reference_answer"]
        f["score_step"] = _show(d.get("score_step"))
        f["mp_text"] = [m["text"] for m in d["marking_points"]]
        f["mp_points"] = [_show(m["points"]) for m in d["marking_points"]]
    elif t == "practical_task":
        f["time_limit_min"] = _show(d["time_limit_min"])
        f["materials"] = "\n".join(d["materials"])
        f["equipment"] = "\n".join(d["equipment"])
        f["veto"] = "\n".join(d["veto"])
        for k in ("content", "element", "points", "standard", "mode"):
            f["cr_" + k] = [_show(c[k]) for c in d["criteria"]]
    return f


def field_errors(html: str) -> dict[str, list[str]]:
    """``{field path: [message, ...]}`` shown next to the inputs of the editor page."""
    import html as _html
    import re
    out: dict[str, list[str]] = {}
    for field, msg in re.findall(r'<div class="error" data-field="([^"]+)">([^<]*)</div>', html):
        out.setdefault(_html.unescape(field), []).append(_html.unescape(msg))
    return out
