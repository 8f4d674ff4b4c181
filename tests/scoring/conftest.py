"""Shared fixtures of the scoring tests: a simulated sitting with planted faults."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from scoring.matrix import score_matrix_from_choices


@dataclass
class Sitting:
    choices: np.ndarray      # (N, J) true responses (option index)
    true_key: np.ndarray     # (J,)
    key: np.ndarray          # (J,) recorded key (with the planted mis-key)
    groups: np.ndarray       # (N,) station labels
    theta: np.ndarray
    miskey_item: int
    dead_item: int
    dead_option: int
    dif_item: int
    ambiguous_item: int
    ambiguous_option: int
    leak_item: int
    leak_group: str
    copier: int
    source: int

    def matrix(self):
        return score_matrix_from_choices(self.choices, self.key, 4)


def simulate_sitting(seed: int = 20240601, n: int = 1500, j: int = 40) -> Sitting:
    """2PL-like sitting of 4-option items with planted faults (documented in Sitting)."""
    rng = np.random.default_rng(seed)
    groups = np.array(["S1", "S2", "S3"])[np.arange(n) % 3]
    theta = rng.normal(size=n)
    a = rng.uniform(1.0, 2.0, size=j)
    b = rng.uniform(-1.2, 1.0, size=j)
    true_key = rng.integers(0, 4, size=j)
    dif_item, leak_item, dead_item, miskey_item, ambiguous_item = 11, 19, 7, 3, 15
    b[leak_item] = 0.6
    bb = np.broadcast_to(b, (n, j)).copy()
    bb[groups == "S2", dif_item] += 1.6  # harder for S2 at equal ability
    p_right = 1 / (1 + np.exp(-a * (theta[:, None] - bb)))
    p_right[groups == "S3", leak_item] = 0.97  # leaked at station S3
    right = rng.random((n, j)) < p_right
    # wrong answers spread over the three distractors with item-specific attractiveness
    w = rng.dirichlet([4.0, 4.0, 4.0], size=j)
    dead_option = int((true_key[dead_item] + 3) % 4)
    w[dead_item] = [0.5, 0.5, 0.5]
    distract = np.array([[o for o in range(4) if o != true_key[jj]] for jj in range(j)])
    w[dead_item, list(distract[dead_item]).index(dead_option)] = 0.0
    ambiguous_option = int((true_key[ambiguous_item] + 1) % 4)
    w[ambiguous_item] = [1.0, 1.0, 1.0]
    w[ambiguous_item, list(distract[ambiguous_item]).index(ambiguous_option)] = 0.2  # rarely a guess
    w = w / w.sum(axis=1, keepdims=True)
    u = rng.random((n, j))
    cum = np.cumsum(w, axis=1)
    pick = (u[:, :, None] > cum[None, :, :]).sum(axis=2)
    pick = np.minimum(pick, 2)
    wrong_choice = distract[np.arange(j)[None, :], pick]
    choices = np.where(right, true_key[None, :], wrong_choice)
    # ambiguous item: 40% of those who know the answer choose a second defensible option
    swap = right[:, ambiguous_item] & (rng.random(n) < 0.4)
    choices[swap, ambiguous_item] = ambiguous_option
    # copying pair in the same station: the copier takes 90% of the source's answers
    s1 = np.flatnonzero(groups == "S1")
    copier = int(s1[8])
    others = s1[s1 != copier]
    source = int(others[np.argmin(np.abs(theta[others] + 1.0))])  # a weak source: many wrong answers to copy
    take = rng.random(j) < 0.9
    choices[copier, take] = choices[source, take]
    key = true_key.copy()
    key[miskey_item] = (true_key[miskey_item] + 2) % 4  # recorded key is wrong
    return Sitting(choices=choices, true_key=true_key, key=key, groups=groups, theta=theta,
                   miskey_item=miskey_item, dead_item=dead_item, dead_option=dead_option, dif_item=dif_item,
                   ambiguous_item=ambiguous_item, ambiguous_option=ambiguous_option, leak_item=leak_item,
                   leak_group="S3", copier=copier, source=source)


@pytest.fixture(scope="session")
def sitting() -> Sitting:
    return simulate_sitting()


@pytest.fixture(scope="session")
def sitting_report(sitting):
    from scoring.report import analyze

    return analyze(sitting.matrix(), groups=sitting.groups, copying=True)
