#include "reducers/schema.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
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

// "CUR3": records with the pruning payload (circuits, steps); "CUR2" records (no payload) are
// still read, so a journal left by the previous version resumes.
constexpr std::uint32_t kRecordMagic = 0x33525543;
constexpr std::uint32_t kRecordMagicV2 = 0x32525543;

void put_component(Writer& w, const interv::Component& c) {
  w.put(static_cast<std::uint8_t>(c.kind));
  w.put<std::int32_t>(c.layer);
  w.put<std::int32_t>(c.index);
}
interv::Component get_component(Reader& r) {
  interv::Component c;
  c.kind = static_cast<interv::ComponentKind>(r.get<std::uint8_t>());
  c.layer = r.get<std::int32_t>();
  c.index = r.get<std::int32_t>();
  return c;
}
void put_metrics(Writer& w, const metrics::MetricRow& m) {
  for (double v : {m.logit_diff, m.performance, m.normalized, m.kl, m.prob_correct, m.accuracy,
                   m.prob_diff})
    w.put(v);
}
void get_metrics(Reader& r, metrics::MetricRow* m) {
  m->logit_diff = r.get<double>();
  m->performance = r.get<double>();
  m->normalized = r.get<double>();
  m->kl = r.get<double>();
  m->prob_correct = r.get<double>();
  m->accuracy = r.get<double>();
  m->prob_diff = r.get<double>();
}

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
  w.put<std::uint64_t>(r.circuits.size());
  for (const auto& c : r.circuits) {
    put_exp(w, c.exp);
    w.put(c.family);
    w.put(c.circuit);
    w.put(c.threshold);
    w.put(c.threshold_index);
    w.put(c.order_kind);
    w.put(c.order_seed);
    w.put<std::uint8_t>(c.nested ? 1 : 0);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(c.kept.size()));
    for (auto k : c.kept) w.put(k);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(c.components.size()));
    for (const auto& x : c.components) put_component(w, x);
    w.put(c.passes);
    w.put(c.evaluations);
    put_metrics(w, c.metrics);
  }
  w.put<std::uint64_t>(r.steps.size());
  for (const auto& s : r.steps) {
    put_exp(w, s.exp);
    w.put(s.family);
    w.put(s.circuit);
    w.put(s.step);
    w.put(s.pass);
    w.put(s.position);
    put_component(w, s.component);
    w.put(s.performance);
    w.put<std::uint8_t>(s.removed ? 1 : 0);
  }
  return w.take();
}

UnitRecord deserialize(const std::string& bytes) {
  Reader r(bytes);
  const auto magic = r.get<std::uint32_t>();
  CSWEEP_ASSERT(magic == kRecordMagic || magic == kRecordMagicV2,
                "unit record has a bad magic number");
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
  if (magic == kRecordMagic) {
    u.circuits.resize(r.get<std::uint64_t>());
    for (auto& c : u.circuits) {
      c.exp = get_exp(r);
      c.family = r.get<std::int32_t>();
      c.circuit = r.get<std::uint64_t>();
      c.threshold = r.get<double>();
      c.threshold_index = r.get<std::int32_t>();
      c.order_kind = r.get<std::int8_t>();
      c.order_seed = r.get<std::uint64_t>();
      c.nested = r.get<std::uint8_t>() != 0;
      c.kept.resize(r.get<std::uint32_t>());
      for (auto& k : c.kept) k = r.get<std::int8_t>();
      c.components.resize(r.get<std::uint32_t>());
      for (auto& x : c.components) x = get_component(r);
      c.passes = r.get<std::int32_t>();
      c.evaluations = r.get<std::int64_t>();
      get_metrics(r, &c.metrics);
    }
    u.steps.resize(r.get<std::uint64_t>());
    for (auto& s : u.steps) {
      s.exp = get_exp(r);
      s.family = r.get<std::int32_t>();
      s.circuit = r.get<std::uint64_t>();
      s.step = r.get<std::int64_t>();
      s.pass = r.get<std::int32_t>();
      s.position = r.get<std::int32_t>();
      s.component = get_component(r);
      s.performance = r.get<double>();
      s.removed = r.get<std::uint8_t>() != 0;
    }
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

void sort_circuits(std::vector<CircuitRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const CircuitRow& a, const CircuitRow& b) {
    return std::tie(a.exp, a.family, a.circuit) < std::tie(b.exp, b.family, b.circuit);
  });
}

void sort_steps(std::vector<StepRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const StepRow& a, const StepRow& b) {
    return std::tie(a.exp, a.family, a.circuit, a.step) < std::tie(b.exp, b.family, b.circuit, b.step);
  });
}

void sort_cross_task(std::vector<CrossTaskRow>& rows) {
  // Intersection (-1) and union (-2) after the tasks' own circuits.
  const auto key = [](const CrossTaskRow& r) {
    return std::make_tuple(r.exp, r.family, r.circuit,
                           r.circuit_task < 0 ? std::numeric_limits<std::int32_t>::max() + r.circuit_task + 1
                                              : r.circuit_task);
  };
  std::sort(rows.begin(), rows.end(),
            [&](const CrossTaskRow& a, const CrossTaskRow& b) { return key(a) < key(b); });
}

void sort_baselines(std::vector<BaselineRow>& rows) {
  std::sort(rows.begin(), rows.end(),
            [](const BaselineRow& a, const BaselineRow& b) { return a.exp < b.exp; });
}

// stable: a circuit's edges and a curve's points keep the order they were computed in.
void sort_edge_circuits(std::vector<EdgeCircuitRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const EdgeCircuitRow& a, const EdgeCircuitRow& b) {
    return std::tie(a.exp, a.stage, a.circuit) < std::tie(b.exp, b.stage, b.circuit);
  });
}
void sort_edges(std::vector<EdgeRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const EdgeRow& a, const EdgeRow& b) {
    return std::tie(a.exp, a.stage, a.circuit) < std::tie(b.exp, b.stage, b.circuit);
  });
}
void sort_curves(std::vector<CurveRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const CurveRow& a, const CurveRow& b) {
    return std::tie(a.exp, a.stage, a.curve) < std::tie(b.exp, b.stage, b.curve);
  });
}
void sort_curve_points(std::vector<CurvePointRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const CurvePointRow& a, const CurvePointRow& b) {
    return std::tie(a.exp, a.stage, a.curve) < std::tie(b.exp, b.stage, b.curve);
  });
}

}  // namespace csweep::reducers
