// The batched edge-set executor (Executor::edge_answer_logits): one forward pass over the clean
// prompts per batch of edge-set interventions.
//
// Row r of a batch is intervention r over all prompts. Each sender s that some row patches gets
// a slot in a delta buffer D [n, S, batch*pos*d_model] holding out_s^corrupt - out_s^this row,
// filled when the loop reaches s's layer (zero at unselected positions). A receiver's input is
// its row's residual stream plus M_r D, where M_r [n, S] says which of r's incoming edges the row
// patches: one batched matrix product per layer for all q/k/v receivers of that layer, one for
// the MLP and one for the final residual stream. Query/key/value receivers project only their
// own head's columns, so a receiver costs one head's projection, not a layer's.
//
// Rows with no edge into a receiver keep the shared input bit for bit (they are overwritten
// only where M_r has an entry), so the executor's results for such rows equal a plain ablation.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <numeric>

#include "core/error.hpp"
#include "workers/interventions/edges.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/interventions/executor_internal.hpp"
#include "workers/interventions/mask_builder.hpp"
#include "workers/interventions/tensor_util.hpp"
#include "workers/model/kernels.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {

namespace {

int start_layer(const EdgeIntervention& iv, int L) {
  int f = L;
  for (const auto& c : iv.ablated) f = std::min(f, c.layer);
  for (const auto& e : iv.edges) f = std::min(f, e.sender.layer);
  return f;
}

// Column block of a q/k/v receiver in the fused [H + 2K] head axis of W_QKV.
int64_t qkv_column(const Receiver& r, int64_t H, int64_t K) {
  switch (r.kind) {
    case ReceiverKind::kHeadQ: return r.head;
    case ReceiverKind::kHeadK: return H + r.head;
    default: return H + K + r.head;
  }
}

}  // namespace

std::vector<metrics::MetricRow> Executor::evaluate_edges(const DatasetCache& cache,
                                                         const std::vector<EdgeIntervention>& ivs,
                                                         const metrics::MetricSet& want) {
  if (ivs.empty()) return {};
  const bool full = want.needs_full_vocab();
  const auto logits = edge_answer_logits(cache, ivs, full);
  return detail::rows_from_logits(logits, full, cache, want, opt_.memory_budget_bytes);
}

torch::Tensor Executor::edge_answer_logits(const DatasetCache& cache,
                                           const std::vector<EdgeIntervention>& ivs, bool full_vocab) {
  c10::InferenceMode guard;
  const auto& c = model_.cfg();
  const int L = c.n_layers;
  const int64_t H = c.n_heads, K = c.n_kv_heads, G = H / K, E = c.d_head, D = c.d_model, M = c.d_mlp;
  for (const auto& iv : ivs) validate_edge_intervention(iv, L, c.n_heads, c.n_kv_heads);
  if (!ivs.empty()) detail::check_blocks_supported(c);
  const auto& clean = cache.clean();
  const auto& corrupt = cache.corrupted();
  const int64_t B = cache.prompts().batch(), P = cache.prompts().seq_len();
  const auto dev = model_.device();
  const auto dt = model_.dtype();
  const int64_t V = full_vocab ? c.d_vocab : 2;
  const int64_t X = B * P * D;

  std::vector<torch::Tensor> posmask(ivs.size());
  for (size_t i = 0; i < ivs.size(); ++i) posmask[i] = resolve_positions(ivs[i].positions, cache.prompts());

  std::vector<size_t> order(ivs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int> first(ivs.size());
  for (size_t i = 0; i < ivs.size(); ++i) first[i] = start_layer(ivs[i], L);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return first[x] < first[y]; });

  // Memory per row: one layer's live activations plus the delta buffer (one residual stream per
  // distinct sender) and the q/k/v receivers' inputs of the widest layer.
  std::map<Component, int> all_senders;
  std::map<int, std::set<std::pair<int, int>>> qkv_receivers_by_layer;
  for (const auto& iv : ivs) {
    for (const auto& e : iv.edges) {
      all_senders.emplace(e.sender, 0);
      if (e.receiver.kind <= ReceiverKind::kHeadV) {
        qkv_receivers_by_layer[e.receiver.layer].insert({static_cast<int>(e.receiver.kind), e.receiver.head});
      }
    }
  }
  size_t widest = 0;
  for (const auto& kv : qkv_receivers_by_layer) widest = std::max(widest, kv.second.size());
  const double bpe = static_cast<double>(torch::elementSize(dt));
  const double per_row = bpe * static_cast<double>(B * P) *
                             (static_cast<double>(D) * static_cast<double>(6 + all_senders.size() + 2 * widest) +
                              static_cast<double>(3 * (H + 2 * K) * E + 3 * M + 3 * H * P)) +
                         4.0 * 3.0 * static_cast<double>(B * V);
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(opt_.memory_budget_bytes) / per_row));
  if (opt_.max_interventions_per_batch > 0) chunk = std::min<int64_t>(chunk, opt_.max_interventions_per_batch);

  auto out = torch::empty({static_cast<int64_t>(ivs.size()), B, V},
                          torch::TensorOptions().device(dev).dtype(model::result_dtype(model_.dtype())));
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong);
  const auto fopts = torch::TensorOptions().dtype(dt);
  auto mm = [&](const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& b) {
    stats_.flops += 2.0 * static_cast<double>(x2d.size(0)) * static_cast<double>(x2d.size(1)) *
                    static_cast<double>(w.size(1));
    return b.defined() ? torch::addmm(b, x2d, w) : torch::mm(x2d, w);
  };
  const auto causal = torch::ones({P, P}, torch::TensorOptions().device(dev).dtype(torch::kBool)).triu(1).view({1, 1, P, P});

  for (size_t s0 = 0; s0 < order.size(); s0 += static_cast<size_t>(chunk)) {
    const size_t s1 = std::min(order.size(), s0 + static_cast<size_t>(chunk));
    const int64_t n = static_cast<int64_t>(s1 - s0);
    const std::vector<size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(s0),
                                   order.begin() + static_cast<std::ptrdiff_t>(s1));

    // ---- Plan (CPU): sender slots, receiver coefficient matrices, ablation masks. Their entries
    // are recorded here and the tensors made on the device afterwards (mask_builder.hpp): a few
    // small index vectors travel host->device per tensor, not a dense CPU tensor filled cell by cell.
    std::map<Component, int64_t> slot;
    for (size_t r : rows) {
      for (const auto& e : ivs[r].edges) slot.emplace(e.sender, static_cast<int64_t>(slot.size()));
    }
    const int64_t S = std::max<int64_t>(1, static_cast<int64_t>(slot.size()));
    using Points = std::vector<std::vector<int64_t>>;  // ones_at's coordinates (row, receiver, slot)
    struct QkvReceivers {
      std::vector<Receiver> recv;
      Points points = Points(3);
      torch::Tensor coef;  // [n, R, S] in the model's dtype
    };
    std::vector<QkvReceivers> qkv(static_cast<size_t>(L));
    std::vector<Points> mlp_points(static_cast<size_t>(L), Points(3));
    Points fin_points(3);
    std::vector<torch::Tensor> mlp_coef(static_cast<size_t>(L));  // [n, 1, S]
    torch::Tensor fin_coef;                                        // [n, 1, S]
    MaskBuilder ab(n, 1, 1, dev);
    std::vector<MaskRecord> z_ab_rec(static_cast<size_t>(L)), mlp_ab_rec(static_cast<size_t>(L));
    std::vector<torch::Tensor> z_ab(static_cast<size_t>(L)), mlp_ab(static_cast<size_t>(L));
    auto add = [](Points& p, int64_t i, int64_t r, int64_t sl) {
      p[0].push_back(i);
      p[1].push_back(r);
      p[2].push_back(sl);
    };
    for (size_t r : rows) {
      for (const auto& e : ivs[r].edges) {
        if (e.receiver.kind > ReceiverKind::kHeadV) continue;
        auto& q = qkv[static_cast<size_t>(e.receiver.layer)];
        const bool known = std::any_of(q.recv.begin(), q.recv.end(), [&](const Receiver& x) {
          return x.kind == e.receiver.kind && x.head == e.receiver.head;
        });
        if (!known) q.recv.push_back(e.receiver);
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto& iv = ivs[rows[static_cast<size_t>(i)]];
      for (const auto& e : iv.edges) {
        const int64_t sl = slot.at(e.sender);
        const auto li = static_cast<size_t>(e.receiver.layer);
        switch (e.receiver.kind) {
          case ReceiverKind::kResidFinal:
            add(fin_points, i, 0, sl);
            break;
          case ReceiverKind::kMlpIn:
            add(mlp_points[li], i, 0, sl);
            break;
          default: {
            auto& q = qkv[li];
            const auto it = std::find_if(q.recv.begin(), q.recv.end(), [&](const Receiver& x) {
              return x.kind == e.receiver.kind && x.head == e.receiver.head;
            });
            add(q.points, i, it - q.recv.begin(), sl);
          }
        }
      }
      for (const auto& a : iv.ablated) {
        const auto li = static_cast<size_t>(a.layer);
        if (a.kind == ComponentKind::kHead) {
          ab.set(z_ab_rec[li], H, i, a.index, {});
        } else {
          ab.set(mlp_ab_rec[li], 1, i, 0, {});
        }
      }
    }
    // Sender positions: [n, B, P, 1], true where the sender's output is patched (every position
    // of a row without a position mask).
    bool any_pos = false;
    for (size_t r : rows) any_pos = any_pos || posmask[r].defined();
    torch::Tensor pm;
    if (any_pos) {
      MaskBuilder pb(n, B, P, dev);
      MaskRecord rec;
      for (int64_t i = 0; i < n; ++i) pb.set(rec, 1, i, 0, posmask[rows[static_cast<size_t>(i)]]);
      pm = pb.build(rec);
    }
    // Coefficients are 0/1, exact in every dtype, so they are made in the model's dtype directly.
    const auto dev_dt = fopts.device(dev);
    for (int l = 0; l < L; ++l) {
      const auto li = static_cast<size_t>(l);
      auto& q = qkv[li];
      q.coef = ones_at({n, static_cast<int64_t>(q.recv.size()), S}, q.points, dev_dt);
      mlp_coef[li] = ones_at({n, 1, S}, mlp_points[li], dev_dt);
      if (!z_ab_rec[li].empty()) z_ab[li] = ab.build(z_ab_rec[li]).unsqueeze(-1);  // [n, 1, 1, H, 1]
      mlp_ab[li] = ab.build(mlp_ab_rec[li]);                                        // [n, 1, 1, 1]
    }
    fin_coef = ones_at({n, 1, S}, fin_points, dev_dt);

    // ---- The pass. Rows are sorted by start layer; before the chunk's first touched layer
    // every row equals the clean run.
    const int l0 = first[rows.front()];
    torch::Tensor resid;  // [n, B, P, D]
    torch::Tensor delta;  // [n, S, X]
    if (!slot.empty()) delta = torch::zeros({n, S, X}, fopts.device(dev));
    auto gathered = [&](const torch::Tensor& coef) {  // [n, R, S] x [n, S, X] -> [n, R, B, P, D]
      stats_.flops += 2.0 * static_cast<double>(n * coef.size(1) * S * X);
      return torch::bmm(coef, delta).view({n, coef.size(1), B, P, D});
    };
    auto store = [&](const Component& s, torch::Tensor d) {  // d [n, B, P, D]
      const auto it = slot.find(s);
      if (it == slot.end()) return;
      if (pm.defined()) d = d.masked_fill(pm.logical_not(), 0);
      delta.select(1, it->second).copy_(d.reshape({n, X}));
    };
    if (l0 < L) resid = clean.resid_pre[static_cast<size_t>(l0)].unsqueeze(0).expand({n, B, P, D}).contiguous();
    for (int l = l0; l < L; ++l) {
      const auto li = static_cast<size_t>(l);
      const auto& w = model_.blocks()[li];
      // Attention: shared q/k/v, then each patched receiver's own head block from its own input.
      const auto x = detail::block_norm(model_, resid, w.ln1_w, w.ln1_b);
      auto qkv_t = mm(x.reshape({n * B * P, D}), w.W_QKV, w.b_QKV).view({n, B, P, H + 2 * K, E});
      if (qkv[li].coef.defined()) {
        const auto& q = qkv[li];
        const int64_t R = static_cast<int64_t>(q.recv.size());
        const auto xin = detail::block_norm(model_, resid.unsqueeze(1) + gathered(q.coef), w.ln1_w, w.ln1_b);
        const auto xr = xin.transpose(0, 1).reshape({R, n * B * P, D});
        std::vector<torch::Tensor> ws, bs;
        for (const auto& r : q.recv) {
          const int64_t col = qkv_column(r, H, K);
          ws.push_back(w.W_QKV.narrow(1, col * E, E));
          if (w.b_QKV.defined()) bs.push_back(w.b_QKV.narrow(0, col * E, E));
        }
        auto proj = torch::bmm(xr, torch::stack(ws));  // [R, nBP, E]
        stats_.flops += 2.0 * static_cast<double>(R * n * B * P * D * E);
        if (!bs.empty()) proj = proj + torch::stack(bs).unsqueeze(1);
        const auto rowmask = q.coef.sum(2).gt(0);  // [n, R]
        for (int64_t ri = 0; ri < R; ++ri) {
          const int64_t col = qkv_column(q.recv[static_cast<size_t>(ri)], H, K);
          auto dst = qkv_t.select(3, col);  // [n, B, P, E]
          dst.copy_(torch::where(rowmask.select(1, ri).view({n, 1, 1, 1}),
                                 proj[ri].view({n, B, P, E}), dst));
        }
      }
      auto qh = qkv_t.narrow(3, 0, H).reshape({n * B, P, H, E});
      auto kh = qkv_t.narrow(3, H, K).reshape({n * B, P, K, E});
      auto vh = qkv_t.narrow(3, H + K, K).reshape({n * B, P, K, E});
      if (c.positional == model::PosKind::kRotary) {
        const auto ck = rope_cos_.narrow(0, 0, P).unsqueeze(0), sk = rope_sin_.narrow(0, 0, P).unsqueeze(0);
        qh = model::apply_rotary(qh, ck, sk, c.rotary_dim);
        kh = model::apply_rotary(kh, ck, sk, c.rotary_dim);
      }
      const int64_t R = n * B;
      auto scores = torch::matmul(qh.permute({0, 2, 1, 3}).reshape({R, K, G, P, E}),
                                  kh.permute({0, 2, 3, 1}).unsqueeze(2))
                        .view({R, H, P, P});
      scores.mul_(1.0 / std::sqrt(static_cast<double>(E)));
      scores.masked_fill_(causal, -std::numeric_limits<double>::infinity());
      const auto pattern = model::is_half(dt) ? torch::softmax(scores, -1, torch::kFloat32).to(dt)
                                              : torch::softmax(scores, -1);
      stats_.flops += 4.0 * static_cast<double>(R * H * P * P * E);
      auto z = torch::matmul(pattern.view({R, K, G, P, P}), vh.permute({0, 2, 1, 3}).unsqueeze(2))
                   .view({R, H, P, E})
                   .permute({0, 2, 1, 3})
                   .reshape({n, B, P, H, E});
      if (z_ab[li].defined()) z = torch::where(z_ab[li], cache.mean_z(l), z);
      // Head senders of this layer: out^corrupt - out^this row = (z^corrupt - z) W_O[h].
      for (int64_t h = 0; h < H; ++h) {
        const Component s{ComponentKind::kHead, l, static_cast<int>(h)};
        if (slot.count(s) == 0) continue;
        const auto dz = (corrupt.z[li].select(2, h) - z.select(3, h)).reshape({n * B * P, E});
        store(s, mm(dz, w.W_O.narrow(0, h * E, E), {}).view({n, B, P, D}));
      }
      const auto resid_mid = resid + mm(z.reshape({n * B * P, H * E}), w.W_O, w.b_O).view({n, B, P, D});
      // MLP: its input plus the patched edges into it (same-layer heads included).
      auto mlp_in = resid_mid;
      if (mlp_coef[li].defined()) mlp_in = resid_mid + gathered(mlp_coef[li]).squeeze(1);
      const auto y = detail::block_norm(model_, mlp_in, w.ln2_w, w.ln2_b).reshape({n * B * P, D});
      torch::Tensor post;
      if (c.gated_mlp) {
        const auto gi = mm(y, w.W_gate_in, w.b_gate_in);
        post = model::activation(gi.narrow(1, 0, M), c.act_fn) * gi.narrow(1, M, M);
      } else {
        post = model::activation(mm(y, w.W_in, w.b_in), c.act_fn);
      }
      auto mlp_out = mm(post, w.W_out, w.b_out).view({n, B, P, D});
      if (mlp_ab[li].defined()) mlp_out = torch::where(mlp_ab[li], cache.mean_mlp_out(l), mlp_out);
      store({ComponentKind::kMlp, l, 0}, corrupt.mlp_out[li] - mlp_out);
      resid = resid_mid + mlp_out;
    }
    torch::Tensor fin;  // [n, B, D] at the answer position
    if (l0 < L) {
      if (fin_coef.defined()) resid = resid + gathered(fin_coef).squeeze(1);
      fin = gather_pos(resid, cache.answer_pos(), 2).squeeze(2);
    } else {
      fin = clean.final_answer.unsqueeze(0).expand({n, B, D}).contiguous();
    }
    const auto lg = detail::answer_logits_from_final(model_, cache, fin, full_vocab, stats_);
    std::vector<int64_t> dst(rows.begin(), rows.end());
    out.index_copy_(0, torch::tensor(dst, long_opts).to(dev), lg.to(out.scalar_type()));
    stats_.batches += 1;
    stats_.interventions += n;
  }
  return out;
}

}  // namespace csweep::interv
