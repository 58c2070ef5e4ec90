// Dequantisation of every supported ggml type (K-quants included) against the values the PyPI `gguf` package
// (gguf.quants.dequantize) computed for the same random blocks (fixture written by
// tests/reference/generate_gguf_quant_vectors.py). Expected bit-exact: ggml's reference decoders
// are one fp16->fp32 widening and one multiply(-add) per element, which float arithmetic
// reproduces exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "workers/io/ggml_quants.hpp"
#include "workers/io/gguf.hpp"

namespace csweep::io {
namespace {

const std::string kVectors = std::string(CSWEEP_FIXTURES_DIR) + "/ggml_quants/quant_vectors.gguf";

class DequantVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(DequantVectors, MatchesGgufPy) {
  const GgufFile f = GgufFile::open(kVectors);
  const std::string type = GetParam();
  const GgufTensorInfo* raw = f.find_tensor(type + ".raw");
  const GgufTensorInfo* exp = f.find_tensor(type + ".expected");
  ASSERT_NE(raw, nullptr);
  ASSERT_NE(exp, nullptr);
  EXPECT_EQ(ggml_type_name(raw->type_id), type);
  ASSERT_EQ(exp->type(), GgmlType::kF32);
  const std::vector<float> got = f.dequantize(*raw);
  // The expected values are float32 in the file: read them directly, not through dequantize().
  std::vector<float> want(static_cast<std::size_t>(exp->n_elements));
  std::memcpy(want.data(), f.tensor_data(*exp), want.size() * sizeof(float));
  ASSERT_EQ(got.size(), want.size());
  int nonzero = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << type << " element " << i;
    nonzero += want[i] != 0.0f;
  }
  EXPECT_GT(nonzero, static_cast<int>(got.size()) / 2);  // the vectors are not degenerate
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantVectors,
                         ::testing::Values("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                                           "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"));

// Q8_K has no dequantiser in gguf-py (ggml uses it only as the other operand of K-quant dot
// products), so its random blocks are decoded here from ggml's definition: float32 d at offset 0,
// int8 q[256] after it, x = d * q (one rounding, so exact equality holds).
TEST(GgmlQuants, Q8_KFromDefinition) {
  const GgufFile f = GgufFile::open(kVectors);
  const GgufTensorInfo* raw = f.find_tensor("Q8_K.raw");
  ASSERT_NE(raw, nullptr);
  ASSERT_EQ(raw->type(), GgmlType::kQ8_K);
  const std::vector<float> got = f.dequantize(*raw);
  const auto* bytes = f.tensor_data(*raw);
  const std::size_t n_blocks = got.size() / 256;
  ASSERT_EQ(n_blocks, 8u);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const std::uint8_t* blk = bytes + b * 292;
    float d;
    std::memcpy(&d, blk, 4);
    for (int i = 0; i < 256; ++i) {
      const float want = d * static_cast<float>(static_cast<std::int8_t>(blk[4 + i]));
      ASSERT_EQ(got[b * 256 + i], want) << "block " << b << " element " << i;
    }
  }
}

// A hand-built Q4_K super-block: checks the 6-bit scale/min packing of sub-blocks 4..7 (split
// over three bytes each) and the nibble order, independently of the random vectors above.
TEST(GgmlQuants, Q4_KScalePacking) {
  std::uint8_t blk[144] = {};
  blk[0] = 0x00;
  blk[1] = 0x3C;  // d = 1.0
  blk[2] = 0x00;
  blk[3] = 0x38;  // dmin = 0.5
  std::uint8_t* sc = blk + 4;
  const int scale[8] = {1, 2, 3, 4, 33, 45, 62, 17};
  const int mins[8] = {0, 5, 6, 7, 48, 2, 63, 31};
  for (int j = 0; j < 4; ++j) {
    sc[j] = static_cast<std::uint8_t>((scale[j] & 63) | ((scale[j + 4] >> 4) << 6));
    sc[j + 4] = static_cast<std::uint8_t>((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
    sc[j + 8] = static_cast<std::uint8_t>((scale[j + 4] & 15) | ((mins[j + 4] & 15) << 4));
  }
  for (int i = 0; i < 128; ++i) blk[16 + i] = static_cast<std::uint8_t>((i % 16) | ((15 - i % 16) << 4));
  float y[256];
  dequantize_row(GgmlType::kQ4_K, blk, y, 256);
  for (int sub = 0; sub < 8; ++sub) {
    for (int j = 0; j < 32; ++j) {
      const int byte = (sub / 2) * 32 + j;
      const int q = sub % 2 == 0 ? byte % 16 : 15 - byte % 16;
      EXPECT_EQ(y[sub * 32 + j], static_cast<float>(scale[sub] * q) - 0.5f * mins[sub])
          << "sub-block " << sub << " element " << j;
    }
  }
}

// Every half-precision bit pattern against the IEEE 754 binary16 definition.
TEST(GgmlQuants, Fp16AllPatterns) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int exp = (h >> 10) & 0x1F;
    const int mant = h & 0x3FF;
    const float got = fp16_to_fp32(static_cast<std::uint16_t>(h));
    if (exp == 31) {
      if (mant == 0) EXPECT_EQ(got, sign * INFINITY) << h;
      else EXPECT_TRUE(std::isnan(got)) << h;
      continue;
    }
    const double want = exp == 0 ? sign * std::ldexp(mant, -24)
                                 : sign * std::ldexp(1024 + mant, exp - 25);
    EXPECT_EQ(static_cast<double>(got), want) << h;
    EXPECT_EQ(std::signbit(got), sign < 0) << h;
  }
}

TEST(GgmlQuants, Bf16IsUpperHalfOfFloat) {
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
  EXPECT_EQ(bf16_to_fp32(0x7F80), INFINITY);
}

TEST(GgmlQuants, TypeTable) {
  const GgmlTypeTraits* q41 = ggml_type_traits(3);
  ASSERT_NE(q41, nullptr);
  EXPECT_STREQ(q41->name, "Q4_1");
  EXPECT_EQ(q41->block_size, 32u);
  EXPECT_EQ(q41->type_size, 20u);
  EXPECT_EQ(ggml_type_traits(4), nullptr);  // removed Q4_2
  EXPECT_EQ(ggml_type_name(99), "type 99");
  EXPECT_TRUE(ggml_type_traits(12)->dequantizable);   // Q4_K
  EXPECT_FALSE(ggml_type_traits(16)->dequantizable);  // IQ2_XXS: sized, not decoded
}

// A hand-computed Q4_0 block: d = 0.5, nibbles 0..15 in the low halves, 15..0 in the high halves.
TEST(GgmlQuants, Q4_0NibbleOrder) {
  std::uint8_t block[18];
  block[0] = 0x00;
  block[1] = 0x38;  // fp16 0.5
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  float y[32];
  dequantize_row(GgmlType::kQ4_0, block, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f);
  }
}

}  // namespace
}  // namespace csweep::io
