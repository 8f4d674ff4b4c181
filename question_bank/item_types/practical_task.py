"""Practical task (操作技能): a task with a time limit, materials, equipment, a rubric and veto items.

``time_limit_min``: int > 0 (minutes); ``materials``/``equipment``/``veto``: lists of texts;
``criteria``: ``[{"content" 考核内容, "element" 评分要素, "points", "standard" 评分标准, "mode"}]`` with
``mode`` ``"deduction"`` (扣分: start from the criterion's points and deduct, not below 0) or ``"level"``
(分级: award one of the levels written in the standard); criteria points sum to the item's points.
A veto (否决项) zeroes the whole task. Marked by examiners: ``mark`` returns ``None``. A candidate sees the
time limit, materials and equipment only (the rubric and veto list stay with the examiners; a station may
publish the veto list separately).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc

from .base import REQUIRED, ItemTypeSpec, check_number, check_rule, check_text, check_text_list, fmt_number

MODES = ("deduction", "level")
_MODE_WORDS = {"deduction": "deduction", "扣分": "deduction", "扣分制": "deduction",
               "level": "level", "分级": "level", "等级": "level", "分级制": "level"}
CRITERION_FIELDS = ("content", "element", "points", "standard", "mode")
_EPS = 1e-9


def parse_mode(text: Any) -> str | None:
    """``扣分``/``deduction`` → ``"deduction"``, ``分级``/``等级``/``level`` → ``"level"``, else ``None``."""
    if not isinstance(text, str):
        return None
    return _MODE_WORDS.get(nfkc(text).strip().lower())


def mode_label_zh(mode: str) -> str:
    """``"deduction"`` → ``"扣分"``, ``"level"`` → ``"分级"``."""
    return {"deduction": "扣分", "level": "分级"}[mode]


class PracticalTask(ItemTypeSpec):
    """See the module docstring."""

    type = ItemType.PRACTICAL_TASK
    auto_markable = False
    fields = {"time_limit_min": REQUIRED, "materials": [], "equipment": [], "criteria": REQUIRED, "veto": []}
    visible_fields = ("time_limit_min", "materials", "equipment")

    def canonicalize(self, d: Mapping[str, Any]) -> dict[str, Any]:
        out = super().canonicalize(d)
        out["time_limit_min"] = int(out["time_limit_min"])
        for k in ("materials", "equipment", "veto"):
            out[k] = [str(x) for x in (out[k] or [])]
        out["criteria"] = [
            {"content": str(c["content"]), "element": str(c["element"]), "points": float(c["points"]),
             "standard": str(c["standard"]), "mode": str(c["mode"])}
            for c in out["criteria"]
        ]
        return out

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        out = check_number(content.get("time_limit_min"), "time_limit_min", positive=True, integer=True)
        for k in ("materials", "equipment", "veto"):
            out += check_text_list(content.get(k), k)
        crit = content.get("criteria")
        if crit is None:
            return out + [make_problem("criteria", "required")]
        if not isinstance(crit, (list, tuple)):
            return out + [make_problem("criteria", "not_a_list")]
        if not crit:
            return out + [make_problem("criteria", "empty_list")]
        total, all_ok = 0.0, True
        for i, c in enumerate(crit):
            f = f"criteria[{i}]"
            if not isinstance(c, Mapping):
                out.append(make_problem(f, "not_a_mapping"))
                all_ok = False
                continue
            for k in c:
                if k not in CRITERION_FIELDS:
                    out.append(make_problem(f, "unknown_field", name=str(k)))
            for k in ("content", "element", "standard"):
                out += check_text(c.get(k), f"{f}.{k}", max_len=5000)
            p = check_number(c.get("points"), f + ".points", positive=True)
            out += p
            if p:
                all_ok = False
            else:
                total += c["points"]
            mode = c.get("mode")
            if mode is None or mode == "":
                out.append(make_problem(f + ".mode", "required"))
            elif mode not in MODES:
                out.append(make_problem(f + ".mode", "bad_mode", value=str(mode)))
        if (all_ok and isinstance(points, (int, float)) and not isinstance(points, bool)
                and abs(total - points) > _EPS * max(1.0, points)):
            out.append(make_problem("criteria", "points_sum_mismatch", total=fmt_number(total),
                                    points=fmt_number(points)))
        return out

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> None:
        """``None``: marked by examiners with the rubric."""
        check_rule(rule, partial_fraction)
        return None


SPEC = PracticalTask()
