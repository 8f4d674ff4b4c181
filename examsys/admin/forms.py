from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..models import Role


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64), Regexp(r"^[A-Za-z0-9_.-]+$")])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])  # a person's name 姓名
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=200)])
    role = SelectField(_l("Role"), choices=[])  # filled per request with the role names in the UI language
    station_id = SelectField(_l("Station"), coerce=int, validators=[Optional()])
    is_chief = BooleanField(_l("Chief examiner"))


class StationForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    region = StringField(_l("Region"), validators=[Optional(), Length(max=100)])
