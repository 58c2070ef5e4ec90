#pragma once
// Training of the embedded default model (torch-free interface; LibTorch inside trainer.cpp).
//
// A small GPT-2-architecture model learns the sequence-continuation family (digits, number words,
// months, days; increasing and decreasing; 3-6 members shown; templates done/lost/born; random
// objects or names as fillers; all kinds mixed in every batch) with next-token prediction over
// whole prompts + answer. Its byte-level BPE is trained first, on exactly the pre-tokens those
// prompts contain, so every member and template word is one token.
//
// Deterministic: the data stream comes from tasks::Rng streams keyed by (seed, step); weights
// from torch::manual_seed(seed); the compute runs on `threads` CPU threads (1 by default, which
// makes every reduction order fixed). The same options on the same LibTorch build give
// bit-identical files.
#include <cstdint>
#include <map>
#include <string>

namespace csweep::train {

struct TrainOptions {
  std::string out_dir = "models/default";
  std::uint64_t seed = 1234;
  int n_layers = 4;     // e.g. 4
  int n_heads = 4;      // e.g. 4
  int d_model = 128;    // e.g. 128 (d_head = d_model / n_heads)
  int d_mlp = 512;      // e.g. 4 * d_model
  int n_ctx = 64;       // longest prompt (6 members) + answer is 35 tokens
  int steps = 600;
  int batch = 64;
  double lr = 3e-3;     // peak; linear warm-up then cosine decay to 10 %
  int warmup = 50;
  double weight_decay = 0.01;
  int threads = 1;
  int eval_prompts = 500;  // per sequence kind and direction, held-out seeds
  int log_every = 50;
};

struct KindEval {
  double accuracy = 0;               // top-1 == correct at the answer position
  double logit_diff = 0;             // mean LD on the clean prompts
  double corrupted_logit_diff = 0;   // mean LD (clean answers) on randAll-corrupted prompts
};

struct TrainReport {
  double seconds = 0;                // wall clock of the training loop
  double cpu_seconds = 0;            // CPU time of this process over the same span (all threads)
  double final_loss = 0;
  std::int64_t n_params = 0;
  std::int64_t file_bytes = 0;       // model.safetensors
  int vocab_size = 0;
  std::map<std::string, KindEval> eval;  // "digits/increasing", ...
  std::string markdown;              // the metrics table written into README.md
};

// Trains, evaluates on held-out prompts and writes an HF-style folder to opt.out_dir:
// config.json (model_type gpt2), model.safetensors (float32, HF GPT-2 names, Conv1D [in, out]),
// vocab.json, merges.txt, README.md (reproduce command + metrics). `command_line` is recorded
// in README.md. The files are written into "<out_dir>.tmp.<pid>" and that folder replaces
// out_dir (atomically where the filesystem allows) only after training succeeded: an existing
// out_dir is left untouched by a failed or killed run, and never mixes old and new files.
TrainReport train_default_model(const TrainOptions& opt, const std::string& command_line);

}  // namespace csweep::train
