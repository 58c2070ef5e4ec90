#include "workers/pruning/orders.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "vocab/names.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::pruning {

using interv::Component;
using interv::ComponentKind;

std::vector<int> reference_sequence(const std::vector<Component>& pool) {
  std::vector<int> seq;
  seq.reserve(2 * pool.size());
  // Backward: layers descending; within a layer the MLP, then the heads ascending. The pool is
  // sorted with heads before the MLP in each layer, so each layer's block is read MLP-first.
  size_t end = pool.size();
  while (end > 0) {
    const int layer = pool[end - 1].layer;
    size_t begin = end;
    while (begin > 0 && pool[begin - 1].layer == layer) --begin;
    for (size_t i = begin; i < end; ++i) {
      if (pool[i].kind == ComponentKind::kMlp) seq.push_back(static_cast<int>(i));
    }
    for (size_t i = begin; i < end; ++i) {
      if (pool[i].kind != ComponentKind::kMlp) seq.push_back(static_cast<int>(i));
    }
    end = begin;
  }
  // Forward: the pool's own order (layers ascending, heads ascending, then the MLP).
  for (size_t i = 0; i < pool.size(); ++i) seq.push_back(static_cast<int>(i));
  return seq;
}

std::uint64_t splitmix64_next(std::uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t bounded_draw(std::uint64_t& state, std::uint64_t bound) {
  CSWEEP_ASSERT(bound >= 1, "bound {}", bound);
  // 2^64 mod bound, computed in 64-bit arithmetic: (2^64 - bound) mod bound.
  const std::uint64_t reject_below = (0 - bound) % bound;
  std::uint64_t r = splitmix64_next(state);
  while (r < reject_below) r = splitmix64_next(state);
  return r % bound;
}

std::vector<int> random_permutation(int n, std::uint64_t seed) {
  std::vector<int> p(static_cast<size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::uint64_t state = seed;
  for (int i = n - 1; i >= 1; --i) {
    const auto j = bounded_draw(state, static_cast<std::uint64_t>(i) + 1);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::vector<int> order_sequence(const RunSpec& spec) {
  switch (spec.order.kind) {
    case OrderKind::kReference: return reference_sequence(spec.pool);
    case OrderKind::kReversed: {
      auto seq = reference_sequence(spec.pool);
      std::reverse(seq.begin(), seq.end());
      return seq;
    }
    case OrderKind::kRandom: return random_permutation(static_cast<int>(spec.pool.size()), spec.order.seed);
  }
  CSWEEP_ASSERT(false, "order kind {}", static_cast<int>(spec.order.kind));
  return {};
}

std::vector<int> pass_sequence(const RunSpec& spec, const std::vector<std::uint8_t>& kept) {
  CSWEEP_ASSERT(kept.size() == spec.pool.size(), "kept has {} entries for a pool of {}", kept.size(),
                spec.pool.size());
  std::vector<int> seq;
  for (int i : order_sequence(spec)) {
    if (kept[static_cast<size_t>(i)] != 0) seq.push_back(i);
  }
  return seq;
}

void validate_run_spec(const RunSpec& spec, interv::AblationKind kind, int n_layers, int n_heads) {
  CSWEEP_CHECK_INPUT(kind != interv::AblationKind::kPathPatch,
                     "pruning: ablation kind path_patch is not a node ablation (expected zero, mean, "
                     "resample or a patching kind)");
  CSWEEP_CHECK_INPUT(!spec.pool.empty(), "pruning: the component pool is empty (expected at least "
                     "one head or MLP)");
  for (size_t i = 0; i < spec.pool.size(); ++i) {
    const auto& c = spec.pool[i];
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kNeuron,
                       "pruning: pool component {} is a neuron (expected heads and MLPs)",
                       vocab::component_name(c));
    CSWEEP_CHECK_INPUT(c.layer >= 0 && c.layer < n_layers,
                       "pruning: pool component {}: layer {} outside the model's 0..{}",
                       vocab::component_name(c), c.layer, n_layers - 1);
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kHead || (c.index >= 0 && c.index < n_heads),
                       "pruning: pool component {}: head {} outside the model's 0..{}",
                       vocab::component_name(c), c.index, n_heads - 1);
    CSWEEP_CHECK_INPUT(c.kind != ComponentKind::kMlp || c.index == 0,
                       "pruning: pool component mlp{} has index {} (expected 0)", c.layer, c.index);
    CSWEEP_CHECK_INPUT(i == 0 || spec.pool[i - 1] < c,
                       "pruning: pool entries {} and {} are not sorted by (layer, kind, index) or "
                       "repeat", vocab::component_name(spec.pool[i - 1]), vocab::component_name(c));
  }
  CSWEEP_CHECK_INPUT(!spec.thresholds.empty(), "pruning: no threshold given (expected {})",
                     spec.nested ? "one or more, ascending" : "exactly one");
  CSWEEP_CHECK_INPUT(spec.nested || spec.thresholds.size() == 1,
                     "pruning: {} thresholds given without nested (expected exactly one)",
                     spec.thresholds.size());
  for (size_t i = 0; i < spec.thresholds.size(); ++i) {
    const double t = spec.thresholds[i];
    CSWEEP_CHECK_INPUT(std::isfinite(t) && t > 0 && t <= 100,
                       "pruning: threshold {} is outside (0, 100] (T in percent: a component is "
                       "removed when 100 - performance < T)", t);
    CSWEEP_CHECK_INPUT(i == 0 || spec.thresholds[i - 1] < t,
                       "pruning: nested thresholds {} then {} are not strictly ascending (expected "
                       "the highest required performance, the smallest T, first)",
                       spec.thresholds[i - 1], t);
  }
}

}  // namespace csweep::pruning
