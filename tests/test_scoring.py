"""The output validators task scorers use: anything malformed is None, never partial credit."""

from stop_tui.scoring import as_labels, as_permutation, as_vector


def test_as_vector_accepts_only_flat_integral_values_of_the_right_length():
    assert as_vector([0, 1, True, 1.0], 4, allowed={0, 1}) == [0, 1, 1, 1]
    assert as_vector([0, 1], 3) is None
    assert as_vector([[0], [1]], 2) is None  # a column must not pass as a vector
    assert as_vector([0.5, 1], 2) is None
    assert as_vector([2, 1], 2, allowed={0, 1}) is None
    assert as_vector([float("nan"), 1], 2) is None
    assert as_vector("01", 2) is None


def test_as_permutation_requires_each_index_once():
    assert as_permutation([2, 0, 1], 3) == [2, 0, 1]
    assert as_permutation([0, 0, 1], 3) is None
    assert as_permutation([0, 1, 3], 3) is None
    assert as_permutation([0, 1], 3) is None


def test_as_labels_allows_at_most_the_declared_number_of_labels():
    assert as_labels(["a", "b", "a"], 3) == ["a", "b", "a"]
    assert as_labels([0, 1, 2], 3) is None
    assert as_labels([[0], [1]], 2) is None
    assert as_labels([0, 1], 3) is None
