from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class CandidateLoginForm(FlaskForm):
    ticket = StringField(_l("Admission ticket number (准考证号)"), validators=[DataRequired(), Length(max=40)])
    credential = PasswordField(_l("Last 6 characters of your ID number, or the login code on your ticket"),
                               validators=[DataRequired(), Length(max=40)])


class ConfirmForm(FlaskForm):
    pass
