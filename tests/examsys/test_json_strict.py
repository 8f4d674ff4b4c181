"""Request bodies are strict JSON: NaN/Infinity, out-of-range numbers and absurd nesting are parse errors."""
import pytest


@pytest.mark.parametrize("body", [b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -1e400}', b"[" * 5000 + b"]" * 5000])
def test_bad_json_is_a_parse_error(app, body):
    with app.test_request_context("/", method="POST", data=body, content_type="application/json"):
        from flask import request
        assert request.get_json(silent=True) is None


def test_good_json_still_parses(app):
    with app.test_request_context("/", method="POST", data=b'{"x": 1.5, "y": [1, {"z": null}]}',
                                  content_type="application/json"):
        from flask import request
        assert request.get_json() == {"x": 1.5, "y": [1, {"z": None}]}
