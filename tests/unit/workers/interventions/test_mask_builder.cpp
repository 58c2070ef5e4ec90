// MaskBuilder and ones_at (mask_builder.hpp) against masks written cell by cell in the test: for
// random entries (rows, indices, with and without position masks, repeated cells) the masks made
// on the device equal the element-wise construction exactly, on the CPU and, where there is one,
// on a CUDA device (the CUDA cases skip without one).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "workers/interventions/mask_builder.hpp"

namespace csweep::interv {
namespace {

class MaskBuilderOn : public ::testing::TestWithParam<torch::DeviceType> {
 protected:
  void SetUp() override {
    if (GetParam() == torch::kCUDA && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  torch::Device device() const { return torch::Device(GetParam(), 0); }
};

struct TestEntry {
  int64_t row, idx;
  int pos;  // index into the test's position masks; -1 = all positions
};

// The obvious construction: a CPU bool tensor, each entry written element by element in order.
torch::Tensor elementwise(int64_t n, int64_t Bm, int64_t Pm, int64_t X, const std::vector<TestEntry>& entries,
                          const std::vector<torch::Tensor>& pos) {
  auto ref = torch::zeros({n, Bm, Pm, X}, torch::kBool);
  auto a = ref.accessor<bool, 4>();
  for (const auto& e : entries) {
    for (int64_t b = 0; b < Bm; ++b) {
      for (int64_t p = 0; p < Pm; ++p) {
        a[e.row][b][p][e.idx] = e.pos < 0 ? true : pos[static_cast<size_t>(e.pos)].accessor<bool, 2>()[b][p];
      }
    }
  }
  return ref;
}

void expect_same(const torch::Tensor& got, const torch::Tensor& want, torch::Device dev) {
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(got.device().type(), dev.type());
  EXPECT_EQ(got.scalar_type(), want.scalar_type());
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::equal(got.cpu(), want));
}

TEST_P(MaskBuilderOn, RandomEntriesEqualTheElementWiseMask) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 9);
    const bool with_pos = trial % 4 != 0;  // every fourth trial: masks [n, 1, 1, X], no positions
    const int64_t Bm = with_pos ? 1 + static_cast<int64_t>(rng() % 4) : 1;
    const int64_t Pm = with_pos ? 2 + static_cast<int64_t>(rng() % 5) : 1;
    // Position masks: a few random ones plus separate tensors repeating their contents, which
    // the builder must recognise as the same mask.
    std::vector<torch::Tensor> pos;
    if (with_pos) {
      const int k = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < k; ++i) {
        auto m = torch::zeros({Bm, Pm}, torch::kBool);
        auto a = m.accessor<bool, 2>();
        for (int64_t b = 0; b < Bm; ++b)
          for (int64_t p = 0; p < Pm; ++p) a[b][p] = rng() % 2 == 0;
        pos.push_back(m);
      }
      for (int i = 0; i < k; ++i) pos.push_back(pos[static_cast<size_t>(i)].clone());
    }
    MaskBuilder mb(n, Bm, Pm, device());
    // Several masks of one builder (they share its uploaded position masks), of different widths.
    std::vector<int> used_pos;
    for (int64_t X : {int64_t{1}, int64_t{3}, int64_t{7}}) {
      std::vector<TestEntry> entries;
      const int count = static_cast<int>(rng() % 12);
      for (int i = 0; i < count; ++i) {
        TestEntry e{static_cast<int64_t>(rng() % n), static_cast<int64_t>(rng() % X),
                    pos.empty() || rng() % 3 == 0 ? -1 : static_cast<int>(rng() % pos.size())};
        entries.push_back(e);
        // A repeated cell, now with another position mask (or all positions): the later wins.
        if (rng() % 4 == 0) {
          entries.push_back({e.row, e.idx, pos.empty() || rng() % 2 == 0 ? -1 : static_cast<int>(rng() % pos.size())});
        }
      }
      MaskRecord rec;
      for (const auto& e : entries) {
        mb.set(rec, X, e.row, e.idx, e.pos < 0 ? torch::Tensor() : pos[static_cast<size_t>(e.pos)]);
        if (e.pos >= 0) used_pos.push_back(e.pos);
      }
      const auto got = mb.build(rec);
      if (entries.empty()) {
        EXPECT_TRUE(rec.empty());
        EXPECT_FALSE(got.defined());
        continue;
      }
      expect_same(got, elementwise(n, Bm, Pm, X, entries, pos), device());
      int64_t min_row = n;
      for (const auto& e : entries) min_row = std::min(min_row, e.row);
      EXPECT_EQ(rec.first_row, min_row) << "trial " << trial << " X " << X;
    }
    // Distinct contents among the position masks used (clones, and by chance random ones, coincide).
    std::sort(used_pos.begin(), used_pos.end());
    used_pos.erase(std::unique(used_pos.begin(), used_pos.end()), used_pos.end());
    size_t distinct = 0;
    for (size_t i = 0; i < used_pos.size(); ++i) {
      bool seen = false;
      for (size_t j = 0; j < i; ++j)
        seen = seen || torch::equal(pos[static_cast<size_t>(used_pos[i])], pos[static_cast<size_t>(used_pos[j])]);
      if (!seen) ++distinct;
    }
    EXPECT_EQ(mb.distinct_position_masks(), distinct) << "trial " << trial;
  }
}

TEST_P(MaskBuilderOn, LaterEntryOfACellReplacesTheEarlier) {
  auto pm = torch::zeros({2, 3}, torch::kBool);
  pm[0][1] = true;
  pm[1][2] = true;
  MaskBuilder mb(2, 2, 3, device());
  MaskRecord rec;
  mb.set(rec, 2, 0, 1, pm);          // cell (0, 1): positions, then all
  mb.set(rec, 2, 0, 1, {});
  mb.set(rec, 2, 1, 1, {});          // cell (1, 1): all, then positions (which clears the rest)
  mb.set(rec, 2, 1, 1, pm);
  auto want = torch::zeros({2, 2, 3, 2}, torch::kBool);
  want.select(0, 0).select(-1, 1).fill_(true);
  want.select(0, 1).select(-1, 1).copy_(pm);
  expect_same(mb.build(rec), want, device());
  EXPECT_EQ(rec.first_row, 0);
}

TEST_P(MaskBuilderOn, OnesAtEqualsTheElementWiseTensor) {
  std::mt19937 rng(5);
  for (const auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16}) {
    for (int trial = 0; trial < 10; ++trial) {
      const std::vector<int64_t> shape{1 + static_cast<int64_t>(rng() % 6), 1 + static_cast<int64_t>(rng() % 4),
                                       1 + static_cast<int64_t>(rng() % 5)};
      std::vector<std::vector<int64_t>> coords(3);
      auto want = torch::zeros(shape, torch::kFloat64);
      auto a = want.accessor<double, 3>();
      const int count = 1 + static_cast<int>(rng() % 15);  // repeated points included by chance
      for (int i = 0; i < count; ++i) {
        int64_t c[3];
        for (size_t d = 0; d < 3; ++d) {
          c[d] = static_cast<int64_t>(rng() % static_cast<uint32_t>(shape[d]));
          coords[d].push_back(c[d]);
        }
        a[c[0]][c[1]][c[2]] = 1.0;
      }
      const auto got = ones_at(shape, coords, torch::TensorOptions().dtype(dtype).device(device()));
      expect_same(got, want.to(dtype), device());
    }
  }
  EXPECT_FALSE(ones_at({2, 3}, {{}, {}}, torch::TensorOptions().device(device())).defined());
}

INSTANTIATE_TEST_SUITE_P(Devices, MaskBuilderOn, ::testing::Values(torch::kCPU, torch::kCUDA),
                         [](const auto& info) { return info.param == torch::kCPU ? "cpu" : "cuda"; });

}  // namespace
}  // namespace csweep::interv
