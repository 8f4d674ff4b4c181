"""The analyze command: exit codes, outputs, errors on stderr without tracebacks."""

import json

import numpy as np
import pytest

from scoring import cli

LETTERS = "ABCD"


@pytest.fixture
def files(tmp_path, sitting):
    """The simulated sitting written as RESPONSES/KEY/GROUPS csv files (300 candidates)."""
    ch = sitting.choices[:300]
    lines = ["candidate_id," + ",".join(f"Q{j + 1}" for j in range(ch.shape[1]))]
    for i, row in enumerate(ch):
        lines.append(f"C{i:04d}," + ",".join(LETTERS[c] for c in row))
    r = tmp_path / "RESPONSES.csv"
    r.write_text("\n".join(lines) + "\n", encoding="utf-8")
    k = tmp_path / "KEY.csv"
    k.write_text("item_id,key,max_points\n" + "".join(f"Q{j + 1},{LETTERS[sitting.key[j]]},1\n"
                                                      for j in range(ch.shape[1])), encoding="utf-8")
    g = tmp_path / "GROUPS.csv"
    g.write_text("candidate_id,group\n" + "".join(f"C{i:04d},{sitting.groups[i]}\n" for i in range(300)),
                 encoding="utf-8")
    return r, k, g


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_json_to_stdout(capsys, files):
    r, k, _ = files
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k))
    assert code == 0 and err == ""
    rep = json.loads(out)
    assert rep["test"]["n_candidates"] == 300 and len(rep["items"]) == 40
    assert rep["copying"] == [] and rep["test"]["copying_screen"] is None


def test_groups_copying_and_formats(capsys, tmp_path, files, sitting):
    r, k, g = files
    out_json = tmp_path / "a.json"
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k), "--groups", str(g), "--copying",
                         "-o", str(out_json))
    assert code == 0 and out == ""
    rep = json.loads(out_json.read_text(encoding="utf-8"))
    assert rep["test"]["dif"]["comparisons"][0]["reference"] == "rest"
    assert rep["test"]["copying_screen"]["within_groups"] is True
    codes = {f["code"] for f in rep["items"][sitting.miskey_item]["flags"]}
    assert "possible_miskey" in codes
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k), "--format", "text")
    assert code == 0 and "Item analysis report" in out and "possible_miskey" in out
    xlsx = tmp_path / "a.xlsx"
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k), "-o", str(xlsx))
    assert code == 0 and xlsx.read_bytes()[:2] == b"PK"


def test_options_reach_the_analysis(capsys, files):
    r, k, _ = files
    code, out, _ = run(capsys, "analyze", str(r), "--key", str(k), "--pass-fraction", "0.5", "--min-n", "1000")
    rep = json.loads(out)
    assert code == 0 and rep["test"]["pass_mark"]["cut"] == 20
    assert all(not it["flags"] for it in rep["items"])
    code, out, _ = run(capsys, "analyze", str(r), "--key", str(k), "--cut", "30")
    assert json.loads(out)["test"]["pass_mark"]["cut"] == 30


def test_irt_option(capsys, files):
    pytest.importorskip("scoring.irt")
    r, k, _ = files
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k), "--irt", "2pl")
    rep = json.loads(out)
    assert code == 0 and rep["test"]["irt"]["model"] == "2pl"
    assert all(it["irt"] is not None and it["irt"]["a"] is not None for it in rep["items"])


def test_input_errors_exit_1(capsys, tmp_path, files):
    r, k, _ = files
    bad = tmp_path / "BAD.csv"
    bad.write_text("candidate_id,Q1\nc1,B\nc1,Z\n", encoding="utf-8")
    code, out, err = run(capsys, "analyze", str(bad), "--key", str(k))
    assert code == cli.EXIT_INPUT and out == ""
    assert "BAD.csv, row 3, column candidate_id (column 1): duplicate candidate id 'c1'" in err
    code, out, err = run(capsys, "analyze", str(tmp_path / "missing.csv"), "--key", str(k))
    assert code == cli.EXIT_INPUT and "missing.csv: file not found" in err


def test_constant_item_warning_goes_to_stderr(capsys, tmp_path):
    r = tmp_path / "R.csv"
    r.write_text("candidate_id,Q1,Q2,Q3\n" + "".join(f"c{i},{'AB'[i % 2]},A,{'BA'[i % 3 == 0]}\n" for i in range(12)),
                 encoding="utf-8")
    k = tmp_path / "K.csv"
    k.write_text("item_id,key,max_points\nQ1,A,1\nQ2,A,1\nQ3,A,1\n", encoding="utf-8")
    code, out, err = run(capsys, "analyze", str(r), "--key", str(k))
    assert code == 0 and "warning:" in err and "Q2 (column 3): every candidate has the same score" in err
    assert json.loads(out)["items"][1]["r_rest"] is None


@pytest.mark.parametrize("argv", [
    [], ["analyze"], ["analyze", "R.csv"], ["frobnicate"], ["analyze", "R.csv", "--key", "K.csv", "--irt", "3pl"],
    ["analyze", "R.csv", "--key", "K.csv", "--pass-fraction", "abc"],
])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE and "usage:" in err


def test_usage_checks_after_parsing(capsys, files):
    r, k, _ = files
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k), "--format", "xlsx")
    assert code == cli.EXIT_USAGE and "needs an output file" in err
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k), "--reference-group", "S1")
    assert code == cli.EXIT_USAGE and "--reference-group needs --groups" in err
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k), "--pass-fraction", "1.5")
    assert code == cli.EXIT_USAGE and "pass_fraction" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "analyze", "--help")
    assert code == 0 and "--copying" in out


def test_unwritable_output_exit_3(capsys, tmp_path, files):
    r, k, _ = files
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k), "-o", str(tmp_path / "no" / "dir" / "x.json"))
    assert code == cli.EXIT_OUTPUT and "cannot write" in err


def test_too_large_sitting_is_an_input_error(capsys, tmp_path, monkeypatch, files):
    r, k, _ = files
    import scoring.collusion as col

    monkeypatch.setattr(col.answer_copying, "__kwdefaults__", {**col.answer_copying.__kwdefaults__,
                                                                 "max_sitting_size": 100})
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k), "--copying")
    assert code == cli.EXIT_INPUT and "limited to 100 per sitting" in err


def test_internal_errors_are_reported_without_traceback(capsys, monkeypatch, files):
    r, k, _ = files

    def boom(*a, **kw):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("scoring.report.analyze", boom)
    code, _, err = run(capsys, "analyze", str(r), "--key", str(k))
    assert code == cli.EXIT_INTERNAL and "internal error (RuntimeError: simulated bug)" in err
