"""Set algebra over circuits: Venn regions, intersections, unions, Jaccard, survival frequency.

Every function takes an ordered mapping name -> set of component names and returns plain data
(lists sorted in forward-pass order) so summary.json, the CSV/LaTeX tables and the figures all
read the same numbers.
"""
from itertools import combinations

from . import components

REGION_SEPARATOR = "&"


def region_key(names):
    """summary.json key of a set of tasks: 'digits&months' (in the order the tasks were given)."""
    return REGION_SEPARATOR.join(names)


def _subsets(names):
    for r in range(1, len(names) + 1):
        yield from combinations(names, r)


def venn_regions(sets):
    """Every region of the Venn diagram of `sets`, including empty ones.

    Region S (a non-empty tuple of set names) holds the members that are in every set of S and in
    no other set. Returns a list of {"sets", "count", "members"} in order of |S|, then the order
    the sets were given; regions partition the union.
    """
    names = list(sets)
    out = []
    for inside in _subsets(names):
        members = set.intersection(*(set(sets[n]) for n in inside))
        for other in names:
            if other not in inside:
                members -= set(sets[other])
        out.append({"sets": list(inside), "count": len(members),
                    "members": components.sort(members)})
    return out


def intersections(sets):
    """For every subset S of the sets (|S| >= 2): the members common to all of S (inclusive)."""
    names = list(sets)
    out = []
    for inside in _subsets(names):
        if len(inside) < 2:
            continue
        members = set.intersection(*(set(sets[n]) for n in inside))
        out.append({"sets": list(inside), "count": len(members),
                    "members": components.sort(members)})
    return out


def union(sets):
    members = set().union(*(set(s) for s in sets.values())) if sets else set()
    return components.sort(members)


def jaccard(a, b):
    """|A ∩ B| / |A ∪ B|; 1.0 for two empty sets (identical)."""
    a, b = set(a), set(b)
    u = a | b
    return len(a & b) / len(u) if u else 1.0


def pairwise(sets):
    """Every pair: sizes, intersection, both differences, union size and Jaccard index."""
    out = []
    for x, y in combinations(list(sets), 2):
        a, b = set(sets[x]), set(sets[y])
        out.append({"a": x, "b": y, "size_a": len(a), "size_b": len(b),
                    "intersection": components.sort(a & b), "n_intersection": len(a & b),
                    "only_a": components.sort(a - b), "only_b": components.sort(b - a),
                    "n_union": len(a | b), "jaccard": jaccard(a, b)})
    return out


def jaccard_matrix(sets):
    names = list(sets)
    return names, [[jaccard(sets[x], sets[y]) for y in names] for x in names]


def survival(circuits):
    """How often each component survives across circuits of one setting (e.g. removal orders).

    `circuits` is a list of sets; returns a list of {"component", "count", "frequency"} sorted by
    frequency (descending), then forward-pass order, over every component kept at least once.
    """
    n = len(circuits)
    counts = {}
    for c in circuits:
        for m in c:
            counts[m] = counts.get(m, 0) + 1
    rows = [{"component": m, "count": k, "frequency": k / n if n else 0.0}
            for m, k in counts.items()]
    rows.sort(key=lambda r: (-r["count"], components.sort_key(r["component"])))
    return rows
