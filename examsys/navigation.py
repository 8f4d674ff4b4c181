"""The main menu: (endpoint, label, roles). Features add their entries here; entries whose endpoint
is not registered are skipped, so a menu never links to a missing page."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

MENU: list[tuple[str, object, tuple[str, ...]]] = [
    ("bank.browse", _l("Item bank"), ("admin", "writer", "reviewer", "station_manager")),
    ("bank.review_queue", _l("Review queue"), ("admin", "reviewer")),
    ("taxonomy.occupations", _l("Occupations"), ("admin", "writer", "reviewer", "station_manager")),
    ("papers.blueprints", _l("Blueprints & papers"), ("admin", "station_manager")),
    ("exams.sessions", _l("Exam sessions"), ("admin", "station_manager")),
    ("proctor.sessions", _l("Proctoring"), ("proctor", "station_manager")),
    ("marking.queue", _l("Marking"), ("examiner",)),
    ("results.sessions", _l("Results"), ("admin", "station_manager")),
    ("stats.sittings", _l("Item analysis"), ("admin", "examiner", "reviewer", "station_manager")),
    ("admin.users", _l("Users"), ("admin",)),
    ("admin.stations", _l("Stations"), ("admin",)),
    ("admin.audit", _l("Audit log"), ("admin",)),
]


def nav_links():
    views = current_app.view_functions
    return [(e, str(label), roles) for e, label, roles in MENU if e in views]


def endpoints():
    return current_app.view_functions.keys()
