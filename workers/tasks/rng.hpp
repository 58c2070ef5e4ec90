#pragma once
// A small, portable PRNG for dataset generation. std::uniform_int_distribution differs between
// standard libraries, so datasets built from a seed would differ between platforms; this one is
// fully specified (SplitMix64 + rejection sampling) and gives the same stream everywhere.
#include <cstdint>
#include <vector>

namespace csweep::tasks {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // Independent stream for a named purpose (e.g. one per corruption) from the same seed.
  Rng(std::uint64_t seed, std::uint64_t stream) : state_(seed ^ (stream * 0xD1B54A32D192ED03ull)) {
    next();
  }

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n); n > 0. Rejection keeps it unbiased.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do {
      x = next();
    } while (x >= limit);
    return x % n;
  }
  int below(int n) { return static_cast<int>(below(static_cast<std::uint64_t>(n))); }
  // Uniform in [lo, hi] (inclusive).
  int range(int lo, int hi) { return lo + below(hi - lo + 1); }
  double uniform01() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

  // Fisher-Yates.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (int i = static_cast<int>(v.size()) - 1; i > 0; --i) {
      const int j = below(i + 1);
      std::swap(v[i], v[j]);
    }
  }

  // k distinct indices of [0, n) in random order; k <= n.
  std::vector<int> distinct(int n, int k) {
    std::vector<int> idx(n);
    for (int i = 0; i < n; ++i) idx[i] = i;
    for (int i = 0; i < k; ++i) std::swap(idx[i], idx[i + below(n - i)]);
    idx.resize(k);
    return idx;
  }

 private:
  std::uint64_t state_;
};

}  // namespace csweep::tasks
