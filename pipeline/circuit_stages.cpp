#include "pipeline/circuit_stages.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "vocab/names.hpp"

namespace csweep::pipeline {
namespace {

using reducers::ExperimentIndex;

int family_index(const JobSpec& job, const std::string& name) {
  for (std::size_t f = 0; f < job.families.size(); ++f)
    if (job.families[f].name == name) return static_cast<int>(f);
  throw InternalError("circuit stage: no family '" + name + "' (the job spec checks this)");
}

// The node circuits one edge_pruning stage prunes: (experiment, circuit id, source, threshold,
// order, nodes).
struct NodeCircuit {
  ExperimentIndex exp;
  std::uint64_t id = 0;
  std::string source, order;
  double threshold = std::nan("");
  std::vector<interv::Component> nodes;
};

std::vector<NodeCircuit> node_circuits(const Grid& grid, const CircuitStageSpec& st,
                                       const reducers::Results& r) {
  std::vector<NodeCircuit> out;
  if (!st.from.empty()) {
    const int f = family_index(grid.job(), st.from);
    for (const auto& c : r.circuits) {
      if (c.family != f) continue;
      if (!st.thresholds.empty() &&
          std::find(st.thresholds.begin(), st.thresholds.end(), c.threshold) == st.thresholds.end())
        continue;
      const pruning::Order o{static_cast<pruning::OrderKind>(c.order_kind), c.order_seed};
      if (std::find_if(st.orders.begin(), st.orders.end(), [&](const pruning::Order& x) {
            return x.kind == o.kind && x.seed == o.seed;
          }) == st.orders.end())
        continue;
      if (grid.ablations().at(static_cast<std::size_t>(c.exp.ablation)) != interv::AblationKind::kMean) {
        // Edge pruning mean-ablates the circuit's outside; a circuit found under another
        // ablation kind would be scored in a setting it was not found in.
        spdlog::warn("{}: circuit {} of '{}' was found with {} ablation; edge pruning (mean) skips it",
                     st.name, c.circuit, st.from,
                     vocab::ablation_kinds().name(grid.ablations()[static_cast<std::size_t>(c.exp.ablation)]));
        continue;
      }
      if (c.components.empty()) continue;  // nothing to join
      NodeCircuit n;
      n.exp = c.exp;
      n.id = c.circuit;
      n.order = vocab::pruning_order_name(o);
      n.threshold = c.threshold;
      n.source = fmt::format("{}/{}/T{}", st.from, n.order, c.threshold);
      n.nodes = c.components;
      out.push_back(std::move(n));
    }
    return out;
  }
  for (const auto& key : grid.stage_experiments(st)) {
    NodeCircuit n;
    n.exp = Grid::experiment_index(key);
    n.source = st.circuit_file.empty() ? "circuit" : "circuit_file";
    n.nodes = st.circuit_file.empty() ? st.circuit : st.task_circuits.at(static_cast<std::size_t>(key.task));
    out.push_back(std::move(n));
  }
  return out;
}

void run_edge_stage(const Grid& grid, const CircuitStageSpec& st, reducers::Results& r,
                    UnitEvaluator& ev) {
  for (const auto& nc : node_circuits(grid, st, r)) {
    const ExperimentKey key = grid.key_of(nc.exp);
    const auto& cfg = grid.config(key.model);
    for (const auto& c : nc.nodes)
      if (c.layer >= cfg.n_layers || (c.kind == interv::ComponentKind::kHead && c.index >= cfg.n_heads))
        throw input_error(st.origin, "circuit component outside model '" +
                                         grid.job().models[static_cast<std::size_t>(key.model)].name + "'",
                          vocab::component_name(c),
                          fmt::format("heads of layers < {} with index < {}, MLPs of layers < {}", cfg.n_layers,
                                      cfg.n_heads, cfg.n_layers));
    circuits::EdgePruningOptions opt;
    opt.inside_circuit = st.inside;
    opt.ratio_threshold = st.ratio;
    opt.effect_threshold = st.effect;
    const auto res = ev.prune_edges(key, nc.nodes, opt);
    const metrics::Baseline b = ev.baseline(key);
    reducers::EdgeCircuitRow row;
    row.exp = nc.exp;
    row.stage = st.name;
    row.circuit = nc.id;
    row.source = nc.source;
    row.threshold = nc.threshold;
    row.order = nc.order;
    row.components = nc.nodes;
    row.n_candidates = static_cast<std::int64_t>(res.edges.size());
    row.n_kept = res.kept();
    row.inside = st.inside;
    row.ratio_rule = st.ratio;
    row.effect_rule = st.effect;
    row.clean_logit_diff = b.clean_logit_diff;
    row.corrupted_logit_diff = b.corrupted_logit_diff;
    row.circuit_logit_diff = res.circuit_row.logit_diff;
    row.circuit_performance = res.circuit_row.performance;
    row.recheck_logit_diff = res.recheck.logit_diff;
    row.recheck_performance = res.recheck.performance;
    row.recheck_normalized = res.recheck.normalized;
    r.edge_circuits.push_back(row);
    for (const auto& e : res.edges) {
      reducers::EdgeRow er;
      er.exp = nc.exp;
      er.stage = st.name;
      er.circuit = nc.id;
      er.edge = e.edge;
      er.logit_diff = e.logit_diff;
      er.ratio = e.ratio;
      er.effect = e.effect;
      er.kept = e.kept;
      r.edges.push_back(er);
    }
    spdlog::info("{}: {} ({}): {} of {} edges kept, re-check {:.1f}% (circuit {:.1f}%)", st.name,
                 vocab::components_name(nc.nodes), nc.source, row.n_kept, row.n_candidates,
                 row.recheck_performance, row.circuit_performance);
  }
}

std::string ranking_names(const circuits::Ranking& rk) {
  std::string s;
  for (std::size_t i = 0; i < rk.size(); ++i) {
    if (i) s += ' ';
    s += rk.level == circuits::RankingLevel::kNodes ? vocab::node_name(rk.nodes[i]) : vocab::edge_name(rk.edges[i]);
  }
  return s;
}

void store_curve(const CircuitStageSpec& st, const ExperimentIndex& exp, const std::string& source,
                 const circuits::Ranking& rk, const circuits::Curve& c, reducers::Results& r) {
  reducers::CurveRow row;
  row.exp = exp;
  row.stage = st.name;
  row.curve = 0;
  row.source = source;
  row.level = circuits::to_string(c.level);
  row.metric = vocab::metrics().name(metrics::Metric::kLogitDiff);
  row.n_items = c.total;
  row.m_full = c.m_full;
  row.m_empty = c.m_empty;
  row.cpr = c.cpr;
  row.cmd = c.cmd;
  row.average = c.average;
  row.ranking = ranking_names(rk);
  r.curves.push_back(row);
  for (const auto& p : c.points) {
    reducers::CurvePointRow pr;
    pr.exp = exp;
    pr.stage = st.name;
    pr.curve = 0;
    pr.size = p.size;
    pr.fraction = p.fraction;
    pr.mib = p.mib;
    pr.score = p.score;
    pr.faithfulness = p.faithfulness;
    r.curve_points.push_back(pr);
  }
  spdlog::info("{}: {} ranking of {} {}: CPR {:.4f}, CMD {:.4f}", st.name, source, c.total, row.level,
               c.cpr, c.cmd);
}

void run_faithfulness_stage(const Grid& grid, const CircuitStageSpec& st, reducers::Results& r,
                            UnitEvaluator& ev) {
  circuits::CurveOptions opt;
  opt.fractions = st.fractions;
  opt.integer_sizes_up_to = st.integer_sizes_up_to;
  opt.metric = metrics::Metric::kLogitDiff;
  if (!st.scores_file.empty()) {
    for (const auto& key : grid.stage_experiments(st)) {
      const auto c = ev.faithfulness(key, st.file_ranking, opt);
      store_curve(st, Grid::experiment_index(key), st.scores_file, st.file_ranking, c, r);
    }
    return;
  }
  // A single-ablation table: per experiment, each component's effect = LD_clean - LD ablated.
  const int f = family_index(grid.job(), st.ranking);
  std::map<ExperimentIndex, const metrics::Baseline*> baselines;
  for (const auto& b : r.baselines) baselines.emplace(b.exp, &b.baseline);
  std::map<ExperimentIndex, std::pair<std::vector<interv::Component>, std::vector<double>>> by_exp;
  for (const auto& row : r.tables.at(static_cast<std::size_t>(f))) {
    if (row.components.size() != 1 || row.position != -1) continue;
    const auto b = baselines.find(row.exp);
    if (b == baselines.end())
      throw input_error(st.origin, "no baseline for a row of family '" + st.ranking + "'",
                        reducers::describe(row.exp), "a complete results file");
    auto& e = by_exp[row.exp];
    e.first.push_back(row.components[0]);
    e.second.push_back(b->second->clean_logit_diff - row.metrics.logit_diff);
  }
  if (by_exp.empty())
    throw input_error(st.origin + ".ranking", "family '" + st.ranking + "' has no single-component rows", "",
                      "a combinations family with k = 1");
  for (auto& [exp, items] : by_exp) {
    for (const auto& c : items.first)
      if (c.kind == interv::ComponentKind::kNeuron)
        throw input_error(st.origin + ".ranking", "family '" + st.ranking + "' ranks neurons",
                          vocab::component_name(c), "a family of heads and/or MLPs");
    const auto rk = circuits::rank_nodes(items.first, items.second, st.absolute);
    const auto c = ev.faithfulness(grid.key_of(exp), rk, opt);
    store_curve(st, exp, st.ranking, rk, c, r);
  }
}

}  // namespace

bool has_circuit_stages(const JobSpec& job) { return !job.stages.empty(); }

std::string mib_json(const Grid& grid, const reducers::Results& r) {
  const auto& m = r.meta;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : r.curves) {
    nlohmann::json e;
    e["stage"] = c.stage;
    e["model"] = m.model_names.at(static_cast<std::size_t>(c.exp.model));
    e["seed"] = m.seeds.at(static_cast<std::size_t>(c.exp.seed));
    e["task"] = m.task_names.at(static_cast<std::size_t>(c.exp.task));
    e["corruption"] = m.corruption_names.at(static_cast<std::size_t>(c.exp.corruption));
    e["ablation"] = m.ablation_names.at(static_cast<std::size_t>(c.exp.ablation));
    e["ranking"] = c.source;
    e["level"] = c.level;
    e["n_items"] = c.n_items;
    e["metric"] = c.metric;
    std::vector<double> p, f;
    std::vector<std::int64_t> s;
    for (const auto& pt : r.curve_points) {
      if (!(pt.exp == c.exp) || pt.stage != c.stage || pt.curve != c.curve || !pt.mib) continue;
      p.push_back(pt.fraction);
      s.push_back(pt.size);
      f.push_back(pt.faithfulness);
    }
    // MIB's result keys (MIB_circuit_track evaluation output).
    e["percentages"] = p;
    e["sizes"] = s;
    e["faithfulnesses"] = f;
    e["area_under"] = c.cpr;
    e["area_from_1"] = c.cmd;
    e["average"] = c.average;
    e["m_full"] = c.m_full;
    e["m_empty"] = c.m_empty;
    out.push_back(e);
  }
  nlohmann::json doc = {{"grid_fingerprint", grid.fingerprint()}, {"curves", out}};
  return doc.dump(1) + "\n";
}

void compute_circuit_stages(const Grid& grid, reducers::Results& r, UnitEvaluator& ev) {
  r.edge_circuits.clear();
  r.edges.clear();
  r.curves.clear();
  r.curve_points.clear();
  nlohmann::json defs = nlohmann::json::array();
  for (const auto& st : grid.job().stages) {
    defs.push_back(stage_json(st));
    if (st.kind == FamilyKind::kEdgePruning)
      run_edge_stage(grid, st, r, ev);
    else
      run_faithfulness_stage(grid, st, r, ev);
  }
  r.stages_json = defs.dump();
}

std::string mib_json_path(const std::string& results_path) {
  std::string base = results_path;
  for (const char* ext : {".h5", ".hdf5"}) {
    const std::string e(ext);
    if (base.size() > e.size() && base.compare(base.size() - e.size(), e.size(), e) == 0) {
      base.resize(base.size() - e.size());
      break;
    }
  }
  return base + ".faithfulness.json";
}

}  // namespace csweep::pipeline
