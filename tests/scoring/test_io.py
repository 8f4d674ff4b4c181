"""CSV readers (located errors, encodings, warnings) and the json / text / xlsx writers."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scoring.errors import ScoringInputError, ScoringWarning
from scoring.io import format_text, read_groups, read_inputs, read_key, read_responses, write_json, write_xlsx
from scoring.report import analyze

RESPONSES = """candidate_id,Q1,Q2,Q3,Q4
c1,B,AC,对,2
c2,A,CA,F,
c3,,B,√,1.5
c4,C,AC,T,3
"""
KEY = """item_id,key,max_points
Q1,B,1
Q2,AC,2
Q3,T,1
Q4,,3
"""


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def problems(exc_info):
    return [(p.file, p.row, p.column, p.message) for p in exc_info.value.problems]


def test_read_inputs_round_trip(tmp_path):
    m, g = read_inputs(write(tmp_path, "R.csv", RESPONSES), write(tmp_path, "K.csv", KEY))
    assert g is None
    assert m.candidate_ids == ("c1", "c2", "c3", "c4") and m.item_ids == ("Q1", "Q2", "Q3", "Q4")
    assert_allclose(m.scores, [[1, 2, 1, 2], [0, 2, 0, 0], [0, 0, 1, 1.5], [0, 2, 1, 3]])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_bom_and_gbk(tmp_path, encoding):
    m, _ = read_inputs(write(tmp_path, "R.csv", RESPONSES, encoding), write(tmp_path, "K.csv", KEY, encoding))
    assert m.scores[0, 2] == 1.0  # 对 decoded


def test_groups(tmp_path):
    groups = "candidate_id,group\nc4,站B\nc1,站A\nc2,站A\nc3,站B\nabsent,站C\n"
    m, g = read_inputs(write(tmp_path, "R.csv", RESPONSES), write(tmp_path, "K.csv", KEY),
                       write(tmp_path, "G.csv", groups))
    assert list(g) == ["站A", "站A", "站B", "站B"]
    with pytest.raises(ScoringInputError) as ei:
        read_inputs(write(tmp_path, "R.csv", RESPONSES), write(tmp_path, "K.csv", KEY),
                    write(tmp_path, "G2.csv", "candidate_id,group\nc1,A\nc1,B\nc2,\n"))
    got = problems(ei)
    assert ("G2.csv", 3, "candidate_id (column 1)", "duplicate candidate id 'c1' (first at row 2)") in got
    assert ("G2.csv", 4, "group (column 2)", "empty group for candidate 'c2'") in got


def test_cross_file_errors_are_located(tmp_path):
    r = "candidate_id,Q1,Q2,Q9\nc1,B,AC,1\nc2,A,C,0\n"
    k = "item_id,key,max_points\nQ1,B,1\nQ2,AC,2\nQ5,C,1\n"
    with pytest.raises(ScoringInputError) as ei:
        read_inputs(write(tmp_path, "R.csv", r), write(tmp_path, "K.csv", k))
    got = problems(ei)
    assert ("R.csv", 1, "Q9 (column 4)", "unknown item id 'Q9': not in K.csv") in got
    assert ("K.csv", 4, "item_id", "key for item 'Q5' which is not a column of R.csv") in got


def test_letters_outside_the_options(tmp_path):
    k = "item_id,key,max_points,n_options\nQ1,B,1,4\nQ2,AC,2,4\nQ3,T,1,\nQ4,,3,\n"
    r = RESPONSES.replace("c4,C,AC,T,3", "c4,E,AE,X,4")
    with pytest.raises(ScoringInputError) as ei:
        read_inputs(write(tmp_path, "R.csv", r), write(tmp_path, "K.csv", k))
    got = {(p[1], p[2]): p[3] for p in problems(ei)}
    assert got[(5, "Q1 (column 2)")] == "response 'E' uses letter E outside the item's options A-D"
    assert "outside the item's options A-D" in got[(5, "Q2 (column 3)")]
    assert "not T/F" in got[(5, "Q3 (column 4)")]
    assert "outside 0-3 points" in got[(5, "Q4 (column 5)")]
    assert all(p[0] == "R.csv" for p in problems(ei))


@pytest.mark.parametrize("text,row,column,msg", [
    ("candidate_id,Q1\nc1,B\nc2,A,B\n", 3, None, "row has 3 cells, the header has 2"),
    ("candidate_id,Q1\nc1,B\nc1,A\n", 3, "candidate_id (column 1)", "duplicate candidate id 'c1' (first at row 2)"),
    ("candidate_id,Q1\nc1,B\n", None, None, "at least 2 candidates are needed, found 1"),
    ("id,Q1\nc1,B\nc2,A\n", 1, "id (column 1)", "the first column must be 'candidate_id', found 'id'"),
    ("candidate_id,Q1,Q1\nc1,B,B\nc2,A,A\n", 1, "Q1 (column 3)", "duplicate item id 'Q1' (also column 2)"),
    ("", None, None, "file is empty (no header row)"),
])
def test_responses_file_errors(tmp_path, text, row, column, msg):
    with pytest.raises(ScoringInputError) as ei:
        read_responses(write(tmp_path, "R.csv", text))
    assert ("R.csv", row, column, msg) in problems(ei)


def test_blank_lines_and_trailing_empty_cells_are_tolerated(tmp_path):
    t = read_responses(write(tmp_path, "R.csv", "candidate_id,Q1,Q2\n\nc1,B,A,,\nc2,A,\n"))
    assert t.candidate_ids == ("c1", "c2") and t.lines == (3, 4) and t.rows == [["B", "A"], ["A", ""]]


@pytest.mark.parametrize("text,row,column,msg", [
    ("item_id,key\nQ1,B\n", 1, None, "missing column 'max_points'"),
    ("item_id,key,max_points\nQ1,B,0\n", 2, "max_points (column 3)", "max_points must be a number > 0"),
    ("item_id,key,max_points\nQ1,B,1\nQ1,C,1\n", 3, "item_id (column 1)", "duplicate key row for item 'Q1'"),
    ("item_id,key,max_points\nQ1,B?,1\n", 2, "key (column 2)", "is not option letters"),
    ("item_id,key,max_points,n_options\nQ1,B,1,12\n", 2, "n_options (column 4)", "n_options must be a whole number"),
])
def test_key_file_errors(tmp_path, text, row, column, msg):
    with pytest.raises(ScoringInputError) as ei:
        read_key(write(tmp_path, "K.csv", text))
    assert any(p[1] == row and p[2] == column and msg in p[3] for p in problems(ei)), problems(ei)


def test_missing_file_and_groups_header(tmp_path):
    with pytest.raises(ScoringInputError, match="nope.csv: file not found"):
        read_responses(tmp_path / "nope.csv")
    with pytest.raises(ScoringInputError, match="missing column 'group'"):
        read_groups(write(tmp_path, "G.csv", "candidate_id,station\nc1,A\n"))


def test_constant_column_warns_and_reports_null(tmp_path):
    r = RESPONSES.replace("c2,A,CA,F,", "c2,A,CA,T,").replace("c4,C,AC,T,3", "c4,C,AC,T,3")
    with pytest.warns(ScoringWarning, match=r"Q3 \(column 4\): every candidate has the same score"):
        m, _ = read_inputs(write(tmp_path, "R.csv", r), write(tmp_path, "K.csv", KEY))
    rep = analyze(m)
    assert rep["items"][2]["r_rest"] is None and rep["items"][2]["notes"]


def test_many_problems_are_all_listed(tmp_path):
    rows = "\n".join(f"c{i},Z" for i in range(30))
    with pytest.raises(ScoringInputError) as ei:
        read_inputs(write(tmp_path, "R.csv", "candidate_id,Q1\n" + rows + "\n"),
                    write(tmp_path, "K.csv", "item_id,key,max_points\nQ1,B,1\n"))
    assert len(ei.value.problems) == 30
    assert "30 problems" in str(ei.value) and "and 10 more problem(s)" in str(ei.value)


class TestWriters:
    @pytest.fixture
    def report(self, sitting_report):
        return sitting_report

    def test_json(self, tmp_path, report):
        p = tmp_path / "out.json"
        write_json(report, p)
        assert json.loads(p.read_text(encoding="utf-8")) == report

    def test_text(self, report):
        text = format_text(report)
        assert "Alpha (KR-20)" in text and "possible_miskey" in text and "Copying screen" in text
        assert "选项" in text or "答案" in text  # Chinese reasons are printed
        assert text.count("\n") > len(report["items"])

    def test_xlsx(self, tmp_path, report):
        from openpyxl import load_workbook

        p = tmp_path / "out.xlsx"
        write_xlsx(report, p)
        wb = load_workbook(p, read_only=True)
        assert wb.sheetnames == ["Test", "Items", "Options", "Flags", "Copying", "Conventions"]
        items = list(wb["Items"].iter_rows(values_only=True))
        assert len(items) == 1 + len(report["items"])
        assert items[0][0] == "item_id" and items[1][0] == report["items"][0]["item_id"]
        p_col = items[0].index("p")
        assert_allclose([row[p_col] for row in items[1:]], [it["p"] for it in report["items"]])
        flags = list(wb["Flags"].iter_rows(values_only=True))
        assert len(flags) - 1 == sum(len(it["flags"]) for it in report["items"])
        copying = list(wb["Copying"].iter_rows(values_only=True))
        assert len(copying) == 1 + len(report["copying"])
        wb.close()


def test_file_objects_are_accepted():
    import io

    r = io.BytesIO(RESPONSES.encode("gb18030"))
    r.name = "upload.csv"
    m, _ = read_inputs(r, io.StringIO(KEY))
    assert m.scores[0, 2] == 1.0
    bad = io.BytesIO(b"candidate_id,Q1\nc1,B\nc1,A\n")
    bad.name = "up.csv"
    with pytest.raises(ScoringInputError, match="up.csv, row 3"):
        read_inputs(bad, io.StringIO(KEY))
