#include "workers/planted/planted.hpp"

#include <fmt/format.h>

#include <cmath>
#include <tuple>

#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "workers/model/config.hpp"
#include "workers/tasks/rng.hpp"

namespace csweep::planted {

namespace {

using interv::Component;
using interv::ComponentKind;
using vocab::parse_edge;

constexpr int kD = 128;      // d_model: a Sylvester Hadamard matrix of this order gives 127 directions
constexpr int kDHead = 16;
constexpr int kHeads = 4;
// Attention logit margin of every designed head: softmax weights off the target are below
// P * exp(-40), far under float32 resolution of the outputs.
constexpr double kMargin = 40.0;

// Unit, mean-zero, mutually orthogonal directions: row r (1 <= r < kD) of the Sylvester
// Hadamard matrix, H[r][c] = (-1)^popcount(r & c), over sqrt(kD).
torch::Tensor direction(int r) {
  CSWEEP_ASSERT(r >= 1 && r < kD, "direction {} outside 1..{}", r, kD - 1);
  auto v = torch::empty({kD});
  for (int c = 0; c < kD; ++c) v[c] = (__builtin_popcount(static_cast<unsigned>(r & c)) % 2 == 0) ? 1.0 : -1.0;
  return v / std::sqrt(static_cast<double>(kD));
}

// Subspaces: a block of 16 directions each; slot i of block b is direction 1 + 16 b + i.
enum Block { kTok = 0, kPos = 1, kPrev = 2, kOut = 3, kJunk0 = 4, kJunk1 = 5, kFlags = 6 };
torch::Tensor dir(Block b, int i) { return direction(1 + 16 * static_cast<int>(b) + i); }

// LayerNorm (weight 1, bias 0) of a mean-zero x is x * sqrt(kD) / |x|: the factor a designed
// read sees when the residual stream has squared norm `sq`.
double ln_scale(double sq) { return std::sqrt(static_cast<double>(kD) / sq); }

model::ModelConfig base_config(const std::string& name, int vocab, int n_ctx) {
  model::ModelConfig c;
  c.family = model::Family::kGPT2;
  c.name = name;
  c.n_layers = 2;
  c.n_heads = kHeads;
  c.n_kv_heads = kHeads;
  c.d_model = kD;
  c.d_head = kDHead;
  c.d_mlp = 16;
  c.n_ctx = n_ctx;
  c.d_vocab = vocab;
  c.act_fn = model::ActFn::kRelu;
  c.tied_embeddings = false;
  return c;
}

// Every canonical parameter zero, norm weights one.
model::LoadedModel zero_model(const model::ModelConfig& cfg) {
  model::LoadedModel m;
  m.cfg = cfg;
  m.source = "planted:" + cfg.name;
  for (const auto& spec : model::canonical_params(cfg)) {
    if (spec.optional) continue;
    const auto leaf = spec.name.substr(spec.name.rfind('.') + 1);
    m.params[spec.name] = leaf == "w" ? torch::ones(spec.shape) : torch::zeros(spec.shape);
  }
  return m;
}

torch::Tensor& P(model::LoadedModel& m, int layer, const std::string& leaf) {
  return m.params.at(fmt::format("blocks.{}.{}", layer, leaf));
}

// A head that attends from every position to the position given by key_pos(query) (or to the
// current one), reading positions only: q_i = a e_{slot(i)}, k_j = a e_{slot'(j)}.
// scale_sq = squared residual norm the head reads (sets a so the logit margin is kMargin).
void positional_qk(model::LoadedModel& m, int layer, int head, double scale_sq, int n_ctx,
                   int offset /* key j matches query j + offset */) {
  const double s = ln_scale(scale_sq);
  const double a = std::sqrt(kMargin * std::sqrt(static_cast<double>(kDHead))) / s;
  auto& WQ = P(m, layer, "attn.W_Q");
  auto& WK = P(m, layer, "attn.W_K");
  for (int p = 0; p < n_ctx && p < kDHead; ++p) {
    WQ[head].select(1, p) += a * dir(kPos, p);
    if (p + offset < kDHead) WK[head].select(1, p + offset) += a * dir(kPos, p);
  }
}

// OV circuit copying the token identity from block `from` into block `to`, scaled so that a
// hard-attending head writes `gain` times a unit vector; perm shifts the target slot.
void copy_ov(model::LoadedModel& m, int layer, int head, double scale_sq, Block from, Block to,
             int n_slots, double gain, int perm = 0) {
  const double s = ln_scale(scale_sq);
  auto& WV = P(m, layer, "attn.W_V");
  auto& WO = P(m, layer, "attn.W_O");
  for (int t = 0; t < n_slots; ++t) {
    WV[head].select(1, t) += (1.0 / s) * dir(from, t);
    WO[head][t] += gain * dir(to, (t + perm) % 16);
  }
}

// A distractor: attends to the current position and writes 0.5 x a token-dependent direction
// of a junk block nothing reads.
void distractor(model::LoadedModel& m, int layer, int head, double scale_sq, int n_ctx, Block junk,
                int n_tok_slots) {
  positional_qk(m, layer, head, scale_sq, n_ctx, 0);
  copy_ov(m, layer, head, scale_sq, kTok, junk, n_tok_slots, 0.5, head * 5);
}

// Token t -> slot t of the token block, position p -> slot p of the position block.
void embeddings(model::LoadedModel& m, int vocab, int n_ctx) {
  auto& WE = m.params.at("embed.W_E");
  for (int t = 0; t < vocab; ++t) WE[t] = dir(kTok, t);
  auto& Wp = m.params.at("pos_embed.W_pos");
  for (int p = 0; p < n_ctx; ++p) Wp[p] = dir(kPos, p);
}

interv::PromptSet finish(torch::Tensor clean, torch::Tensor corrupt, torch::Tensor correct,
                         torch::Tensor incorrect) {
  interv::PromptSet s;
  const int64_t B = clean.size(0), L = clean.size(1);
  s.clean_tokens = clean;
  s.corrupted_tokens = corrupt;
  s.answer_pos = torch::full({B}, L - 1, torch::kLong);
  s.correct = correct;
  s.incorrect = incorrect;
  s.group = torch::zeros({B}, torch::kLong);
  s.n_groups = 1;
  s.named_positions["end"] = s.answer_pos.clone();
  s.validate();
  return s;
}

}  // namespace

PlantedModel induction_model(int n_prompts, std::uint64_t seed) {
  CSWEEP_CHECK_INPUT(n_prompts >= 2, "planted induction model: n_prompts {} (expected >= 2)", n_prompts);
  // Tokens: 0 = BOS, 1..15 content. Prompt: BOS t1..t8 t1..t4 (13 tokens), answer t5.
  constexpr int kVocab = 16, kCtx = 16, kFirst = 8, kRepeat = 4;
  constexpr int kLen = 1 + kFirst + kRepeat;
  PlantedModel out;
  out.name = "induction";
  auto m = zero_model(base_config("planted-induction", kVocab, kCtx));
  embeddings(m, kVocab, kCtx);
  // Layer 0 reads tok + pos: squared norm 2.
  const double sq0 = 2.0;
  positional_qk(m, 0, 1, sq0, kCtx, 1);  // previous-token head: key j matches query j + 1
  copy_ov(m, 0, 1, sq0, kTok, kPrev, kVocab, 1.0);
  for (int h : {0, 2, 3}) distractor(m, 0, h, sq0, kCtx, kJunk0, kVocab);
  // Layer 1 reads tok + pos + prev (unit each) + three distractors' 0.5-junk: squared norm 3.75.
  const double sq1 = 3.0 + 3 * 0.25;
  {
    // Induction head 1.2: query = current token, key = previous token (K-composition with 0.1).
    const double s = ln_scale(sq1);
    const double a = std::sqrt(kMargin * std::sqrt(static_cast<double>(kDHead))) / s;
    auto& WQ = P(m, 1, "attn.W_Q");
    auto& WK = P(m, 1, "attn.W_K");
    for (int t = 0; t < kVocab; ++t) {
      WQ[2].select(1, t) += a * dir(kTok, t);
      WK[2].select(1, t) += a * dir(kPrev, t);
    }
    // Value = the attended token, written 3x into the out block (the unembedding reads it).
    auto& WV = P(m, 1, "attn.W_V");
    auto& WO = P(m, 1, "attn.W_O");
    for (int t = 0; t < kVocab; ++t) {
      WV[2].select(1, t) += (1.0 / s) * dir(kTok, t);
      WO[2][t] += 3.0 * dir(kOut, t);
    }
  }
  for (int h : {0, 1, 3}) distractor(m, 1, h, sq1, kCtx, kJunk1, kVocab);
  auto& WU = m.params.at("unembed.W_U");
  for (int t = 0; t < kVocab; ++t) WU.select(1, t) += dir(kOut, t);
  out.model = std::move(m);

  tasks::Rng rng(seed, 0x1DC7);
  auto clean = torch::zeros({n_prompts, kLen}, torch::kLong);
  auto corrupt = torch::zeros({n_prompts, kLen}, torch::kLong);
  auto correct = torch::empty({n_prompts}, torch::kLong);
  auto incorrect = torch::empty({n_prompts}, torch::kLong);
  for (int b = 0; b < n_prompts; ++b) {
    std::vector<int> toks;
    for (int t = 1; t < kVocab; ++t) toks.push_back(t);
    rng.shuffle(toks);
    for (int i = 0; i < kFirst; ++i) clean[b][1 + i] = toks[static_cast<size_t>(i)];
    for (int i = 0; i < kRepeat; ++i) clean[b][1 + kFirst + i] = toks[static_cast<size_t>(i)];
    correct[b] = toks[kRepeat];       // the token after the earlier occurrence of the last one
    incorrect[b] = toks[kRepeat - 1];  // the last token itself
    rng.shuffle(toks);
    for (int i = 0; i < kLen - 1; ++i) corrupt[b][1 + i] = toks[static_cast<size_t>(i)];  // 12 distinct
  }
  out.prompts = finish(clean, corrupt, correct, incorrect);
  out.circuit = {{ComponentKind::kHead, 0, 1}, {ComponentKind::kHead, 1, 2}};
  out.edges = {parse_edge("a0.h1->a1.h2<k>"), parse_edge("a1.h2->logits")};
  return out;
}

PlantedModel and_model(int n_prompts, std::uint64_t seed) {
  CSWEEP_CHECK_INPUT(n_prompts >= 2, "planted AND model: n_prompts {} (expected >= 2)", n_prompts);
  // Tokens: 0 = BOS, 1 = A, 2 = B, 3 = yes, 4 = no, 5..15 fillers. Prompt: BOS A B f f f f f
  // (8 tokens); answer "yes" over "no". Corrupted: A and B replaced by fillers.
  constexpr int kVocab = 16, kCtx = 16, kLen = 8, kA = 1, kB = 2, kYes = 3, kNo = 4, kFill = 5;
  PlantedModel out;
  out.name = "and";
  auto m = zero_model(base_config("planted-and", kVocab, kCtx));
  embeddings(m, kVocab, kCtx);
  const double sq0 = 2.0;
  // Head 0.0 looks at position 1 from everywhere and reports whether it holds A; 0.2 the same
  // for position 2 and B. Every query position asks for slot 0 of the head.
  {
    const double s = ln_scale(sq0);
    const double a = std::sqrt(kMargin * std::sqrt(static_cast<double>(kDHead))) / s;
    auto& WQ = P(m, 0, "attn.W_Q");
    auto& WK = P(m, 0, "attn.W_K");
    auto& WV = P(m, 0, "attn.W_V");
    auto& WO = P(m, 0, "attn.W_O");
    for (auto [head, pos, tok, flag] : {std::tuple{0, 1, kA, 0}, std::tuple{2, 2, kB, 1}}) {
      for (int p = 0; p < kCtx; ++p) WQ[head].select(1, 0) += a * dir(kPos, p);
      WK[head].select(1, 0) += a * dir(kPos, pos);
      WV[head].select(1, 0) += (1.0 / s) * dir(kTok, tok);
      WO[head][0] += dir(kFlags, flag);
    }
  }
  for (int h : {1, 3}) distractor(m, 0, h, sq0, kCtx, kJunk0, kVocab);
  // MLP 0 reads both flags: pre = s(flagA + flagB) - theta with the LayerNorm scale s of its
  // input (tok + pos + flags + two 0.5-junk vectors: squared norm 2.5 + number of flags set).
  {
    const double both = 2.0 * ln_scale(2.5 + 2.0), one = ln_scale(2.5 + 1.0);
    const double theta = 0.5 * (both + one);
    auto& Win = P(m, 0, "mlp.W_in");
    auto& bin = P(m, 0, "mlp.b_in");
    auto& Wout = P(m, 0, "mlp.W_out");
    Win.select(1, 0) += dir(kFlags, 0) + dir(kFlags, 1);
    bin[0] = -theta;
    Wout[0] += (3.0 / (both - theta)) * dir(kOut, 0);  // both flags: writes 3 x the answer direction
  }
  for (int h : {0, 1, 2, 3}) distractor(m, 1, h, 2.5 + 2.0 + 9.0, kCtx, kJunk1, kVocab);
  auto& WU = m.params.at("unembed.W_U");
  WU.select(1, kYes) += 0.5 * dir(kOut, 0);
  WU.select(1, kNo) -= 0.5 * dir(kOut, 0);
  out.model = std::move(m);

  tasks::Rng rng(seed, 0xA2D);
  auto clean = torch::zeros({n_prompts, kLen}, torch::kLong);
  auto corrupt = torch::zeros({n_prompts, kLen}, torch::kLong);
  for (int b = 0; b < n_prompts; ++b) {
    clean[b][1] = kA;
    clean[b][2] = kB;
    for (int p = 3; p < kLen; ++p) clean[b][p] = rng.range(kFill, kVocab - 1);
    corrupt[b].copy_(clean[b]);
    corrupt[b][1] = rng.range(kFill, kVocab - 1);
    corrupt[b][2] = rng.range(kFill, kVocab - 1);
  }
  out.prompts = finish(clean, corrupt, torch::full({n_prompts}, kYes, torch::kLong),
                       torch::full({n_prompts}, kNo, torch::kLong));
  out.circuit = {{ComponentKind::kHead, 0, 0}, {ComponentKind::kHead, 0, 2}, {ComponentKind::kMlp, 0, 0}};
  out.edges = {parse_edge("a0.h0->m0"), parse_edge("a0.h2->m0"), parse_edge("m0->logits")};
  return out;
}

const std::vector<std::string>& planted_model_names() {
  static const std::vector<std::string> names = {"induction", "and"};
  return names;
}

PlantedModel planted_model(const std::string& name, int n_prompts, std::uint64_t seed) {
  if (name == "induction") return induction_model(n_prompts, seed);
  if (name == "and") return and_model(n_prompts, seed);
  throw input_error("planted model", "unknown name", "'" + name + "'", "one of induction, and");
}

}  // namespace csweep::planted
