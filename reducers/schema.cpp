#include "reducers/schema.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "core/error.hpp"

namespace csweep::reducers {

bool ExperimentIndex::operator<(const ExperimentIndex& o) const {
  return std::tie(model, seed, task, corruption, ablation, metric_set) <
         std::tie(o.model, o.seed, o.task, o.corruption, o.ablation, o.metric_set);
}

namespace {

// Native-endian, fixed-width encoding: journals and MPI messages never leave one machine type
// (a journal is compacted by the run that wrote it or its resume on the same cluster).
class Writer {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    out_.append(p, sizeof(T));
  }
  void put_string(const std::string& v) {
    put<std::uint32_t>(static_cast<std::uint32_t>(v.size()));
    out_.append(v);
  }
  void put_floats(const std::vector<float>& v) {
    put<std::uint32_t>(static_cast<std::uint32_t>(v.size()));
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  template <class T>
  T get() {
    CSWEEP_ASSERT(pos_ + sizeof(T) <= s_.size(), "unit record truncated at byte {} of {}", pos_,
                  s_.size());
    T v;
    std::memcpy(&v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint32_t>();
    CSWEEP_ASSERT(pos_ + n <= s_.size(), "unit record truncated (string)");
    std::string v(s_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  std::vector<float> get_floats() {
    const auto n = get<std::uint32_t>();
    CSWEEP_ASSERT(pos_ + n * sizeof(float) <= s_.size(), "unit record truncated (floats)");
    std::vector<float> v(n);
    if (n) std::memcpy(v.data(), s_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
    return v;
  }
  bool at_end() const { return pos_ == s_.size(); }

 private:
  const std::string& s_;
  std::size_t pos_ = 0;
};

constexpr std::uint32_t kRecordMagic = 0x32525543;  // "CUR2"

void put_exp(Writer& w, const ExperimentIndex& e) {
  for (auto v : {e.model, e.seed, e.task, e.corruption, e.ablation, e.metric_set}) w.put(v);
}
ExperimentIndex get_exp(Reader& r) {
  ExperimentIndex e;
  e.model = r.get<std::int32_t>();
  e.seed = r.get<std::int32_t>();
  e.task = r.get<std::int32_t>();
  e.corruption = r.get<std::int32_t>();
  e.ablation = r.get<std::int32_t>();
  e.metric_set = r.get<std::int32_t>();
  return e;
}

}  // namespace

std::string serialize(const UnitRecord& r) {
  Writer w;
  w.put(kRecordMagic);
  w.put_string(r.grid_fingerprint);
  w.put(r.unit);
  w.put(r.family);
  put_exp(w, r.baseline.exp);
  const auto& b = r.baseline.baseline;
  for (double v : {b.clean_logit_diff, b.corrupted_logit_diff, b.clean_accuracy,
                   b.corrupted_accuracy, b.clean_prob_correct})
    w.put(v);
  w.put<std::int32_t>(b.n_prompts);
  w.put<std::int32_t>(b.n_dropped_by_filter);
  w.put<std::uint64_t>(r.rows.size());
  for (const auto& row : r.rows) {
    put_exp(w, row.exp);
    w.put(row.intervention);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(row.components.size()));
    for (const auto& c : row.components) {
      w.put(static_cast<std::uint8_t>(c.kind));
      w.put<std::int32_t>(c.layer);
      w.put<std::int32_t>(c.index);
    }
    w.put(row.position);
    w.put(row.receiver_kind);
    w.put(row.receiver_layer);
    w.put(row.receiver_head);
    const auto& m = row.metrics;
    for (double v : {m.logit_diff, m.performance, m.normalized, m.kl, m.prob_correct, m.accuracy,
                     m.prob_diff})
      w.put(v);
    w.put_floats(m.per_prompt_logit_diff);
  }
  return w.take();
}

UnitRecord deserialize(const std::string& bytes) {
  Reader r(bytes);
  CSWEEP_ASSERT(r.get<std::uint32_t>() == kRecordMagic, "unit record has a bad magic number");
  UnitRecord u;
  u.grid_fingerprint = r.get_string();
  u.unit = r.get<std::uint64_t>();
  u.family = r.get<std::int32_t>();
  u.baseline.exp = get_exp(r);
  auto& b = u.baseline.baseline;
  b.clean_logit_diff = r.get<double>();
  b.corrupted_logit_diff = r.get<double>();
  b.clean_accuracy = r.get<double>();
  b.corrupted_accuracy = r.get<double>();
  b.clean_prob_correct = r.get<double>();
  b.n_prompts = r.get<std::int32_t>();
  b.n_dropped_by_filter = r.get<std::int32_t>();
  const auto n = r.get<std::uint64_t>();
  u.rows.resize(n);
  for (auto& row : u.rows) {
    row.exp = get_exp(r);
    row.intervention = r.get<std::uint64_t>();
    row.components.resize(r.get<std::uint32_t>());
    for (auto& c : row.components) {
      c.kind = static_cast<interv::ComponentKind>(r.get<std::uint8_t>());
      c.layer = r.get<std::int32_t>();
      c.index = r.get<std::int32_t>();
    }
    row.position = r.get<std::int32_t>();
    row.receiver_kind = r.get<std::int8_t>();
    row.receiver_layer = r.get<std::int32_t>();
    row.receiver_head = r.get<std::int32_t>();
    auto& m = row.metrics;
    m.logit_diff = r.get<double>();
    m.performance = r.get<double>();
    m.normalized = r.get<double>();
    m.kl = r.get<double>();
    m.prob_correct = r.get<double>();
    m.accuracy = r.get<double>();
    m.prob_diff = r.get<double>();
    m.per_prompt_logit_diff = r.get_floats();
  }
  CSWEEP_ASSERT(r.at_end(), "unit record {} has trailing bytes", u.unit);
  return u;
}

void sort_rows(std::vector<Row>& rows) {
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (!(a.exp == b.exp)) return a.exp < b.exp;
    return a.intervention < b.intervention;
  });
}

void sort_baselines(std::vector<BaselineRow>& rows) {
  std::sort(rows.begin(), rows.end(),
            [](const BaselineRow& a, const BaselineRow& b) { return a.exp < b.exp; });
}

}  // namespace csweep::reducers
