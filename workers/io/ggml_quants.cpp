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
    {10, {"Q2_K", 256, 84, true}},    {11, {"Q3_K", 256, 110, true}},
    {12, {"Q4_K", 256, 144, true}},   {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},   {15, {"Q8_K", 256, 292, true}},
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

// ---- K-quants: super-blocks of 256 elements (QK_K) in 16 or 8 sub-blocks with their own scales.
// Each element is (d * sub_scale) * q - (dmin * sub_min), evaluated in float32 in exactly that
// order (two products, then the difference), as ggml's reference dequantisers and gguf-py do; the
// library is built with -ffp-contract=off so no fused multiply-add changes the last bit.
constexpr int kQK = 256;

void dequant_q2_k(const std::uint8_t* b, float* y) {
  // scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), fp16 d, fp16 dmin.
  const std::uint8_t* scales = b;
  const std::uint8_t* qs = b + 16;
  const float d = fp16_to_fp32(load_u16(b + 80));
  const float dmin = fp16_to_fp32(load_u16(b + 82));
  for (int e = 0; e < kQK; ++e) {
    const int half = e / 128, shift = (e % 128) / 32, j = e % 32;
    const int sub = e / 16;
    const float dl = d * static_cast<float>(scales[sub] & 0x0F);
    const float ml = dmin * static_cast<float>(scales[sub] >> 4);
    const int q = (qs[half * 32 + j] >> (2 * shift)) & 3;
    y[e] = dl * static_cast<float>(q) - ml;
  }
}

void dequant_q3_k(const std::uint8_t* b, float* y) {
  // hmask[32] (3rd bit, set = no offset), qs[64] (low 2 bits), scales[12] (16 x 6-bit, biased
  // by 32), fp16 d.
  const std::uint8_t* hmask = b;
  const std::uint8_t* qs = b + 32;
  const std::uint8_t* scales = b + 96;
  const float d = fp16_to_fp32(load_u16(b + 108));
  for (int e = 0; e < kQK; ++e) {
    const int sub = e / 16;
    const int low = (scales[sub % 8] >> (4 * (sub / 8))) & 0x0F;
    const int high = (scales[8 + sub % 4] >> (2 * (sub / 4))) & 0x03;
    const int sc = static_cast<std::int8_t>(static_cast<std::uint8_t>(low | (high << 4))) - 32;
    const float dl = d * static_cast<float>(sc);
    const int half = e / 128, shift = (e % 128) / 32, j = e % 32;
    const int ql = (qs[half * 32 + j] >> (2 * shift)) & 3;
    const int hbit = (hmask[j] >> (half * 4 + shift)) & 1;
    const int q = ql - ((hbit ^ 1) << 2);
    y[e] = dl * static_cast<float>(q);
  }
}

// The 8 6-bit (scale, min) pairs of Q4_K / Q5_K packed in 12 bytes (ggml's get_scale_min_k4).
void scale_min_k4(int j, const std::uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequant_q4_k(const std::uint8_t* b, float* y) {
  // fp16 d, fp16 dmin, scales[12], qs[128] (nibbles: 32 low, then 32 high, per 64 elements).
  const float d = fp16_to_fp32(load_u16(b));
  const float dmin = fp16_to_fp32(load_u16(b + 2));
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qs = b + 16;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    scale_min_k4(sub, scales, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    const std::uint8_t* q = qs + (sub / 2) * 32;
    const int shift = 4 * (sub % 2);
    for (int j = 0; j < 32; ++j) {
      y[sub * 32 + j] = dl * static_cast<float>((q[j] >> shift) & 0x0F) - ml;
    }
  }
}

void dequant_q5_k(const std::uint8_t* b, float* y) {
  // fp16 d, fp16 dmin, scales[12], qh[32] (5th bit of sub-block s is bit s), qs[128] as Q4_K.
  const float d = fp16_to_fp32(load_u16(b));
  const float dmin = fp16_to_fp32(load_u16(b + 2));
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* qs = b + 48;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    scale_min_k4(sub, scales, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    const std::uint8_t* q = qs + (sub / 2) * 32;
    const int shift = 4 * (sub % 2);
    for (int j = 0; j < 32; ++j) {
      const int v = ((q[j] >> shift) & 0x0F) | (((qh[j] >> sub) & 1) << 4);
      y[sub * 32 + j] = dl * static_cast<float>(v) - ml;
    }
  }
}

void dequant_q6_k(const std::uint8_t* b, float* y) {
  // ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], fp16 d; q biased by 32.
  const std::uint8_t* ql = b;
  const std::uint8_t* qh = b + 128;
  const auto* scales = reinterpret_cast<const std::int8_t*>(b + 192);
  const float d = fp16_to_fp32(load_u16(b + 208));
  for (int e = 0; e < kQK; ++e) {
    const int half = e / 128, r = e % 128;
    const int lo = (ql[half * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
    const int hi = (qh[half * 32 + r % 32] >> (2 * (r / 32))) & 0x03;
    const int q = static_cast<std::int8_t>(static_cast<std::uint8_t>(lo | (hi << 4))) - 32;
    const float dl = d * static_cast<float>(scales[e / 16]);
    y[e] = dl * static_cast<float>(q);
  }
}

void dequant_q8_k(const std::uint8_t* b, float* y) {
  // float32 d, int8 qs[256], int16 bsums[16] (block sums, used by ggml's dot products only).
  const float d = load_f32(b);
  const auto* q = reinterpret_cast<const std::int8_t*>(b + 4);
  for (int e = 0; e < kQK; ++e) y[e] = d * static_cast<float>(q[e]);
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
    case GgmlType::kQ2_K: block_fn = dequant_q2_k; break;
    case GgmlType::kQ3_K: block_fn = dequant_q3_k; break;
    case GgmlType::kQ4_K: block_fn = dequant_q4_k; break;
    case GgmlType::kQ5_K: block_fn = dequant_q5_k; break;
    case GgmlType::kQ6_K: block_fn = dequant_q6_k; break;
    case GgmlType::kQ8_K: block_fn = dequant_q8_k; break;
    default: CSWEEP_ASSERT(false, "no block decoder for {}", t->name);
  }
  for (std::size_t i = 0; i < n_blocks; ++i) {
    block_fn(src + i * t->type_size, dst + i * t->block_size);
  }
}

}  // namespace csweep::io
