from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SessionForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    station_id = SelectField(_l("Station"), coerce=int)
    paper_id = SelectField(_l("Paper (occupation and grade)"), coerce=int)
    form_labels = MultiCheckbox(_l("Forms"), choices=[(c, c) for c in "ABCDEF"], default=["A", "B"])
    form_assignment = SelectField(_l("Form assignment"), choices=[
        ("alternate", _l("Alternately by seat (A, B, A, B …)")), ("random", _l("At random (balanced)"))])
    starts_at = DateTimeLocalField(_l("Start (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    duration_min = IntegerField(_l("Duration (minutes)"), default=120, validators=[InputRequired(), NumberRange(1, 600)])
    late_entry_min = IntegerField(_l("Late entry until (minutes after the start)"), default=30,
                                  validators=[InputRequired(), NumberRange(0, 240)])
    grace_seconds = IntegerField(_l("Grace period (seconds)"), default=30, validators=[InputRequired(), NumberRange(0, 600)])
    login_opens_min = IntegerField(_l("Login opens (minutes before the start)"), default=30,
                                   validators=[InputRequired(), NumberRange(0, 240)])
    auto_start = BooleanField(_l("Start automatically at the start time"), default=True)


class RosterForm(FlaskForm):
    file = FileField(_l("Roster file (.xlsx or .csv)"), validators=[FileRequired()])
