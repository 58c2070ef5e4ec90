#include "workers/circuit_results/curves.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "vocab/edges.hpp"
#include "vocab/names.hpp"

namespace csweep::circuits {

using interv::Component;
using interv::Edge;

const char* to_string(RankingLevel l) { return l == RankingLevel::kNodes ? "nodes" : "edges"; }

const std::vector<double>& mib_fractions() {
  static const std::vector<double> f = {.001, .002, .005, .01, .02, .05, .1, .2, .5, 1};
  return f;
}

namespace {

std::vector<size_t> order_by_score(const std::vector<double>& scores, bool absolute) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const double x = absolute ? std::fabs(scores[a]) : scores[a];
    const double y = absolute ? std::fabs(scores[b]) : scores[b];
    return x > y;
  });
  return idx;
}

}  // namespace

Ranking rank_nodes(std::vector<Component> nodes, std::vector<double> scores, bool absolute) {
  CSWEEP_ASSERT(nodes.size() == scores.size(), "ranking: {} nodes, {} scores", nodes.size(), scores.size());
  std::set<Component> seen;
  for (size_t i = 0; i < nodes.size(); ++i) {
    CSWEEP_CHECK_INPUT(nodes[i].kind != interv::ComponentKind::kNeuron,
                       "ranking: {} is a neuron (expected heads and MLPs)", vocab::component_name(nodes[i]));
    CSWEEP_CHECK_INPUT(seen.insert(nodes[i]).second, "ranking: {} is listed twice", vocab::component_name(nodes[i]));
    CSWEEP_CHECK_INPUT(!std::isnan(scores[i]), "ranking: {} has a NaN score", vocab::component_name(nodes[i]));
  }
  Ranking r;
  r.level = RankingLevel::kNodes;
  for (size_t i : order_by_score(scores, absolute)) {
    r.nodes.push_back(nodes[i]);
    r.scores.push_back(scores[i]);
  }
  return r;
}

Ranking rank_edges(std::vector<Edge> edges, std::vector<double> scores, bool absolute) {
  CSWEEP_ASSERT(edges.size() == scores.size(), "ranking: {} edges, {} scores", edges.size(), scores.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < edges.size(); ++i) {
    const auto name = vocab::edge_name(edges[i]);
    CSWEEP_CHECK_INPUT(seen.insert(name).second, "ranking: edge {} is listed twice", name);
    CSWEEP_CHECK_INPUT(!std::isnan(scores[i]), "ranking: edge {} has a NaN score", name);
  }
  Ranking r;
  r.level = RankingLevel::kEdges;
  for (size_t i : order_by_score(scores, absolute)) {
    r.edges.push_back(edges[i]);
    r.scores.push_back(scores[i]);
  }
  return r;
}

Ranking read_mib_scores(const std::string& path, bool absolute) {
  std::ifstream in(path);
  CSWEEP_CHECK_INPUT(in.good(), "{}: cannot open the score file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw input_error(path, "not valid JSON", e.what(), "MIB scores {\"edges\": {NAME: {\"score\": s}}}");
  }
  CSWEEP_CHECK_INPUT(j.is_object() && (j.contains("edges") != j.contains("nodes")),
                     "{}: expected an object with exactly one of \"edges\" or \"nodes\" (MIB layout)", path);
  const bool edges = j.contains("edges");
  const auto& table = edges ? j["edges"] : j["nodes"];
  CSWEEP_CHECK_INPUT(table.is_object(), "{}: \"{}\" is not an object of NAME: {{\"score\": s}}", path,
                     edges ? "edges" : "nodes");
  std::vector<Edge> es;
  std::vector<Component> ns;
  std::vector<double> scores;
  for (const auto& [name, entry] : table.items()) {
    CSWEEP_CHECK_INPUT(entry.is_object() && entry.contains("score") && entry["score"].is_number(),
                       "{}: {}.{}: expected {{\"score\": number}}", path, edges ? "edges" : "nodes", name);
    scores.push_back(entry["score"].get<double>());
    try {
      if (edges) {
        es.push_back(vocab::parse_edge(name));
      } else {
        // MIB node names: "a3.h1" (head), "m2" (MLP); the project's "3.1" / "mlp2" also parse.
        const auto node = vocab::find_node(name);
        CSWEEP_CHECK_INPUT(node.has_value(), "not a node name (expected 'a{{l}}.h{{h}}' or 'm{{l}}')");
        ns.push_back(*node);
      }
    } catch (const InputError& e) {
      throw input_error(path, fmt::format("{}.{}", edges ? "edges" : "nodes", name), e.what());
    }
  }
  // Ties keep the file's key order as nlohmann::json iterates it (sorted by name).
  try {
    return edges ? rank_edges(std::move(es), std::move(scores), absolute)
                 : rank_nodes(std::move(ns), std::move(scores), absolute);
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

void cpr_cmd(const std::vector<double>& x, const std::vector<double>& f, double* cpr, double* cmd) {
  CSWEEP_ASSERT(x.size() == f.size(), "cpr_cmd: {} fractions, {} values", x.size(), f.size());
  double a = 0, b = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    const double w = x[i + 1] - x[i];
    a += w * (f[i] + f[i + 1]) / 2;
    b += w * (std::fabs(1 - f[i]) + std::fabs(1 - f[i + 1])) / 2;
  }
  *cpr = a;
  *cmd = b;
}

std::string curve_json(const Curve& c) {
  nlohmann::json j;
  std::vector<double> p, f;
  std::vector<std::int64_t> s;
  for (const auto& pt : c.points) {
    if (!pt.mib) continue;
    p.push_back(pt.fraction);
    s.push_back(pt.size);
    f.push_back(pt.faithfulness);
  }
  j["level"] = to_string(c.level);
  j["n_items"] = c.total;
  j["percentages"] = p;
  j["sizes"] = s;
  j["faithfulnesses"] = f;
  j["area_under"] = c.cpr;
  j["area_from_1"] = c.cmd;
  j["average"] = c.average;
  j["m_full"] = c.m_full;
  j["m_empty"] = c.m_empty;
  return j.dump(2);
}

}  // namespace csweep::circuits
