"""Forms of the papers blueprint: the blueprint editor and the assemble form."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from question_bank.blueprint import LAYOUT_PRESETS

from ..services.papers import MAX_FORMS, MAX_TIME_LIMIT_S, PRESETS

GRADE_CHOICES = [(5, "5"), (4, "4"), (3, "3"), (2, "2"), (1, "1")]
PRESET_NAMES = {"classic-200": _l("Classic layout"), "standard-100": _l("Standard layout"),
                "mixed-180": _l("Mixed layout"), "technician-100": _l("Technician layout (with written answers)")}


def preset_label(preset: str) -> str:
    """``classic-200`` → ``传统 200 题（单选160×0.5+判断40×0.5，120 分钟）`` (English on the English UI)."""
    from ..template_helpers import _zh, num, type_name
    spec = LAYOUT_PRESETS[preset]
    sections = ("+" if _zh() else " + ").join(
        _("%(type)s %(count)s × %(points)s", type=type_name(t), count=n, points=num(p)) for t, n, p in spec["sections"])
    return _("%(name)s, %(n)s items (%(sections)s, %(minutes)s min)", name=PRESET_NAMES.get(preset, preset),
             n=sum(n for _t, n, _p in spec["sections"]), sections=sections, minutes=spec["duration_min"])


class BlueprintForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    occupation_id = SelectField(_l("Occupation"), coerce=int, validators=[DataRequired()])
    grade = SelectField(_l("Grade"), coerce=int, choices=GRADE_CHOICES)
    spec = TextAreaField(_l("Blueprint (YAML or JSON)"), validators=[Optional()])
    upload = FileField(_l("Or upload a YAML/JSON file"))
    preset = SelectField(_l("Layout for deriving"), choices=[(p, p) for p in PRESETS], default="classic-200")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preset.choices = [(p, preset_label(p)) for p in PRESETS]


class AssembleForm(FlaskForm):
    part = SelectField(_l("Part"), choices=[("theory", _l("Theory")), ("practical", _l("Practical"))])
    forms = IntegerField(_l("Forms (A, B, …)"), default=2, validators=[DataRequired(), NumberRange(1, MAX_FORMS)])
    seed = IntegerField(_l("Seed (empty = random)"), validators=[Optional(), NumberRange(0, 2 ** 31 - 1)])
    time_limit = IntegerField(_l("Solver time limit (seconds)"), default=60,
                              validators=[DataRequired(), NumberRange(1, MAX_TIME_LIMIT_S)])
    station_id = SelectField(_l("Station"), coerce=int, validators=[Optional()])
    exclude_recent = IntegerField(_l("Exclude items used in the station's last N papers"),
                                  validators=[Optional(), NumberRange(0, 1000)])
    max_exposure = DecimalField(_l("Maximum exposure rate (0–1)"), places=None,
                                validators=[Optional(), NumberRange(0, 1)])
    name = StringField(_l("Paper name (optional)"), validators=[Optional(), Length(max=200)])
