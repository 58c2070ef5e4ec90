// csweep dump: run prompts through a model and write the logits and the matching hook
// activations to HDF5, for inspection in Python (h5py) and for checks against other tools.
//
//   csweep dump --model PATH --prompts FILE --hooks GLOB --out OUT.h5
//               [--device cpu|cuda[:N]] [--dtype float32|bfloat16|float16] [--tokenizer PATH]
//               [--batch-size N] [--prepend-bos]
//
// Prompts: one per line, or JSONL objects with a "text" field or pre-tokenized "ids" (as written
// by `csweep tokenize`; "ids" wins when both are present). The format is chosen by the first
// non-blank line. Ragged prompts are right-padded with token 0 and masked out of attention.
// Layout of OUT.h5 (root datasets; every one has a string attribute "dims"):
//   tokens   int64   [batch, pos]      (padding = 0)
//   lengths  int64   [batch]
//   logits   float32 [batch, pos, d_vocab]
//   <hook>   float32 one per hook matching a glob, named exactly by its hook name, e.g.
//            "blocks.0.attn.hook_z" [batch, pos, head_index, d_head]
// Root attributes: model, weights_sha256, tokenizer, device, dtype, hooks, csweep_version.
// The file is written as OUT.h5.tmp and renamed at the end, so a failed run never leaves a
// complete-looking OUT.h5.
#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/strings.hpp"
#include "csweep/version.hpp"
#include "pipeline/cli/commands.hpp"
#include "reducers/h5.hpp"
#include "workers/model/hooks.hpp"
#include "workers/model/device_policy.hpp"
#include "workers/model/model_tokenizer.hpp"
#include "workers/model/transformer.hpp"
#include "workers/model/weights.hpp"

namespace csweep::cli {
namespace {

struct DumpOptions {
  std::string model;
  std::string prompts;
  std::vector<std::string> hooks;  // globs; "a,b" splits into two
  std::string out;
  std::string device = "auto";
  std::string dtype = "float32";
  std::string tokenizer;
  int batch_size = 16;
  bool prepend_bos = false;
};

// ---- prompts ----------------------------------------------------------------------------------

struct Prompt {
  std::string text;
  std::vector<int> ids;
  bool pretokenized = false;
  std::string where;  // file:line for errors
};

std::vector<Prompt> read_prompts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "cannot open prompts file");
  std::vector<Prompt> prompts;
  int mode = 0;  // 0 undecided, 1 plain lines, 2 JSONL
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;  // blank lines separate nothing
    if (mode == 0) mode = line[first] == '{' ? 2 : 1;
    const std::string where = fmt::format("{}:line {}", path, line_no);
    if (mode == 1) {
      prompts.push_back({line, {}, false, where});
      continue;
    }
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw input_error(where, fmt::format("not valid JSON: {}", e.what()));
    }
    Prompt prompt{{}, {}, false, where};
    if (row.is_object() && row.contains("ids")) {
      const auto& ids = row.at("ids");
      const bool ok = ids.is_array() && std::all_of(ids.begin(), ids.end(), [](const auto& v) {
                        return v.is_number_integer();
                      });
      if (!ok) throw input_error(where, "\"ids\" must be an array of integers", line.substr(0, 80));
      for (const auto& v : ids) prompt.ids.push_back(v.template get<int>());
      prompt.pretokenized = true;
    } else if (row.is_object() && row.contains("text") && row.at("text").is_string()) {
      prompt.text = row.at("text").get<std::string>();
    } else {
      throw input_error(where, "expected an object with a string field \"text\" or an \"ids\" array",
                        line.substr(0, 80), "{\"text\": \"...\"}");
    }
    prompts.push_back(std::move(prompt));
  }
  if (in.bad()) throw input_error(path, "read failed");
  if (prompts.empty()) throw input_error(path, "no prompts in file", {}, "one prompt per line or JSONL");
  return prompts;
}

// ---- HDF5 (C API), every call checked -------------------------------------------------------

class H5Handle {
 public:
  H5Handle() = default;
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { reset(); }
  hid_t get() const { return id_; }
  // Closes now and reports failure (a file's final flush happens at close).
  herr_t close() {
    herr_t rc = 0;
    if (id_ >= 0) rc = close_(id_);
    id_ = -1;
    return rc;
  }

 private:
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = -1;
  }
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// The output's directory was checked up front (check_output_path), so a failing HDF5 call here
// is a failure to store the data: disk full, quota, an I/O error.
hid_t h5check(hid_t id, const std::string& what, const std::string& path) {
  if (id < 0) throw io_error(path, "HDF5 error: " + what, reducers::h5::error_text());
  return id;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  H5Handle type(h5check(H5Tcopy(H5T_C_S1), "H5Tcopy", path), H5Tclose);
  h5check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", path);
  h5check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", path);
  H5Handle space(h5check(H5Screate(H5S_SCALAR), "H5Screate", path), H5Sclose);
  H5Handle attr(h5check(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                        fmt::format("create attribute {}", name), path),
                H5Aclose);
  const char* ptr = value.c_str();
  h5check(H5Awrite(attr.get(), type.get(), &ptr), fmt::format("write attribute {}", name), path);
}

// One root dataset of shape [n_rows, rest...], filled batch by batch along the first axis.
class RowDataset {
 public:
  RowDataset(hid_t file, const std::string& name, hid_t file_type, std::vector<hsize_t> shape,
             const std::string& dims, const std::string& path)
      : name_(name), path_(path), shape_(std::move(shape)) {
    H5Handle space(h5check(H5Screate_simple(static_cast<int>(shape_.size()), shape_.data(), nullptr),
                           "H5Screate_simple " + name, path),
                   H5Sclose);
    // No intermediate groups: hook names contain dots, never slashes, so they stay root datasets.
    ds_ = H5Handle(h5check(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT),
                           "create dataset " + name, path),
                   H5Dclose);
    write_string_attr(ds_.get(), "dims", dims, path);
  }

  const std::vector<hsize_t>& shape() const { return shape_; }
  void close() {
    if (ds_.close() < 0)
      throw io_error(path_, "HDF5 error: closing dataset " + name_, reducers::h5::error_text());
  }

  // Writes `t` (contiguous CPU, mem_type elements, shape [rows, rest...]) at row `row0`.
  void write_rows(hsize_t row0, const torch::Tensor& t, hid_t mem_type) {
    std::vector<hsize_t> count(shape_), start(shape_.size(), 0);
    count[0] = static_cast<hsize_t>(t.size(0));
    start[0] = row0;
    CSWEEP_ASSERT(t.dim() == static_cast<int64_t>(shape_.size()), "rank of {} changed", name_);
    for (std::size_t i = 1; i < shape_.size(); ++i) {
      CSWEEP_ASSERT(static_cast<hsize_t>(t.size(i)) == shape_[i], "shape of {} changed between batches",
                    name_);
    }
    H5Handle fspace(h5check(H5Dget_space(ds_.get()), "H5Dget_space " + name_, path_), H5Sclose);
    h5check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
            "select " + name_, path_);
    H5Handle mspace(h5check(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                            "H5Screate_simple " + name_, path_),
                    H5Sclose);
    h5check(H5Dwrite(ds_.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, t.data_ptr()),
            "write " + name_, path_);
  }

 private:
  std::string name_, path_;
  std::vector<hsize_t> shape_;
  H5Handle ds_;
};

// ---- the command ------------------------------------------------------------------------------

// One device policy for every command (workers/model/device_policy.hpp).
model::Placement placement(const DumpOptions& opt) {
  model::ComputeRequest req;
  req.device = vocab::parse_device_request(opt.device, "--device");
  req.dtype = vocab::compute_dtypes().parse(opt.dtype, "--dtype");
  return model::place_compute(req);
}

std::vector<std::string> split_globs(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    const auto pieces = split_list(s);
    out.insert(out.end(), pieces.begin(), pieces.end());
  }
  return out;
}

void write_dump(const DumpOptions& opt, const std::string& tmp_path) {
  const model::Placement place = placement(opt);
  const torch::ScalarType dtype = place.dtype;
  const torch::Device device = place.device;
  const std::string dtype_name = vocab::compute_dtypes().name(vocab::compute_dtypes().parse(opt.dtype));
  CSWEEP_CHECK_INPUT(opt.batch_size > 0, "--batch-size must be positive (got {})", opt.batch_size);
  const auto prompts = read_prompts(opt.prompts);

  const model::LoadedModel loaded = model::load_model(opt.model);
  const auto& cfg = loaded.cfg;
  // Only text prompts (or --prepend-bos) need a tokenizer: pre-tokenized files run without one.
  const bool need_tokenizer =
      opt.prepend_bos || !opt.tokenizer.empty() ||
      std::any_of(prompts.begin(), prompts.end(), [](const Prompt& p) { return !p.pretokenized; });
  std::optional<tok::Tokenizer> tokenizer;
  if (need_tokenizer) {
    tokenizer.emplace(!opt.tokenizer.empty()           ? model::load_tokenizer_from(opt.tokenizer)
                      : !loaded.tokenizer_path.empty() ? model::load_model_tokenizer(loaded)
                                                       : tok::Tokenizer::load(data_path("tokenizers/gpt2")));
  }

  // Tokenize everything first: every input error surfaces before any compute.
  std::vector<std::vector<int>> ids;
  ids.reserve(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int> t;
    const std::string& where = prompts[i].where;
    if (opt.prepend_bos) {
      const auto bos = tokenizer->bos_id();
      if (!bos) throw input_error(tokenizer->source(), "--prepend-bos: the tokenizer has no BOS token");
      t.push_back(*bos);
    }
    const auto enc = prompts[i].pretokenized ? prompts[i].ids : tokenizer->encode(prompts[i].text);
    t.insert(t.end(), enc.begin(), enc.end());
    if (t.empty()) throw input_error(where, "prompt encodes to no tokens");
    if (static_cast<int>(t.size()) > cfg.n_ctx) {
      throw input_error(where, "prompt is longer than the model's context",
                        fmt::format("{} tokens", t.size()), fmt::format("at most {}", cfg.n_ctx));
    }
    for (int id : t) {
      if (id < 0 || id >= cfg.d_vocab) {
        throw input_error(where, "token id outside the model's vocabulary (tokenizer/model mismatch?)",
                          std::to_string(id), fmt::format("< d_vocab {}", cfg.d_vocab));
      }
    }
    ids.push_back(std::move(t));
  }
  const int64_t N = static_cast<int64_t>(ids.size());
  int64_t P = 0;
  for (const auto& t : ids) P = std::max<int64_t>(P, static_cast<int64_t>(t.size()));
  auto tokens = torch::zeros({N, P}, torch::kLong);
  auto lengths = torch::empty({N}, torch::kLong);
  auto tok_acc = tokens.accessor<int64_t, 2>();
  auto len_acc = lengths.accessor<int64_t, 1>();
  for (int64_t i = 0; i < N; ++i) {
    len_acc[i] = static_cast<int64_t>(ids[i].size());
    for (std::size_t j = 0; j < ids[i].size(); ++j) tok_acc[i][static_cast<int64_t>(j)] = ids[i][j];
  }
  const auto mask = torch::arange(P).unsqueeze(0) < lengths.unsqueeze(1);  // [batch, pos]

  const model::HookedTransformer model(loaded, device, dtype);
  const auto globs = split_globs(opt.hooks);
  std::vector<std::string> selected;
  for (const auto& name : model.hook_names()) {
    for (const auto& g : globs) {
      if (model::glob_match(g, name)) {
        selected.push_back(name);
        break;
      }
    }
  }
  for (const auto& g : globs) {
    const bool any = std::any_of(selected.begin(), selected.end(),
                                 [&](const std::string& n) { return model::glob_match(g, n); });
    if (!any) {
      throw input_error("--hooks", "pattern matches no hook point of this model", g,
                        fmt::format("e.g. {} or blocks.*.attn.hook_z", model::act_name("z", 0)));
    }
  }
  spdlog::info("dump: {} prompts (max {} tokens), {} hook points, device {}, dtype {}", N, P,
               selected.size(), place.description, dtype_name);

  H5Handle file(h5check(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                        "cannot create file", tmp_path),
                H5Fclose);
  write_string_attr(file.get(), "model", loaded.source, tmp_path);
  write_string_attr(file.get(), "weights_sha256", loaded.weights_sha256, tmp_path);
  write_string_attr(file.get(), "tokenizer", tokenizer ? tokenizer->source() : "(pre-tokenized)", tmp_path);
  write_string_attr(file.get(), "device", device.str(), tmp_path);
  write_string_attr(file.get(), "dtype", dtype_name, tmp_path);
  write_string_attr(file.get(), "hooks", fmt::format("{}", fmt::join(globs, ",")), tmp_path);
  write_string_attr(file.get(), "csweep_version",
                    std::string(kVersion) + " (" + kGitRevision + ")", tmp_path);

  const auto n = static_cast<hsize_t>(N), p = static_cast<hsize_t>(P);
  RowDataset(file.get(), "tokens", H5T_STD_I64LE, {n, p}, "batch pos", tmp_path)
      .write_rows(0, tokens, H5T_NATIVE_INT64);
  RowDataset(file.get(), "lengths", H5T_STD_I64LE, {n}, "batch", tmp_path)
      .write_rows(0, lengths, H5T_NATIVE_INT64);
  RowDataset logits_ds(file.get(), "logits", H5T_IEEE_F32LE, {n, p, static_cast<hsize_t>(cfg.d_vocab)},
                       "batch pos d_vocab", tmp_path);
  std::map<std::string, RowDataset> hook_ds;  // created at the first batch, when shapes are known

  for (int64_t b0 = 0; b0 < N; b0 += opt.batch_size) {
    const int64_t nb = std::min<int64_t>(opt.batch_size, N - b0);
    model::Hooks hooks;
    for (const auto& name : selected) hooks.cache_matching(name);
    model::ForwardOptions fwd;
    fwd.attention_mask = mask.narrow(0, b0, nb).to(torch::kLong);
    const auto logits = model.forward(tokens.narrow(0, b0, nb), &hooks, fwd).to(torch::kCPU).contiguous();
    logits_ds.write_rows(static_cast<hsize_t>(b0), logits, H5T_NATIVE_FLOAT);
    for (const auto& name : selected) {
      auto it = hooks.cache().find(name);
      CSWEEP_ASSERT(it != hooks.cache().end(), "hook {} did not fire", name);
      const auto act = it->second.to(torch::kCPU, torch::kFloat32).contiguous();
      auto ds = hook_ds.find(name);
      if (ds == hook_ds.end()) {
        std::vector<hsize_t> shape(act.sizes().begin(), act.sizes().end());
        shape[0] = n;
        ds = hook_ds.emplace(name, RowDataset(file.get(), name, H5T_IEEE_F32LE, shape,
                                              model::hook_dims(name), tmp_path))
                 .first;
      }
      ds->second.write_rows(static_cast<hsize_t>(b0), act, H5T_NATIVE_FLOAT);
    }
  }
  hook_ds.clear();
  logits_ds.close();
  if (file.close() < 0)
    throw io_error(tmp_path, "HDF5 error: closing the file failed", reducers::h5::error_text());
}

// Refuses an --out whose directory does not exist or is not writable, before the model is
// loaded: one line naming the directory, instead of an HDF5 failure after the compute.
void check_output_path(const std::string& out) {
  const std::filesystem::path p(out);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw input_error("--out", "the directory of the output file does not exist",
                      "'" + dir.string() + "'", "an existing directory (create it first)");
  if (::access(dir.c_str(), W_OK) != 0)
    throw input_error("--out", "the directory of the output file is not writable",
                      "'" + dir.string() + "'", "a directory you can write to");
  if (std::filesystem::is_directory(p, ec))
    throw input_error("--out", "is a directory", "'" + out + "'", "a file name, e.g. out.h5");
}

void run_dump(const DumpOptions& opt) {
  reducers::h5::init();
  check_output_path(opt.out);
  const std::string tmp = opt.out + ".tmp";
  try {
    write_dump(opt, tmp);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);  // never leave a partial file behind
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, opt.out, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw io_error(opt.out, "cannot rename " + tmp + " into place", why);
  }
  spdlog::info("dump: wrote {}", opt.out);
}

}  // namespace

void add_dump_command(CLI::App& app) {
  auto opt = std::make_shared<DumpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dump", "Run prompts through a model; write logits and hook activations to HDF5.");
  cmd->add_option("--model", opt->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_option("--prompts", opt->prompts,
                  "prompts file: one prompt per line, or JSONL with a \"text\" field")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--hooks", opt->hooks,
                  "hook-name globs to dump, e.g. 'blocks.*.attn.hook_z' (repeatable, or "
                  "comma-separated); none = logits only");
  cmd->add_option("--out", opt->out, "output HDF5 file")->required();
  cmd->add_option("--device", opt->device, "auto (a GPU when one is visible), cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", opt->dtype, "compute dtype: float32, bfloat16 or float16 "
                                         "(datasets are float32 either way)")
      ->capture_default_str();
  cmd->add_option("--tokenizer", opt->tokenizer,
                  "tokenizer (folder, tokenizer.json or .gguf); default: the model's own, else "
                  "GPT-2's from data/tokenizers/gpt2");
  cmd->add_option("--batch-size", opt->batch_size, "prompts per forward pass")->capture_default_str();
  cmd->add_flag("--prepend-bos", opt->prepend_bos, "prepend the tokenizer's BOS token to every prompt");
  cmd->callback([opt] { run_dump(*opt); });
}

}  // namespace csweep::cli
