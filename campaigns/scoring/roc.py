"""The area under the ROC curve: does a low score pick out the customers who churned?"""

from __future__ import annotations

from collections.abc import Sequence


def auc(churned: Sequence[float], stayed: Sequence[float]) -> float | None:
    """The probability that a customer who stayed scored higher than one who churned (ties count
    half): 1.0 separates them perfectly, 0.5 is a coin toss. None without both groups.

    The Mann-Whitney U statistic from ranks, O(n log n): scores are ranked together, ties share
    their mean rank.
    """
    if not churned or not stayed:
        return None
    labelled = sorted([(value, 0) for value in churned] + [(value, 1) for value in stayed])
    rank_sum = 0.0
    i = 0
    while i < len(labelled):
        j = i
        while j < len(labelled) and labelled[j][0] == labelled[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(1 for _, stayed_flag in labelled[i:j] if stayed_flag)
        i = j
    n_stayed, n_churned = len(stayed), len(churned)
    u = rank_sum - n_stayed * (n_stayed + 1) / 2
    return u / (n_stayed * n_churned)
