// `csweep eval` and job specs accept exactly the same spellings: one list of names is fed to the
// eval flag parser (pipeline/eval_args.hpp) and to the job spec parser, and both must give the
// same value or both must refuse. Also: the model-family defaults of a [models.config] table and
// of a Hugging Face config.json agree.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "pipeline/eval_args.hpp"
#include "pipeline/job_spec.hpp"
#include "vocab/names.hpp"
#include "vocab/tasks.hpp"
#include "workers/io/hf_config.hpp"

namespace csweep::pipeline {
namespace {

// A prompt file for the custom task (its content is read only when the dataset is built).
std::string custom_prompts() {
  static const std::string path = [] {
    const std::string p = ::testing::TempDir() + "/spellings_prompts.jsonl";
    std::ofstream(p) << R"({"prompt": "a b", "correct": " c", "incorrect": " d"})" << "\n";
    return p;
  }();
  return path;
}

// A spec with one task, one corruption, one ablation kind and one subsets family whose
// components and positions are the ones under test.
std::string spec(const std::string& task, const std::string& corruption, const std::string& kind,
                 const std::string& components_toml, const std::string& positions_toml) {
  return "[[models]]\nname = \"toy\"\npath = \"x\"\n"
         "config = { n_layers = 12, n_heads = 12, d_model = 48, d_mlp = 8 }\n"
         "[[tasks]]\nname = \"t\"\ngenerator = \"" + task + "\"\n" +
         (task == "custom" ? "params = { path = \"" + custom_prompts() + "\" }\n" : "") +
         "[experiments]\ncorruptions = [\"" + corruption + "\"]\nablations = [\"" + kind + "\"]\n"
         "metrics = [\"logit_diff\"]\n"
         "[[families]]\nname = \"f\"\nkind = \"subsets\"\ncomponents = [" + components_toml + "]\n" +
         (positions_toml.empty() ? "" : "positions = [" + positions_toml + "]\n") +
         "[output]\npath = \"o.h5\"\n";
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

bool spec_accepts(const std::string& text, JobSpec* out = nullptr) {
  try {
    JobSpec j = parse_job_spec(text, "spec.toml");
    if (out) *out = j;
    return true;
  } catch (const InputError&) {
    return false;
  }
}

bool eval_accepts(const std::string& task, const std::string& corruption, const std::string& ablate,
                  const std::string& kind, const std::string& positions, EvalSelection* out = nullptr) {
  try {
    EvalSelection s = parse_eval_selection(task, corruption, ablate, kind, positions);
    if (out) *out = s;
    return true;
  } catch (const InputError&) {
    return false;
  }
}

// Canonical spellings, every alias, and near misses.
const std::vector<std::string> kComponents = {"9.1", "0.0", "11.11", "09.1", "mlp3", "m3", "mlp0", "n3.117",
                                              "n0.0", "9", "9.", "mlp", "m", "n3", "9-1", "L9H1", "-1.2",
                                              "M3", "MLP3", "9.1q", "resid_final", "99999999999.1"};
const std::vector<std::string> kPositions = {"end", "S1", "S4", "0", "3", "03", "-1", "-2", "1048575",
                                             "1048576", "-1048576", "", "S 1", "3a", "-", "all"};

TEST(Spellings, ComponentsAreAcceptedAlikeByEvalAndSpec) {
  for (const auto& c : kComponents) {
    JobSpec job;
    EvalSelection sel;
    const bool in_spec = spec_accepts(spec("digits", "randAll", "mean", quoted(c), ""), &job);
    const bool in_eval = eval_accepts("digits", "randAll", c, "mean", "", &sel);
    EXPECT_EQ(in_spec, in_eval) << "'" << c << "': spec " << in_spec << ", eval " << in_eval;
    if (in_spec && in_eval) {
      ASSERT_EQ(sel.intervention.components.size(), 1u) << c;
      EXPECT_EQ(job.families[0].pool.components, sel.intervention.components) << c;
    }
  }
}

TEST(Spellings, PositionsAreAcceptedAlikeByEvalAndSpec) {
  for (const auto& p : kPositions) {
    // "every position" is spelled differently: no --positions flag (or "all"), positions = "all".
    if (p == "all" || p.empty()) continue;
    EvalSelection sel;
    const bool in_eval = eval_accepts("digits", "randAll", "9.1", "mean", p, &sel);
    // In a spec a position is a string, or an integer written as a TOML integer.
    std::vector<std::string> forms = {quoted(p)};
    if (vocab::position_index(p) && p[0] != '0' && p.find("-0") != 0) forms.push_back(p);
    for (const auto& form : forms) {
      JobSpec job;
      const bool in_spec = spec_accepts(spec("digits", "randAll", "mean", "\"9.1\"", form), &job);
      EXPECT_EQ(in_spec, in_eval) << form << ": spec " << in_spec << ", eval " << in_eval;
      if (in_spec && in_eval) {
        EXPECT_EQ(vocab::parse_positions(job.families[0].position_labels).indices, sel.intervention.positions.indices) << form;
        EXPECT_EQ(vocab::parse_positions(job.families[0].position_labels).names, sel.intervention.positions.names) << form;
      }
    }
  }
  // Negative indices count from the end in both: -1 is the answer position.
  EvalSelection sel;
  ASSERT_TRUE(eval_accepts("digits", "randAll", "9.1", "mean", "-1,end", &sel));
  EXPECT_EQ(sel.intervention.positions.indices, std::vector<int>{-1});
  JobSpec job;
  ASSERT_TRUE(spec_accepts(spec("digits", "randAll", "mean", "\"9.1\"", "-1, \"end\""), &job));
  EXPECT_EQ(job.families[0].position_labels, (std::vector<std::string>{"-1", "end"}));
}

TEST(Spellings, AblationKindsAreAcceptedAlikeByEvalAndSpec) {
  std::vector<std::string> kinds = vocab::ablation_kinds().spellings();
  for (const std::string bad : {"Mean", "patched", "", "zero "}) kinds.push_back(bad);
  for (const auto& k : kinds) {
    const auto v = vocab::ablation_kinds().find(k);
    if (v == interv::AblationKind::kPathPatch) {
      // Path patching needs receivers: eval refuses it by name, a spec takes it in a paths family.
      try {
        parse_eval_selection("digits", "randAll", "9.1", k, "");
        ADD_FAILURE() << k;
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("--kind: path patching needs receivers"), std::string::npos) << e.what();
      }
      std::string text = spec("digits", "randAll", "mean", "\"9.1\"", "");
      text.replace(text.find("kind = \"subsets\"\ncomponents = [\"9.1\"]"),
                   std::string("kind = \"subsets\"\ncomponents = [\"9.1\"]").size(),
                   "kind = \"paths\"\nsenders = [\"0.1\"]\nreceivers = \"all\"\nablations = [\"" + k + "\"]");
      JobSpec job;
      EXPECT_TRUE(spec_accepts(text, &job)) << text;
      continue;
    }
    JobSpec job;
    EvalSelection sel;
    const bool in_spec = spec_accepts(spec("digits", "randAll", k, "\"9.1\"", ""), &job);
    const bool in_eval = eval_accepts("digits", "randAll", "9.1", k, "", &sel);
    EXPECT_EQ(in_spec, in_eval) << "'" << k << "'";
    EXPECT_EQ(in_spec, v.has_value()) << "'" << k << "'";
    if (in_spec && in_eval) {
      EXPECT_EQ(job.families[0].ablations, std::vector<interv::AblationKind>{sel.kind}) << k;
    }
  }
}

TEST(Spellings, TasksAndCorruptionsAreAcceptedAlikeByEvalAndSpec) {
  std::vector<std::string> tasks = vocab::task_names();
  tasks.push_back("digitz");
  tasks.push_back("sequence");
  std::vector<std::string> corruptions = vocab::all_corruption_names();
  corruptions.push_back("randall");
  for (const auto& t : tasks)
    for (const auto& c : corruptions) {
      const bool in_spec = spec_accepts(spec(t, c, "mean", "\"9.1\"", ""));
      const bool in_eval = eval_accepts(t, c, "9.1", "mean", "");
      EXPECT_EQ(in_spec, in_eval) << t << " / " << c;
      EXPECT_EQ(in_spec, vocab::is_task(t) && vocab::corruption_applies(t, c)) << t << " / " << c;
    }
}

TEST(Spellings, MetricsAcceptEveryVocabularySpelling) {
  for (const auto& m : vocab::metrics().spellings()) {
    std::string text = spec("digits", "randAll", "mean", "\"9.1\"", "");
    text.replace(text.find("metrics = [\"logit_diff\"]"), std::string("metrics = [\"logit_diff\"]").size(),
                 "metrics = [\"" + m + "\"]");
    JobSpec job;
    ASSERT_TRUE(spec_accepts(text, &job)) << m;
    EXPECT_EQ(job.metric_sets.at(0), std::vector<metrics::Metric>{*vocab::metrics().find(m)}) << m;
  }
}

// A key missing from a job spec's [models.config] and from a config.json means the same thing.
TEST(Spellings, ModelConfigDefaultsAgreeBetweenSpecAndHfConfig) {
  std::string text = spec("digits", "randAll", "mean", "\"9.1\"", "");
  text.replace(text.find("config = { "), 11, "config = { family = \"llama\", ");
  JobSpec job;
  ASSERT_TRUE(spec_accepts(text, &job));
  const auto& from_spec = *job.models[0].config;
  const auto from_hf = io::parse_hf_config(
      R"({"model_type": "llama", "num_hidden_layers": 12, "num_attention_heads": 12, "hidden_size": 48,
          "intermediate_size": 8, "vocab_size": 32000})",
      "config.json");
  EXPECT_DOUBLE_EQ(from_spec.norm_eps, from_hf.norm_eps);
  EXPECT_EQ(from_spec.n_ctx, from_hf.n_ctx);
  EXPECT_EQ(from_spec.tied_embeddings, from_hf.tied_embeddings);
  EXPECT_EQ(from_spec.d_vocab, 32000);
  EXPECT_DOUBLE_EQ(from_spec.rotary_base, from_hf.rotary_base);
  EXPECT_EQ(from_spec.rotary_dim, from_hf.rotary_dim);
}

}  // namespace
}  // namespace csweep::pipeline
