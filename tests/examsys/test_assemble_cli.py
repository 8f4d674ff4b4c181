"""``examsys assemble`` on files alone and on the database: a good run writes a checked paper.json, an
infeasible run exits 1 with the explanation on stderr, a bad bank file exits 2 with located errors; every
demo blueprint assembles from the demo bank exported to .xlsx."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from examsys.config import ROOT
from examsys.extensions import db
from examsys.models import ItemUsage, Paper

from . import papers_support as S

DEMO = ROOT / "examsys" / "demo" / "data"
EXAMPLES = ROOT / "examples" / "blueprints"


def runner_for(app) -> CliRunner:
    return app.test_cli_runner(mix_stderr=False) if _mix_stderr_supported() else app.test_cli_runner()


def _mix_stderr_supported() -> bool:
    import inspect
    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


def write_bank(path: Path, items: list[dict], taxonomy: dict) -> Path:
    from question_bank.formats.xlsx import write_bank_xlsx
    from question_bank.taxonomy import Taxonomy
    write_bank_xlsx(items, path, taxonomy=Taxonomy.from_dict(taxonomy))
    return path


@pytest.fixture
def files(tmp_path):
    items = S.item_dicts()
    for k, d in enumerate(items, 1):
        d["id"], d["version"] = f"T{k}", 1
    bank = write_bank(tmp_path / "bank.xlsx", items, S.TAXONOMY)
    bp = tmp_path / "bp.yaml"
    bp.write_text(yaml.safe_dump(S.blueprint(), allow_unicode=True), encoding="utf-8")
    return {"bank": bank, "bp": bp, "dir": tmp_path, "items": items}


def invoke(app, *args):
    return runner_for(app).invoke(args=["assemble", *map(str, args)])


def test_good_run_writes_a_checked_paper(app, files):
    out = files["dir"] / "paper.json"
    res = invoke(app, "--bank", files["bank"], "--blueprint", files["bp"], "--forms", 2, "--seed", 7, "-o", out)
    assert res.exit_code == 0, res.output + getattr(res, "stderr", "")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["schema"] == "examsys.paper/1" and doc["ok"] is True and doc["seed"] == 7
    assert doc["check"]["passed"] and doc["check"]["n_checks"] > 10
    assert [f["label"] for f in doc["forms"]] == ["A", "B"]
    ids = {k: [e["item_id"] for e in f["items"]] for k, f in zip("AB", doc["forms"])}
    assert not set(ids["A"]) & set(ids["B"])
    theory = [e for e in doc["forms"][0]["items"] if e["part"] == "theory"]
    assert len(theory) == 20 and all(e["version"] == 1 and e["points"] == 1 for e in theory)
    assert {e["section"] for e in doc["forms"][0]["items"] if e["part"] == "practical"} == {"P-A", "P-B"}
    assert len(doc["blueprint_hash"]) == 64 and doc["source"]["kp_index"] == "bank"
    stderr = getattr(res, "stderr", res.output)
    assert "reading the bank" in stderr and "done: optimal" in stderr
    # the same seed gives the same paper, also with the taxonomy file instead of the bank's importance column
    tax = files["dir"] / "tax.yaml"
    tax.write_text(yaml.safe_dump(S.TAXONOMY, allow_unicode=True), encoding="utf-8")
    out2 = files["dir"] / "paper2.json"
    res = invoke(app, "--bank", files["bank"], "--blueprint", files["bp"], "--taxonomy", tax, "--forms", 2, "--seed", 7,
                 "-o", out2)
    assert res.exit_code == 0
    assert json.loads(out2.read_text(encoding="utf-8"))["forms"] == doc["forms"]


def test_infeasible_run_exits_1_with_the_explanation_on_stderr(app, files):
    out = files["dir"] / "paper.json"
    res = invoke(app, "--bank", files["bank"], "--blueprint", files["bp"], "--forms", 9, "-o", out)
    assert res.exit_code == 1
    stderr = getattr(res, "stderr", res.output)
    assert "无法按组卷方案组卷" in stderr and "X 鉴定点 A-A-001 只有 7 道可用试题" in stderr
    assert "X point A-A-001 has 7 eligible items" in stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["ok"] is False and doc["findings"] and doc["forms"] == []


def test_bad_bank_file_lists_located_errors_and_exits_2(app, files):
    from openpyxl import load_workbook
    wb = load_workbook(files["bank"])
    ws = wb["items"]
    header = [c.value for c in ws[1]]
    col = next(i for i, h in enumerate(header, start=1) if "points" in str(h))
    ws.cell(row=3, column=col, value="abc")
    bad = files["dir"] / "bad.xlsx"
    wb.save(bad)
    res = invoke(app, "--bank", bad, "--blueprint", files["bp"])
    assert res.exit_code == 2
    stderr = getattr(res, "stderr", res.output)
    assert "sheet items" in stderr and "row 3" in stderr and "column" in stderr


def test_bad_blueprint_and_missing_files_exit_2(app, files):
    bad = files["dir"] / "bad.yaml"
    spec = S.blueprint()
    spec["theory"]["sections"][0]["count"] = 13
    bad.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    res = invoke(app, "--bank", files["bank"], "--blueprint", bad)
    assert res.exit_code == 2 and "theory.sections" in getattr(res, "stderr", res.output)
    res = invoke(app, "--bank", files["dir"] / "nope.xlsx", "--blueprint", files["bp"])
    assert res.exit_code == 2
    res = invoke(app, "--bank", files["bank"])
    assert res.exit_code == 2


def test_database_mode_stores_the_paper(app, files, station):
    S.seed_bank(app)
    res = invoke(app, "--blueprint", files["bp"], "--occupation", S.OCC, "--grade", 4, "--station", "T-001",
                 "--forms", 2, "--seed", 5, "--dry-run")
    assert res.exit_code == 0, getattr(res, "stderr", res.output)
    with app.app_context():
        assert db.session.execute(select(func.count(Paper.id))).scalar_one() == 0
    out = files["dir"] / "db.json"
    res = invoke(app, "--blueprint", files["bp"], "--station", "T-001", "--forms", 2, "--seed", 5, "-o", out)
    assert res.exit_code == 0, getattr(res, "stderr", res.output)
    doc = json.loads(out.read_text(encoding="utf-8"))
    with app.app_context():
        paper = db.session.get(Paper, doc["source"]["paper_id"])
        assert paper.station_id == station.id and paper.part == "theory" and paper.seed == 5
        assert paper.check_report["passed"] and paper.blueprint_id is None
        assert db.session.execute(select(func.count(ItemUsage.id))).scalar_one() == 40
    res = invoke(app, "--blueprint", files["bp"], "--forms", 9)
    assert res.exit_code == 1 and "nothing was stored" in getattr(res, "stderr", res.output)


DEMO_CASES = sorted(p.name for p in EXAMPLES.glob("[0-9]*-*.yaml"))


@pytest.fixture(scope="module")
def demo_banks(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    banks = {}
    for tax_path in sorted(p for p in DEMO.glob("*.yaml") if not p.name.endswith("_items.yaml")):
        tax = yaml.safe_load(tax_path.read_text(encoding="utf-8"))
        items = yaml.safe_load((DEMO / f"{tax_path.stem}_items.yaml").read_text(encoding="utf-8"))
        for k, it in enumerate(items, 1):
            it["id"], it["version"] = f"{tax_path.stem}-{k}", 1
        banks[tax["occupation"]["code"]] = write_bank(d / f"{tax_path.stem}.xlsx", items, tax)
    return banks


@pytest.mark.parametrize("name", DEMO_CASES)
def test_every_demo_blueprint_assembles_from_the_exported_demo_bank(app, demo_banks, tmp_path, name):
    spec = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert name.startswith(f"{spec['occupation']}-{spec['grade']}-")
    out = tmp_path / "paper.json"
    res = invoke(app, "--bank", demo_banks[spec["occupation"]], "--blueprint", EXAMPLES / name, "--seed", 1, "-o", out)
    assert res.exit_code == 0, getattr(res, "stderr", res.output)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["ok"] and doc["check"]["passed"] and len(doc["forms"]) == spec["forms"]["count"]
