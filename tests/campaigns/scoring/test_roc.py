"""The area under the ROC curve, against examples worked by hand (and scikit-learn's documentation)."""

import pytest

from campaigns.scoring.roc import auc


@pytest.mark.parametrize(
    ("churned", "stayed", "expected"),
    [
        # Perfectly separated: every customer who stayed scored higher.
        ([10, 20], [60, 90], 1.0),
        # Exactly wrong.
        ([60, 90], [10, 20], 0.0),
        # All tied: a coin toss.
        ([50, 50], [50, 50], 0.5),
        # scikit-learn's example, roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75: its
        # positives (1) are the customers who stayed, its negatives those who churned.
        ([0.1, 0.4], [0.35, 0.8], 0.75),
        # Ties count half: pairs (30<40 yes), (30=30 half), (50>40 no), (50>30 no) -> 1.5 / 4.
        ([30, 50], [40, 30], 0.375),
    ],
)
def test_auc(churned, stayed, expected):
    assert auc(churned, stayed) == pytest.approx(expected)


def test_auc_needs_both_groups():
    assert auc([], [1, 2]) is None
    assert auc([1], []) is None
