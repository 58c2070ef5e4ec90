#pragma once
// Stored-tensor layouts shared by the checkpoint readers (hf_checkpoint, gguf_checkpoint).
//
// A reader's name table is data: one LayoutRow per stored tensor name, giving the Layout that
// turns it into one or more canonical (TransformerLens) parameters. The stored shape a row must
// have is derived from the canonical shapes by the same rule (stored_shape), so tables carry no
// shapes of their own. Shapes below are row-major; n = heads, e = d_head, d = d_model.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "workers/model/config.hpp"

namespace csweep::model {

using Shape = std::vector<std::int64_t>;

enum class Layout {
  kCopy,             // same layout
  kTranspose,        // [out, in] -> [in, out]                                     (nn.Linear)
  kLinearHeadsIn,    // [n*e, d] -> [n, d, e]                                (q/k/v_proj, attn_v)
  kRopeHeadsIn,      // llama.cpp RoPE row order per head undone, then as kLinearHeadsIn
  kLinearHeadsOut,   // [d, n*e] -> [n, e, d]                                (o_proj, attn_output)
  kMergedHeads,      // [n*e, ...] -> [n, e, ...]                          (Conv1D c_proj, biases)
  kRopeMergedHeads,  // llama.cpp RoPE order per head undone, then [n*e] -> [n, e]  (q/k biases)
  kQKVRows,          // [(nq+nk+nv)*e, d] -> 3 x [n, d, e]: row blocks Q|K|V        (GGUF attn_qkv)
  kQKVColumns,       // [d, (nq+nk+nv)*e] -> 3 x [n, d, e]: column blocks Q|K|V  (GPT-2 c_attn)
  kQKVBias,          // [(nq+nk+nv)*e] -> 3 x [n, e]                                 (QKV biases)
  kQKVPerHead,       // [n*3*e, d] -> 3 x [n, d, e]: per head rows q|k|v  (GPT-NeoX query_key_value)
  kQKVPerHeadBias,   // [n*3*e] -> 3 x [n, e]: per head q|k|v                  (its bias)
  kPlusOne,          // same layout, 1 added: HF Gemma's RMSNorm stores w of (1 + w) (config.hpp)
};

// One name-table row: a stored tensor name and the canonical parameter(s) it becomes. Both may
// hold "{l}" for the layer index.
struct LayoutRow {
  const char* stored;
  Layout layout;
  std::vector<const char*> canonical;
};

// "{l}" in `tmpl` replaced by `layer` (tmpl unchanged when it has none).
std::string expand_layer(const std::string& tmpl, int layer);

// The row-major stored shape a tensor in layout `x` must have, given the canonical shapes `c` of
// its targets (one per target, in target order).
Shape stored_shape(Layout x, const std::vector<Shape>& c);

// The canonical tensors (one per target, shapes `c`) held by stored tensor `t` in layout `x`.
// `t` must already have stored_shape(x, c).
std::vector<torch::Tensor> to_canonical(Layout x, const torch::Tensor& t, const std::vector<Shape>& c);

// A table row expanded for one layer of a config.
struct ExpectedTensor {
  const LayoutRow* row;
  std::vector<std::string> targets;  // canonical names
  std::vector<Shape> shapes;         // canonical shapes, one per target
  bool required = false;             // some target is not optional in canonical_params(cfg)
  bool seen = false;                 // set by the reader once the tensor has been loaded
};

// Expands `rows` over cfg's layers into stored name -> ExpectedTensor. A row is dropped when one
// of its targets is not a canonical parameter of cfg (e.g. biases of a bias-free model), or when
// its expanded stored name is in `ignored`.
std::map<std::string, ExpectedTensor> expand_rows(const std::vector<LayoutRow>& rows,
                                                  const ModelConfig& cfg,
                                                  const std::set<std::string>& ignored);

// Converts stored tensor `t` (float32, stored_shape) and puts its canonical tensors into `params`.
void store_canonical(const ExpectedTensor& e, const torch::Tensor& t,
                     std::map<std::string, torch::Tensor>& params);

}  // namespace csweep::model
