#include "pipeline/evaluator.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/files.hpp"

namespace csweep::pipeline {
namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) out.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One file: its hash. Several: the hash of their "name:hash" lines, so the result is stable and
// names which files it covers.
std::string hash_files(const std::string& dir, const std::vector<std::string>& names) {
  if (names.empty()) return "";
  if (names.size() == 1) return sha256_file(dir + "/" + names[0]);
  std::string lines;
  for (const auto& n : names) lines += n + ":" + sha256_file(dir + "/" + n) + "\n";
  return sha256_bytes(lines.data(), lines.size());
}

}  // namespace

std::string hash_weights(const std::string& model_path) {
  if (!is_dir(model_path)) return exists(model_path) ? sha256_file(model_path) : "";
  std::vector<std::string> names;
  for (const auto& n : list_dir(model_path))
    if (ends_with(n, ".safetensors") || ends_with(n, ".gguf") || ends_with(n, ".bin")) names.push_back(n);
  return hash_files(model_path, names);
}

std::string hash_tokenizer(const std::string& model_path) {
  if (!is_dir(model_path)) return "";  // a GGUF file carries its tokenizer: covered by its hash
  std::vector<std::string> names;
  for (const char* n : {"merges.txt", "tokenizer.json", "tokenizer.model", "vocab.json"})
    if (exists(model_path + "/" + n)) names.emplace_back(n);
  return hash_files(model_path, names);
}

pruning::RunResult UnitEvaluator::prune(const ExperimentKey&, const pruning::RunSpec&) {
  throw InternalError("this evaluator cannot run pruning units (family kind \"pruning\")");
}

circuits::EdgePruningResult UnitEvaluator::prune_edges(const ExperimentKey&,
                                                       const std::vector<interv::Component>&,
                                                       const circuits::EdgePruningOptions&) {
  throw InternalError("this evaluator cannot prune edges (family kind \"edge_pruning\")");
}

circuits::Curve UnitEvaluator::faithfulness(const ExperimentKey&, const circuits::Ranking&,
                                            const circuits::CurveOptions&) {
  throw InternalError("this evaluator cannot compute faithfulness curves (family kind \"faithfulness\")");
}

model::ModelConfig UnitEvaluator::model_config(int model) {
  return pipeline::model_config(job_.models.at(static_cast<std::size_t>(model)));
}

std::string UnitEvaluator::weights_sha256(int model) {
  return hash_weights(resolve_model_path(job_.models.at(static_cast<std::size_t>(model))));
}

std::string UnitEvaluator::tokenizer_sha256(int model) {
  return hash_tokenizer(resolve_model_path(job_.models.at(static_cast<std::size_t>(model))));
}

}  // namespace csweep::pipeline
