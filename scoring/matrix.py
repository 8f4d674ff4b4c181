"""Raw responses -> score matrix.

Conventions (also reported in every analysis under ``conventions``):

* every item was presented to every candidate; an **empty cell is an omitted response and scores 0**;
  omissions are kept in ``ScoreMatrix.omitted`` and, for choice items, as ``choices == -1``;
* option letters ``A``–``H`` (case-insensitive; full-width letters and separators such as ``,``
  ``、`` and spaces are accepted, so ``"a, c"`` == ``"AC"``); the order of letters does not matter;
* true/false items accept ``T``/``F``, ``TRUE``/``FALSE``, ``对``/``错``, ``√``/``×``, ``Y``/``N``;
* a key ``F`` on its own means *false* (判断题) unless ``n_options`` is given, then it is option F;
* multiple-answer items (key of two or more letters) are dichotomous by default: full points for the
  exact key set, 0 otherwise (``multiple_policy="exact"``). With ``"partial"``, a response that is a
  non-empty subset of the key earns ``max_points * len(response) / len(key)`` and any wrong letter
  earns 0. The options of a multiple-answer item are the observed response *patterns* plus the key;
* marked items (empty key) hold a numeric score in ``[0, max_points]``.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputProblem, ScoringInputError
from .results import ScoreMatrix

__all__ = [
    "ItemKey",
    "parse_key",
    "build_score_matrix",
    "score_matrix_from_choices",
    "score_matrix_from_scores",
    "rescore_item",
    "LETTERS",
]

LETTERS = "ABCDEFGH"
TRUE_TOKENS = frozenset({"T", "TRUE", "对", "正确", "√", "✓", "✔", "Y", "YES", "是"})
FALSE_TOKENS = frozenset({"F", "FALSE", "错", "错误", "×", "✗", "✘", "N", "NO", "否"})
_SEPARATORS = str.maketrans("", "", " ,;、，；\t")


@dataclass(frozen=True)
class ItemKey:
    """The key of one item.

    Attributes
    ----------
    item_id : str
    kind : str
        ``single``, ``multiple``, ``true_false`` or ``marked``.
    key : str or None
        Normalised key: ``"B"``, ``"ACD"``, ``"T"``/``"F"``; None for marked items.
    max_points : float
        Points for a fully correct response, > 0.
    n_options : int or None
        Number of options (2–8) of a choice item if known; None lets the scorer infer it from
        the key and the observed letters. Always 2 for true/false items, None for marked items.
    """

    item_id: str
    kind: str
    key: str | None
    max_points: float
    n_options: int | None = None


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


def _letters(text: str) -> str | None:
    """Normalise option letters: sorted, de-duplicated; None if a character is not A–H."""
    s = _clean(text).translate(_SEPARATORS)
    if not s:
        return ""
    if any(ch not in LETTERS for ch in s):
        return None
    return "".join(sorted(set(s)))


def parse_key(item_id: str, key, max_points, n_options=None) -> ItemKey:
    """Parse and validate one key entry.

    Parameters
    ----------
    item_id : str
    key : str or None
        ``"B"``, ``"ACD"``, ``T``/``F``/``对``/``错``/``√``/``×``; empty or None for a marked item.
    max_points : float or str
        > 0.
    n_options : int, str or None
        Optional number of options (2–8) of a choice item.

    Returns
    -------
    ItemKey

    Raises
    ------
    ValueError
        With a message naming the item for an invalid key, points or option count.
    """
    item_id = str(item_id)
    try:
        mp = float(max_points)
    except (TypeError, ValueError):
        raise ValueError(f"item {item_id!r}: max_points {max_points!r} is not a number") from None
    if not math.isfinite(mp) or mp <= 0:
        raise ValueError(f"item {item_id!r}: max_points must be a number > 0, got {max_points!r}")
    nopt = None
    if n_options is not None and str(n_options).strip() != "":
        try:
            nopt_f = float(n_options)
        except (TypeError, ValueError):
            raise ValueError(f"item {item_id!r}: n_options {n_options!r} is not a whole number") from None
        if not nopt_f.is_integer() or not 2 <= nopt_f <= len(LETTERS):
            raise ValueError(
                f"item {item_id!r}: n_options must be a whole number from 2 to {len(LETTERS)}, got {n_options!r}"
            )
        nopt = int(nopt_f)
    raw = "" if key is None or (isinstance(key, float) and math.isnan(key)) else str(key)
    k = _clean(raw)
    if not k:
        if nopt is not None:
            raise ValueError(f"item {item_id!r}: n_options given for a marked item (empty key)")
        return ItemKey(item_id, "marked", None, mp, None)
    if nopt is None and (k in TRUE_TOKENS or k in FALSE_TOKENS):
        return ItemKey(item_id, "true_false", "T" if k in TRUE_TOKENS else "F", mp, 2)
    letters = _letters(k)
    if not letters:
        raise ValueError(
            f"item {item_id!r}: key {raw!r} is not option letters A-H, T/F (对/错, √/×), or empty for a marked item"
        )
    top = LETTERS.index(letters[-1]) + 1
    if nopt is not None and top > nopt:
        raise ValueError(f"item {item_id!r}: key {raw!r} uses letter {letters[-1]} but the item has {nopt} options")
    kind = "single" if len(letters) == 1 else "multiple"
    if kind == "multiple" and nopt is not None and nopt < 3:
        raise ValueError(f"item {item_id!r}: a multiple-answer key needs at least 3 options")
    return ItemKey(item_id, kind, letters, mp, nopt)


def _as_key(item_id, spec) -> ItemKey:
    if isinstance(spec, ItemKey):
        return spec
    if isinstance(spec, Mapping):
        return parse_key(item_id, spec.get("key"), spec.get("max_points"), spec.get("n_options"))
    if isinstance(spec, (tuple, list)) and 2 <= len(spec) <= 3:
        return parse_key(item_id, *spec)
    raise TypeError(
        f"key for item {item_id!r} must be an ItemKey, a (key, max_points[, n_options]) tuple or a mapping, "
        f"got {type(spec).__name__}"
    )


def _pattern_score(pattern: str, key: str, max_points: float, policy: str) -> float:
    if pattern == key:
        return max_points
    if policy == "partial" and pattern and set(pattern) <= set(key):
        return max_points * len(pattern) / len(key)
    return 0.0


def _is_empty(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _classify(v, ik: ItemKey):
    """Return ('omit',), ('choice', normalised label) or ('score', float) or ('error', message)."""
    if _is_empty(v):
        return ("omit",)
    if ik.kind == "marked":
        if isinstance(v, bool):
            return ("error", f"response {v!r} is not a number (marked item, 0-{ik.max_points:g} points)")
        try:
            x = float(_clean(v)) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            return ("error", f"response {v!r} is not a number (marked item, 0-{ik.max_points:g} points)")
        if not math.isfinite(x) or x < 0 or x > ik.max_points + 1e-9:
            return ("error", f"score {v!r} is outside 0-{ik.max_points:g} points")
        return ("score", min(x, ik.max_points))
    if not isinstance(v, str):
        return ("error", f"response {v!r} is not option letters")
    if ik.kind == "true_false":
        c = _clean(v)
        if c in TRUE_TOKENS:
            return ("choice", "T")
        if c in FALSE_TOKENS:
            return ("choice", "F")
        return ("error", f"response {v!r} is not T/F (对/错, √/×) for a true/false item")
    letters = _letters(v)
    if letters is None:
        return ("error", f"response {v!r} is not option letters A-H")
    if ik.n_options is not None and LETTERS.index(letters[-1]) >= ik.n_options:
        last = LETTERS[ik.n_options - 1]
        return ("error", f"response {v!r} uses letter {letters[-1]} outside the item's options A-{last}")
    if ik.kind == "single" and len(letters) > 1:
        return ("error", f"response {v!r} has several letters but item has a single-answer key {ik.key!r}")
    return ("choice", letters)


def build_score_matrix(
    candidate_ids: Sequence,
    item_ids: Sequence,
    responses,
    keys: Mapping,
    *,
    multiple_policy: str = "exact",
) -> ScoreMatrix:
    """Score raw responses against a key.

    Parameters
    ----------
    candidate_ids : sequence of str, length N (unique)
    item_ids : sequence of str, length J (unique)
    responses : 2-D sequence (N rows x J columns) or ndarray of object
        Raw cells: option letters (``"B"``, ``"ACD"``), ``T``/``F`` (对/错, √/×), numeric scores for
        marked items; empty string, None or NaN = omitted.
    keys : mapping item_id -> ItemKey, (key, max_points[, n_options]) or {"key", "max_points", "n_options"}
        Must contain every item id.
    multiple_policy : {"exact", "partial"}
        Scoring of multiple-answer items (see module docstring).

    Returns
    -------
    ScoreMatrix

    Raises
    ------
    ScoringInputError
        Listing every problem with ``row`` = 0-based candidate index and ``column`` = item id:
        duplicate ids, ragged rows, items without a key, invalid responses.
    TypeError
        For a key entry of the wrong type.
    """
    if multiple_policy not in ("exact", "partial"):
        raise ValueError("multiple_policy must be 'exact' or 'partial'")
    cids = [str(c) for c in candidate_ids]
    iids = [str(i) for i in item_ids]
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for r, c in enumerate(cids):
        if c.strip() == "":
            problems.append(InputProblem("empty candidate id", row=r, column="candidate_id"))
        elif c in seen:
            problems.append(InputProblem(f"duplicate candidate id {c!r} (first at row {seen[c]})", row=r,
                                         column="candidate_id"))
        else:
            seen[c] = r
    seen_i: set[str] = set()
    for i in iids:
        if i in seen_i:
            problems.append(InputProblem(f"duplicate item id {i!r}", column=i))
        seen_i.add(i)
    item_keys: list[ItemKey | None] = []
    for i in iids:
        if i not in keys:
            problems.append(InputProblem(f"item {i!r} has no key", column=i))
            item_keys.append(None)
        else:
            item_keys.append(_as_key(i, keys[i]))
    n, j = len(cids), len(iids)
    if isinstance(responses, np.ndarray) and responses.ndim == 2:
        if responses.shape != (n, j):
            raise ScoringInputError([InputProblem(f"responses have shape {responses.shape}, expected {(n, j)}")])
        columns = [responses[:, jj].tolist() for jj in range(j)]
    else:
        rows = list(responses)
        if len(rows) != n:
            raise ScoringInputError([InputProblem(f"{len(rows)} response rows for {n} candidate ids")])
        ragged = False
        for r, row in enumerate(rows):
            if len(row) != j:
                problems.append(InputProblem(f"row has {len(row)} responses, expected {j}", row=r))
                ragged = True
        if ragged:
            raise ScoringInputError(problems)
        columns = [list(col) for col in zip(*rows)] if n else [[] for _ in range(j)]

    scores = np.zeros((n, j), dtype=np.float64)
    omitted = np.zeros((n, j), dtype=bool)
    choices = np.full((n, j), -2, dtype=np.int16)
    labels_all: list[tuple] = []
    oscores_all: list[tuple] = []
    key_index = np.full(j, -1, dtype=np.intp)
    kinds: list[str] = []
    keys_norm: list[str | None] = []
    for jj, (iid, ik, col) in enumerate(zip(iids, item_keys, columns)):
        if ik is None:
            labels_all.append(())
            oscores_all.append(())
            kinds.append("marked")
            keys_norm.append(None)
            continue
        lut = {}
        bad = {}
        try:
            distinct = set(col)
        except TypeError:
            raise TypeError(f"item {iid!r}: responses must be strings, numbers or None") from None
        for v in distinct:
            cls = _classify(v, ik)
            if cls[0] == "error":
                bad[v] = cls[1]
            else:
                lut[v] = cls
        if bad:
            for r, v in enumerate(col):
                if v in bad:
                    problems.append(InputProblem(bad[v], row=r, column=iid))
            labels_all.append(())
            oscores_all.append(())
            kinds.append(ik.kind)
            keys_norm.append(ik.key)
            continue
        kinds.append(ik.kind)
        keys_norm.append(ik.key)
        if ik.kind == "marked":
            smap = {v: (c[1] if c[0] == "score" else 0.0) for v, c in lut.items()}
            omap = {v: c[0] == "omit" for v, c in lut.items()}
            scores[:, jj] = np.fromiter(map(smap.__getitem__, col), dtype=np.float64, count=n)
            omitted[:, jj] = np.fromiter(map(omap.__getitem__, col), dtype=bool, count=n)
            labels_all.append(())
            oscores_all.append(())
            continue
        observed = {c[1] for c in lut.values() if c[0] == "choice"}
        if ik.kind == "true_false":
            labels = ("T", "F")
        elif ik.kind == "single":
            nopt = ik.n_options
            if nopt is None:
                top = max([LETTERS.index(ik.key)] + [LETTERS.index(x) for x in observed])
                nopt = max(2, top + 1)
            labels = tuple(LETTERS[:nopt])
        else:
            labels = tuple(sorted(observed | {ik.key}))
        index = {lab: t for t, lab in enumerate(labels)}
        osc = tuple(_pattern_score(lab, ik.key, ik.max_points, multiple_policy) if ik.kind == "multiple"
                    else (ik.max_points if lab == ik.key else 0.0) for lab in labels)
        code = {v: (index[c[1]] if c[0] == "choice" else -1) for v, c in lut.items()}
        ch = np.fromiter(map(code.__getitem__, col), dtype=np.int16, count=n)
        choices[:, jj] = ch
        omitted[:, jj] = ch < 0
        osc_arr = np.asarray(osc + (0.0,), dtype=np.float64)  # index -1 -> 0 points
        scores[:, jj] = osc_arr[ch]
        labels_all.append(labels)
        oscores_all.append(osc)
        key_index[jj] = index[ik.key]
    if problems:
        raise ScoringInputError(problems)
    return ScoreMatrix(
        candidate_ids=tuple(cids),
        item_ids=tuple(iids),
        scores=scores,
        max_points=np.array([ik.max_points for ik in item_keys], dtype=np.float64),
        kinds=tuple(kinds),
        keys=tuple(keys_norm),
        omitted=omitted,
        choices=choices,
        option_labels=tuple(labels_all),
        option_scores=tuple(oscores_all),
        key_index=key_index,
        multiple_policy=multiple_policy,
    )


def _default_ids(prefix: str, n: int) -> tuple:
    width = len(str(n))
    return tuple(f"{prefix}{i + 1:0{width}d}" for i in range(n))


def score_matrix_from_choices(
    choices,
    key_index,
    n_options,
    max_points=1.0,
    *,
    candidate_ids=None,
    item_ids=None,
) -> ScoreMatrix:
    """Score single-answer items given option indices (fast path, no string parsing).

    Parameters
    ----------
    choices : array_like of int, shape (N, J)
        Option index 0..n_options[j]-1 (0 = A); -1 = omitted.
    key_index : array_like of int, shape (J,)
        Index of the keyed option.
    n_options : int or array_like of int, shape (J,)
        Number of options, 2–8.
    max_points : float or array_like, shape (J,)
    candidate_ids, item_ids : sequence of str, optional
        Default ``C001...`` and ``Q001...``.

    Returns
    -------
    ScoreMatrix
        With kind ``single`` for every item; score = max_points if choice == key else 0.
    """
    ch = np.asarray(choices)
    if ch.ndim != 2:
        raise ValueError(f"choices must be 2-D (candidates x items), got shape {ch.shape}")
    if not np.issubdtype(ch.dtype, np.integer):
        raise TypeError(f"choices must be integers, got dtype {ch.dtype}")
    n, j = ch.shape
    ki = np.broadcast_to(np.asarray(key_index, dtype=np.intp), (j,))
    no = np.broadcast_to(np.asarray(n_options, dtype=np.intp), (j,))
    mp = np.broadcast_to(np.asarray(max_points, dtype=np.float64), (j,)).copy()
    if np.any((no < 2) | (no > len(LETTERS))):
        raise ValueError(f"n_options must be between 2 and {len(LETTERS)}")
    if np.any((ki < 0) | (ki >= no)):
        raise ValueError("key_index must be an option index below n_options")
    if n and (np.any(ch.min(axis=0) < -1) or np.any(ch.max(axis=0) >= no)):
        raise ValueError("choices must be -1 (omitted) or an option index below n_options")
    ch16 = ch.astype(np.int16, copy=False)
    scores = np.where(ch16 == ki.astype(np.int16), mp, 0.0)
    labels = tuple(tuple(LETTERS[:k]) for k in no)
    return ScoreMatrix(
        candidate_ids=tuple(candidate_ids) if candidate_ids is not None else _default_ids("C", n),
        item_ids=tuple(item_ids) if item_ids is not None else _default_ids("Q", j),
        scores=scores,
        max_points=mp,
        kinds=("single",) * j,
        keys=tuple(LETTERS[k] for k in ki),
        omitted=ch16 < 0,
        choices=ch16,
        option_labels=labels,
        option_scores=tuple(tuple(float(mp[jj]) if t == ki[jj] else 0.0 for t in range(no[jj])) for jj in range(j)),
        key_index=ki.copy(),
    )


def score_matrix_from_scores(scores, max_points=None, *, candidate_ids=None, item_ids=None) -> ScoreMatrix:
    """Wrap a numeric score matrix (all items treated as ``marked``, no options).

    Parameters
    ----------
    scores : array_like, shape (N, J)
        Item scores in points; omitted responses must already be 0.
    max_points : float or array_like (J,), optional
        Default: 1 for every item.
    candidate_ids, item_ids : sequence of str, optional

    Returns
    -------
    ScoreMatrix
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"scores must be 2-D (candidates x items), got shape {x.shape}")
    n, j = x.shape
    mp = np.broadcast_to(np.asarray(1.0 if max_points is None else max_points, dtype=np.float64), (j,)).copy()
    return ScoreMatrix(
        candidate_ids=tuple(candidate_ids) if candidate_ids is not None else _default_ids("C", n),
        item_ids=tuple(item_ids) if item_ids is not None else _default_ids("Q", j),
        scores=x,
        max_points=mp,
        kinds=("marked",) * j,
        keys=(None,) * j,
        omitted=np.zeros((n, j), dtype=bool),
        choices=np.full((n, j), -2, dtype=np.int16),
        option_labels=((),) * j,
        option_scores=((),) * j,
        key_index=np.full(j, -1, dtype=np.intp),
    )


def rescore_item(matrix: ScoreMatrix, item: int | str, new_key: str) -> np.ndarray:
    """Scores of one choice item under a different key (a what-if; the matrix is not changed).

    Parameters
    ----------
    matrix : ScoreMatrix
    item : int or str
        Column index or item id.
    new_key : str
        An option label of the item (for multiple-answer items, a response pattern such as ``"AC"``).

    Returns
    -------
    ndarray, shape (N,)
        New item scores in points, using the matrix's ``multiple_policy``.
    """
    j = matrix.item_ids.index(item) if isinstance(item, str) else int(item)
    if not 0 <= j < matrix.n_items:
        raise ValueError(f"item index {item!r} out of range")
    kind = matrix.kinds[j]
    if kind == "marked":
        raise ValueError(f"item {matrix.item_ids[j]!r} is a marked item; it has no key to change")
    labels = matrix.option_labels[j]
    if new_key not in labels:
        raise ValueError(f"{new_key!r} is not an option of item {matrix.item_ids[j]!r} (options: {', '.join(labels)})")
    mp = float(matrix.max_points[j])
    if kind == "multiple":
        osc = [_pattern_score(lab, new_key, mp, matrix.multiple_policy) for lab in labels]
    else:
        osc = [mp if lab == new_key else 0.0 for lab in labels]
    table = np.asarray(osc + [0.0], dtype=np.float64)
    return table[matrix.choices[:, j]]
