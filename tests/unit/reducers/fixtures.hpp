#pragma once
// Shared by the reducers tests: a temporary directory per test, and a small grid whose unit
// contents are derived from the unit id (so a lost, doubled or foreign unit shows).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "reducers/ledger.hpp"
#include "reducers/writer.hpp"

namespace csweep::reducers {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("csweep_reducers_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// The grid of these tests: family 0 in two experiments (task 0, then task 1), half of the units
// each, two interventions per unit.
inline UnitLayout layout(std::uint64_t units) {
  const std::uint64_t a = units / 2, b = units - a;
  ExperimentIndex t0, t1;
  t1.task = 1;
  return UnitLayout(2, {{t0, 0, 0, a, 2 * a}, {t1, 0, a, b, 2 * b}});
}

inline FileMeta meta(std::uint64_t units = 10) {
  FileMeta m;
  m.model_names = {"toy"};
  m.task_names = {"digits", "months"};
  m.corruption_names = {"randAll"};
  m.ablation_names = {"mean"};
  m.metric_sets = {R"(["logit_diff"])"};
  m.seeds = {0};
  FamilyMeta f;
  f.name = "pairs";
  f.kind = "combinations";
  f.spec_json = "{}";
  f.max_components = 2;
  m.families = {f};
  m.total_units = units;
  m.grid_fingerprint = "abc";
  m.layout = layout(units);
  m.text_attrs["job_spec"] = "[job]\n";
  return m;
}

// Unit u of a grid of `units` holds its two rows with values derived from u (so a lost or
// doubled unit shows).
inline UnitRecord record(std::uint64_t u, std::uint64_t units = 10, const std::string& fingerprint = "abc") {
  const UnitSpan span = layout(units).unit(u);
  UnitRecord r;
  r.grid_fingerprint = fingerprint;
  r.unit = u;
  r.baseline.exp = span.exp;
  r.baseline.baseline.clean_logit_diff = 3.5;
  r.baseline.baseline.n_prompts = 2;
  r.baseline.baseline.n_dropped_by_filter = static_cast<int>(u % 3);
  for (int i = 0; i < 2; ++i) {
    Row row;
    row.exp = r.baseline.exp;
    row.intervention = span.begin + static_cast<std::uint64_t>(i);
    row.components = {{interv::ComponentKind::kHead, 1, i}, {interv::ComponentKind::kMlp, 2, 0}};
    row.components.resize(static_cast<std::size_t>(1 + i));
    row.metrics.logit_diff = 0.5 * static_cast<double>(u) + i;
    row.metrics.kl = 1e-3 * static_cast<double>(u);
    row.metrics.per_prompt_logit_diff = {static_cast<float>(u), 0.25f};
    r.rows.push_back(row);
  }
  return r;
}

}  // namespace csweep::reducers
