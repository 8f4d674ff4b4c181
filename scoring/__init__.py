"""examsys scoring: a pure library for score matrices and item analysis.

Classical test theory (facility, discrimination, alpha, distractors, reliability at the pass mark),
Mantel–Haenszel DIF, an answer-copying screen, item flags and IRT (``scoring.irt``). No web, ORM or
question-bank imports: plain dataclasses, dicts and numpy arrays in and out.

Entry points: `scoring.io.read_inputs` (CSV files -> ScoreMatrix), `scoring.matrix.build_score_matrix`
(raw responses -> ScoreMatrix), `scoring.report.analyze` (ScoreMatrix -> JSON-able report) and
`scoring.cli.main` (the ``analyze`` command). See ``scoring/README.md``.
"""
