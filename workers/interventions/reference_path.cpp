#include "workers/interventions/reference_path.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "workers/interventions/executor.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/transformer.hpp"

namespace csweep::interv {

using model::act_name;

namespace {

std::unordered_map<std::string, torch::Tensor> cache_run(const model::HookedTransformer& m,
                                                          const torch::Tensor& tokens) {
  model::Hooks hooks;
  hooks.cache_matching("blocks.*.attn.hook_z");
  hooks.cache_matching("blocks.*.hook_mlp_out");
  hooks.cache_matching("blocks.*.mlp.hook_post");
  m.forward(tokens, &hooks);
  std::unordered_map<std::string, torch::Tensor> out;
  for (auto& kv : hooks.cache()) out[kv.first] = kv.second.clone();
  return out;
}

// Replaces act[:, :, index] (or act itself when index < 0) by value at the selected cells.
// act [batch, pos, X(, E)]; value same shape or undefined (= zero); pm [batch, pos] or undefined.
torch::Tensor replace(const torch::Tensor& act, int64_t index, const torch::Tensor& value,
                      const torch::Tensor& pm) {
  auto out = act.clone();
  auto dst = index >= 0 ? out.select(2, index) : out;
  auto src = value.defined() ? (index >= 0 ? value.select(2, index) : value) : torch::zeros_like(dst);
  if (!pm.defined()) {
    dst.copy_(src);
    return out;
  }
  auto m = pm.to(act.device());
  while (m.dim() < dst.dim()) m = m.unsqueeze(-1);
  dst.copy_(torch::where(m, src, dst));
  return out;
}

}  // namespace

ReferencePath::ReferencePath(const model::HookedTransformer& model, PromptSet prompts,
                             MeanSource mean_source)
    : model_(model), prompts_(std::move(prompts)) {
  c10::InferenceMode guard;
  clean_ = cache_run(model_, prompts_.clean_tokens);
  corrupt_ = cache_run(model_, prompts_.corrupted_tokens);
  // Per (group, position) means, one group at a time.
  const auto& src = mean_source == MeanSource::kCorrupted ? corrupt_ : clean_;
  const auto group = prompts_.group.cpu();
  for (const auto& kv : src) {
    auto mean = torch::zeros_like(kv.second);
    for (int g = 0; g < prompts_.n_groups; ++g) {
      const auto idx = torch::nonzero(group.eq(g)).squeeze(1).to(kv.second.device());
      if (idx.numel() == 0) continue;
      const auto sel = kv.second.index_select(0, idx);
      mean.index_copy_(0, idx, sel.mean(0, true).expand_as(sel).contiguous());
    }
    mean_[kv.first] = mean;
  }
}

torch::Tensor ReferencePath::forward(const torch::Tensor& tokens, model::Hooks* hooks) {
  const auto logits = model_.forward(tokens, hooks);  // [batch, pos, d_vocab]
  const auto ans = prompts_.answer_pos.to(logits.device());
  const auto idx = ans.view({-1, 1, 1}).expand({logits.size(0), 1, logits.size(2)});
  return logits.gather(1, idx).squeeze(1);
}

torch::Tensor ReferencePath::answer_logits(AblationKind kind, const Intervention& iv,
                                          bool recompute_mlps) {
  c10::InferenceMode guard;
  const auto& cfg = model_.cfg();
  validate_intervention(iv, kind, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.d_mlp);
  const auto pm = resolve_positions(iv.positions, prompts_);
  auto hook_for = [](const Component& c) {
    switch (c.kind) {
      case ComponentKind::kHead: return act_name("z", c.layer);
      case ComponentKind::kMlp: return act_name("mlp_out", c.layer);
      case ComponentKind::kNeuron: return act_name("post", c.layer);
    }
    return std::string();
  };
  auto index_of = [](const Component& c) -> int64_t {
    return c.kind == ComponentKind::kMlp ? -1 : c.index;
  };

  if (kind != AblationKind::kPathPatch) {
    const std::unordered_map<std::string, torch::Tensor>* src = nullptr;
    switch (kind) {
      case AblationKind::kMean: src = &mean_; break;
      case AblationKind::kResample:
      case AblationKind::kPatchCorruptIntoClean: src = &corrupt_; break;
      case AblationKind::kPatchCleanIntoCorrupt: src = &clean_; break;
      default: break;
    }
    model::Hooks hooks;
    for (const auto& c : iv.components) {
      const std::string name = hook_for(c);
      const torch::Tensor value = src ? src->at(name) : torch::Tensor();
      const int64_t index = index_of(c);
      hooks.add(name, [value, index, pm](torch::Tensor& act, const std::string&) {
        act = replace(act, index, value, pm);
      });
    }
    const auto& tokens = kind == AblationKind::kPatchCleanIntoCorrupt ? prompts_.corrupted_tokens
                                                                     : prompts_.clean_tokens;
    return forward(tokens, &hooks);
  }

  // Path patching, pass 2: clean prompts, every head's z frozen to its clean value except the
  // senders' (corrupted at the selected positions); MLPs recomputed; receivers' inputs recorded.
  const int L = cfg.n_layers;
  model::Hooks frozen;
  for (int l = 0; l < L; ++l) {
    const std::string name = act_name("z", l);
    torch::Tensor z = clean_.at(name);
    for (const auto& c : iv.components) {
      if (c.kind == ComponentKind::kHead && c.layer == l) z = replace(z, c.index, corrupt_.at(name), pm);
    }
    frozen.add(name, [z](torch::Tensor& act, const std::string&) { act = z.clone(); });
  }
  for (const auto& c : iv.components) {
    if (c.kind != ComponentKind::kMlp) continue;
    const std::string name = act_name("mlp_out", c.layer);
    const torch::Tensor value = corrupt_.at(name);
    frozen.add(name, [value, pm](torch::Tensor& act, const std::string&) {
      act = replace(act, -1, value, pm);
    });
  }
  if (!recompute_mlps) {
    for (int l = 0; l < L; ++l) {
      const Component mlp{ComponentKind::kMlp, l, 0};
      bool keep = std::find(iv.components.begin(), iv.components.end(), mlp) != iv.components.end();
      for (const auto& r : iv.receivers) keep = keep || (r.kind == ReceiverKind::kMlpIn && r.layer == l);
      if (keep) continue;
      const torch::Tensor value = clean_.at(act_name("mlp_out", l));
      frozen.add(act_name("mlp_out", l), [value](torch::Tensor& act, const std::string&) { act = value.clone(); });
    }
  }
  const std::string final_name = act_name("resid_post", L - 1);
  for (const auto& r : iv.receivers) {
    switch (r.kind) {
      case ReceiverKind::kHeadQ: frozen.cache_matching(act_name("q", r.layer)); break;
      case ReceiverKind::kHeadK: frozen.cache_matching(act_name("k", r.layer)); break;
      case ReceiverKind::kHeadV: frozen.cache_matching(act_name("v", r.layer)); break;
      case ReceiverKind::kMlpIn: frozen.cache_matching(act_name("mlp_out", r.layer)); break;
      case ReceiverKind::kResidFinal: frozen.cache_matching(final_name); break;
    }
  }
  model_.forward(prompts_.clean_tokens, &frozen);
  std::unordered_map<std::string, torch::Tensor> rec;
  for (auto& kv : frozen.cache()) rec[kv.first] = kv.second.clone();

  // Pass 3: clean prompts with only the recorded receiver inputs patched in.
  model::Hooks patched;
  for (const auto& r : iv.receivers) {
    std::string name;
    int64_t index = -1;
    switch (r.kind) {
      case ReceiverKind::kHeadQ: name = act_name("q", r.layer); index = r.head; break;
      case ReceiverKind::kHeadK: name = act_name("k", r.layer); index = r.head; break;
      case ReceiverKind::kHeadV: name = act_name("v", r.layer); index = r.head; break;
      // The MLP is a function of its input alone: patching its input = patching its output
      // with what the frozen run's input produced.
      case ReceiverKind::kMlpIn: name = act_name("mlp_out", r.layer); break;
      case ReceiverKind::kResidFinal: name = final_name; break;
    }
    const torch::Tensor value = rec.at(name);
    patched.add(name, [value, index](torch::Tensor& act, const std::string&) {
      act = replace(act, index, value, {});
    });
  }
  return forward(prompts_.clean_tokens, &patched);
}

torch::Tensor ReferencePath::edge_answer_logits(const EdgeIntervention& iv) {
  c10::InferenceMode guard;
  const auto& cfg = model_.cfg();
  const int L = cfg.n_layers;
  validate_edge_intervention(iv, L, cfg.n_heads, cfg.n_kv_heads);
  const auto pm = resolve_positions(iv.positions, prompts_);
  if (corrupt_result_.empty()) {
    model::Hooks h;
    h.cache_matching("blocks.*.attn.hook_result");
    model_.forward(prompts_.corrupted_tokens, &h);
    for (auto& kv : h.cache()) corrupt_result_[kv.first] = kv.second.clone();
  }
  struct Patch {
    std::string hook;
    int64_t index;  // head index, or -1 for the whole activation
    torch::Tensor value;
  };
  std::vector<Patch> patches;
  auto attach = [&](model::Hooks& h) {
    for (const auto& c : iv.ablated) {
      const std::string name = c.kind == ComponentKind::kHead ? act_name("z", c.layer) : act_name("mlp_out", c.layer);
      const torch::Tensor value = mean_.at(name);
      const int64_t index = c.kind == ComponentKind::kHead ? c.index : -1;
      h.add(name, [value, index](torch::Tensor& act, const std::string&) { act = replace(act, index, value, {}); });
    }
    for (const auto& p : patches) {
      const torch::Tensor value = p.value;
      const int64_t index = p.index;
      h.add(p.hook, [value, index](torch::Tensor& act, const std::string&) { act = replace(act, index, value, {}); });
    }
  };
  const auto same = same_receiver;
  // The receiver's input in the current run plus its patched senders' corrupted-minus-current
  // outputs, at the selected positions.
  auto patched_input = [&](const Receiver& r, const torch::Tensor& current_input,
                           std::unordered_map<std::string, torch::Tensor>& cur) {
    std::set<Component> senders;
    for (const auto& e : iv.edges) {
      if (same(e.receiver, r)) senders.insert(e.sender);
    }
    auto input = current_input.clone();
    for (const auto& s : senders) {
      torch::Tensor d;
      if (s.kind == ComponentKind::kHead) {
        const std::string name = act_name("result", s.layer);
        d = corrupt_result_.at(name).select(2, s.index) - cur.at(name).select(2, s.index);
      } else {
        const std::string name = act_name("mlp_out", s.layer);
        d = corrupt_.at(name) - cur.at(name);
      }
      if (pm.defined()) d = d * pm.to(d.device()).unsqueeze(-1).to(d.scalar_type());
      input = input + d;
    }
    return input;
  };
  auto current_run = [&](const std::string& stream) {
    model::Hooks h;
    attach(h);
    h.cache_matching("blocks.*.attn.hook_result");
    h.cache_matching("blocks.*.hook_mlp_out");
    h.cache_matching(stream);
    model_.forward(prompts_.clean_tokens, &h);
    std::unordered_map<std::string, torch::Tensor> cur;
    for (auto& kv : h.cache()) cur[kv.first] = kv.second.clone();
    return cur;
  };
  for (int l = 0; l < L; ++l) {
    for (int stage = 0; stage < 2; ++stage) {
      std::vector<Receiver> recv;
      for (const auto& e : iv.edges) {
        const auto& r = e.receiver;
        const bool here = r.layer == l && (stage == 0 ? r.kind <= ReceiverKind::kHeadV : r.kind == ReceiverKind::kMlpIn);
        if (!here) continue;
        if (std::none_of(recv.begin(), recv.end(), [&](const Receiver& x) { return same(x, r); })) recv.push_back(r);
      }
      if (recv.empty()) continue;
      const std::string stream = act_name(stage == 0 ? "resid_pre" : "resid_mid", l);
      auto cur = current_run(stream);
      std::vector<Patch> found;
      for (const auto& r : recv) {
        const auto input = patched_input(r, cur.at(stream), cur);
        std::string rec;
        int64_t index = r.head;
        switch (r.kind) {
          case ReceiverKind::kHeadQ: rec = act_name("q", l); break;
          case ReceiverKind::kHeadK: rec = act_name("k", l); break;
          case ReceiverKind::kHeadV: rec = act_name("v", l); break;
          default: rec = act_name("mlp_out", l); index = -1; break;
        }
        model::Hooks h;
        h.add(stream, [input](torch::Tensor& act, const std::string&) { act = input.clone(); });
        h.cache_matching(rec);
        model_.forward(prompts_.clean_tokens, &h);
        found.push_back({rec, index, h.cache().at(rec).clone()});
      }
      // This stage's receivers read the same current stream: their patches apply together.
      patches.insert(patches.end(), found.begin(), found.end());
    }
  }
  const Receiver final_recv{ReceiverKind::kResidFinal, 0, 0};
  if (std::any_of(iv.edges.begin(), iv.edges.end(), [&](const Edge& e) { return same(e.receiver, final_recv); })) {
    const std::string stream = act_name("resid_post", L - 1);
    auto cur = current_run(stream);
    patches.push_back({stream, -1, patched_input(final_recv, cur.at(stream), cur)});
  }
  model::Hooks fin;
  attach(fin);
  return forward(prompts_.clean_tokens, &fin);
}

}  // namespace csweep::interv
