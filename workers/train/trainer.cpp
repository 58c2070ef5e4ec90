// Training of the embedded default model (see trainer.hpp for the contract).
#include "workers/train/trainer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "workers/tasks/rng.hpp"
#include "workers/tasks/task.hpp"
#include "workers/tokenizer/tokenizer.hpp"
#include "workers/train/bpe.hpp"
#include "workers/train/gpt2_train.hpp"

namespace csweep::train {

namespace {

using nlohmann::json;

const std::vector<std::string> kKinds = {"digits", "numwords", "months", "days"};
const std::vector<std::string> kVerbs = {"done", "lost", "born"};
const char* kEndOfText = "<|endoftext|>";

// Every pre-token a sequence-continuation prompt can contain: the first filler without a space,
// the other fillers, members and template words with one, and ".".
std::map<std::string, long> sequence_pretokens() {
  std::map<std::string, long> words;
  for (const auto& kind : kKinds) {
    for (const auto& m : tasks::sequence_members(kind)) words[" " + m] += 1;
  }
  for (const char* list : {"objects", "names"}) {
    for (const auto& w : tasks::word_list(list)) {
      words[w] += 1;
      words[" " + w] += 1;
    }
  }
  for (const auto& v : kVerbs) words[" " + v] += 1;
  words[" in"] += 1;
  words["."] += 1;
  return words;
}

struct Batch {
  torch::Tensor tokens;  // [batch, pos] int64, right-padded
  torch::Tensor mask;    // [batch, pos - 1] float, 1 where the next token is a real one
};

// One training batch: the prompts of every kind, direction, length and filler list, mixed.
// Chunks of 8 prompts share one configuration drawn from the step's own random stream.
Batch sample_batch(const TrainOptions& opt, int step, const tok::Tokenizer& tok, int pad_id) {
  tasks::Rng rng(opt.seed, 0x7A11 + static_cast<std::uint64_t>(step));
  std::vector<std::vector<int>> seqs;
  const int chunk = 8;
  for (int start = 0; start < opt.batch; start += chunk) {
    const std::string kind = kKinds[rng.below(static_cast<int>(kKinds.size()))];
    const int n_kind = static_cast<int>(tasks::sequence_members(kind).size());
    const json params = {{"n_prompts", std::min(chunk, opt.batch - start)},
                         {"members", rng.range(3, std::min(6, n_kind - 1))},
                         {"direction", rng.uniform01() < 0.75 ? "increasing" : "decreasing"},
                         {"fillers", rng.below(2) ? "names" : "objects"},
                         {"prepend_bos", true}};
    const auto ds = tasks::make_dataset(kind, params, tok, rng.next());
    for (const auto& p : ds.prompts) {
      auto s = p.tokens;
      s.push_back(p.correct_id);
      seqs.push_back(std::move(s));
    }
  }
  std::size_t T = 0;
  for (const auto& s : seqs) T = std::max(T, s.size());
  CSWEEP_ASSERT(static_cast<int>(T) <= opt.n_ctx, "training prompt of {} tokens exceeds n_ctx {}", T, opt.n_ctx);
  const int64_t B = static_cast<int64_t>(seqs.size());
  Batch b;
  b.tokens = torch::full({B, static_cast<int64_t>(T)}, pad_id, torch::kLong);
  b.mask = torch::zeros({B, static_cast<int64_t>(T) - 1});
  auto tok_a = b.tokens.accessor<int64_t, 2>();
  auto mask_a = b.mask.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    for (std::size_t t = 0; t < seqs[i].size(); ++t) {
      tok_a[i][t] = seqs[i][t];
      if (t > 0) mask_a[i][t - 1] = 1;
    }
  }
  return b;
}

// Held-out evaluation of one kind and direction: top-1 accuracy and LD on clean prompts, and LD
// (with the clean answers) on their randAll corruption.
KindEval evaluate(const std::map<std::string, torch::Tensor>& p, const Gpt2Shape& shape,
                  const tok::Tokenizer& tok, const std::string& kind, const std::string& direction,
                  int n_prompts, std::uint64_t seed) {
  const json params = {{"n_prompts", n_prompts}, {"direction", direction}};
  const auto clean = tasks::make_dataset(kind, params, tok, seed);
  const auto corrupted = tasks::corrupt(clean, "randAll", seed + 1, tok);
  auto run = [&](const tasks::Dataset& ds, double* accuracy) {
    const auto padded = tasks::pad_right(ds, *tok.eos_id());
    const auto ids = torch::tensor(padded.ids).view({padded.batch, padded.seq_len});
    const auto logits = gpt2_logits(p, shape, ids);
    double ld = 0, correct = 0;
    for (int b = 0; b < padded.batch; ++b) {
      const auto row = logits[b][padded.answer_pos[b]];
      const auto& pr = clean.prompts[b];
      ld += (row[pr.correct_id] - row[pr.incorrect_id]).item<double>();
      correct += row.argmax().item<int64_t>() == pr.correct_id;
    }
    if (accuracy) *accuracy = correct / padded.batch;
    return ld / padded.batch;
  };
  KindEval e;
  e.logit_diff = run(clean, &e.accuracy);
  e.corrupted_logit_diff = run(corrupted, nullptr);
  return e;
}

std::string metrics_table(const TrainReport& r) {
  std::string md =
      "| kind / direction | top-1 accuracy | clean LD | randAll LD | randAll LD / clean LD |\n"
      "|---|---|---|---|---|\n";
  for (const auto& [name, e] : r.eval) {
    md += fmt::format("| {} | {:.1f} % | {:.3f} | {:.3f} | {:.1f} % |\n", name, 100 * e.accuracy,
                      e.logit_diff, e.corrupted_logit_diff, 100 * e.corrupted_logit_diff / e.logit_diff);
  }
  return md;
}

namespace fs = std::filesystem;

// The output folder as given, without a trailing separator ("models/default/" -> "models/default").
fs::path output_folder(const std::string& out_dir) {
  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  CSWEEP_CHECK_INPUT(!out.empty() && out != "." && out != "..",
                     "train --out: '{}' is not a folder name (expected e.g. models/default)", out_dir);
  if (fs::exists(out))
    CSWEEP_CHECK_INPUT(fs::is_directory(out), "train --out: {} exists and is not a folder", out.string());
  return out;
}

// Removes the staging folder unless the trained model was published from it (an exception or a
// failed rename must not leave half a model next to the output).
struct StagingGuard {
  fs::path dir;
  ~StagingGuard() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // durability is best effort here; the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

// Moves the finished folder `staged` to `out`. An existing `out` is swapped with it in one atomic
// renameat2(RENAME_EXCHANGE) and the old contents (now under `staged`) deleted, so `out` is at
// every moment either the complete old model or the complete new one. Filesystems without
// RENAME_EXCHANGE get two renames (a crash between them leaves the old model under
// "<out>.old.<pid>" and the new one under `staged`, never a mix).
void publish_folder(const fs::path& staged, const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out)) {
    fs::rename(staged, out, ec);
    if (ec) throw input_error(out.string(), "cannot rename " + staged.string() + " to it: " + ec.message());
  } else if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) != 0) {
    const int err = errno;
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
      throw input_error(out.string(), "cannot swap in " + staged.string() + ": " + std::strerror(err));
    const fs::path old = out.string() + ".old." + std::to_string(::getpid());
    fs::rename(out, old, ec);
    if (ec) throw input_error(out.string(), "cannot move aside to " + old.string() + ": " + ec.message());
    fs::rename(staged, out, ec);
    if (ec) {
      std::error_code back;
      fs::rename(old, out, back);  // put the previous model back rather than leave no model
      throw input_error(out.string(), "cannot rename " + staged.string() + " to it: " + ec.message());
    }
    fs::remove_all(old, ec);
  }
  fs::remove_all(staged, ec);  // the previous model, after an exchange; nothing otherwise
  fsync_dir(out.parent_path().empty() ? fs::path(".") : out.parent_path());
}

}  // namespace

TrainReport train_default_model(const TrainOptions& opt, const std::string& command_line) {
  CSWEEP_CHECK_INPUT(opt.d_model % opt.n_heads == 0, "train: d_model {} is not a multiple of n_heads {}",
                     opt.d_model, opt.n_heads);
  CSWEEP_CHECK_INPUT(opt.steps > 0 && opt.batch > 0 && opt.threads > 0,
                     "train: steps, batch and threads must be positive (got {}, {}, {})", opt.steps,
                     opt.batch, opt.threads);
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  torch::set_num_threads(opt.threads);
  torch::manual_seed(opt.seed);
  // Everything is written into a private staging folder that replaces the output only once the
  // model is complete: a killed or failed run never leaves a folder mixing old and new files.
  const fs::path final_dir = output_folder(opt.out_dir);
  if (!final_dir.parent_path().empty()) fs::create_directories(final_dir.parent_path());
  StagingGuard staging{final_dir.string() + ".tmp." + std::to_string(::getpid())};
  fs::remove_all(staging.dir);
  fs::create_directories(staging.dir);
  const std::string out_dir = staging.dir.string();
  spdlog::info("train: writing into {} (renamed to {} when done)", out_dir, final_dir.string());

  // 1. Tokenizer: every pre-token of the task family becomes one token.
  const BpeVocab bpe = train_bpe(sequence_pretokens(), {kEndOfText});
  write_bpe(bpe, out_dir);
  const tok::Tokenizer tok = tok::Tokenizer::load(out_dir);
  const int eot = *tok.eos_id();
  spdlog::info("train: BPE vocabulary of {} tokens ({} merges)", bpe.id_to_token.size(), bpe.merges.size());

  // 2. Model and optimiser.
  Gpt2Shape shape;
  shape.n_layers = opt.n_layers;
  shape.n_heads = opt.n_heads;
  shape.d_model = opt.d_model;
  shape.d_mlp = opt.d_mlp;
  shape.n_ctx = opt.n_ctx;
  shape.d_vocab = tok.vocab_size();
  auto params = init_gpt2_params(shape);
  std::vector<torch::Tensor> leaves;
  TrainReport report;
  for (auto& [name, t] : params) {
    leaves.push_back(t);
    report.n_params += t.numel();
  }
  torch::optim::AdamW adam(leaves, torch::optim::AdamWOptions(opt.lr).betas({0.9, 0.98}).weight_decay(opt.weight_decay));
  spdlog::info("train: {} layers x {} heads, d_model {}, d_mlp {}, vocab {}: {} parameters; {} steps of {} prompts",
               opt.n_layers, opt.n_heads, opt.d_model, opt.d_mlp, shape.d_vocab, report.n_params, opt.steps, opt.batch);

  // 3. Next-token prediction over prompt + answer (padding excluded).
  for (int step = 0; step < opt.steps; ++step) {
    const double warm = std::min(1.0, (step + 1.0) / opt.warmup);
    const double cosine = 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * step / opt.steps));
    for (auto& group : adam.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(opt.lr * warm * cosine);
    }
    const Batch b = sample_batch(opt, step, tok, eot);
    const int64_t T = b.tokens.size(1);
    const auto logits = gpt2_logits(params, shape, b.tokens.narrow(1, 0, T - 1));
    const auto nll = torch::nll_loss(torch::log_softmax(logits.reshape({-1, shape.d_vocab}), -1),
                                     b.tokens.narrow(1, 1, T - 1).reshape({-1}), {}, at::Reduction::None);
    const auto loss = (nll * b.mask.reshape({-1})).sum() / b.mask.sum();
    adam.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(leaves, 1.0);
    adam.step();
    report.final_loss = loss.item<double>();
    if (step % opt.log_every == 0 || step + 1 == opt.steps) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      spdlog::info("train: step {:>5}/{} loss {:.4f} ({:.0f} s)", step + 1, opt.steps, report.final_loss, s);
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;

  // 4. Held-out evaluation (seeds disjoint from the training stream's dataset seeds).
  {
    torch::NoGradGuard no_grad;
    std::uint64_t eval_seed = 0xE7A1'0000ull + opt.seed;
    for (const auto& kind : kKinds) {
      for (const std::string dir : {"increasing", "decreasing"}) {
        report.eval[kind + "/" + dir] = evaluate(params, shape, tok, kind, dir, opt.eval_prompts, eval_seed);
        eval_seed += 2;
      }
    }
  }
  report.vocab_size = shape.d_vocab;
  report.markdown = metrics_table(report);
  spdlog::info("train: held-out evaluation\n{}", report.markdown);

  // 5. HF-style folder.
  const std::string weights = out_dir + "/model.safetensors";
  write_safetensors(weights, params);
  report.file_bytes = static_cast<std::int64_t>(std::filesystem::file_size(weights));
  const json config = {{"architectures", {"GPT2LMHeadModel"}},
                       {"model_type", "gpt2"},
                       {"vocab_size", shape.d_vocab},
                       {"n_positions", opt.n_ctx},
                       {"n_ctx", opt.n_ctx},
                       {"n_embd", opt.d_model},
                       {"n_layer", opt.n_layers},
                       {"n_head", opt.n_heads},
                       {"n_inner", opt.d_mlp},
                       {"activation_function", "gelu_new"},
                       {"layer_norm_epsilon", shape.eps},
                       {"tie_word_embeddings", true},
                       {"bos_token_id", eot},
                       {"eos_token_id", eot},
                       {"resid_pdrop", 0.0},
                       {"embd_pdrop", 0.0},
                       {"attn_pdrop", 0.0},
                       {"torch_dtype", "float32"}};
  write_file_atomic(out_dir + "/config.json", config.dump(2) + "\n");

  const std::string readme = fmt::format(
      "# circuitsweep default model\n\n"
      "A {n_layers}-layer, {n_heads}-head GPT-2-architecture model (d_model {d_model}, d_mlp {d_mlp}, context "
      "{n_ctx}, {n_params} parameters, vocabulary {vocab}) trained from scratch on the sequence-continuation "
      "task family: digits 1-12, number words one-twelve, months, days of the week; increasing and "
      "decreasing; 3-6 members shown; templates \"{{W}} done/lost/born in {{x}}.\"; random objects or names "
      "as fillers; all kinds mixed in every batch. Its byte-level BPE (vocab.json, merges.txt) is learned "
      "on exactly the pre-tokens of those prompts, so every member and template word is one token; "
      "`<|endoftext|>` (id {eot}) is BOS, EOS and padding.\n\n"
      "## Reproduce\n\nFrom the repository root, with the built `csweep` on PATH:\n\n```\n{cmd}\n```\n\n"
      "Deterministic: seed {seed}, {threads} compute thread(s); the same LibTorch build writes the same "
      "model.safetensors, vocab.json and merges.txt. Training took {secs:.0f} s wall clock and {cpu:.0f} s of "
      "CPU time ({steps} steps of {batch} prompts, AdamW lr {lr} with warm-up and "
      "cosine decay); final training loss {loss:.4f}.\n\n"
      "## Held-out evaluation ({n_eval} prompts per row, 4 members, fresh seeds)\n\n{table}\n"
      "LD = logit(correct) - logit(incorrect) at the last position; randAll replaces each member by a "
      "random member of the same kind and keeps the clean answers.\n",
      fmt::arg("n_layers", opt.n_layers), fmt::arg("n_heads", opt.n_heads), fmt::arg("d_model", opt.d_model),
      fmt::arg("d_mlp", opt.d_mlp), fmt::arg("n_ctx", opt.n_ctx), fmt::arg("n_params", report.n_params),
      fmt::arg("vocab", shape.d_vocab), fmt::arg("eot", eot), fmt::arg("cmd", command_line),
      fmt::arg("seed", opt.seed), fmt::arg("threads", opt.threads), fmt::arg("secs", report.seconds), fmt::arg("cpu", report.cpu_seconds),
      fmt::arg("steps", opt.steps), fmt::arg("batch", opt.batch), fmt::arg("lr", opt.lr),
      fmt::arg("loss", report.final_loss), fmt::arg("n_eval", opt.eval_prompts), fmt::arg("table", report.markdown));
  write_file_atomic(out_dir + "/README.md", readme);
  fsync_dir(staging.dir);
  publish_folder(staging.dir, final_dir);
  staging.dir.clear();
  spdlog::info("train: wrote {} ({} bytes of weights); training took {:.0f} s ({:.0f} s CPU)", final_dir.string(),
               report.file_bytes, report.seconds, report.cpu_seconds);
  return report;
}

}  // namespace csweep::train
