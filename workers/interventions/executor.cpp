#include "workers/interventions/executor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "vocab/names.hpp"
#include "workers/interventions/executor_internal.hpp"
#include "workers/interventions/mask_builder.hpp"
#include "workers/interventions/tensor_util.hpp"
#include "workers/model/kernels.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {

using model::HookedTransformer;
using model::activation;
using model::apply_rotary;
using model::is_half;

void validate_intervention(const Intervention& iv, AblationKind kind, int n_layers, int n_heads,
                           int n_kv_heads, int d_mlp) {
  const bool path = kind == AblationKind::kPathPatch;
  for (const auto& c : iv.components) {
    CSWEEP_CHECK_INPUT(c.layer >= 0 && c.layer < n_layers,
                       "component {}: layer {} outside the model's 0..{}", vocab::component_name(c), c.layer,
                       n_layers - 1);
    if (c.kind == ComponentKind::kHead) {
      CSWEEP_CHECK_INPUT(c.index >= 0 && c.index < n_heads,
                         "component {}: head {} outside the model's 0..{}", vocab::component_name(c), c.index,
                         n_heads - 1);
    } else if (c.kind == ComponentKind::kNeuron) {
      CSWEEP_CHECK_INPUT(!path, "component {}: neurons cannot be path-patching senders "
                         "(expected heads or MLPs)", vocab::component_name(c));
      CSWEEP_CHECK_INPUT(c.index >= 0 && c.index < d_mlp,
                         "component {}: neuron {} outside the model's 0..{}", vocab::component_name(c), c.index,
                         d_mlp - 1);
    }
  }
  if (!path) {
    CSWEEP_CHECK_INPUT(iv.receivers.empty(), "receivers are only meaningful for path patching "
                       "(kind is {})", vocab::ablation_kinds().name(kind));
    return;
  }
  CSWEEP_CHECK_INPUT(!iv.receivers.empty(), "path patching needs at least one receiver");
  for (const auto& r : iv.receivers) {
    if (r.kind == ReceiverKind::kResidFinal) continue;
    CSWEEP_CHECK_INPUT(r.layer >= 0 && r.layer < n_layers, "receiver layer {} outside 0..{}",
                       r.layer, n_layers - 1);
    if (r.kind == ReceiverKind::kMlpIn) continue;
    const int limit = r.kind == ReceiverKind::kHeadQ ? n_heads : n_kv_heads;
    CSWEEP_CHECK_INPUT(r.head >= 0 && r.head < limit, "receiver head {}.{} outside 0..{}", r.layer,
                       r.head, limit - 1);
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// Plans: what one batch of n interventions does at each layer, as dense masks on the device.

struct Edit {
  torch::Tensor mask;    // bool [n, batch|1, pos|1, X]; undefined = no edit at this hook
  torch::Tensor value;   // undefined = zero; shared [batch, pos, X...] or per row [n, batch, pos, X...]
  bool per_row = false;
  int first_row = std::numeric_limits<int>::max();  // smallest row that edits here
};

struct LayerPlan {
  Edit z;         // attn.hook_z      X = head (value has a trailing d_head)
  Edit post;      // mlp.hook_post    X = d_mlp
  Edit mlp_out;   // hook_mlp_out     X = 1 (value [.., d_model])
  Edit qkv;       // q/k/v outputs    X = n_heads + 2 n_kv_heads (value trailing d_head), per row
};

struct ChunkPlan {
  std::vector<int> first;        // per row, ascending, in [0, n_layers]: the layer it joins at
  std::vector<LayerPlan> layers;
  torch::Tensor final_mask;      // bool [n] or undefined: rows whose final residual is replaced
  torch::Tensor final_value;     // [n, batch, d_model]
  bool join_from_cached_z = true;
};

// ---------------------------------------------------------------------------------------------
// The batched forward pass; its elementwise kernels are HookedTransformer's (model/kernels.hpp).

class Runner {
 public:
  Runner(const HookedTransformer& m, const DatasetCache& cache, ExecutorStats& stats,
         const torch::Tensor& rope_cos, const torch::Tensor& rope_sin)
      : m_(m), cfg_(m.cfg()), cache_(cache), stats_(stats), rope_cos_(rope_cos), rope_sin_(rope_sin) {
    ans_ = cache.answer_pos();
    B_ = cache.prompts().batch();
    P_ = cache.prompts().seq_len();
  }

  int64_t B() const { return B_; }
  int64_t P() const { return P_; }

  torch::Tensor mm(const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& b) {
    stats_.flops += 2.0 * static_cast<double>(x2d.size(0)) * static_cast<double>(x2d.size(1)) *
                    static_cast<double>(w.size(1));
    return b.defined() ? torch::addmm(b, x2d, w) : torch::mm(x2d, w);
  }

  torch::Tensor norm(const torch::Tensor& x_in, const torch::Tensor& w, const torch::Tensor& b) {
    const bool up = is_half(m_.dtype());
    const auto x = up ? x_in.to(torch::kFloat32) : x_in;
    if (cfg_.norm == model::NormKind::kLayerNorm) {
      const auto y = torch::layer_norm(x, {cfg_.d_model}, up ? w.to(torch::kFloat32) : w,
                                       up ? b.to(torch::kFloat32) : b, cfg_.norm_eps);
      return up ? y.to(m_.dtype()) : y;
    }
    const auto y = x * torch::rsqrt(x.pow(2).mean(-1, true) + cfg_.norm_eps);
    return (up ? y.to(m_.dtype()) : y) * w;
  }

  // resid [R, P, D] -> z [R, Pq, H, E]; Pq = 1 (each row's answer position) when answer_only.
  // `a` = R / batch rows of the plan, whose q/k/v edits apply.
  torch::Tensor attention(int l, const torch::Tensor& resid, bool answer_only,
                          const LayerPlan& lp, int64_t a) {
    const auto& w = m_.blocks()[static_cast<size_t>(l)];
    const int64_t R = resid.size(0), P = resid.size(1), D = cfg_.d_model;
    const int64_t H = cfg_.n_heads, K = cfg_.n_kv_heads, G = H / K, E = cfg_.d_head;
    const auto x = norm(resid, w.ln1_w, w.ln1_b);
    const auto x2d = x.reshape({R * P, D});
    const bool patch = lp.qkv.mask.defined() && lp.qkv.first_row < a;
    const auto ans_rows = answer_only ? repeat_rows(ans_, a) : torch::Tensor();
    torch::Tensor q, k, v;
    if (answer_only && !patch) {
      // Keys and values for every position, the query only where the answer is read.
      const auto Wkv = w.W_QKV.narrow(1, H * E, 2 * K * E);
      const auto bkv = w.b_QKV.defined() ? w.b_QKV.narrow(0, H * E, 2 * K * E) : torch::Tensor();
      const auto kv = mm(x2d, Wkv, bkv).view({R, P, 2 * K, E});
      k = kv.narrow(2, 0, K);
      v = kv.narrow(2, K, K);
      const auto xa = gather_pos(x, ans_rows, 1).reshape({R, D});
      const auto Wq = w.W_QKV.narrow(1, 0, H * E);
      const auto bq = w.b_QKV.defined() ? w.b_QKV.narrow(0, 0, H * E) : torch::Tensor();
      q = mm(xa, Wq, bq).view({R, 1, H, E});
    } else {
      auto qkv = mm(x2d, w.W_QKV, w.b_QKV).view({R, P, H + 2 * K, E});
      if (patch) {
        const auto m = lp.qkv.mask.narrow(0, 0, a).unsqueeze(-1);  // [a, 1, 1, H+2K, 1]
        const auto val = lp.qkv.value.narrow(0, 0, a);              // [a, B, P, H+2K, E]
        qkv = torch::where(m, val, qkv.view({a, B_, P, H + 2 * K, E})).view({R, P, H + 2 * K, E});
      }
      q = qkv.narrow(2, 0, H);
      k = qkv.narrow(2, H, K);
      v = qkv.narrow(2, H + K, K);
      if (answer_only) q = gather_pos(q, ans_rows, 1);
    }
    const int64_t Pq = q.size(1);
    if (cfg_.positional == model::PosKind::kRotary) {
      const int rd = cfg_.rotary_dim;
      const auto ck = rope_cos_.narrow(0, 0, P).unsqueeze(0), sk = rope_sin_.narrow(0, 0, P).unsqueeze(0);
      k = apply_rotary(k, ck, sk, rd);
      if (answer_only) {
        q = apply_rotary(q, rope_cos_.index_select(0, ans_rows).unsqueeze(1),
                         rope_sin_.index_select(0, ans_rows).unsqueeze(1), rd);
      } else {
        q = apply_rotary(q, ck, sk, rd);
      }
    }
    const auto qh = q.permute({0, 2, 1, 3}).reshape({R, K, G, Pq, E});
    const auto kh = k.permute({0, 2, 3, 1}).unsqueeze(2);  // [R, K, 1, E, P]
    const auto vh = v.permute({0, 2, 1, 3}).unsqueeze(2);  // [R, K, 1, P, E]
    auto scores = torch::matmul(qh, kh).view({R, H, Pq, P});
    scores.mul_(1.0 / std::sqrt(static_cast<double>(E)));
    const auto opts = torch::TensorOptions().device(resid.device()).dtype(torch::kLong);
    torch::Tensor masked_out;
    if (answer_only) {
      masked_out = torch::arange(P, opts).view({1, 1, 1, P}).gt(ans_rows.view({R, 1, 1, 1}));
    } else {
      masked_out = torch::ones({P, P}, opts.dtype(torch::kBool)).triu(1).view({1, 1, P, P});
    }
    scores.masked_fill_(masked_out, -std::numeric_limits<double>::infinity());
    const auto pattern = is_half(m_.dtype()) ? torch::softmax(scores, -1, torch::kFloat32).to(m_.dtype())
                                             : torch::softmax(scores, -1);
    stats_.flops += 4.0 * static_cast<double>(R * H * Pq * P * E);
    return torch::matmul(pattern.view({R, K, G, Pq, P}), vh).view({R, H, Pq, E}).permute({0, 2, 1, 3});
  }

  // Applies one edit to t [a, B, Pq, X(, E)].
  void apply(torch::Tensor& t, const Edit& e, int64_t a, bool answer_only, bool trailing) {
    if (!e.mask.defined() || e.first_row >= a) return;
    auto m = e.mask.narrow(0, 0, a);
    if (answer_only && m.size(2) > 1) m = gather_pos(m, ans_, 2);
    if (trailing) m = m.unsqueeze(-1);
    if (!e.value.defined()) {
      t = t.masked_fill(m, 0);
      return;
    }
    auto v = e.per_row ? e.value.narrow(0, 0, a) : e.value;
    if (answer_only) v = gather_pos(v, ans_, e.per_row ? 2 : 1);
    t = torch::where(m, v, t);
  }

  torch::Tensor mlp_post(int l, const torch::Tensor& resid_mid) {
    const auto& w = m_.blocks()[static_cast<size_t>(l)];
    const int64_t R = resid_mid.size(0), Pq = resid_mid.size(1), M = cfg_.d_mlp;
    const auto y2d = norm(resid_mid, w.ln2_w, w.ln2_b).reshape({R * Pq, cfg_.d_model});
    if (cfg_.gated_mlp) {
      const auto gi = mm(y2d, w.W_gate_in, {});
      auto post = activation(gi.narrow(1, 0, M), cfg_.act_fn) * gi.narrow(1, M, M);
      if (w.b_in.defined()) post = post + w.b_in;
      return post.view({R, Pq, M});
    }
    return activation(mm(y2d, w.W_in, w.b_in), cfg_.act_fn).view({R, Pq, M});
  }

  torch::Tensor mlp_out(int l, const torch::Tensor& post) {
    const auto& w = m_.blocks()[static_cast<size_t>(l)];
    const int64_t R = post.size(0), Pq = post.size(1);
    return mm(post.reshape({R * Pq, cfg_.d_mlp}), w.W_out, w.b_out).view({R, Pq, cfg_.d_model});
  }

  torch::Tensor attn_proj(int l, const torch::Tensor& z) {
    const auto& w = m_.blocks()[static_cast<size_t>(l)];
    const int64_t R = z.size(0), Pq = z.size(1);
    return mm(z.reshape({R * Pq, cfg_.n_heads * cfg_.d_head}), w.W_O, w.b_O)
        .view({R, Pq, cfg_.d_model});
  }

  // The generic batched forward: rows join at plan.first[r] from `base`, edits per plan.
  // Returns the final residual at each prompt's answer position, [n, batch, d_model].
  torch::Tensor run(const RunCache& base, const ChunkPlan& plan) {
    const int L = cfg_.n_layers;
    const int64_t n = static_cast<int64_t>(plan.first.size());
    const int64_t H = cfg_.n_heads, E = cfg_.d_head, D = cfg_.d_model;
    int64_t a = 0;
    torch::Tensor resid;  // [a * B, P, D], or [a * B, 1, D] after the last layer's attention
    for (int l = plan.first.front(); l < L; ++l) {
      int64_t j = 0;
      while (a + j < n && plan.first[static_cast<size_t>(a + j)] == l) ++j;
      const bool last = l == L - 1;
      const LayerPlan& lp = plan.layers[static_cast<size_t>(l)];
      const bool qkv_edit = lp.qkv.mask.defined() && lp.qkv.first_row < a + j;
      torch::Tensor z;
      if (j > 0 && plan.join_from_cached_z && !qkv_edit) {
        // Joiners start at hook_z of layer l from the cache: their attention equals the base's.
        torch::Tensor z_a, r_a;
        if (a > 0) {
          z_a = attention(l, resid, last, lp, a);
          r_a = last ? gather_pos(resid.view({a, B_, P_, D}), ans_, 2).view({a * B_, 1, D}) : resid;
        }
        auto z_j = repeat_rows(last ? gather_pos(base.z[l], ans_, 1) : base.z[l], j);
        auto r_j = repeat_rows(last ? gather_pos(base.resid_pre[l], ans_, 1) : base.resid_pre[l], j);
        z = a > 0 ? torch::cat({z_a, z_j}) : z_j;
        resid = a > 0 ? torch::cat({r_a, r_j}) : r_j;
        a += j;
      } else {
        if (j > 0) {
          auto r_j = repeat_rows(base.resid_pre[l], j);
          resid = a > 0 ? torch::cat({resid, r_j}) : r_j;
          a += j;
        }
        if (a == 0) continue;
        z = attention(l, resid, last, lp, a);
        if (last) resid = gather_pos(resid.view({a, B_, P_, D}), ans_, 2).view({a * B_, 1, D});
      }
      const int64_t Pq = last ? 1 : P_;
      auto z5 = z.reshape({a, B_, Pq, H, E});
      apply(z5, lp.z, a, last, true);
      resid = resid + attn_proj(l, z5.view({a * B_, Pq, H, E}));
      auto post = mlp_post(l, resid);
      if (lp.post.mask.defined() && lp.post.first_row < a) {
        auto p4 = post.view({a, B_, Pq, cfg_.d_mlp});
        apply(p4, lp.post, a, last, false);
        post = p4.view({a * B_, Pq, cfg_.d_mlp});
      }
      auto out = mlp_out(l, post).view({a, B_, Pq, D});
      apply(out, lp.mlp_out, a, last, false);
      resid = resid + out.view({a * B_, Pq, D});
    }
    torch::Tensor fin;  // [n, B, D]
    if (a > 0) fin = resid.view({a, B_, D});
    if (a < n) {
      auto rest = base.final_answer.unsqueeze(0).expand({n - a, B_, D});
      fin = a > 0 ? torch::cat({fin, rest}) : rest.contiguous();
    }
    if (plan.final_mask.defined()) {
      fin = torch::where(plan.final_mask.view({n, 1, 1}), plan.final_value, fin);
    }
    return fin;
  }

  // Final residual at the answer position [n, B, D] -> logits [n, B, V] or [n, B, 2].
  torch::Tensor logits(const torch::Tensor& fin, bool full_vocab) {
    const auto x = m_.final_norm(fin);
    const int64_t n = fin.size(0);
    if (full_vocab) {
      stats_.flops += 2.0 * static_cast<double>(n * B_ * cfg_.d_model) * cfg_.d_vocab;
      return m_.unembed(x);
    }
    const auto& ctx = cache_.metric_context();
    const auto both = torch::cat({ctx.correct, ctx.incorrect});
    const auto cols = std::get<0>(torch::_unique(both, /*sorted=*/true));
    const auto idx = torch::searchsorted(cols, both).view({2, B_}).t();  // [B, 2] into cols
    stats_.flops += 2.0 * static_cast<double>(n * B_ * cfg_.d_model) * static_cast<double>(cols.size(0));
    const auto lc = m_.unembed(x, cols);  // [n, B, C]
    return lc.gather(2, idx.unsqueeze(0).expand({n, B_, 2}).to(lc.device()));
  }

  const DatasetCache& cache() const { return cache_; }
  const model::ModelConfig& cfg() const { return cfg_; }
  const torch::Tensor& ans() const { return ans_; }

 private:
  const HookedTransformer& m_;
  const model::ModelConfig& cfg_;
  const DatasetCache& cache_;
  ExecutorStats& stats_;
  const torch::Tensor& rope_cos_;
  const torch::Tensor& rope_sin_;
  torch::Tensor ans_;
  int64_t B_ = 0, P_ = 0;
};

int first_layer_of(const Intervention& iv, int L) {
  int f = L;
  for (const auto& c : iv.components) f = std::min(f, c.layer);
  return f;
}

int first_receiver_layer(const Intervention& iv, int L) {
  int f = L;
  for (const auto& r : iv.receivers) f = std::min(f, r.kind == ReceiverKind::kResidFinal ? L : r.layer);
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Executor::Executor(const HookedTransformer& model, ExecutorOptions opt) : model_(model), opt_(opt) {
  const auto& c = model.cfg();
  // The batched block re-implementations here feed the MLP from resid_mid; a parallel (GPT-NeoX)
  // block feeds it resid_pre, so interventions on such a model would be silently wrong.
  CSWEEP_CHECK_INPUT(!c.parallel_attn_mlp,
                     "model {}: interventions on parallel attention/MLP blocks (GPT-NeoX "
                     "use_parallel_residual=true) are not supported yet; the hooked forward pass is",
                     c.name);
  if (c.positional == model::PosKind::kRotary) {
    // Same tables as the hooked model: angles in float64, rounded once to the compute dtype.
    const int rd = c.rotary_dim > 0 ? c.rotary_dim : c.d_head;
    auto inv_freq = torch::pow(c.rotary_base, -torch::arange(0, rd, 2, torch::kFloat64) / rd);
    auto ang = torch::outer(torch::arange(0, c.n_ctx, torch::kFloat64), inv_freq);
    ang = torch::cat({ang, ang}, -1);
    rope_cos_ = ang.cos().to(model.device(), model.dtype());
    rope_sin_ = ang.sin().to(model.device(), model.dtype());
  }
}

std::vector<metrics::MetricRow> Executor::evaluate(const DatasetCache& cache, AblationKind kind,
                                                   const std::vector<Intervention>& ivs,
                                                   const metrics::MetricSet& want) {
  const bool full = want.needs_full_vocab();
  if (ivs.empty()) return {};
  // Metrics per batch keep the logits of at most one batch alive.
  std::vector<metrics::MetricRow> rows(ivs.size());
  const auto logits = answer_logits(cache, kind, ivs, full);
  const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(opt_.memory_budget_bytes /
      std::max<int64_t>(1, logits.size(1) * logits.size(2) * 12)));
  for (int64_t s = 0; s < logits.size(0); s += step) {
    const int64_t e = std::min<int64_t>(logits.size(0), s + step);
    auto part = metrics::compute_rows(logits.narrow(0, s, e - s), !full, cache.metric_context(), want);
    for (int64_t i = s; i < e; ++i) rows[static_cast<size_t>(i)] = std::move(part[static_cast<size_t>(i - s)]);
  }
  return rows;
}

torch::Tensor Executor::answer_logits(const DatasetCache& cache, AblationKind kind,
                                      const std::vector<Intervention>& ivs, bool full_vocab) {
  c10::InferenceMode guard;
  const auto& c = model_.cfg();
  const int L = c.n_layers;
  const int64_t H = c.n_heads, K = c.n_kv_heads, E = c.d_head, D = c.d_model, M = c.d_mlp;
  const bool path = kind == AblationKind::kPathPatch;
  for (const auto& iv : ivs) validate_intervention(iv, kind, L, c.n_heads, c.n_kv_heads, c.d_mlp);
  // Gemma's blocks are refused once some row would re-run one (detail::check_blocks_supported).
  for (const auto& iv : ivs)
    if (!iv.components.empty() || !iv.receivers.empty()) detail::check_blocks_supported(c);

  bool neurons = false;
  for (const auto& iv : ivs) {
    for (const auto& comp : iv.components) neurons = neurons || comp.kind == ComponentKind::kNeuron;
  }
  if (neurons) cache.ensure_neurons();

  Runner run(model_, cache, stats_, rope_cos_, rope_sin_);
  const int64_t B = run.B(), P = run.P();
  const auto dev = model_.device();
  const int64_t V = full_vocab ? c.d_vocab : 2;

  // Position masks resolved once per intervention (CPU, [B, P] or undefined = all).
  std::vector<torch::Tensor> posmask(ivs.size());
  for (size_t i = 0; i < ivs.size(); ++i) posmask[i] = resolve_positions(ivs[i].positions, cache.prompts());

  // Rows sorted by the layer they join at, so a batch's joiners share every later layer.
  std::vector<size_t> order(ivs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int> first(ivs.size());
  for (size_t i = 0; i < ivs.size(); ++i) first[i] = first_layer_of(ivs[i], L);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return first[x] < first[y]; });

  // Estimated bytes per intervention row: the live activations of one layer plus the logits.
  const double bpe = static_cast<double>(torch::elementSize(model_.dtype()));
  double per_row = bpe * static_cast<double>(B * P) *
                   static_cast<double>(6 * D + 3 * (H + 2 * K) * E + 3 * M + 3 * H * P) +
                   4.0 * 3.0 * static_cast<double>(B * V);
  if (path) per_row += bpe * static_cast<double>(B * P) * static_cast<double>(3 * D + (H + 2 * K) * E);
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(opt_.memory_budget_bytes) / per_row));
  if (opt_.max_interventions_per_batch > 0) chunk = std::min<int64_t>(chunk, opt_.max_interventions_per_batch);

  const RunCache& clean = cache.clean();
  const RunCache& corrupt = cache.corrupted();
  auto out = torch::empty({static_cast<int64_t>(ivs.size()), B, V},
                          torch::TensorOptions().device(dev).dtype(model::result_dtype(model_.dtype())));
  const auto out_index_opts = torch::TensorOptions().dtype(torch::kLong);

  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(chunk)) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(chunk));
    const int64_t n = static_cast<int64_t>(e - s);
    std::vector<size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(s),
                             order.begin() + static_cast<std::ptrdiff_t>(e));
    bool any_pos = false;
    for (size_t r : rows) any_pos = any_pos || posmask[r].defined();
    const int64_t Bm = any_pos ? B : 1, Pm = any_pos ? P : 1;
    // Masks are recorded on the CPU and made directly on the device (mask_builder.hpp): one
    // host->device transfer of small index vectors per mask instead of cell-by-cell writes into
    // a CPU mask and a dense copy of it per layer.
    MaskBuilder mb(n, Bm, Pm, dev);

    torch::Tensor fin;  // [n, B, D] final residual at the answer, rows in `rows` order
    if (!path) {
      ChunkPlan plan;
      plan.layers.resize(static_cast<size_t>(L));
      std::vector<MaskRecord> z_rec(static_cast<size_t>(L)), post_rec(static_cast<size_t>(L)),
          out_rec(static_cast<size_t>(L));
      for (int64_t r = 0; r < n; ++r) {
        const auto& iv = ivs[rows[static_cast<size_t>(r)]];
        plan.first.push_back(first[rows[static_cast<size_t>(r)]]);
        const auto& pm = posmask[rows[static_cast<size_t>(r)]];
        for (const auto& comp : iv.components) {
          const auto li = static_cast<size_t>(comp.layer);
          switch (comp.kind) {
            case ComponentKind::kHead: mb.set(z_rec[li], H, r, comp.index, pm); break;
            case ComponentKind::kMlp: mb.set(out_rec[li], 1, r, 0, pm); break;
            case ComponentKind::kNeuron: mb.set(post_rec[li], M, r, comp.index, pm); break;
          }
        }
      }
      // Replacement values: shared across rows ([B, P, ...]); zero needs none.
      const RunCache* src = nullptr;
      switch (kind) {
        case AblationKind::kResample:
        case AblationKind::kPatchCorruptIntoClean: src = &corrupt; break;
        case AblationKind::kPatchCleanIntoCorrupt: src = &clean; break;
        default: break;
      }
      for (int l = 0; l < L; ++l) {
        const auto li = static_cast<size_t>(l);
        auto& lp = plan.layers[li];
        lp.z.mask = mb.build(z_rec[li]);
        lp.z.first_row = z_rec[li].first_row;
        lp.post.mask = mb.build(post_rec[li]);
        lp.post.first_row = post_rec[li].first_row;
        lp.mlp_out.mask = mb.build(out_rec[li]);
        lp.mlp_out.first_row = out_rec[li].first_row;
        if (kind == AblationKind::kMean) {
          if (lp.z.mask.defined()) lp.z.value = cache.mean_z(l);
          if (lp.mlp_out.mask.defined()) lp.mlp_out.value = cache.mean_mlp_out(l);
          if (lp.post.mask.defined()) lp.post.value = cache.mean_post(l);
        } else if (src != nullptr) {
          if (lp.z.mask.defined()) lp.z.value = src->z[static_cast<size_t>(l)];
          if (lp.mlp_out.mask.defined()) lp.mlp_out.value = src->mlp_out[static_cast<size_t>(l)];
          if (lp.post.mask.defined()) lp.post.value = src->post[static_cast<size_t>(l)];
        }
      }
      const RunCache& base = kind == AblationKind::kPatchCleanIntoCorrupt ? corrupt : clean;
      fin = run.run(base, plan);
      stats_.batches += 1;
    } else {
      // ---- Path patching, pass 2 (frozen): rows join at their first sender layer.
      // Every head's z is its clean value except the senders' (corrupted), so attention output =
      // clean attn_out + sum over senders of (z_corrupt - z_clean) W_O[head]; MLPs recomputed.
      std::vector<MaskRecord> head_rec(static_cast<size_t>(L)), mlp_rec(static_cast<size_t>(L));
      std::vector<bool> head_recv(static_cast<size_t>(L), false), mlp_recv(static_cast<size_t>(L), false);
      bool final_recv = false;
      int last_needed = 0;  // frozen pass runs layers [first, last_needed)
      for (int64_t r = 0; r < n; ++r) {
        const auto& iv = ivs[rows[static_cast<size_t>(r)]];
        const auto& pm = posmask[rows[static_cast<size_t>(r)]];
        for (const auto& comp : iv.components) {
          const auto li = static_cast<size_t>(comp.layer);
          if (comp.kind == ComponentKind::kHead) {
            mb.set(head_rec[li], H, r, comp.index, pm);
          } else {
            mb.set(mlp_rec[li], 1, r, 0, pm);
          }
        }
        for (const auto& rc : iv.receivers) {
          if (rc.kind == ReceiverKind::kResidFinal) {
            final_recv = true;
            last_needed = L;
          } else if (rc.kind == ReceiverKind::kMlpIn) {
            mlp_recv[static_cast<size_t>(rc.layer)] = true;
            last_needed = std::max(last_needed, rc.layer + 1);
          } else {
            head_recv[static_cast<size_t>(rc.layer)] = true;
            last_needed = std::max(last_needed, rc.layer + 1);
          }
        }
      }
      // The senders' masks of the layers the frozen pass runs, made on the device before it.
      std::vector<torch::Tensor> head_mask(static_cast<size_t>(L)), mlp_mask(static_cast<size_t>(L));
      for (int l = 0; l < last_needed; ++l) {
        head_mask[static_cast<size_t>(l)] = mb.build(head_rec[static_cast<size_t>(l)]);
        mlp_mask[static_cast<size_t>(l)] = mb.build(mlp_rec[static_cast<size_t>(l)]);
      }
      std::vector<torch::Tensor> rec_resid(static_cast<size_t>(L)), rec_mlp(static_cast<size_t>(L));
      torch::Tensor rec_final;
      {
        int64_t a = 0;
        torch::Tensor resid;  // [a, B, P, D]
        const int start = first[rows.front()];
        auto full_rows = [&](const torch::Tensor& active, const torch::Tensor& clean_val) {
          // active [a, B, P, X] + clean value for rows not yet joined.
          if (a == n) return active;
          auto rest = clean_val.unsqueeze(0).expand({n - a, B, P, clean_val.size(-1)});
          return a > 0 ? torch::cat({active, rest}) : rest.contiguous();
        };
        for (int l = 0; l < last_needed; ++l) {
          const auto li = static_cast<size_t>(l);
          if (l >= start) {
            int64_t j = 0;
            while (a + j < n && first[rows[static_cast<size_t>(a + j)]] == l) ++j;
            if (j > 0) {
              auto r_j = clean.resid_pre[li].unsqueeze(0).expand({j, B, P, D});
              resid = a > 0 ? torch::cat({resid, r_j}) : r_j.contiguous();
              a += j;
            }
          }
          if (head_recv[li]) rec_resid[li] = full_rows(resid, clean.resid_pre[li]);
          if (a == 0) {
            if (mlp_recv[li]) rec_mlp[li] = full_rows(resid, clean.mlp_out[li]);
            continue;
          }
          auto mid = resid + clean.attn_out[li];
          if (head_mask[li].defined() && head_rec[li].first_row < a) {
            const auto m = head_mask[li].narrow(0, 0, a).unsqueeze(-1);  // [a, Bm, Pm, H, 1]
            const auto dz = corrupt.z[li] - clean.z[li];                           // [B, P, H, E]
            const auto delta = torch::where(m, dz, torch::zeros({}, dz.options()));
            const auto& w = model_.blocks()[li];
            stats_.flops += 2.0 * static_cast<double>(a * B * P * H * E * D);
            mid = mid + torch::mm(delta.reshape({a * B * P, H * E}), w.W_O).view({a, B, P, D});
          }
          auto post = run.mlp_post(l, mid.view({a * B, P, D}));
          auto out = run.mlp_out(l, post).view({a, B, P, D});
          if (mlp_mask[li].defined() && mlp_rec[li].first_row < a) {
            const auto m = mlp_mask[li].narrow(0, 0, a);  // [a, Bm, Pm, 1]
            out = torch::where(m, corrupt.mlp_out[li], out);
          }
          if (mlp_recv[li]) rec_mlp[li] = full_rows(out, clean.mlp_out[li]);
          resid = mid + out;
        }
        if (final_recv) {
          torch::Tensor act;
          if (a > 0) act = gather_pos(resid, run.ans(), 2).squeeze(2);  // [a, B, D]
          rec_final = a < n ? (a > 0 ? torch::cat({act, clean.final_answer.unsqueeze(0).expand({n - a, B, D})})
                                     : clean.final_answer.unsqueeze(0).expand({n, B, D}).contiguous())
                            : act;
        }
      }
      // ---- Pass 3: clean run with only the receivers' inputs patched. Rows re-sorted by their
      // first receiver layer (the layer they join at).
      std::vector<int64_t> perm(static_cast<size_t>(n));
      std::iota(perm.begin(), perm.end(), int64_t{0});
      std::vector<int> rfirst(static_cast<size_t>(n));
      for (int64_t r = 0; r < n; ++r) rfirst[static_cast<size_t>(r)] = first_receiver_layer(ivs[rows[static_cast<size_t>(r)]], L);
      std::stable_sort(perm.begin(), perm.end(), [&](int64_t x, int64_t y) {
        return rfirst[static_cast<size_t>(x)] < rfirst[static_cast<size_t>(y)];
      });
      const auto perm_t = torch::tensor(perm, out_index_opts).to(dev);
      ChunkPlan plan;
      plan.join_from_cached_z = false;
      plan.layers.resize(static_cast<size_t>(L));
      // Receivers patch whole rows (no position masks): masks [n, 1, 1, X].
      MaskBuilder rb(n, 1, 1, dev);
      std::vector<MaskRecord> recv_mlp(static_cast<size_t>(L)), recv_qkv(static_cast<size_t>(L));
      MaskRecord recv_final;
      for (int64_t q = 0; q < n; ++q) {
        const int64_t r = perm[static_cast<size_t>(q)];
        plan.first.push_back(rfirst[static_cast<size_t>(r)]);
        for (const auto& rc : ivs[rows[static_cast<size_t>(r)]].receivers) {
          if (rc.kind == ReceiverKind::kResidFinal) {
            rb.set(recv_final, 1, q, 0, {});
            continue;
          }
          const auto li = static_cast<size_t>(rc.layer);
          if (rc.kind == ReceiverKind::kMlpIn) {
            rb.set(recv_mlp[li], 1, q, 0, {});
          } else {
            const int64_t col = rc.kind == ReceiverKind::kHeadQ ? rc.head
                              : rc.kind == ReceiverKind::kHeadK ? H + rc.head
                                                                : H + K + rc.head;
            rb.set(recv_qkv[li], H + 2 * K, q, col, {});
          }
        }
      }
      for (int l = 0; l < L; ++l) {
        const auto li = static_cast<size_t>(l);
        auto& lp = plan.layers[li];
        lp.mlp_out.mask = rb.build(recv_mlp[li]);
        lp.mlp_out.first_row = recv_mlp[li].first_row;
        lp.qkv.mask = rb.build(recv_qkv[li]);
        lp.qkv.first_row = recv_qkv[li].first_row;
        if (lp.mlp_out.mask.defined()) {
          lp.mlp_out.value = rec_mlp[li].index_select(0, perm_t);
          lp.mlp_out.per_row = true;
        }
        if (lp.qkv.mask.defined()) {
          // The receivers' q/k/v as the frozen residual stream produces them.
          const auto& w = model_.blocks()[li];
          const auto x = run.norm(rec_resid[li].index_select(0, perm_t), w.ln1_w, w.ln1_b);
          lp.qkv.value = run.mm(x.reshape({n * B * P, D}), w.W_QKV, w.b_QKV).view({n, B, P, H + 2 * K, E});
          lp.qkv.per_row = true;
        }
      }
      if (!recv_final.empty()) {
        plan.final_mask = rb.build(recv_final).view({n});
        plan.final_value = rec_final.index_select(0, perm_t);
      }
      auto fin_sorted = run.run(clean, plan);
      // Undo the permutation: row perm[q] of the chunk is at position q.
      fin = torch::empty_like(fin_sorted);
      fin.index_copy_(0, perm_t, fin_sorted);
      stats_.batches += 2;
    }
    const auto lg = run.logits(fin, full_vocab);
    std::vector<int64_t> dst(rows.begin(), rows.end());
    out.index_copy_(0, torch::tensor(dst, out_index_opts).to(dev), lg.to(out.scalar_type()));
    stats_.interventions += n;
  }
  return out;
}

}  // namespace csweep::interv
