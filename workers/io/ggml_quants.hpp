#pragma once
// ggml tensor element types and their dequantisation to float32 (no torch).
//
// Block layouts follow ggml exactly (ggml-common.h); a "block" is the smallest unit a type can be
// cut into, `block_size` elements stored in `type_size` bytes, little-endian:
//   F32  : 1 elem, 4 B        F16 : 1 elem, 2 B (IEEE half)      BF16 : 1 elem, 2 B (bfloat16)
//   Q8_0 : 32 elem, 34 B  = fp16 d, int8 q[32];                         x[i] = q[i] * d
//   Q4_0 : 32 elem, 18 B  = fp16 d, uint8 qs[16];   q = low nibble of qs[j] for x[j], high nibble
//                                                   for x[j+16];        x = (q - 8) * d
//   Q4_1 : 32 elem, 20 B  = fp16 d, fp16 m, uint8 qs[16] (nibbles as Q4_0); x = q * d + m
//   Q5_0 : 32 elem, 22 B  = fp16 d, uint32 qh, uint8 qs[16]; 5th bit of x[j] is bit j of qh,
//                           of x[j+16] bit j+16;                         x = (q - 16) * d
//   Q5_1 : 32 elem, 24 B  = fp16 d, fp16 m, uint32 qh, uint8 qs[16];     x = q * d + m
// K-quants: super-blocks of 256 elements with per-sub-block scales (ggml-common.h block_q*_K):
//   Q2_K : 84 B  = uint8 scales[16] (lo nibble scale, hi nibble min), uint8 qs[64] (2-bit),
//                  fp16 d, fp16 dmin;                  x = (d * sc) * q - (dmin * m), 16 per scale
//   Q3_K : 110 B = uint8 hmask[32], uint8 qs[64] (low 2 bits), scales[12] (16 x 6-bit, - 32),
//                  fp16 d;                             x = (d * sc) * (q - (hbit ? 0 : 4))
//   Q4_K : 144 B = fp16 d, fp16 dmin, scales[12] (8 x 6-bit scale + min), uint8 qs[128];
//                                                      x = (d * sc) * q - (dmin * m), 32 per scale
//   Q5_K : 176 B = as Q4_K plus uint8 qh[32] (5th bit) before qs
//   Q6_K : 210 B = uint8 ql[128], uint8 qh[64], int8 scales[16], fp16 d; x = (d * sc) * (q - 32)
//   Q8_K : 292 B = float32 d, int8 qs[256], int16 bsums[16];         x = d * q
// (Q4_K_M / Q5_K_M files mix Q4_K or Q5_K with Q6_K tensors; the suffix is not a type.)
// The size table covers every type the GGUF format names (so a reader can bounds-check tensors
// it cannot decode); only the types above can be dequantised.
#include <cstddef>
#include <cstdint>
#include <string>

namespace csweep::io {

// Numeric ids are ggml's `enum ggml_type` values, as stored in GGUF tensor infos.
enum class GgmlType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeTraits {
  const char* name;         // ggml's name, e.g. "Q4_1"
  std::uint32_t block_size;  // elements per block, e.g. 32
  std::uint32_t type_size;   // bytes per block, e.g. 20
  bool dequantizable;        // dequantize_row() supports it
};

// Traits of a raw type id read from a file; nullptr when the id is not a ggml type.
const GgmlTypeTraits* ggml_type_traits(std::uint32_t type_id);
// Name of a type id, "type <id>" when unknown.
std::string ggml_type_name(std::uint32_t type_id);
// Comma-separated names of the dequantisable types (for error messages).
std::string ggml_dequantizable_names();

// IEEE half and bfloat16 bit patterns to float (exact; subnormals, inf and NaN preserved).
float fp16_to_fp32(std::uint16_t h);
float bf16_to_fp32(std::uint16_t h);

// Decodes `n_elements` values of `type` from `src` (n_elements / block_size * type_size bytes)
// into `dst`. Preconditions (internal invariants, checked): the type is dequantizable and
// n_elements is a multiple of its block size. Callers validate user data before calling.
void dequantize_row(GgmlType type, const std::uint8_t* src, float* dst, std::size_t n_elements);

}  // namespace csweep::io
