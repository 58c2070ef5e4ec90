#include "workers/io/safetensors.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.hpp"
#include "tests/unit/workers/io/safetensors_writer.hpp"

namespace csweep::io {
namespace {

namespace fs = std::filesystem;
using testing::f32_bytes;
using testing::image_from_header;
using testing::safetensors_image;
using testing::StEntry;

SafetensorsFile parse_str(const std::string& img, const std::string& source = "mem.safetensors") {
  return SafetensorsFile::parse(reinterpret_cast<const std::uint8_t*>(img.data()), img.size(),
                                source);
}

// Expects an InputError whose message contains every needle (the source name at least).
void expect_input_error(const std::string& img, std::initializer_list<std::string> needles) {
  try {
    parse_str(img, "broken.safetensors");
    ADD_FAILURE() << "no InputError thrown";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("broken.safetensors"), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

std::string data_of(std::size_t n) { return std::string(n, '\0'); }

TEST(Safetensors, ParsesTensorsMetadataAndValues) {
  // F16 bit patterns from IEEE 754 binary16: 1.0, -2.0, 0.5, 65504.
  const std::vector<std::uint8_t> f16 = {0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0xFF, 0x7B};
  const std::string img = safetensors_image(
      {{"a", "F32", {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})}, {"b.half", "F16", {4}, f16}},
      {{"format", "pt"}});
  const auto f = parse_str(img);
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorView* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->nbytes, 24u);
  std::vector<float> out(6);
  decode_f32(*a, out.data(), "mem");
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 5, 6}));

  const TensorView* b = f.find("b.half");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kF16);
  std::vector<float> hb(4);
  decode_f32(*b, hb.data(), "mem");
  EXPECT_EQ(hb, (std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f}));
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(Safetensors, HalfAndBfloat16MatchIeeeBitPatterns) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));      // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));   // largest subnormal
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));      // smallest normal
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_EQ(bfloat16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bfloat16_to_float(0xC0A0), -5.0f);
  EXPECT_EQ(bfloat16_to_float(0x4049), 3.140625f);
}

TEST(Safetensors, DecodesBf16AndF64AndRejectsIntegers) {
  const std::vector<std::uint8_t> bf16 = {0x80, 0x3F, 0xA0, 0xC0};
  double d[2] = {0.25, -3.5};
  std::vector<std::uint8_t> f64(16);
  std::memcpy(f64.data(), d, 16);
  const std::string img = safetensors_image({{"bf", "BF16", {2}, bf16},
                                             {"d", "F64", {2}, f64},
                                             {"i", "I32", {1}, {1, 0, 0, 0}}});
  const auto f = parse_str(img);
  float out[2];
  decode_f32(*f.find("bf"), out, "mem");
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -5.0f);
  decode_f32(*f.find("d"), out, "mem");
  EXPECT_EQ(out[0], 0.25f);
  EXPECT_EQ(out[1], -3.5f);
  EXPECT_THROW(decode_f32(*f.find("i"), out, "mem"), InputError);
}

TEST(Safetensors, UnalignedDataAndZeroSizeTensorsAndEmptyHeader) {
  // Header of odd length: the data buffer starts at an unaligned address.
  const std::string header =
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}})";
  ASSERT_NE(header.size() % 4, 0u);
  const auto bytes = f32_bytes({1.5f, -7.25f});
  const auto f = parse_str(image_from_header(header, std::string(bytes.begin(), bytes.end())));
  float out[2];
  decode_f32(*f.find("x"), out, "mem");
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -7.25f);
  EXPECT_EQ(f.find("z")->numel(), 0);
  decode_f32(*f.find("z"), nullptr, "mem");  // nothing to write: must not touch `out`
  EXPECT_TRUE(parse_str(image_from_header("{}", "")).tensors().empty());
}

TEST(Safetensors, ScalarTensorHasOneElement) {
  const auto f = parse_str(safetensors_image({{"s", "F32", {}, f32_bytes({42.0f})}}));
  EXPECT_EQ(f.find("s")->numel(), 1);
}

TEST(SafetensorsMalformed, ShorterThanHeaderLength) {
  expect_input_error(std::string("\x05\x00\x00", 3), {"truncated"});
  expect_input_error("", {"truncated"});
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFileSize) {
  std::string img = safetensors_image({{"a", "F32", {1}, f32_bytes({1})}});
  img[0] = '\xff';
  img[1] = '\xff';
  expect_input_error(img, {"header length"});
  std::string huge(8, '\xff');
  expect_input_error(huge + "{}", {"header length"});
}

TEST(SafetensorsMalformed, TruncatedDataBuffer) {
  std::string img = safetensors_image({{"a", "F32", {4}, f32_bytes({1, 2, 3, 4})}});
  img.resize(img.size() - 3);
  expect_input_error(img, {"\"a\"", "out of range"});
}

TEST(SafetensorsMalformed, BadJson) {
  expect_input_error(image_from_header("{\"a\": ", ""), {"JSON"});
  expect_input_error(image_from_header("[1, 2]", ""), {"not a JSON object"});
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", data_of(4)),
      {"\"a\"", "unknown dtype", "F17"});
}

TEST(SafetensorsMalformed, BadShape) {
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data_of(4)),
      {"\"a\"", "shape"});
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", data_of(4)),
      {"\"a\"", "shape"});
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,4]}})", data_of(4)),
      {"\"a\"", "shape"});
  // Product overflows 64 bits.
  expect_input_error(
      image_from_header(
          R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
          data_of(4)),
      {"\"a\"", "too large"});
}

TEST(SafetensorsMalformed, SizeDoesNotMatchShapeTimesDtype) {
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data_of(8)),
      {"\"a\"", "byte size", "got 8", "expected 12"});
}

TEST(SafetensorsMalformed, OffsetsOutOfRangeOrReversed) {
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data_of(8)),
      {"\"a\"", "out of range"});
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data_of(8)),
      {"\"a\"", "out of range"});
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", data_of(8)),
      {"\"a\"", "data_offsets"});
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", data_of(8)),
      {"\"a\"", "data_offsets"});
}

TEST(SafetensorsMalformed, OverlappingOffsets) {
  expect_input_error(
      image_from_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        data_of(12)),
      {"overlapping", "\"a\"", "\"b\""});
}

TEST(SafetensorsMalformed, EntryShapeAndMetadataTypes) {
  expect_input_error(image_from_header(R"({"a":[1,2]})", ""), {"\"a\"", "not an object"});
  expect_input_error(image_from_header(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", data_of(4)),
                     {"\"a\"", "dtype"});
  expect_input_error(image_from_header(R"({"__metadata__":{"k":3}})", ""),
                     {"__metadata__", "not a string"});
  expect_input_error(image_from_header(R"({"__metadata__":[]})", ""), {"__metadata__"});
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("csweep_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SafetensorsFileTest, OpensMappedFileAndViewsOutliveCopies) {
  const std::string path = (dir_ / "w.safetensors").string();
  testing::write_binary(path, safetensors_image({{"w", "F32", {3}, f32_bytes({7, 8, 9})}}));
  const TensorView* v = nullptr;
  SafetensorsFile copy = [&] {
    auto f = SafetensorsFile::open(path);
    return f;
  }();
  v = copy.find("w");
  ASSERT_NE(v, nullptr);
  float out[3];
  decode_f32(*v, out, path);
  EXPECT_EQ(out[2], 9.0f);
  EXPECT_EQ(copy.source(), path);
}

TEST_F(SafetensorsFileTest, MissingAndTruncatedFilesNameThePath) {
  const std::string missing = (dir_ / "nope.safetensors").string();
  try {
    SafetensorsFile::open(missing);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  const std::string trunc = (dir_ / "trunc.safetensors").string();
  std::string img = safetensors_image({{"w", "F32", {64}, f32_bytes(std::vector<float>(64, 1.f))}});
  testing::write_binary(trunc, img.substr(0, img.size() / 2));
  try {
    SafetensorsFile::open(trunc);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(trunc), std::string::npos) << e.what();
  }
  const std::string empty = (dir_ / "empty.safetensors").string();
  testing::write_binary(empty, "");
  EXPECT_THROW(SafetensorsFile::open(empty), InputError);
}

// The committed reference fixtures were written by the Python safetensors package: an
// independent writer. Their "tokens" entry is int64 [batch, pos] with ids below the model's
// vocab_size, and "logits" is float32 [batch, pos, vocab_size].
TEST(SafetensorsFixtures, ReadsPythonWrittenReference) {
  const fs::path ref = fs::path(CSWEEP_FIXTURES_DIR) / "reference" / "gpt2_tiny.safetensors";
  const fs::path cfg = fs::path(CSWEEP_FIXTURES_DIR) / "models" / "gpt2_tiny" / "config.json";
  ASSERT_TRUE(fs::exists(ref) && fs::exists(cfg)) << "missing committed fixture " << ref;
  std::ifstream in(cfg);
  const auto vocab = nlohmann::json::parse(in)["vocab_size"].get<std::int64_t>();
  const auto f = SafetensorsFile::open(ref.string());
  const TensorView* tok = f.find("tokens");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->dtype, DType::kI64);
  ASSERT_EQ(tok->shape.size(), 2u);
  for (std::int64_t i = 0; i < tok->numel(); ++i) {
    std::int64_t id;
    std::memcpy(&id, tok->data + 8 * i, 8);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, vocab);
  }
  const TensorView* logits = f.find("logits");
  ASSERT_NE(logits, nullptr);
  EXPECT_EQ(logits->dtype, DType::kF32);
  EXPECT_EQ(logits->shape, (std::vector<std::int64_t>{tok->shape[0], tok->shape[1], vocab}));
}

}  // namespace
}  // namespace csweep::io
