"""``examsys analyze`` works on files alone and passes scoring.cli's exit status through."""
from __future__ import annotations

import inspect
import json

import numpy as np
import openpyxl
from click.testing import CliRunner


def _runner(app):
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return app.test_cli_runner(mix_stderr=False)
    return app.test_cli_runner()


def _files(tmp_path, n=60, j=6, seed=3):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    b = np.linspace(-1, 1, j)
    p = 1 / (1 + np.exp(-(theta[:, None] - b[None, :]) * 1.5))
    right = rng.random((n, j)) < p
    wrong = rng.choice(list("ACD"), size=(n, j))
    lines = ["candidate_id," + ",".join(f"Q{k + 1}" for k in range(j))]
    for i in range(n):
        lines.append(f"C{i + 1:03d}," + ",".join("B" if right[i, k] else wrong[i, k] for k in range(j)))
    responses = tmp_path / "responses.csv"
    responses.write_text("\n".join(lines) + "\n", encoding="utf-8")
    key = tmp_path / "key.csv"
    key.write_text("item_id,key,max_points\n" + "".join(f"Q{k + 1},B,1\n" for k in range(j)), encoding="utf-8")
    groups = tmp_path / "groups.csv"
    groups.write_text("candidate_id,group\n" + "".join(f"C{i + 1:03d},{'S1' if i % 2 else 'S2'}\n" for i in range(n)),
                      encoding="utf-8")
    return responses, key, groups


def test_good_run_writes_json_to_stdout(app, tmp_path):
    responses, key, _ = _files(tmp_path)
    res = _runner(app).invoke(args=["analyze", str(responses), "--key", str(key)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["test"]["n_candidates"] == 60
    assert [it["item_id"] for it in report["items"]] == [f"Q{k}" for k in range(1, 7)]
    assert {"conventions", "test", "items", "copying"} <= set(report)


def test_groups_text_and_xlsx_outputs(app, tmp_path):
    responses, key, groups = _files(tmp_path)
    runner = _runner(app)
    out_txt = tmp_path / "r.txt"
    res = runner.invoke(args=["analyze", str(responses), "--key", str(key), "--groups", str(groups),
                              "--format", "text", "-o", str(out_txt)])
    assert res.exit_code == 0, res.output
    assert "Q1" in out_txt.read_text(encoding="utf-8")
    out_x = tmp_path / "r.xlsx"
    res = runner.invoke(args=["analyze", str(responses), "--key", str(key), "--copying", "-o", str(out_x)])
    assert res.exit_code == 0, res.output
    wb = openpyxl.load_workbook(out_x, read_only=True)
    assert wb.sheetnames
    wb.close()


def test_bad_file_exits_1_with_located_problem(app, tmp_path):
    responses, key, _ = _files(tmp_path)
    text = responses.read_text(encoding="utf-8").splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",Z"
    responses.write_text("\n".join(text) + "\n", encoding="utf-8")
    res = _runner(app).invoke(args=["analyze", str(responses), "--key", str(key)])
    assert res.exit_code == 1
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert "invalid input" in err and "Q6" in err


def test_missing_file_and_usage_errors(app, tmp_path):
    _, key, _ = _files(tmp_path)
    runner = _runner(app)
    res = runner.invoke(args=["analyze", str(tmp_path / "nope.csv"), "--key", str(key)])
    assert res.exit_code == 1
    res = runner.invoke(args=["analyze", str(tmp_path / "r.csv")])  # --key missing
    assert res.exit_code == 2
    res = runner.invoke(args=["analyze", "--help"])
    assert res.exit_code == 0
    assert "--key" in res.stdout
