"""Bank CSV import/export: UTF-8 with BOM, exact round trip in item order, formula guard, located problems."""

import csv
import io

import pytest

from question_bank.formats.common import CSV_COLUMNS, column_letter
from question_bank.formats.csv_format import guard, read_bank_csv, unguard, write_bank_csv
from question_bank.item_types.examples import example_item, example_items, example_taxonomy
from question_bank.items import canonical_item_dict
from question_bank.taxonomy import Taxonomy

COL = {c.key: column_letter(i) for i, c in enumerate(CSV_COLUMNS)}
IDX = {c.key: i for i, c in enumerate(CSV_COLUMNS)}


def csv_bytes(items, **kw):
    buf = io.BytesIO()
    write_bank_csv(items, buf, **kw)
    return buf.getvalue()


def rows_of(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def to_bytes(rows):
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def edit(data, changes):
    rows = rows_of(data)
    for (rowno, key), value in changes.items():
        rows[rowno - 1][IDX[key]] = value
    return to_bytes(rows)


def located(r):
    return sorted(((p.sheet, p.row, p.column, p.field, p.code) for p in r.problems), key=str)


def mixed_items():
    items = example_items()
    items.insert(2, example_item("practical_task", stem="中间的实操题", id="P1", version=2))
    items.append(example_item("single_choice", stem="=1+1 不是公式", options=["=A", "+B", "-C", "@D"],
                              key="A", id="Q9"))
    items.append(example_item("fill_blank", answers=["-5", "+5.0"], tolerance=0.5, unit=None))
    return items


def test_round_trip_exact_and_in_order(tmp_path):
    items = mixed_items()
    path = tmp_path / "bank.csv"
    write_bank_csv(items, path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    r = read_bank_csv(path)
    assert r.problems == ()
    assert list(r.items) == [canonical_item_dict(d) for d in items]
    assert read_bank_csv(csv_bytes(r.items)).items == r.items


def test_csv_layout_and_formula_guard():
    rows = rows_of(csv_bytes(mixed_items()))
    assert rows[0][:3] == ["职业代码 occupation", "等级 grades", "鉴定点代码 kp"]
    assert rows[0][IDX["task"]] == "任务号 task"
    last_sc = next(r for r in rows if r[IDX["stem"]].startswith("'="))
    assert last_sc[IDX["option_A"]] == "'=A" and last_sc[IDX["option_B"]] == "'+B" and last_sc[IDX["option_D"]] == "'@D"
    practical = [r for r in rows[1:] if r[IDX["task"]]]
    assert [r[IDX["task"]] for r in practical] == ["P1"] * 3 + ["T1"] * 3


@pytest.mark.parametrize("text", ["=1", "+x", "-x", "@x", "'=1", "''@", "-5", "+5.0", "plain", "'quoted"])
def test_guard_round_trip(text):
    assert unguard(guard(text)) == text
    assert not guard(text).startswith(("=", "@")) or text in ()


def test_gb18030_input_is_accepted():
    text = rows_of(csv_bytes([example_item("true_false")]))
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(text)
    r = read_bank_csv(buf.getvalue().encode("gb18030"))
    assert r.ok and r.items[0]["stem"] == "淬火后的钢件硬度提高、塑性降低。"


def test_not_csv():
    from question_bank.formats.xlsx import write_bank_xlsx
    buf = io.BytesIO()
    write_bank_xlsx([example_item("true_false")], buf)
    r = read_bank_csv(buf.getvalue())
    assert [(p.field, p.code) for p in r.problems] == [("file", "not_csv")]


def test_size_limit():
    assert [p.code for p in read_bank_csv(csv_bytes(example_items()), max_bytes=100).problems] == ["file_too_large"]


def test_header_problems():
    rows = rows_of(csv_bytes(example_items()))
    rows[0][IDX["points"]] = "分数?? what"
    assert set(located(read_bank_csv(to_bytes(rows)))) == {
        ("csv", 1, None, "header", "missing_column"), ("csv", 1, COL["points"], "header", "unknown_column")}


@pytest.mark.parametrize("changes, expected", [
    ({(2, "key"): "E"}, [("csv", 2, "O", "key", "key_not_in_options")]),
    ({(3, "points"): "abc"}, [("csv", 3, "P", "points", "wrong_cell_type")]),
    ({(2, "grades"): "4,7"}, [("csv", 2, "B", "grades[1]", "bad_grade")]),
    ({(9, "criterion_points"): "x"}, [("csv", 9, COL["criterion_points"], "criteria[0].points", "wrong_cell_type")]),
    ({(10, "mode"): "加分"}, [("csv", 10, COL["mode"], "criteria[1].mode", "bad_mode")]),
    ({(9, "task"): ""}, [("csv", 9, COL["task"], "task", "required")]),
])
def test_bad_cells_are_located(changes, expected):
    r = read_bank_csv(edit(csv_bytes(example_items()), changes))
    assert located(r) == expected and r.items == ()


def test_unknown_codes_with_taxonomy():
    t = Taxonomy.from_dict(example_taxonomy())
    r = read_bank_csv(edit(csv_bytes(example_items()), {(4, "kp"): "Z-Z-001"}), taxonomy=t)
    assert located(r) == [("csv", 4, "C", "kp", "unknown_kp")]


def test_duplicate_ids_and_near_duplicates():
    items = [example_item("true_false", id="A1"), example_item("true_false", stem="淬火后的钢件，硬度提高 塑性降低", id="A1")]
    r = read_bank_csv(csv_bytes(items))
    assert located(r) == [("csv", 3, "T", "id", "duplicate_id")]
    assert [(w.row, w.code) for w in r.warnings] == [(2, "near_duplicate"), (3, "near_duplicate")]
