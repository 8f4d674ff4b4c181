"""One valid example item dict per type, and a small example taxonomy (docs, template, tests).

``example_item(type, **overrides)`` returns a fresh deep copy, so callers may change it freely.
The examples use occupation ``6-18-01-01`` (车工/数控车工) and the codes of :data:`EXAMPLE_TAXONOMY`.
"""

from __future__ import annotations

import copy
from typing import Any

from question_bank.items import ItemType

__all__ = ["EXAMPLES", "EXAMPLE_TAXONOMY", "example_item", "example_items", "example_taxonomy"]

_COMMON = {"occupation": "6-18-01-01", "grades": [4, 3], "kp": "B-C-003", "difficulty": None,
           "discrimination": None, "source": "examsys example", "status": "draft", "images": [],
           "id": None, "version": None}

EXAMPLES: dict[ItemType, dict[str, Any]] = {
    ItemType.SINGLE_CHOICE: {
        "type": "single_choice", **_COMMON, "points": 1.0,
        "stem": "45 钢调质处理是指淬火后再进行（　）。",
        "options": ["低温回火", "中温回火", "高温回火", "正火"], "key": "C"},
    ItemType.MULTIPLE_CHOICE: {
        "type": "multiple_choice", **_COMMON, "points": 2.0,
        "stem": "钢的常用热处理方法有（　）。",
        "options": ["退火", "正火", "淬火", "电镀"], "key": "ABC"},
    ItemType.TRUE_FALSE: {
        "type": "true_false", **_COMMON, "points": 1.0,
        "stem": "淬火后的钢件硬度提高、塑性降低。", "key": True},
    ItemType.FILL_BLANK: {
        "type": "fill_blank", **_COMMON, "points": 1.0,
        "stem": "图示轴段的直径为 ____ mm。", "answers": ["12.5"], "tolerance": 0.05, "unit": "mm"},
    ItemType.SHORT_ANSWER: {
        "type": "short_answer", **_COMMON, "points": 5.0,
        "stem": "简述调质处理的目的。",
        "reference_answer": "获得良好的综合力学性能：较高的强度与足够的塑性、韧性。",
        "marking_points": [{"text": "综合力学性能", "points": 2.0}, {"text": "强度与塑性、韧性的配合", "points": 3.0}],
        "score_step": 0.5},
    ItemType.CALCULATION: {
        "type": "calculation", **_COMMON, "points": 10.0,
        "stem": "车削直径 50 mm 的外圆，主轴转速 600 r/min，求切削速度。",
        "reference_answer": "v = πdn/1000 = 3.14 × 50 × 600 / 1000 ≈ 94.2 m/min",
        "marking_points": [{"text": "公式正确", "points": 4.0}, {"text": "代入与计算", "points": 4.0},
                           {"text": "单位", "points": 2.0}],
        "score_step": 1.0},
    ItemType.ESSAY: {
        "type": "essay", **_COMMON, "points": 20.0,
        "stem": "论述数控车削加工中保证零件尺寸精度的措施。",
        "reference_answer": "从工艺、刀具、编程、测量与补偿等方面论述。",
        "marking_points": [{"text": "工艺安排", "points": 5.0}, {"text": "刀具选择与对刀", "points": 5.0},
                           {"text": "编程与刀补", "points": 5.0}, {"text": "测量与误差补偿", "points": 5.0}],
        "score_step": 0.5},
    ItemType.PRACTICAL_TASK: {
        "type": "practical_task", **_COMMON, "kp": "P-A-A-001", "points": 20.0,
        "stem": "按图样完成阶梯轴的数控车削加工。",
        "time_limit_min": 120, "materials": ["45 钢 φ50×100"], "equipment": ["CK6140 数控车床", "游标卡尺"],
        "criteria": [
            {"content": "外圆", "element": "φ48-0.025", "points": 10.0, "standard": "超差 0.01 扣 2 分", "mode": "deduction"},
            {"content": "外圆", "element": "Ra1.6", "points": 4.0, "standard": "降一级扣 2 分", "mode": "deduction"},
            {"content": "安全文明生产", "element": "操作规范", "points": 6.0, "standard": "好 6，一般 3，差 0", "mode": "level"},
        ],
        "veto": ["发生撞刀等安全事故"]},
}

#: A small taxonomy in the docs/items.md shape (theory areas A, B; practical area P-A; grades 4 and 3).
EXAMPLE_TAXONOMY: dict[str, Any] = {
    "occupation": {"code": "6-18-01-01", "name": "车工", "work_type": "数控车工"},
    "grades": [4, 3],
    "weights": {"theory": {4: {"A": 20, "B": 80}, 3: {"A": 10, "B": 90}},
                "practical": {4: {"P-A": 100}, 3: {"P-A": 100}}},
    "tree": [
        {"code": "A", "name": "职业道德", "part": "theory", "units": [
            {"code": "A-A", "name": "职业道德基本知识", "points": [
                {"code": "A-A-001", "name": "职业道德的基本概念", "importance": "X", "grades": [4, 3]}]}]},
        {"code": "B", "name": "基础知识", "part": "theory", "units": [
            {"code": "B-C", "name": "金属材料与热处理", "points": [
                {"code": "B-C-001", "name": "金属材料的力学性能", "importance": "X", "grades": [4, 3]},
                {"code": "B-C-003", "name": "钢的热处理", "importance": "X", "grades": [4, 3]},
                {"code": "B-C-004", "name": "有色金属及非金属材料", "importance": "Z", "grades": [3]}]}]},
        {"code": "P-A", "name": "零件加工", "part": "practical", "units": [
            {"code": "P-A-A", "name": "外轮廓加工", "points": [
                {"code": "P-A-A-001", "name": "轮廓加工", "importance": "X", "grades": [4, 3]}]}]},
    ],
}


def example_item(item_type: ItemType | str, **overrides: Any) -> dict[str, Any]:
    """A fresh, valid item dict of ``item_type`` with ``overrides`` applied (a deep copy)."""
    d = copy.deepcopy(EXAMPLES[ItemType(item_type)])
    d.update(copy.deepcopy(overrides))
    return d


def example_items() -> list[dict[str, Any]]:
    """One fresh example of every type, in :class:`ItemType` order."""
    return [example_item(t) for t in ItemType]


def example_taxonomy() -> dict[str, Any]:
    """A fresh deep copy of :data:`EXAMPLE_TAXONOMY`."""
    return copy.deepcopy(EXAMPLE_TAXONOMY)
