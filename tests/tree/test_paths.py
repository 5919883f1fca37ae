"""Path arithmetic and level rules: pure functions, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridgov.tree import paths
from gridgov.tree.levels import CODE_LENGTH, Level, code_problem, parent_problem
from gridgov.tree.paths import (
    MAX_SEQUENCE,
    ancestor_paths,
    child_path,
    common_ancestor,
    depth,
    rebase,
    segment,
    sequence_of,
    subtree_range,
)

# Sequence numbers around the places where base 36 gains a digit.
EDGES = [1, 2, 9, 10, 35, 36, 37, 1295, 1296, MAX_SEQUENCE - 1, MAX_SEQUENCE]
sequences = st.one_of(st.sampled_from(EDGES), st.integers(1, MAX_SEQUENCE))


def path_of(*sequence_numbers: int) -> str:
    path = ""
    for number in sequence_numbers:
        path = child_path(path, number)
    return path


def in_range(path: str, low_high: tuple[str, str]) -> bool:
    low, high = low_high
    return low <= path < high


# --- segments -----------------------------------------------------------------------------------


def test_segment_examples():
    assert segment(1) == "0001"
    assert segment(35) == "000Z"
    assert segment(36) == "0010"
    assert segment(MAX_SEQUENCE) == "ZZZZ"


@pytest.mark.parametrize("bad", [0, -1, MAX_SEQUENCE + 1])
def test_segment_refuses_sequences_that_do_not_fit(bad):
    with pytest.raises(ValueError):
        segment(bad)


@given(sequences, sequences)
def test_segments_are_fixed_width_and_sort_like_their_numbers(a, b):
    assert len(segment(a)) == paths.SEGMENT_WIDTH
    assert sequence_of(segment(a)) == a
    assert (segment(a) < segment(b)) == (a < b)


# --- child_path, depth, ancestors ---------------------------------------------------------------


def test_child_path_examples():
    assert child_path("", 1) == "0001."
    assert child_path("0001.", 3) == "0001.0003."
    assert child_path("0001.0003.", 36) == "0001.0003.0010."


def test_depth_and_ancestors_of_a_micro_grid_path():
    microgrid = path_of(1, 2, 3, 4, 5)
    assert depth("0001.") == 0
    assert depth(microgrid) == 4
    assert ancestor_paths(microgrid) == ["0001.", "0001.0002.", "0001.0002.0003.", "0001.0002.0003.0004."]
    assert ancestor_paths("0001.") == []
    assert paths.parent_path(microgrid) == "0001.0002.0003.0004."
    assert paths.parent_path("0001.") is None


@given(st.lists(sequences, min_size=1, max_size=6), sequences)
def test_a_child_is_one_level_deeper_and_lists_its_parent_last(numbers, sequence):
    parent = path_of(*numbers)
    child = child_path(parent, sequence)
    assert depth(child) == depth(parent) + 1
    assert ancestor_paths(child) == ancestor_paths(parent) + [parent]
    assert paths.last_sequence(child) == sequence


# --- subtree ranges: the property everything relies on ------------------------------------------


def test_subtree_range_holds_the_unit_and_its_descendants_only():
    town = path_of(1, 2)
    rng = subtree_range(town)
    assert in_range(town, rng)
    assert in_range(path_of(1, 2, 7, 1), rng)
    assert in_range(path_of(1, 2, MAX_SEQUENCE), rng)
    assert not in_range(path_of(1), rng)  # its parent
    assert not in_range(path_of(1, 1, 9), rng)  # a cousin before it
    assert not in_range(path_of(1, 3), rng)  # the next sibling
    assert not in_range(path_of(2, 2), rng)  # another district


def test_is_descendant_or_self():
    assert paths.is_descendant_or_self(path_of(1, 2, 3), path_of(1, 2))
    assert paths.is_descendant_or_self(path_of(1, 2), path_of(1, 2))
    assert not paths.is_descendant_or_self(path_of(1, 2), path_of(1, 2, 3))
    assert not paths.is_descendant_or_self(path_of(1, 3, 3), path_of(1, 2))


@st.composite
def random_trees(draw):
    """``(path_by_node, parent_by_node)`` for a random forest, sequences allocated per parent as the
    service does (a counter per parent), counters starting near base-36 digit boundaries."""
    parent_of: list[int | None] = []
    path_by_node: list[str] = []
    counter: dict[int | None, int] = {}
    for choice in draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=40)):
        eligible = [n for n in range(len(path_by_node)) if depth(path_by_node[n]) < 5]
        parent = None if not eligible or choice % 7 == 0 else eligible[choice % len(eligible)]
        if parent not in counter:
            counter[parent] = draw(st.sampled_from([0, 8, 34, 1294, MAX_SEQUENCE - 45]))
        counter[parent] += 1
        prefix = "" if parent is None else path_by_node[parent]
        parent_of.append(parent)
        path_by_node.append(child_path(prefix, counter[parent]))
    return path_by_node, parent_of


def true_ancestors(node: int, parent_of: list) -> list[int]:
    """Proper ancestors of ``node``, root first, from the parent links (not from paths)."""
    chain = []
    while parent_of[node] is not None:
        node = parent_of[node]
        chain.append(node)
    return chain[::-1]


@given(random_trees())
def test_subtree_range_is_exactly_startswith_is_exactly_descent(tree):
    path_by_node, parent_of = tree
    for p_node, p in enumerate(path_by_node):
        rng = subtree_range(p)
        for q_node, q in enumerate(path_by_node):
            descends = q_node == p_node or p_node in true_ancestors(q_node, parent_of)
            assert in_range(q, rng) == q.startswith(p) == descends, (p, q)


@given(random_trees())
def test_paths_know_their_ancestors_and_depth(tree):
    path_by_node, parent_of = tree
    for node, path in enumerate(path_by_node):
        chain = true_ancestors(node, parent_of)
        assert depth(path) == len(chain)
        assert ancestor_paths(path) == [path_by_node[a] for a in chain]


@given(random_trees())
def test_sorted_paths_are_tree_order_with_contiguous_subtrees(tree):
    path_by_node, parent_of = tree
    ordered = sorted(path_by_node)
    position = {path: index for index, path in enumerate(ordered)}
    for node, path in enumerate(path_by_node):
        if parent_of[node] is not None:
            assert position[path_by_node[parent_of[node]]] < position[path]
        members = [i for i, q in enumerate(ordered) if in_range(q, subtree_range(path))]
        assert members == list(range(members[0], members[0] + len(members)))


@given(random_trees(), st.data())
def test_common_ancestor_is_the_lowest_shared_ancestor(tree, data):
    path_by_node, parent_of = tree
    chosen = data.draw(st.lists(st.integers(0, len(path_by_node) - 1), min_size=1, max_size=5))
    chains = [true_ancestors(n, parent_of) + [n] for n in chosen]
    shared = [n for n in chains[0] if all(n in chain for chain in chains)]
    expected = path_by_node[shared[-1]] if shared else None
    assert common_ancestor([path_by_node[n] for n in chosen]) == expected


# --- common_ancestor and rebase examples --------------------------------------------------------


def test_common_ancestor_examples():
    assert common_ancestor([path_of(1, 2, 3), path_of(1, 2, 4)]) == path_of(1, 2)
    assert common_ancestor([path_of(1, 2), path_of(1, 2, 4, 5)]) == path_of(1, 2)
    assert common_ancestor([path_of(1, 2, 3)]) == path_of(1, 2, 3)
    assert common_ancestor([path_of(1, 2), path_of(2, 2)]) is None


def test_common_ancestor_respects_segment_boundaries():
    # "0001.0012." and "0001.0013." share the text "0001.001" but only the district as a unit.
    assert common_ancestor([path_of(1, 38), path_of(1, 39)]) == path_of(1)


def test_common_ancestor_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        common_ancestor([])


def test_rebase_moves_a_descendant_with_its_subtree():
    assert rebase(path_of(1, 1, 5, 2), path_of(1, 1, 5), path_of(1, 2, 9)) == path_of(1, 2, 9, 2)
    assert rebase(path_of(1, 1, 5), path_of(1, 1, 5), path_of(1, 2, 9)) == path_of(1, 2, 9)
    with pytest.raises(ValueError):
        rebase(path_of(1, 1, 6), path_of(1, 1, 5), path_of(1, 2, 9))


@given(st.lists(sequences, min_size=1, max_size=3), st.lists(sequences, max_size=3),
       st.lists(sequences, min_size=1, max_size=3))
def test_rebase_keeps_the_relative_path_and_is_reversible(old, below, new):
    old_prefix, new_prefix = path_of(*old), path_of(*new)
    member = path_of(*old, *below)
    moved = rebase(member, old_prefix, new_prefix)
    assert in_range(moved, subtree_range(new_prefix))
    assert depth(moved) - depth(new_prefix) == depth(member) - depth(old_prefix)
    assert rebase(moved, new_prefix, old_prefix) == member


# --- levels -------------------------------------------------------------------------------------


def test_levels_in_order():
    assert [level.value for level in Level] == ["district", "town", "village", "grid", "microgrid"]
    assert Level.DISTRICT.parent is None and Level.MICROGRID.child is None
    assert Level.VILLAGE.parent is Level.TOWN and Level.VILLAGE.child is Level.GRID
    assert [level.rank for level in Level] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("parent_level", [None, *Level])
def test_parent_must_be_exactly_one_level_up(level, parent_level):
    problem = parent_problem(level, parent_level)
    assert (problem is None) == (parent_level == level.parent)
    if problem is not None and level.parent is not None:
        assert str(level.parent) in problem


def test_parent_problem_messages():
    assert parent_problem(Level.DISTRICT, Level.TOWN) == "a district has no parent"
    assert parent_problem(Level.VILLAGE, Level.DISTRICT) == "the parent of a village must be a town"
    assert parent_problem(Level.MICROGRID, None) == "the parent of a microgrid must be a grid"


@pytest.mark.parametrize(
    "level, code",
    [
        (Level.DISTRICT, "510503"),
        (Level.TOWN, "510503001"),
        (Level.VILLAGE, "510503001001"),
        (Level.GRID, "510503001001001"),
        (Level.MICROGRID, "510503001001001001"),
    ],
)
def test_code_of_the_right_length_is_accepted(level, code):
    assert code_problem(code, level) is None


@pytest.mark.parametrize(
    "level, code",
    [
        (Level.DISTRICT, "51050"),
        (Level.DISTRICT, "510503001"),
        (Level.TOWN, "510503"),
        (Level.GRID, "510503001001"),
        (Level.MICROGRID, "5105030010010010011"),
        (Level.DISTRICT, "51050A"),
        (Level.DISTRICT, "５１０５０３"),  # full-width digits are not ASCII digits
        (Level.DISTRICT, "51050٣"),  # an Arabic-Indic digit
        (Level.DISTRICT, "510503\n"),
        (Level.DISTRICT, " 10503"),
        (Level.DISTRICT, ""),
    ],
)
def test_code_of_wrong_length_or_characters_is_refused(level, code):
    problem = code_problem(code, level)
    assert problem == f"a {level} code is {CODE_LENGTH[level]} digits"


def test_ancestor_at_a_depth_is_that_prefix_of_the_path():
    microgrid = "0001.0002.0003.0004.0005."
    assert [paths.ancestor_at(microgrid, d) for d in range(5)] == [*paths.ancestor_paths(microgrid), microgrid]
    with pytest.raises(ValueError):
        paths.ancestor_at("0001.0002.", 2)
