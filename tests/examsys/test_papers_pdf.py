"""Printable PDFs made by headless Chromium: A4, the running header (occupation, grade, form), page numbers,
Chinese text, and no key on a candidate paper. Text is extracted with pypdf."""
from __future__ import annotations

import io
import os
import unicodedata

import pytest

from . import papers_support as S
from .test_papers import assemble, save_blueprint

pypdf = pytest.importorskip("pypdf")
pytestmark = pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                                reason="no Chromium")

# CJK fonts map some ideographs to radical code points in the PDF's ToUnicode table; undo the ones we check
RADICALS = str.maketrans({"⻋": "车", "⻚": "页", "⼯": "工", "⼀": "一", "⼆": "二", "⼈": "人", "⽬": "目", "⼊": "入",
                          "⻅": "见", "⻓": "长", "⻔": "门", "⻢": "马", "⾼": "高", "⽤": "用", "⽆": "无", "⾸": "首",
                          "⼄": "乙", "⼰": "己", "⼦": "子", "⽅": "方", "⽂": "文", "⼤": "大", "⼩": "小", "⽣": "生"})


def norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(RADICALS)


def pdf_pages(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    out = []
    for page in reader.pages:
        box = page.mediabox
        assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2  # A4 in points
        out.append(norm(page.extract_text()))
    return out


def test_theory_candidate_pdf_and_key_pdf(app, login_as, client, occ_id):
    login_as("admin")
    bid = save_blueprint(app, occ_id, S.MIXED_BLUEPRINT)
    pid = int(assemble(client, bid).headers["Location"].rsplit("/", 1)[1])
    resp = client.get(f"/papers/{pid}/B/candidate.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF")
    pages = pdf_pages(resp.data)
    n = len(pages)
    assert n >= 2
    for k, text in enumerate(pages, start=1):
        assert norm("数控测试工（四级/中级工）· 理论知识试卷 · B 卷") in text  # running header on every page
        assert f"第 {k} 页 共 {n} 页" in text
    whole = "\n".join(pages)
    assert "职业技能鉴定" in whole and "注意事项" in whole and "单项选择题" in whole and "答题卡" in whole
    assert "简答题" in whole and norm("简述刀具材料应具备的性能") in whole
    assert S.KEY_MARK not in whole and "标准答案" not in whole

    key = pdf_pages(client.get(f"/papers/{pid}/B/key.pdf").data)
    key_text = "\n".join(key)
    assert norm("数控测试工（四级/中级工）· 标准答案与评分标准 · B 卷") in key[0]
    assert S.KEY_MARK in key_text and norm("高硬度、高耐磨性") in key_text


def test_practical_pdfs(app, login_as, client, occ_id):
    login_as("admin")
    bid = save_blueprint(app, occ_id)
    pid = int(assemble(client, bid, part="practical", forms=1).headers["Location"].rsplit("/", 1)[1])
    prep = "\n".join(pdf_pages(client.get(f"/papers/{pid}/A/prep.pdf").data))
    assert "操作技能考核准备通知单" in prep and "CK6140" in prep and "45钢棒料" in prep
    tasks = "\n".join(pdf_pages(client.get(f"/papers/{pid}/A/tasks.pdf").data))
    assert "操作技能考核试卷" in tasks and "实操任务" in tasks and S.KEY_MARK not in tasks
    sheet = "\n".join(pdf_pages(client.get(f"/papers/{pid}/A/scoresheet.pdf").data))
    assert "评分记录表" in sheet and S.KEY_MARK in sheet and "否决项" in sheet


@pytest.fixture
def occ_id(app):
    return S.seed_bank(app)
