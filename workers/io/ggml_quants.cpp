#include "workers/io/ggml_quants.hpp"

#include <cstring>

#include "core/error.hpp"

namespace csweep::io {
namespace {

struct TypeRow {
  std::uint32_t id;
  GgmlTypeTraits traits;
};

// ggml's type table (block elements, block bytes), as gguf-py's GGML_QUANT_SIZES lists it.
constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4, true}},          {1, {"F16", 1, 2, true}},
    {2, {"Q4_0", 32, 18, true}},       {3, {"Q4_1", 32, 20, true}},
    {6, {"Q5_0", 32, 22, true}},       {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},       {9, {"Q8_1", 32, 40, false}},
    {10, {"Q2_K", 256, 84, false}},    {11, {"Q3_K", 256, 110, false}},
    {12, {"Q4_K", 256, 144, false}},   {13, {"Q5_K", 256, 176, false}},
    {14, {"Q6_K", 256, 210, false}},   {15, {"Q8_K", 256, 292, false}},
    {16, {"IQ2_XXS", 256, 66, false}}, {17, {"IQ2_XS", 256, 74, false}},
    {18, {"IQ3_XXS", 256, 98, false}}, {19, {"IQ1_S", 256, 50, false}},
    {20, {"IQ4_NL", 32, 18, false}},   {21, {"IQ3_S", 256, 110, false}},
    {22, {"IQ2_S", 256, 82, false}},   {23, {"IQ4_XS", 256, 136, false}},
    {24, {"I8", 1, 1, false}},         {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},        {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},        {29, {"IQ1_M", 256, 56, false}},
    {30, {"BF16", 1, 2, true}},        {34, {"TQ1_0", 256, 54, false}},
    {35, {"TQ2_0", 256, 66, false}},   {39, {"MXFP4", 32, 17, false}},
};

std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t load_u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
float load_f32(const std::uint8_t* p) {
  const std::uint32_t bits = load_u32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The fp16 scale is widened to fp32 before the multiply, as ggml's reference dequantisers do, so
// results match ggml (and gguf-py) bit for bit.
void dequant_q8_0(const std::uint8_t* b, float* y) {
  const float d = fp16_to_fp32(load_u16(b));
  const auto* q = reinterpret_cast<const std::int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d;
}

void dequant_q4_0(const std::uint8_t* b, float* y) {
  const float d = fp16_to_fp32(load_u16(b));
  const std::uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void dequant_q4_1(const std::uint8_t* b, float* y) {
  const float d = fp16_to_fp32(load_u16(b));
  const float m = fp16_to_fp32(load_u16(b + 2));
  const std::uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

void dequant_q5_0(const std::uint8_t* b, float* y) {
  const float d = fp16_to_fp32(load_u16(b));
  const std::uint32_t qh = load_u32(b + 2);
  const std::uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>(((qs[j] & 0x0F) | hi0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | hi1) - 16) * d;
  }
}

void dequant_q5_1(const std::uint8_t* b, float* y) {
  const float d = fp16_to_fp32(load_u16(b));
  const float m = fp16_to_fp32(load_u16(b + 2));
  const std::uint32_t qh = load_u32(b + 4);
  const std::uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>((qs[j] & 0x0F) | hi0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | hi1) * d + m;
  }
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(std::uint32_t type_id) {
  for (const auto& row : kTypes) {
    if (row.id == type_id) return &row.traits;
  }
  return nullptr;
}

std::string ggml_type_name(std::uint32_t type_id) {
  const GgmlTypeTraits* t = ggml_type_traits(type_id);
  return t ? std::string(t->name) : "type " + std::to_string(type_id);
}

std::string ggml_dequantizable_names() {
  std::string out;
  for (const auto& row : kTypes) {
    if (!row.traits.dequantizable) continue;
    if (!out.empty()) out += ", ";
    out += row.traits.name;
  }
  return out;
}

float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {  // inf / NaN keep their payload
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal half -> normal float: shift the leading one into the implicit bit
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | ((112u - static_cast<std::uint32_t>(e)) << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bf16_to_fp32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void dequantize_row(GgmlType type, const std::uint8_t* src, float* dst, std::size_t n_elements) {
  const GgmlTypeTraits* t = ggml_type_traits(static_cast<std::uint32_t>(type));
  CSWEEP_ASSERT(t != nullptr && t->dequantizable, "type {} cannot be dequantised",
                static_cast<std::uint32_t>(type));
  CSWEEP_ASSERT(n_elements % t->block_size == 0, "{} elements is not a whole number of {} blocks",
                n_elements, t->name);
  const std::size_t n_blocks = n_elements / t->block_size;
  switch (type) {
    case GgmlType::kF32:
      for (std::size_t i = 0; i < n_elements; ++i) dst[i] = load_f32(src + 4 * i);
      return;
    case GgmlType::kF16:
      for (std::size_t i = 0; i < n_elements; ++i) dst[i] = fp16_to_fp32(load_u16(src + 2 * i));
      return;
    case GgmlType::kBF16:
      for (std::size_t i = 0; i < n_elements; ++i) dst[i] = bf16_to_fp32(load_u16(src + 2 * i));
      return;
    default:
      break;
  }
  void (*block_fn)(const std::uint8_t*, float*) = nullptr;
  switch (type) {
    case GgmlType::kQ8_0: block_fn = dequant_q8_0; break;
    case GgmlType::kQ4_0: block_fn = dequant_q4_0; break;
    case GgmlType::kQ4_1: block_fn = dequant_q4_1; break;
    case GgmlType::kQ5_0: block_fn = dequant_q5_0; break;
    case GgmlType::kQ5_1: block_fn = dequant_q5_1; break;
    default: CSWEEP_ASSERT(false, "no block decoder for {}", t->name);
  }
  for (std::size_t i = 0; i < n_blocks; ++i) {
    block_fn(src + i * t->type_size, dst + i * t->block_size);
  }
}

}  // namespace csweep::io
