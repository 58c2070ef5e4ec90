// Visiting orders of the pruning loop: the reference and reversed sequences derived by hand for a
// 2-layer x 2-head pool, the random order against an independent re-implementation
// (tests/reference/pruning_orders.py), restriction to the kept components, and the run spec's
// validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.hpp"
#include "workers/pruning/orders.hpp"

namespace csweep::pruning {
namespace {

using interv::AblationKind;
using interv::Component;
using interv::ComponentKind;

// Pool indices: 0 = 0.0, 1 = 0.1, 2 = mlp0, 3 = 1.0, 4 = 1.1, 5 = mlp1.
RunSpec tiny_spec(OrderKind kind = OrderKind::kReference, std::uint64_t seed = 0) {
  RunSpec s;
  for (int l = 0; l < 2; ++l) {
    s.pool.push_back({ComponentKind::kHead, l, 0});
    s.pool.push_back({ComponentKind::kHead, l, 1});
    s.pool.push_back({ComponentKind::kMlp, l, 0});
  }
  s.thresholds = {20};
  s.order = {kind, seed};
  return s;
}

const std::vector<std::uint8_t> kAll(6, 1);

TEST(PruningOrders, ReferenceIsBackwardMlpFirstThenForwardHeadsFirst) {
  // Backward: mlp1, 1.0, 1.1, mlp0, 0.0, 0.1; forward: 0.0, 0.1, mlp0, 1.0, 1.1, mlp1.
  EXPECT_EQ(pass_sequence(tiny_spec(), kAll), (std::vector<int>{5, 3, 4, 2, 0, 1, 0, 1, 2, 3, 4, 5}));
}

TEST(PruningOrders, ReversedIsTheReferenceBackToFront) {
  EXPECT_EQ(pass_sequence(tiny_spec(OrderKind::kReversed), kAll),
            (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 0, 2, 4, 3, 5}));
}

TEST(PruningOrders, SequencesAreRestrictedToKeptComponents) {
  const std::vector<std::uint8_t> kept = {1, 0, 1, 1, 0, 1};  // 0.1 and 1.1 removed
  EXPECT_EQ(pass_sequence(tiny_spec(), kept), (std::vector<int>{5, 3, 2, 0, 0, 2, 3, 5}));
  EXPECT_EQ(pass_sequence(tiny_spec(OrderKind::kReversed), kept),
            (std::vector<int>{5, 3, 2, 0, 0, 2, 3, 5}));
  // Random: the seed-0 permutation of 6 is [4, 2, 5, 3, 0, 1]; without 1 and 4: [2, 5, 3, 0].
  EXPECT_EQ(pass_sequence(tiny_spec(OrderKind::kRandom, 0), kept), (std::vector<int>{2, 5, 3, 0}));
  EXPECT_TRUE(pass_sequence(tiny_spec(), std::vector<std::uint8_t>(6, 0)).empty());
}

TEST(PruningOrders, HeadsOnlyPool) {
  RunSpec s;
  for (int l = 0; l < 2; ++l) {
    for (int h = 0; h < 2; ++h) s.pool.push_back({ComponentKind::kHead, l, h});
  }
  s.thresholds = {20};
  EXPECT_EQ(pass_sequence(s, std::vector<std::uint8_t>(4, 1)), (std::vector<int>{2, 3, 0, 1, 0, 1, 2, 3}));
}

TEST(PruningOrders, SplitMix64MatchesTheReferenceStream) {
  // Vigna's splitmix64.c with state 0: first output 0xe220a8397b1dcdaf.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64_next(state), 0xe220a8397b1dcdafULL);
}

TEST(PruningOrders, RandomPermutationsMatchAnIndependentImplementation) {
  // Values printed by tests/reference/pruning_orders.py.
  EXPECT_EQ(random_permutation(6, 0), (std::vector<int>{4, 2, 5, 3, 0, 1}));
  EXPECT_EQ(random_permutation(6, 1), (std::vector<int>{0, 1, 3, 2, 4, 5}));
  EXPECT_EQ(random_permutation(10, 42), (std::vector<int>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3}));
  EXPECT_EQ(random_permutation(20, 7), (std::vector<int>{4, 1, 2, 15, 16, 18, 9, 6, 13, 3, 8, 5, 19, 12,
                                                         17, 10, 11, 0, 14, 7}));
}

TEST(PruningOrders, RandomOrderIsAReproduciblePermutationThatDependsOnTheSeed) {
  std::set<std::vector<int>> distinct;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const auto s = tiny_spec(OrderKind::kRandom, seed);
    const auto a = pass_sequence(s, kAll);
    EXPECT_EQ(a, pass_sequence(s, kAll)) << "seed " << seed;
    auto sorted = a;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5})) << "seed " << seed;
    distinct.insert(a);
  }
  EXPECT_GE(distinct.size(), 15u);  // 720 permutations; 20 seeds rarely collide
  EXPECT_TRUE(random_permutation(0, 3).empty());
  EXPECT_EQ(random_permutation(1, 3), (std::vector<int>{0}));
}

TEST(PruningOrders, BoundedDrawIsInRange) {
  std::uint64_t state = 5;
  for (std::uint64_t bound : {1ULL, 2ULL, 3ULL, 7ULL, 1000ULL, (1ULL << 63) + 1}) {
    for (int i = 0; i < 50; ++i) EXPECT_LT(bounded_draw(state, bound), bound);
  }
}

TEST(PruningSpecValidation, RejectsBadSpecs) {
  const auto ok = tiny_spec();
  EXPECT_NO_THROW(validate_run_spec(ok, AblationKind::kMean, 2, 2));
  EXPECT_THROW(validate_run_spec(ok, AblationKind::kPathPatch, 2, 2), InputError);
  auto s = ok;
  s.pool.clear();
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  EXPECT_THROW(validate_run_spec(ok, AblationKind::kMean, 1, 2), InputError);  // layer 1 outside
  EXPECT_THROW(validate_run_spec(ok, AblationKind::kMean, 2, 1), InputError);  // head 1 outside
  s = ok;
  s.pool.push_back({ComponentKind::kNeuron, 1, 3});
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  s = ok;
  std::swap(s.pool[0], s.pool[1]);
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  s = ok;
  s.pool[1] = s.pool[0];
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  for (double t : {0.0, -1.0, 100.5, std::nan("")}) {
    s = ok;
    s.thresholds = {t};
    EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError) << t;
  }
  s = ok;
  s.thresholds = {100};
  EXPECT_NO_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2));
  s.thresholds = {3, 10};
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);  // two, not nested
  s.nested = true;
  EXPECT_NO_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2));
  s.thresholds = {10, 3};
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  s.thresholds = {10, 10};
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
  s.thresholds.clear();
  EXPECT_THROW(validate_run_spec(s, AblationKind::kMean, 2, 2), InputError);
}

}  // namespace
}  // namespace csweep::pruning
