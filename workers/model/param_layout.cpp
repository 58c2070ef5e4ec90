#include "workers/model/param_layout.hpp"

#include "core/error.hpp"

namespace csweep::model {

namespace {

// Inverse of llama.cpp's permute(): rows of each head go from interleaved pairs (GGUF row 2i+j)
// back to halves (HF row j*d_head/2 + i). `t` is [n_heads*d_head, ...].
torch::Tensor unpermute_rope_rows(const torch::Tensor& t, std::int64_t n_heads) {
  const std::int64_t rows = t.size(0);
  const std::int64_t half = rows / n_heads / 2;
  std::vector<std::int64_t> view{n_heads, half, 2};
  for (std::int64_t d = 1; d < t.dim(); ++d) view.push_back(t.size(d));
  return t.reshape(view).transpose(1, 2).reshape(t.sizes()).contiguous();
}

// [n*e, d] -> [n, e, d] -> [n, d, e] for a canonical shape s = [n, d, e].
torch::Tensor heads_in(const torch::Tensor& t, const Shape& s) {
  return t.reshape({s[0], s[2], s[1]}).permute({0, 2, 1}).contiguous();
}

// GPT-NeoX's fused projection: the output rows are [head, q|k|v, d_head] (HF views them as
// [.., n, 3*e] and chunks the last dimension), so Q, K and V need equal head counts.
std::vector<torch::Tensor> per_head_qkv(const torch::Tensor& t, const std::vector<Shape>& c, bool bias) {
  CSWEEP_ASSERT(c.size() == 3 && c[0][0] == c[1][0] && c[0][0] == c[2][0],
                "per-head fused QKV needs as many K/V heads as query heads");
  const std::int64_t n = c[0][0], e = bias ? c[0][1] : c[0][2];
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < 3; ++i) {
    if (bias) {
      out.push_back(t.reshape({n, 3, e}).select(1, i).contiguous());
    } else {  // [n, 3, e, d] -> [n, e, d] -> [n, d, e]
      out.push_back(t.reshape({n, 3, e, c[0][1]}).select(1, i).permute({0, 2, 1}).contiguous());
    }
  }
  return out;
}

}  // namespace

std::string expand_layer(const std::string& tmpl, int layer) {
  const auto pos = tmpl.find("{l}");
  if (pos == std::string::npos) return tmpl;
  return tmpl.substr(0, pos) + std::to_string(layer) + tmpl.substr(pos + 3);
}

Shape stored_shape(Layout x, const std::vector<Shape>& c) {
  switch (x) {
    case Layout::kCopy:
    case Layout::kPlusOne: return c[0];
    case Layout::kTranspose: return {c[0][1], c[0][0]};
    case Layout::kLinearHeadsIn:
    case Layout::kRopeHeadsIn: return {c[0][0] * c[0][2], c[0][1]};
    case Layout::kLinearHeadsOut: return {c[0][2], c[0][0] * c[0][1]};
    case Layout::kMergedHeads:
    case Layout::kRopeMergedHeads: {
      Shape s{c[0][0] * c[0][1]};
      s.insert(s.end(), c[0].begin() + 2, c[0].end());
      return s;
    }
    case Layout::kQKVRows:
    case Layout::kQKVPerHead:
    case Layout::kQKVColumns: {
      std::int64_t qkv = 0;
      for (const auto& s : c) qkv += s[0] * s[2];
      return x == Layout::kQKVColumns ? Shape{c[0][1], qkv} : Shape{qkv, c[0][1]};
    }
    case Layout::kQKVBias:
    case Layout::kQKVPerHeadBias: {
      std::int64_t n = 0;
      for (const auto& s : c) n += s[0] * s[1];
      return {n};
    }
  }
  CSWEEP_ASSERT(false, "unknown layout");
}

std::vector<torch::Tensor> to_canonical(Layout x, const torch::Tensor& t, const std::vector<Shape>& c) {
  switch (x) {
    case Layout::kCopy: return {t};
    // In float32: the (1 + w) HF Gemma computes with w upcast to float32.
    case Layout::kPlusOne: return {t.to(torch::kFloat32) + 1.0};
    case Layout::kTranspose: return {t.t().contiguous()};
    case Layout::kLinearHeadsIn: return {heads_in(t, c[0])};
    case Layout::kRopeHeadsIn: return {heads_in(unpermute_rope_rows(t, c[0][0]), c[0])};
    case Layout::kLinearHeadsOut:  // [d, n*e] -> [n*e, d] -> [n, e, d]
      return {t.t().reshape(c[0]).contiguous()};
    case Layout::kMergedHeads: return {t.reshape(c[0]).contiguous()};
    case Layout::kRopeMergedHeads: return {unpermute_rope_rows(t, c[0][0]).reshape(c[0])};
    case Layout::kQKVPerHead:
    case Layout::kQKVPerHeadBias: return per_head_qkv(t, c, x == Layout::kQKVPerHeadBias);
    case Layout::kQKVRows:
    case Layout::kQKVColumns:
    case Layout::kQKVBias: {
      // Consecutive blocks Q|K|V along the split dimension, head-major within each block.
      const std::int64_t dim = x == Layout::kQKVColumns ? 1 : 0;
      std::vector<torch::Tensor> out;
      std::int64_t off = 0;
      for (const auto& s : c) {
        const std::int64_t n = s[0] * (x == Layout::kQKVBias ? s[1] : s[2]);
        const torch::Tensor block = t.narrow(dim, off, n);
        if (x == Layout::kQKVRows)
          out.push_back(heads_in(block, s));
        else if (x == Layout::kQKVColumns)  // [d, n*e] -> [d, n, e] -> [n, d, e]
          out.push_back(block.reshape({s[1], s[0], s[2]}).permute({1, 0, 2}).contiguous());
        else
          out.push_back(block.reshape(s).contiguous());
        off += n;
      }
      return out;
    }
  }
  CSWEEP_ASSERT(false, "unknown layout");
}

std::map<std::string, ExpectedTensor> expand_rows(const std::vector<LayoutRow>& rows,
                                                  const ModelConfig& cfg,
                                                  const std::set<std::string>& ignored) {
  std::map<std::string, const ParamSpec*> canon;
  const auto specs = canonical_params(cfg);
  for (const auto& p : specs) canon[p.name] = &p;

  std::map<std::string, ExpectedTensor> expected;
  for (const auto& row : rows) {
    const bool per_layer = std::string(row.stored).find("{l}") != std::string::npos;
    for (int l = 0; l < (per_layer ? cfg.n_layers : 1); ++l) {
      ExpectedTensor e{&row, {}, {}};
      bool active = true;
      for (const char* c : row.canonical) {
        auto it = canon.find(expand_layer(c, l));
        if (it == canon.end()) {
          active = false;
          break;
        }
        e.targets.push_back(it->first);
        e.shapes.push_back(it->second->shape);
        e.required = e.required || !it->second->optional;
      }
      std::string stored = expand_layer(row.stored, l);
      if (active && !ignored.count(stored)) expected.emplace(std::move(stored), std::move(e));
    }
  }
  return expected;
}

void store_canonical(const ExpectedTensor& e, const torch::Tensor& t,
                     std::map<std::string, torch::Tensor>& params) {
  auto outs = to_canonical(e.row->layout, t, e.shapes);
  CSWEEP_ASSERT(outs.size() == e.targets.size(), "layout gave {} tensors for {} targets",
                outs.size(), e.targets.size());
  for (std::size_t i = 0; i < outs.size(); ++i) params[e.targets[i]] = std::move(outs[i]);
}

}  // namespace csweep::model
