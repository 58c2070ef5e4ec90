#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "pipeline/grid.hpp"
#include "pipeline/job_spec.hpp"

namespace csweep::pipeline {
namespace {

const char* kValid = R"([job]
name = "t"

[[models]]
name = "toy"
path = "nowhere"
config = { n_layers = 4, n_heads = 4, d_model = 32, d_mlp = 8 }

[[tasks]]
name = "digits"
generator = "digits"
params = { n_prompts = 8, templates = ["done", "lost"] }

[experiments]
corruptions = ["randAll", "permutation"]
ablations = ["mean"]
metrics = ["logit_diff", "performance"]
seeds = [3, 5]
thresholds = [20]

[[families]]
name = "pairs"
kind = "combinations"
pool = "heads"
layers = [1, 3]
heads = [0, 2]
k = [2, 1]

[[families]]
name = "paths"
kind = "paths"
senders = ["0.1", "mlp1"]
receivers = "all"

[output]
path = "out.h5"

[batching]
unit_size = 10
)";

// Replaces the first occurrence of `from` in the valid spec.
std::string with(const std::string& from, const std::string& to) {
  std::string s = kValid;
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

std::string error_of(const std::string& text) {
  try {
    parse_job_spec(text, "spec.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(JobSpec, ParsesEverySection) {
  const JobSpec job = parse_job_spec(kValid, "spec.toml");
  EXPECT_EQ(job.name, "t");
  ASSERT_EQ(job.models.size(), 1u);
  ASSERT_TRUE(job.models[0].config.has_value());
  EXPECT_EQ(job.models[0].config->n_layers, 4);
  EXPECT_EQ(job.models[0].config->d_head, 8);
  EXPECT_EQ(job.tasks[0].generator, "digits");
  EXPECT_EQ(job.tasks[0].params["n_prompts"], 8);
  EXPECT_EQ(job.tasks[0].params["templates"][1], "lost");
  EXPECT_EQ(job.corruptions, (std::vector<std::string>{"randAll", "permutation"}));
  EXPECT_EQ(job.seeds, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(job.metric_sets.size(), 1u);
  EXPECT_EQ(job.metric_sets[0].size(), 2u);
  ASSERT_EQ(job.families.size(), 2u);
  EXPECT_EQ(job.families[0].k, (std::vector<int>{1, 2}));  // sorted
  EXPECT_EQ(job.families[0].pool.layer_first, 1);
  EXPECT_EQ(job.families[0].pool.indices, (std::vector<int>{0, 2}));
  EXPECT_EQ(job.families[1].ablations, std::vector<interv::AblationKind>{interv::AblationKind::kPathPatch});
  EXPECT_TRUE(job.families[1].all_receivers);
  EXPECT_EQ(job.batching.unit_size, 10u);
  EXPECT_EQ(job.text, kValid);
}

TEST(JobSpec, UnknownKeyNamesFileLineKeyAndAllowedKeys) {
  const auto e = error_of(with("k = [2, 1]", "k = [2, 1]\nkk = 3"));
  EXPECT_NE(e.find("spec.toml:28"), std::string::npos) << e;
  EXPECT_NE(e.find("families[0].kk"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("expected one of: name, kind, k, pool"), std::string::npos) << e;
  EXPECT_NE(error_of(with("[batching]", "[batchin]")).find("'batchin'"), std::string::npos);
}

TEST(JobSpec, WrongTypeNamesValueAndExpectation) {
  const auto e = error_of(with("k = [2, 1]", "k = \"2\""));
  EXPECT_NE(e.find("spec.toml:27"), std::string::npos) << e;
  EXPECT_NE(e.find("families[0].k"), std::string::npos) << e;
  EXPECT_NE(e.find("\"2\""), std::string::npos) << e;
  EXPECT_NE(e.find("expected an array of integers"), std::string::npos) << e;
}

TEST(JobSpec, BadValuesAreNamed) {
  auto e = error_of(with("\"0.1\", \"mlp1\"", "\"0.1\", \"9-1\""));
  EXPECT_NE(e.find("spec.toml:32: families[1].senders[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("9-1"), std::string::npos) << e;
  e = error_of(with("\"randAll\"", "\"randall\""));
  EXPECT_NE(e.find("experiments.corruptions[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("randAll"), std::string::npos) << e;  // the expectation lists the spelling
  e = error_of(with("\"performance\"", "\"perf%\""));
  EXPECT_NE(e.find("experiments.metrics[1]"), std::string::npos) << e;
  e = error_of(with("ablations = [\"mean\"]", "ablations = [\"mean\", \"path_patch\"]"));
  EXPECT_NE(e.find("path_patch"), std::string::npos) << e;
  e = error_of(with("layers = [1, 3]", "layers = [3, 1]"));
  EXPECT_NE(e.find("families[0].layers"), std::string::npos) << e;
  e = error_of(with("unit_size = 10", "unit_size = 0"));
  EXPECT_NE(e.find("batching.unit_size"), std::string::npos) << e;
  EXPECT_NE(e.find("got 0"), std::string::npos) << e;
  e = error_of(with("name = \"paths\"", "name = \"pairs\""));
  EXPECT_NE(e.find("duplicate family name"), std::string::npos) << e;
}

TEST(JobSpec, FilterIsPerTaskAndPartOfTheGrid) {
  EXPECT_FALSE(parse_job_spec(kValid, "spec.toml").tasks[0].filter);
  const std::string on = with("generator = \"digits\"", "generator = \"digits\"\nfilter = true");
  EXPECT_TRUE(parse_job_spec(on, "spec.toml").tasks[0].filter);
  const auto e = error_of(with("generator = \"digits\"", "generator = \"digits\"\nfilter = 1"));
  EXPECT_NE(e.find("tasks[0].filter: is an integer (got 1, expected true or false)"), std::string::npos) << e;
  // A filtered and an unfiltered run are different grids: never resumed into or merged.
  const JobSpec a = parse_job_spec(kValid, "spec.toml"), b = parse_job_spec(on, "spec.toml");
  std::vector<model::ModelConfig> cfg = {*a.models[0].config};
  EXPECT_NE(Grid(a, cfg).fingerprint(), Grid(b, cfg).fingerprint());
}

// [compute]: device and dtype. The dtype decides what rows mean (part of the grid); the device
// does not (a resume may move to other hardware).
TEST(JobSpec, ComputeDeviceAndDtype) {
  const JobSpec d = parse_job_spec(kValid, "spec.toml");
  EXPECT_EQ(d.compute.device, vocab::DeviceRequest{});  // auto
  EXPECT_EQ(d.compute.dtype, vocab::ComputeDtype::kFloat32);
  const std::string spec = kValid + std::string("\n[compute]\ndevice = \"cuda:1\"\ndtype = \"bf16\"\n");
  const JobSpec c = parse_job_spec(spec, "spec.toml");
  EXPECT_EQ(c.compute.device.kind, vocab::DeviceRequest::Kind::kCuda);
  EXPECT_EQ(c.compute.device.index, 1);
  EXPECT_EQ(c.compute.dtype, vocab::ComputeDtype::kBFloat16);
  EXPECT_EQ(c.compute.device_where, "spec.toml:42: compute.device");

  auto e = error_of(kValid + std::string("\n[compute]\ndtype = \"float8\"\n"));
  EXPECT_NE(e.find("spec.toml:42: compute.dtype: unknown compute dtype (got 'float8', expected one of float32, "
                   "bfloat16, float16"), std::string::npos) << e;
  e = error_of(kValid + std::string("\n[compute]\ndevice = \"cuda:x\"\n"));
  EXPECT_NE(e.find("spec.toml:42: compute.device: unknown device (got 'cuda:x', expected auto, cpu, cuda"),
            std::string::npos) << e;
  e = error_of(kValid + std::string("\n[compute]\ndevices = \"cpu\"\n"));
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("devices"), std::string::npos) << e;

  std::vector<model::ModelConfig> cfg = {*d.models[0].config};
  const std::string fp32 = kValid + std::string("\n[compute]\ndtype = \"float32\"\ndevice = \"cpu\"\n");
  const std::string bf16 = kValid + std::string("\n[compute]\ndtype = \"bfloat16\"\n");
  // float32 written out = the default (files before [compute] keep their fingerprint); the
  // device is not part of the grid; bfloat16 is another grid.
  EXPECT_EQ(Grid(d, cfg).fingerprint(), Grid(parse_job_spec(fp32, "spec.toml"), cfg).fingerprint());
  EXPECT_NE(Grid(d, cfg).fingerprint(), Grid(parse_job_spec(bf16, "spec.toml"), cfg).fingerprint());
}

TEST(JobSpec, MeanOverDefaultsToCorruptedAndIsValidated) {
  EXPECT_EQ(parse_job_spec(kValid, "spec.toml").mean_over, "corrupted");
  EXPECT_EQ(parse_job_spec(with("thresholds = [20]", "thresholds = [20]\nmean_over = \"clean\""),
                           "spec.toml").mean_over,
            "clean");
  const auto e = error_of(with("thresholds = [20]", "thresholds = [20]\nmean_over = \"both\""));
  EXPECT_NE(e.find("spec.toml:20: experiments.mean_over"), std::string::npos) << e;
  EXPECT_NE(e.find("both"), std::string::npos) << e;
}

TEST(JobSpec, MissingSectionsAndSyntaxErrors) {
  std::string s = kValid;
  s = s.substr(0, s.find("[output]"));
  EXPECT_NE(error_of(s).find("output"), std::string::npos);
  const auto e = error_of(with("seeds = [3, 5]", "seeds = [3, 5"));
  EXPECT_NE(e.find("spec.toml:19:1"), std::string::npos) << e;
  EXPECT_NE(e.find("TOML syntax error"), std::string::npos) << e;
}

TEST(JobSpec, ModelRangesAreCheckedAgainstTheArchitecture) {
  const JobSpec job = parse_job_spec(with("layers = [1, 3]", "layers = [1, 4]"), "spec.toml");
  try {
    Grid grid(job, {*job.models[0].config});
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("spec.toml:25"), std::string::npos) << m;
    EXPECT_NE(m.find("layers"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 4]"), std::string::npos) << m;
    EXPECT_NE(m.find("0..3"), std::string::npos) << m;
  }
}

TEST(JobSpec, MissingModelPathIsNamedBeforeAnyModelMessage) {
  // Without a config the architecture would be read from the folder: the missing path must be
  // reported first, with file, line, key and value.
  const JobSpec job = parse_job_spec(
      with("config = { n_layers = 4, n_heads = 4, d_model = 32, d_mlp = 8 }\n", ""), "spec.toml");
  for (const auto& call : {+[](const ModelSpec& m) { (void)model_config(m); },
                           +[](const ModelSpec& m) { (void)resolve_model_path(m); }}) {
    try {
      call(job.models[0]);
      FAIL() << "no error";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind("spec.toml:6: models[0].path: path does not exist (got \"nowhere\"", 0), 0u) << m;
    }
  }
}

TEST(JobSpec, ModelPathsResolveCanonically) {
  namespace fs = std::filesystem;
  ModelSpec m;
  m.origin = "spec.toml:1: models[0]";
  m.path = std::string(CSWEEP_SOURCE_DIR) + "/tests/../models/./default";
  const std::string expected = fs::canonical(std::string(CSWEEP_SOURCE_DIR) + "/models/default").string();
  EXPECT_EQ(resolve_model_path(m), expected);
  m.path = "default";
  ::setenv("CSWEEP_DEFAULT_MODEL", (std::string(CSWEEP_SOURCE_DIR) + "/models/../models/default").c_str(), 1);
  EXPECT_EQ(resolve_model_path(m), expected);
  ::setenv("CSWEEP_DEFAULT_MODEL", "/nonexistent/model", 1);
  try {
    (void)resolve_model_path(m);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("path does not exist"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
  ::unsetenv("CSWEEP_DEFAULT_MODEL");
}

// "spec.toml:<line of the first line containing needle>:"
std::string at_line_of(const std::string& text, const std::string& needle) {
  std::size_t line = 1;
  const auto at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  for (std::size_t i = 0; i < at && at != std::string::npos; ++i) line += text[i] == '\n';
  return "spec.toml:" + std::to_string(line) + ":";
}

TEST(JobSpec, TaskErrorsAreFoundAtLoadWithTheirLine) {
  struct Case {
    std::string from, to, line_of, phrase;
  };
  const std::vector<Case> cases = {
      {"generator = \"digits\"", "generator = \"digitz\"", "digitz",
       "tasks[0].generator: unknown task generator (got 'digitz'"},
      {"n_prompts = 8,", "n_prompts = \"8\",", "n_prompts", "tasks[0].params.n_prompts (task 'digits'): invalid value (got \"8\""},
      {"n_prompts = 8,", "n_prompts = 8, members = 7,", "members", "tasks[0].params.members (task 'digits'): invalid value (got 7, expected an integer in [3, 6])"},
      {"templates = [\"done\", \"lost\"]", "templates = [\"made\"]", "made", "tasks[0].params.templates"},
      {"\"randAll\", \"permutation\"", "\"randAll\", \"XX01\"", "XX01",
       "experiments.corruptions[1] (task 'digits'): corruption 'XX01' does not apply to task 'digits'"},
      {"k = [2, 1]", "k = [2, 1]\npositions = [\"S1\", \"S9\"]", "S9",
       "families[0].positions[1]: position 'S9' is not defined by task 'digits' (got \"S9\", expected a token index or one of S1, S2, S3, S4, end)"},
  };
  for (const auto& c : cases) {
    const std::string text = with(c.from, c.to);
    const std::string e = error_of(text);
    EXPECT_EQ(e.rfind(at_line_of(text, c.line_of), 0), 0u) << e;
    EXPECT_NE(e.find(c.phrase), std::string::npos) << e;
  }
  // Without a generator the name must be a task: the error points at the name.
  const std::string text = with("name = \"digits\"\ngenerator = \"digits\"", "name = \"my_digits\"");
  const std::string e = error_of(text);
  EXPECT_EQ(e.rfind(at_line_of(text, "my_digits"), 0), 0u) << e;
  EXPECT_NE(e.find("tasks[0].name (no generator given; the name is used): unknown task generator"), std::string::npos) << e;
  // Named positions of longer sequences exist when members says so.
  std::string six = with("n_prompts = 8,", "n_prompts = 8, members = 6,");
  six.replace(six.find("k = [2, 1]"), 10, "k = [2, 1]\npositions = [\"S6\", -1]");
  EXPECT_EQ(error_of(six), "");
}

TEST(JobSpec, ShippedSpecsParse) {
  for (const char* f : {"/jobs/quickstart.toml", "/jobs/reference_study.toml", "/tests/mpi/jobs/small.toml"}) {
    SCOPED_TRACE(f);
    const JobSpec job = load_job_spec(std::string(CSWEEP_SOURCE_DIR) + f);
    EXPECT_FALSE(job.families.empty());
  }
}

}  // namespace
}  // namespace csweep::pipeline
