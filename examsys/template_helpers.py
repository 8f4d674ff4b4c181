"""Jinja globals and filters shared by every template."""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal as _Decimal

from flask_babel import get_locale, gettext as _
from flask_login import current_user

GRADE_NAMES = {5: "五级/初级工", 4: "四级/中级工", 3: "三级/高级工", 2: "二级/技师", 1: "一级/高级技师"}
GRADE_NAMES_EN = {5: "Grade 5 (Elementary)", 4: "Grade 4 (Intermediate)", 3: "Grade 3 (Advanced)",
                  2: "Grade 2 (Technician)", 1: "Grade 1 (Senior Technician)"}
TYPE_NAMES = {
    "single_choice": ("单选", "Single choice"), "multiple_choice": ("多选", "Multiple choice"),
    "true_false": ("判断", "True/false"), "fill_blank": ("填空", "Fill in the blank"),
    "short_answer": ("简答", "Short answer"), "calculation": ("计算", "Calculation"),
    "essay": ("论述", "Essay"), "practical_task": ("操作技能", "Practical task"),
}
ROLE_NAMES = {
    "admin": ("管理员", "Administrator"), "writer": ("命题员", "Question writer"),
    "reviewer": ("审题员", "Reviewer"), "station_manager": ("鉴定站管理员", "Station manager"),
    "proctor": ("监考员", "Proctor"), "examiner": ("考评员", "Examiner"),
}
STATUS_NAMES = {
    "draft": ("草稿", "Draft"), "in_review": ("待审", "In review"), "approved": ("已通过", "Approved"),
    "retired": ("已停用", "Retired"), "flagged": ("已标记", "Flagged"),
}


def _zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def grade_name(g: int) -> str:
    return (GRADE_NAMES if _zh() else GRADE_NAMES_EN).get(int(g), str(g))


def _pick(table: dict, key: str) -> str:
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if _zh() else pair[1]


def type_name(t: str) -> str:
    return _pick(TYPE_NAMES, t)


def num(value, places: int = 4) -> str:
    """A number as people write it: ``0.5`` → ``"0.5"``, ``100.0`` → ``"100"``, ``29.400000000000002`` →
    ``"29.4"`` (at most ``places`` decimals, no trailing zeros); None → ``"—"``; anything else as text."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float, _Decimal)):
        return str(value)
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def local_time(value: _dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Show a UTC timestamp in China Standard Time (UTC+8)."""
    if value is None:
        return ""
    return value.astimezone(_dt.timezone(_dt.timedelta(hours=8))).strftime(fmt)


def register(app) -> None:
    app.jinja_env.globals.update(
        grade_name=grade_name,
        type_name=type_name,
        role_name=lambda r: _pick(ROLE_NAMES, r),
        status_name=lambda s: _pick(STATUS_NAMES, s),
        current_locale=lambda: str(get_locale()),
        current_user=current_user,
    )
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["num"] = num
    register_navigation(app)


def register_navigation(app) -> None:
    from .navigation import endpoints, nav_links
    app.jinja_env.globals.update(nav_links=nav_links, endpoints=endpoints)
