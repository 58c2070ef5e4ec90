"""Independent re-implementation of the pruning loop's random order (workers/pruning/orders.hpp):
SplitMix64 stream from the seed, bounded draws by rejection below 2^64 mod bound, Fisher-Yates from
the back. Prints the permutations pinned in tests/unit/workers/pruning/test_orders.cpp.

    python3 tests/reference/pruning_orders.py
"""
M = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)


def bounded(state, bound):
    reject_below = (1 << 64) % bound
    while True:
        state, r = splitmix64(state)
        if r >= reject_below:
            return state, r % bound


def permutation(n, seed):
    p = list(range(n))
    state = seed
    for i in range(n - 1, 0, -1):
        state, j = bounded(state, i + 1)
        p[i], p[j] = p[j], p[i]
    return p


if __name__ == "__main__":
    s, first = splitmix64(0)
    print("splitmix64(seed 0) first output:", hex(first))
    for n, seed in [(6, 0), (6, 1), (10, 42), (20, 7)]:
        print(n, seed, permutation(n, seed))
