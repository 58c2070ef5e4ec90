// GGUF reader: a file written by the PyPI `gguf` package (tests/reference/
// generate_gguf_quant_vectors.py) parses to the values that script wrote; malformed files are
// rejected with an InputError naming the file and the offending field, never by a crash.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "test_gguf_builder.hpp"
#include "workers/io/gguf.hpp"

namespace csweep::io {
namespace {

using csweep::testing::GgufBuilder;

const std::string kVectors = std::string(CSWEEP_FIXTURES_DIR) + "/ggml_quants/quant_vectors.gguf";

TEST(GgufReader, ParsesMetadataWrittenByGgufPy) {
  const GgufFile f = GgufFile::open(kVectors);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.get_string("general.architecture"), "quanttest");
  EXPECT_EQ(f.get_int("test.u8"), 200);
  EXPECT_EQ(f.get_int("test.i8"), -100);
  EXPECT_EQ(f.get_int("test.u16"), 60000);
  EXPECT_EQ(f.get_int("test.i16"), -30000);
  EXPECT_EQ(f.get_int("test.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("test.i32"), -2000000000LL);
  EXPECT_EQ(f.get_float("test.f32"), 0.15625);
  EXPECT_TRUE(f.get_bool_or("test.bool", false));
  EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo, GGUF");
  EXPECT_EQ(f.get_int("test.u64"), 1LL << 40);
  EXPECT_EQ(f.get_int("test.i64"), -(1LL << 40));
  EXPECT_EQ(f.get_float("test.f64"), -2.5e-300);
  EXPECT_EQ(f.get_string_array("test.strings"),
            (std::vector<std::string>{"a", "", "\xc4\xa0the"}));
  EXPECT_EQ(f.get_int_array("test.ints"), (std::vector<std::int64_t>{1, -2, 3}));
  const GgufValue* fl = f.find("test.floats");
  ASSERT_NE(fl, nullptr);
  EXPECT_EQ(fl->floats, (std::vector<double>{0.5, -1.25}));
  const GgufValue* nested = f.find("test.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].ints, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(nested->items[1].ints, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(f.get_int_opt("test.absent"), std::nullopt);
  EXPECT_TRUE(f.get_bool_or("test.absent", true));
}

TEST(GgufReader, TensorInfosListDimsFastestFirst) {
  const GgufFile f = GgufFile::open(kVectors);
  // 8 block/float types x (raw, expected) + 5 K-quants x (raw, expected) + Q8_K raw.
  ASSERT_EQ(f.tensors().size(), 27u);
  const GgufTensorInfo* q = f.find_tensor("Q4_1.raw");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dims, (std::vector<std::uint64_t>{64, 3}));
  EXPECT_EQ(q->shape(), (std::vector<std::int64_t>{3, 64}));
  EXPECT_EQ(q->type(), GgmlType::kQ4_1);
  EXPECT_EQ(q->n_elements, 192u);
  EXPECT_EQ(q->n_bytes, 6u * 20u);
  const GgufTensorInfo* k = f.find_tensor("Q4_K.raw");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->dims, (std::vector<std::uint64_t>{1024, 2}));
  EXPECT_EQ(k->n_bytes, 8u * 144u);  // 8 super-blocks of 256 elements
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

TEST(GgufReader, TypedGettersNameKeyOnMismatch) {
  const GgufFile f = GgufFile::open(kVectors);
  try {
    f.get_string("test.u32");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("quant_vectors.gguf: metadata 'test.u32'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f.get_int("test.string"), InputError);
  EXPECT_THROW(f.get_int("missing.key"), InputError);
  EXPECT_THROW(f.get_string_array("test.ints"), InputError);
  EXPECT_THROW(f.get_int_array("test.strings"), InputError);
}

// --- malformed input ---------------------------------------------------------------------------

GgufBuilder valid_builder() {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama");
  b.kv_u32("llama.block_count", 1);
  b.kv_str_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  b.tensor_f32("blk.0.attn_q.weight", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  b.tensor_f32("output_norm.weight", {4}, {1, 1, 1, 1});
  return b;
}

// Parses and returns the InputError message; fails the test if parsing succeeds.
std::string parse_error(const std::vector<std::uint8_t>& bytes) {
  try {
    GgufFile::parse(bytes.data(), bytes.size(), "model.gguf");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "malformed file parsed without error";
  return {};
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg) << "\nmissing: " << (part)

TEST(GgufMalformed, ValidBuilderFileParses) {
  const auto bytes = valid_builder().build();
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "model.gguf");
  const GgufTensorInfo* t = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(f.dequantize(*t), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(GgufMalformed, EveryTruncationIsAnInputError) {
  const auto bytes = valid_builder().build();
  for (std::size_t n = 0; n < bytes.size() - 16; ++n) {  // the last tensor ends 16 bytes early
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    const std::string msg = parse_error(cut);
    EXPECT_HAS(msg, "model.gguf: ");
  }
}

TEST(GgufMalformed, TruncatedHeaderNamesField) {
  auto bytes = valid_builder().build();
  bytes.resize(10);
  const std::string msg = parse_error(bytes);
  EXPECT_HAS(msg, "tensor_count");
  EXPECT_HAS(msg, "truncated");
}

TEST(GgufMalformed, BadMagic) {
  auto bytes = valid_builder().build();
  bytes[3] = 'X';
  const std::string msg = parse_error(bytes);
  EXPECT_HAS(msg, "model.gguf: magic");
  EXPECT_HAS(msg, "GGUX");
}

TEST(GgufMalformed, BadVersion) {
  for (std::uint32_t v : {1u, 4u, 0xFFFFFFFFu}) {
    GgufBuilder b = valid_builder();
    b.version = v;
    const std::string msg = parse_error(b.build());
    EXPECT_HAS(msg, "model.gguf: version: got " + std::to_string(v));
  }
}

TEST(GgufMalformed, KvCountOutOfRange) {
  GgufBuilder b = valid_builder();
  b.kv_count_override = std::uint64_t{1} << 60;
  const std::string msg = parse_error(b.build());
  EXPECT_HAS(msg, "model.gguf: kv_count: count 1152921504606846976");
}

TEST(GgufMalformed, TensorCountOutOfRange) {
  GgufBuilder b = valid_builder();
  b.tensor_count_override = ~std::uint64_t{0};
  EXPECT_HAS(parse_error(b.build()), "model.gguf: tensor_count");
  // A count that fits the bytes but exceeds the tensors present runs into the data section.
  GgufBuilder c = valid_builder();
  c.tensor_count_override = 3;
  EXPECT_HAS(parse_error(c.build()), "model.gguf: tensor #2");
}

TEST(GgufMalformed, StringLengthPastEof) {
  GgufBuilder b = valid_builder();
  std::vector<std::uint8_t> kv;
  GgufBuilder::str(kv, "general.name");
  GgufBuilder::u32(kv, 8);                     // string
  GgufBuilder::u64(kv, std::uint64_t{1} << 40);  // length far past the end
  b.kv_raw(kv);
  const std::string msg = parse_error(b.build());
  EXPECT_HAS(msg, "model.gguf: metadata 'general.name': string length 1099511627776");
}

TEST(GgufMalformed, KeyLengthPastEof) {
  GgufBuilder b = valid_builder();
  std::vector<std::uint8_t> kv;
  GgufBuilder::u64(kv, ~std::uint64_t{0});
  b.kv_raw(kv);
  EXPECT_HAS(parse_error(b.build()), "model.gguf: metadata key #3: string length");
}

TEST(GgufMalformed, ArrayLengthOutOfRange) {
  GgufBuilder b = valid_builder();
  std::vector<std::uint8_t> kv;
  GgufBuilder::str(kv, "tokenizer.ggml.merges");
  GgufBuilder::u32(kv, 9);
  GgufBuilder::u32(kv, 8);
  GgufBuilder::u64(kv, std::uint64_t{1} << 62);
  b.kv_raw(kv);
  const std::string msg = parse_error(b.build());
  EXPECT_HAS(msg, "model.gguf: metadata 'tokenizer.ggml.merges' (array length): count");
}

TEST(GgufMalformed, UnknownValueType) {
  GgufBuilder b = valid_builder();
  std::vector<std::uint8_t> kv;
  GgufBuilder::str(kv, "general.weird");
  GgufBuilder::u32(kv, 13);
  b.kv_raw(kv);
  EXPECT_HAS(parse_error(b.build()), "model.gguf: metadata 'general.weird': unknown value type 13");
}

TEST(GgufMalformed, BadBool) {
  GgufBuilder b = valid_builder();
  std::vector<std::uint8_t> kv;
  GgufBuilder::str(kv, "general.flag");
  GgufBuilder::u32(kv, 7);
  kv.push_back(2);
  b.kv_raw(kv);
  EXPECT_HAS(parse_error(b.build()), "model.gguf: metadata 'general.flag': bool value 2");
}

TEST(GgufMalformed, DuplicateKeyAndTensor) {
  GgufBuilder b = valid_builder();
  b.kv_u32("llama.block_count", 2);
  EXPECT_HAS(parse_error(b.build()), "model.gguf: metadata 'llama.block_count': duplicate key");
  GgufBuilder c = valid_builder();
  c.tensor_f32("output_norm.weight", {4}, {1, 1, 1, 1});
  EXPECT_HAS(parse_error(c.build()), "model.gguf: tensor 'output_norm.weight': duplicate");
}

TEST(GgufMalformed, TensorOffsetOutOfRange) {
  GgufBuilder b = valid_builder();
  b.tensor_f32("blk.0.ffn_up.weight", {8}, {0, 0, 0, 0, 0, 0, 0, 0}).offset_override = 4096;
  const std::string msg = parse_error(b.build());
  EXPECT_HAS(msg, "model.gguf: tensor 'blk.0.ffn_up.weight': offset 4096 + size 32 exceeds");
}

TEST(GgufMalformed, TensorSizeOutOfRange) {
  GgufBuilder b = valid_builder();
  // Claims 2^20 float32 values but stores 4.
  b.tensor("blk.0.ffn_down.weight", {1024, 1024}, 0, std::vector<std::uint8_t>(16));
  const std::string msg = parse_error(b.build());
  EXPECT_HAS(msg, "model.gguf: tensor 'blk.0.ffn_down.weight': offset");
  EXPECT_HAS(msg, "+ size 4194304 exceeds");
}

TEST(GgufMalformed, AbsurdDimsRejectedBeforeOverflow) {
  GgufBuilder b = valid_builder();
  b.tensor("huge", {std::uint64_t{1} << 40, std::uint64_t{1} << 40}, 0, {});
  EXPECT_HAS(parse_error(b.build()), "model.gguf: tensor 'huge': dims[1]");
  GgufBuilder c = valid_builder();
  c.tensor("empty", {0}, 0, {});
  EXPECT_HAS(parse_error(c.build()), "model.gguf: tensor 'empty': dims[0] = 0");
}

TEST(GgufMalformed, BadNDims) {
  GgufBuilder b = valid_builder();
  b.tensor_f32("x", {4}, {1, 2, 3, 4}).n_dims_override = 5;
  EXPECT_HAS(parse_error(b.build()), "model.gguf: tensor 'x': n_dims 5");
}

TEST(GgufMalformed, UnknownGgmlType) {
  GgufBuilder b = valid_builder();
  b.tensor("blk.0.attn_k.weight", {32}, 99, std::vector<std::uint8_t>(32));
  EXPECT_HAS(parse_error(b.build()), "model.gguf: tensor 'blk.0.attn_k.weight': unknown ggml type 99");
}

TEST(GgufMalformed, RowNotWholeBlocks) {
  GgufBuilder b = valid_builder();
  b.tensor("blk.0.attn_v.weight", {48}, 8, std::vector<std::uint8_t>(64));  // Q8_0 blocks of 32
  EXPECT_HAS(parse_error(b.build()),
             "model.gguf: tensor 'blk.0.attn_v.weight': first dimension 48 is not a multiple");
}

TEST(GgufMalformed, AlignmentMustBePowerOfTwo) {
  GgufBuilder b = valid_builder();
  b.kv_u32("general.alignment", 24);
  EXPECT_HAS(parse_error(b.build()), "model.gguf: metadata 'general.alignment': got 24");
}

TEST(GgufMalformed, UnalignedOffset) {
  GgufBuilder b = valid_builder();
  b.tensor_f32("x", {4}, {1, 2, 3, 4}).offset_override = 4;
  EXPECT_HAS(parse_error(b.build()), "model.gguf: tensor 'x': offset 4 is not a multiple");
}

TEST(GgufMalformed, CustomAlignmentHonoured) {
  GgufBuilder b = valid_builder();
  b.kv_u32("general.alignment", 64);
  b.alignment = 64;
  const auto bytes = b.build();
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "model.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.dequantize(*f.find_tensor("output_norm.weight")),
            (std::vector<float>{1, 1, 1, 1}));
}

TEST(GgufMalformed, UndecodableTypeNamesTensor) {
  GgufBuilder b = valid_builder();
  b.tensor("blk.0.ffn_gate.weight", {256}, 16, std::vector<std::uint8_t>(66));  // IQ2_XXS
  const auto bytes = b.build();
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "model.gguf");
  try {
    f.dequantize(*f.find_tensor("blk.0.ffn_gate.weight"));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_HAS(msg, "model.gguf: tensor 'blk.0.ffn_gate.weight': ggml type IQ2_XXS");
  }
}

TEST(GgufMalformed, MissingFileNamesPath) {
  try {
    GgufFile::open("/nonexistent/model.gguf");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "/nonexistent/model.gguf");
  }
}

}  // namespace
}  // namespace csweep::io
