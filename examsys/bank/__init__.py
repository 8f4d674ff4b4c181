"""The item bank blueprint ("bank"): item editor, detail, versions, review, media.

The bank browser (GET /bank/, endpoint ``bank.browse``) lives in :mod:`examsys.bank.browse` and registers
its views on the same blueprint.
"""
