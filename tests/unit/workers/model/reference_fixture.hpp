#pragma once
// Reads the reference activations written by tests/reference/generate_fixtures.py
// (tests/fixtures/reference/<name>.safetensors: "tokens", "logits" from HF transformers,
// "hook.<name>" from TransformerLens) into torch tensors, and compares tensors with -inf
// positions required to agree exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "workers/io/safetensors.hpp"

namespace csweep::model::testing {

inline std::string fixture_model(const std::string& name) {
  return std::string(CSWEEP_FIXTURES_DIR) + "/models/" + name;
}
inline std::string fixture_reference(const std::string& name, const std::string& ext) {
  return std::string(CSWEEP_FIXTURES_DIR) + "/reference/" + name + ext;
}

struct Reference {
  std::map<std::string, torch::Tensor> tensors;
  bool has(const std::string& k) const { return tensors.count(k) != 0; }
  const torch::Tensor& at(const std::string& k) const { return tensors.at(k); }
};

inline Reference load_reference(const std::string& name) {
  const auto f = io::SafetensorsFile::open(fixture_reference(name, ".safetensors"));
  Reference r;
  for (const auto& t : f.tensors()) {
    if (t.dtype == io::DType::kI64) {
      auto out = torch::empty(t.shape, torch::kLong);
      std::memcpy(out.data_ptr(), t.data, t.nbytes);
      r.tensors[t.name] = out;
    } else {
      auto out = torch::empty(t.shape, torch::kFloat32);
      io::decode_f32(t, out.data_ptr<float>(), f.source());
      r.tensors[t.name] = out;
    }
  }
  return r;
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Max |a - b| over finite positions; -1 if the -inf/+inf/NaN positions differ or shapes differ.
inline double max_abs_diff(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  const auto a = a_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto b = b_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (a.sizes() != b.sizes()) return -1;
  const auto fa = torch::isfinite(a), fb = torch::isfinite(b);
  if (!torch::equal(fa, fb)) return -1;
  const auto nonfinite = fa.logical_not();
  if (nonfinite.any().item<bool>() &&
      !torch::equal(a.masked_select(nonfinite).nan_to_num(0), b.masked_select(nonfinite).nan_to_num(0))) {
    return -1;
  }
  if (!fa.any().item<bool>()) return 0;
  return (a.masked_select(fa) - b.masked_select(fa)).abs().max().item<double>();
}

}  // namespace csweep::model::testing
