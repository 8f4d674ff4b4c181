"""The proctor blueprint ("proctor"): sessions of the proctor's station, the live console, and its JSON API
(``GET /api/proctor/sessions/<id>/state``, ``POST /api/proctor/sessions/<id>/actions``)."""
