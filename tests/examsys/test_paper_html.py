"""The paper page's question markup (examsys/delivery/paper_html.py): escaping, per-candidate parts, and the
per-process memo of what is the same on every candidate's page."""
from __future__ import annotations

from examsys.delivery import paper_html

LABELS = {"question": "第{n}题", "points": "（{p}分）", "saved": "已保存 {t}", "figure": "图", "true": "对",
          "false": "错", "answer": "答案", "mark": "标记", "prev": "上一题", "next": "下一题"}
NAMES = {"single_choice": "单选题", "fill_blank": "填空题"}


def media(sha):
    return f"/exam/media/{sha}"


def paper(stem, *, no=1, ids=("a1", "a2"), answer=None, flagged=False, saved_at=""):
    q = {"id": 7, "no": no, "type": "single_choice", "stem": stem, "images": ["ab" * 32], "points": 2,
         "options": [{"id": i, "label": "AB"[k], "text": f"<opt{k}>"} for k, i in enumerate(ids)], "unit": None,
         "answer": answer, "flagged": flagged, "saved_at": saved_at}
    f = {"id": 8, "no": no + 1, "type": "fill_blank", "stem": "x", "images": [], "points": 1, "options": None,
         "unit": "mm", "answer": '"><script>', "flagged": False, "saved_at": "14:03:12"}
    return {"sections": [{"name": "single_choice", "questions": [q, f]}]}


def test_texts_are_escaped_and_each_candidates_parts_are_their_own():
    nav, body = paper_html.render(paper("1 < 2 & <b>", answer="a2", flagged=True, saved_at="09:00:01"),
                                  LABELS, NAMES, media)
    body = str(body)
    assert "1 &lt; 2 &amp; &lt;b&gt;" in body and "&lt;opt0&gt;" in body and "<b>" not in body
    assert 'value="&#34;&gt;&lt;script&gt;"' in body and "<script>" not in body
    assert 'value="a2" checked>' in body and 'value="a1" >' in body
    assert 'class="flag-box" checked>' in body and "已保存 09:00:01" in body
    assert 'class="qbtn answered flagged" data-item="7"' in str(nav)
    # the same question on another candidate's page: another number, option order and ids, no answer
    _nav, other = paper_html.render(paper("1 < 2 & <b>", no=5, ids=("z9", "y8")), LABELS, NAMES, media)
    other = str(other)
    assert 'data-no="5"' in other and '<span class="qno">5.</span>' in other
    assert 'value="z9" >' in other and "a2" not in other and "已保存 09:00:01" not in other
    assert 'class="flag-box" >' in other


def test_a_changed_stem_is_rendered_again_and_languages_do_not_mix():
    first = str(paper_html.render(paper("old stem"), LABELS, NAMES, media)[1])
    changed = str(paper_html.render(paper("new stem"), LABELS, NAMES, media)[1])
    assert "old stem" in first and "new stem" in changed and "old stem" not in changed
    english = dict(LABELS, points="({p} points)")
    en = str(paper_html.render(paper("new stem"), english, NAMES, media)[1])
    assert "(2 points)" in en and "（2分）" not in en
    assert "（2分）" in str(paper_html.render(paper("new stem"), LABELS, NAMES, media)[1])


def test_option_ids_are_escaped_unless_letters_and_digits():
    body = str(paper_html.render(paper("stem", ids=('a"><i>', "b2")), LABELS, NAMES, media)[1])
    assert 'value="a&#34;&gt;&lt;i&gt;" >' in body and "<i>" not in body
    assert 'value="b2" >' in body
    checked = str(paper_html.render(paper("stem", ids=('a"><i>', "b2"), answer='a"><i>'), LABELS, NAMES, media)[1])
    assert 'value="a&#34;&gt;&lt;i&gt;" checked>' in checked and 'value="b2" >' in checked
