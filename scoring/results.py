"""Result dataclasses of the scoring library.

Every analysis function returns one of these frozen dataclasses (after ``scipy.stats``): plain
numpy arrays indexed by item (length J) or by candidate pair, plus ``notes`` that explain every
``nan`` (zero variance, too few candidates, polytomous item, ...). Nothing here imports the web
app or the question bank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ITEM_KINDS",
    "ScoreMatrix",
    "ItemStatistics",
    "OptionStatistics",
    "DistractorAnalysis",
    "ScoreDistribution",
    "ReliabilityResult",
    "PassMarkResult",
    "MantelHaenszelResult",
    "DIFResult",
    "CopyingResult",
    "Flag",
]

#: Item kinds known to the score matrix. ``single``: one option letter; ``multiple``: a set of
#: letters (options are the observed response patterns); ``true_false``: ``T``/``F``;
#: ``marked``: a numeric score given by an examiner (no options).
ITEM_KINDS = ("single", "multiple", "true_false", "marked")


@dataclass(frozen=True, eq=False)
class ScoreMatrix:
    """Scored responses of N candidates to J items.

    Conventions: every item was presented to every candidate (one paper / form); an omitted
    response scores 0 and is marked in ``omitted`` (and ``choices == -1`` for choice items).
    Not-presented cells (NaN) are not supported: analyse each form separately.

    Attributes
    ----------
    candidate_ids : tuple of str, length N, unique
    item_ids : tuple of str, length J, unique
    scores : ndarray, shape (N, J), float64
        Item scores in points, ``0 <= scores[:, j] <= max_points[j]``.
    max_points : ndarray, shape (J,), float64, > 0
    kinds : tuple of str, length J
        One of `ITEM_KINDS` per item.
    keys : tuple of (str or None), length J
        Normalised key (``"B"``, ``"ACD"``, ``"T"``/``"F"``); None for marked items.
    omitted : ndarray, shape (N, J), bool
        True where the response was empty.
    choices : ndarray, shape (N, J), int16
        Option index into ``option_labels[j]``; -1 = omitted; -2 for marked items.
    option_labels : tuple of tuple of str
        Per item, the option labels: ``A, B, ...`` for single-answer items (all offered options,
        including never-chosen ones), ``T, F`` for true/false, the key and every observed response
        pattern for multiple-answer items, ``()`` for marked items.
    option_scores : tuple of tuple of float
        Per item, the score (points) a choice of each option earns.
    key_index : ndarray, shape (J,), intp
        Index of the key in ``option_labels[j]``; -1 for marked items.
    multiple_policy : str
        ``"exact"`` (default: full points only for the exact key set) or ``"partial"``.
    """

    candidate_ids: tuple
    item_ids: tuple
    scores: np.ndarray
    max_points: np.ndarray
    kinds: tuple
    keys: tuple
    omitted: np.ndarray
    choices: np.ndarray
    option_labels: tuple
    option_scores: tuple
    key_index: np.ndarray
    multiple_policy: str = "exact"

    def __post_init__(self):
        scores = np.asarray(self.scores)
        if scores.ndim != 2:
            raise ValueError(f"scores must be a 2-D array (candidates x items), got shape {scores.shape}")
        n, j = scores.shape
        if scores.dtype != np.float64:
            scores = scores.astype(np.float64)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "candidate_ids", tuple(str(c) for c in self.candidate_ids))
        object.__setattr__(self, "item_ids", tuple(str(i) for i in self.item_ids))
        if len(self.candidate_ids) != n:
            raise ValueError(f"{len(self.candidate_ids)} candidate ids for {n} score rows")
        if len(self.item_ids) != j:
            raise ValueError(f"{len(self.item_ids)} item ids for {j} score columns")
        if len(set(self.candidate_ids)) != n:
            raise ValueError("candidate ids must be unique")
        if len(set(self.item_ids)) != j:
            raise ValueError("item ids must be unique")
        mp = np.asarray(self.max_points, dtype=np.float64).reshape(-1)
        if mp.shape != (j,):
            raise ValueError(f"max_points must have length {j}, got {mp.shape[0]}")
        if not np.all(np.isfinite(mp) & (mp > 0)):
            raise ValueError("max_points must be finite and > 0 for every item")
        object.__setattr__(self, "max_points", mp)
        tol = 1e-9 * np.maximum(mp, 1.0)
        in_range = (scores >= -tol) & (scores <= mp + tol)  # False for NaN as well
        if not in_range.all():
            if not np.all(np.isfinite(scores)):
                raise ValueError(
                    "scores contain NaN or infinity; not-presented cells are not supported "
                    "(analyse each form separately; omitted responses score 0)"
                )
            bad = np.argwhere(~in_range)[0]
            raise ValueError(
                f"score {scores[bad[0], bad[1]]!r} of candidate {self.candidate_ids[bad[0]]!r} on item "
                f"{self.item_ids[bad[1]]!r} is outside [0, {mp[bad[1]]:g}]"
            )
        del in_range
        kinds = tuple(self.kinds)
        if len(kinds) != j or any(k not in ITEM_KINDS for k in kinds):
            raise ValueError(f"kinds must be {j} values from {ITEM_KINDS}")
        object.__setattr__(self, "kinds", kinds)
        keys = tuple(self.keys)
        if len(keys) != j:
            raise ValueError(f"keys must have length {j}")
        object.__setattr__(self, "keys", keys)
        om = np.asarray(self.omitted, dtype=bool)
        if om.shape != (n, j):
            raise ValueError(f"omitted must have shape {(n, j)}, got {om.shape}")
        object.__setattr__(self, "omitted", om)
        ch = np.asarray(self.choices)
        if ch.shape != (n, j):
            raise ValueError(f"choices must have shape {(n, j)}, got {ch.shape}")
        if ch.dtype != np.int16:
            ch = ch.astype(np.int16)
        object.__setattr__(self, "choices", ch)
        labels = tuple(tuple(str(x) for x in lab) for lab in self.option_labels)
        oscores = tuple(tuple(float(x) for x in s) for s in self.option_scores)
        if len(labels) != j or len(oscores) != j:
            raise ValueError(f"option_labels and option_scores must have length {j}")
        ki = np.asarray(self.key_index, dtype=np.intp).reshape(-1)
        if ki.shape != (j,):
            raise ValueError(f"key_index must have length {j}")
        n_opt = np.array([len(lab) for lab in labels], dtype=np.intp)
        for jj in range(j):
            if len(oscores[jj]) != n_opt[jj]:
                raise ValueError(f"item {self.item_ids[jj]!r}: option_scores and option_labels differ in length")
            if kinds[jj] == "marked":
                if n_opt[jj] != 0 or ki[jj] != -1:
                    raise ValueError(f"marked item {self.item_ids[jj]!r} must have no options and key_index -1")
            elif not (0 <= ki[jj] < n_opt[jj]):
                raise ValueError(f"item {self.item_ids[jj]!r}: key_index {ki[jj]} is not an option index")
        if j and n:
            lo = np.where(n_opt > 0, -1, -2)
            hi = np.where(n_opt > 0, n_opt - 1, -2)
            if np.any(ch.min(axis=0) < lo) or np.any(ch.max(axis=0) > hi):
                raise ValueError("choices must be an option index, -1 (omitted), or -2 for marked items")
        choice_cols = np.flatnonzero(n_opt > 0)
        if choice_cols.size and n:
            all_cols = choice_cols.size == j
            ch_c = ch if all_cols else ch[:, choice_cols]
            sc_c = scores if all_cols else scores[:, choice_cols]
            width = int(n_opt.max()) + 1
            table = np.zeros((choice_cols.size, width), dtype=np.float64)  # last column: omitted (-1) = 0
            for t, jj in enumerate(choice_cols):
                table[t, : n_opt[jj]] = oscores[jj]
            mismatch = None
            for o in range(-1, width - 1):  # one pass per option value: choosers of o must score table[:, o]
                bad = (ch_c == o) & (sc_c != table[:, o])
                if bad.any():
                    mismatch = bad
                    break
            if mismatch is not None:
                r, c = np.argwhere(mismatch)[0]
                col = choice_cols[c]
                want = table[c, ch_c[r, c]]
                raise ValueError(
                    f"score {scores[r, col]:g} of candidate {self.candidate_ids[r]!r} on item "
                    f"{self.item_ids[col]!r} does not match the score of its choice ({want:g})"
                )
        object.__setattr__(self, "option_labels", labels)
        object.__setattr__(self, "option_scores", oscores)
        object.__setattr__(self, "key_index", ki)
        if self.multiple_policy not in ("exact", "partial"):
            raise ValueError("multiple_policy must be 'exact' or 'partial'")

    @property
    def n_candidates(self) -> int:
        return self.scores.shape[0]

    @property
    def n_items(self) -> int:
        return self.scores.shape[1]

    @property
    def max_total(self) -> float:
        return float(self.max_points.sum())

    @property
    def is_choice(self) -> np.ndarray:
        """Boolean (J,): True for items with options (single, multiple, true_false)."""
        return np.array([k != "marked" for k in self.kinds], dtype=bool)

    @property
    def dichotomous(self) -> np.ndarray:
        """Boolean (J,): True where every observed score is 0 or the item's max points."""
        s = self.scores
        return np.all((s == 0) | (s == self.max_points), axis=0)


@dataclass(frozen=True, eq=False)
class ItemStatistics:
    """Classical item statistics, one entry per item (see `scoring.item_analysis.item_statistics`).

    Attributes
    ----------
    item_ids : tuple of str
    n : int
        Number of candidates.
    mean, sd : ndarray (J,)
        Item mean and sample SD (N - 1) in points.
    p : ndarray (J,)
        Facility, mean / max_points, in [0, 1].
    p_ci_low, p_ci_high : ndarray (J,)
        Confidence interval for p: Wilson score interval for dichotomous items, normal (Wald)
        interval clipped to [0, 1] otherwise.
    r_pbis : ndarray (J,)
        Pearson correlation of the item with the total (point-biserial for 0/1 items).
    r_rest : ndarray (J,)
        Corrected item-total (item-rest) correlation r(x_j, T - x_j).
    r_rest_ci_low, r_rest_ci_high : ndarray (J,)
        Fisher-z confidence interval for r_rest.
    alpha_if_deleted : ndarray (J,)
        Cronbach's alpha of the other J - 1 items.
    p_upper, p_lower : ndarray (J,)
        Facility in the upper and lower groups; ``d_ul27 = p_upper - p_lower``.
    d_ul27 : ndarray (J,)
    disc_efficiency : ndarray (J,)
        Moodle discriminative efficiency as a fraction: cov(x_j, T - x_j) / max attainable cov.
    dichotomous : ndarray (J,) bool
    ul_group_size : int
    confidence : float
    notes : tuple of tuple of str
        Per item, the reasons for every nan.
    """

    item_ids: tuple
    n: int
    mean: np.ndarray
    sd: np.ndarray
    p: np.ndarray
    p_ci_low: np.ndarray
    p_ci_high: np.ndarray
    r_pbis: np.ndarray
    r_rest: np.ndarray
    r_rest_ci_low: np.ndarray
    r_rest_ci_high: np.ndarray
    alpha_if_deleted: np.ndarray
    p_upper: np.ndarray
    p_lower: np.ndarray
    d_ul27: np.ndarray
    disc_efficiency: np.ndarray
    dichotomous: np.ndarray
    ul_group_size: int
    confidence: float
    notes: tuple


@dataclass(frozen=True, eq=False)
class OptionStatistics:
    """Statistics of the options of one choice item (see `scoring.distractors`).

    Arrays have one entry per option label, in ``labels`` order; the ``omit_*`` fields describe
    candidates who left the item empty.

    Attributes
    ----------
    item_id : str
    labels : tuple of str
    key_index : int
    count : ndarray of int
    prop, prop_upper, prop_lower : ndarray
        Share of all / upper-group / lower-group candidates choosing the option.
    mean_total : ndarray
        Mean total score of the candidates choosing the option (nan if nobody did).
    r_rest : ndarray
        Correlation of the choice indicator with the rest score T - x_j (nan if the option was
        chosen by nobody or by everybody, or the rest score is constant).
    omit_count : int
    omit_prop, omit_prop_upper, omit_prop_lower, omit_mean_total, omit_r_rest : float
    """

    item_id: str
    labels: tuple
    key_index: int
    count: np.ndarray
    prop: np.ndarray
    prop_upper: np.ndarray
    prop_lower: np.ndarray
    mean_total: np.ndarray
    r_rest: np.ndarray
    omit_count: int
    omit_prop: float
    omit_prop_upper: float
    omit_prop_lower: float
    omit_mean_total: float
    omit_r_rest: float


@dataclass(frozen=True, eq=False)
class DistractorAnalysis:
    """Option analysis for every item; ``items[j]`` is None for marked items.

    Attributes
    ----------
    item_ids : tuple of str
    items : tuple of (OptionStatistics or None)
    n : int
    ul_group_size : int
    """

    item_ids: tuple
    items: tuple
    n: int
    ul_group_size: int


@dataclass(frozen=True, eq=False)
class ScoreDistribution:
    """Distribution of total scores (see `scoring.reliability.score_distribution`).

    ``skewness`` and ``kurtosis`` are the k-statistic ratios used by Moodle, k3/k2^1.5 and
    k4/k2^2 (kurtosis is *excess* kurtosis; equal to ``scipy.stats.skew(bias=False)`` and
    ``scipy.stats.kurtosis(bias=False)``).
    """

    n: int
    mean: float
    sd: float
    median: float
    minimum: float
    maximum: float
    skewness: float
    kurtosis: float
    max_total: float
    histogram_edges: np.ndarray
    histogram_counts: np.ndarray
    notes: tuple = ()


@dataclass(frozen=True, eq=False)
class ReliabilityResult:
    """Cronbach's alpha (= KR-20 for dichotomous items) and the standard error of measurement.

    Attributes
    ----------
    alpha : float
    kr20 : float
        Equal to ``alpha`` when every item is dichotomous, nan otherwise.
    sem : float
        SD(T) * sqrt(1 - alpha) in points (nan when alpha <= 0 or undefined).
    n, n_items : int
    sum_item_variances, total_variance : float
    notes : tuple of str
    """

    alpha: float
    kr20: float
    sem: float
    n: int
    n_items: int
    sum_item_variances: float
    total_variance: float
    notes: tuple = ()


@dataclass(frozen=True, eq=False)
class PassMarkResult:
    """Measurement precision and classification consistency at a pass mark.

    Attributes
    ----------
    cut : float
        Pass mark in points; a candidate passes when total >= cut.
    pass_count : int
    pass_rate : float
    csem_lord : float
        Lord's binomial-error conditional SEM at the cut, in points.
    csem_keats : float
        Keats' correction of ``csem_lord``: times sqrt((1 - alpha) / (1 - KR-21)).
    kr21 : float
    p0, kappa : float
        Decision consistency (agreement of pass/fail on a parallel form) and Cohen's kappa,
        normal approximation (Huynh 1976; Peng & Subkoviak 1980).
    subkoviak_p0, subkoviak_kappa : float
        Subkoviak (1976) binomial method; nan unless all items are dichotomous with equal points.
    notes : tuple of str
    """

    cut: float
    pass_count: int
    pass_rate: float
    csem_lord: float
    csem_keats: float
    kr21: float
    p0: float
    kappa: float
    subkoviak_p0: float
    subkoviak_kappa: float
    notes: tuple = ()


@dataclass(frozen=True, eq=False)
class MantelHaenszelResult:
    """Mantel–Haenszel common odds ratio and test for 2 x 2 x K tables (vectorised over ``...``).

    Attributes
    ----------
    alpha_mh : ndarray
        Common odds ratio sum(A D / N) / sum(B C / N).
    log_alpha, se_log_alpha : ndarray
        ln(alpha_mh) and its Robins–Breslow–Greenland standard error.
    ci_low, ci_high : ndarray
        Confidence interval for alpha_mh, exp(ln alpha -/+ z SE).
    chi2, p_value : ndarray
        MH chi-square (1 df, with or without continuity correction) and its p-value.
    d_dif, se_d_dif : ndarray
        ETS delta scale: -2.35 ln(alpha_mh) and 2.35 SE.
    ets_class : ndarray of str
        ``"A"``, ``"B"``, ``"C"`` or ``""`` when undefined.
    """

    alpha_mh: np.ndarray
    log_alpha: np.ndarray
    se_log_alpha: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    chi2: np.ndarray
    p_value: np.ndarray
    d_dif: np.ndarray
    se_d_dif: np.ndarray
    ets_class: np.ndarray


@dataclass(frozen=True, eq=False)
class DIFResult:
    """Mantel–Haenszel DIF for every (comparison, item) (see `scoring.dif.mh_dif`).

    Arrays have shape (n_comparisons, J). Comparison c contrasts ``focal[c]`` with
    ``reference[c]`` (a group label, or ``"rest"`` for all other candidates). A negative
    ``d_dif`` favours the reference group.

    Attributes
    ----------
    item_ids : tuple of str
    focal, reference : tuple of str
    n_focal, n_reference : ndarray of int, shape (n_comparisons,)
    alpha_mh, d_dif, se, chi2, p_value : ndarray
    ets_class : ndarray of str
    notes : tuple of tuple of str
        Per item, reasons for nan (e.g. polytomous item).
    """

    item_ids: tuple
    focal: tuple
    reference: tuple
    n_focal: np.ndarray
    n_reference: np.ndarray
    alpha_mh: np.ndarray
    d_dif: np.ndarray
    se: np.ndarray
    chi2: np.ndarray
    p_value: np.ndarray
    ets_class: np.ndarray
    notes: tuple


@dataclass(frozen=True, eq=False)
class CopyingResult:
    """Answer-copying screen of all candidate pairs (see `scoring.collusion.answer_copying`).

    One entry per unordered pair (a < b by row index) in every sitting.

    Attributes
    ----------
    candidate_ids : tuple of str
    a, b : ndarray of intp
        Row indices of the two candidates.
    sitting : ndarray of str
        Sitting (group) label of the pair; ``""`` without groups.
    identical : ndarray of int
        Items both answered with the same option (right or wrong).
    identical_wrong : ndarray of int
        Items both answered wrongly with the same option.
    n_wrong_a, n_wrong_b : ndarray of int
    k_ab, k_ba : ndarray
        K-index probability with a as source and b as copier, and vice versa.
    p_value : ndarray
        Pair p-value ``min(1, 2 * min(k_ab, k_ba))``.
    p_bonferroni, q_fdr : ndarray
        Bonferroni-adjusted p and Benjamini–Hochberg q within the sitting.
    flagged : ndarray of bool
        ``p_bonferroni <= alpha`` or ``q_fdr <= alpha`` according to ``correction``.
    alpha : float
    correction : str
    notes : tuple of str
    """

    candidate_ids: tuple
    a: np.ndarray
    b: np.ndarray
    sitting: np.ndarray
    identical: np.ndarray
    identical_wrong: np.ndarray
    n_wrong_a: np.ndarray
    n_wrong_b: np.ndarray
    k_ab: np.ndarray
    k_ba: np.ndarray
    p_value: np.ndarray
    p_bonferroni: np.ndarray
    q_fdr: np.ndarray
    flagged: np.ndarray
    alpha: float
    correction: str
    notes: tuple = ()


@dataclass(frozen=True)
class Flag:
    """A reason to review an item.

    Attributes
    ----------
    code : str
        Stable machine code, e.g. ``"possible_miskey"``.
    reason_en, reason_zh : str
        Human-readable explanation in English and Chinese, with the numbers.
    evidence : dict
        JSON-able numbers behind the flag (thresholds, estimates, intervals, what-if results).
    """

    code: str
    reason_en: str
    reason_zh: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": {"en": self.reason_en, "zh": self.reason_zh}, "evidence": self.evidence}
