#pragma once
// Rankings of nodes or edges and faithfulness curves as data (torch-free: shared by the engine,
// workers/circuits/faithfulness.hpp, which evaluates curves, and the pipeline, which reads score
// files, ranks single-ablation tables and stores curves).
//
// MIB's circuit localisation track: for a ranking of N items (best first) and a size k, the
// circuit C_k keeps the top k items. Faithfulness f(k) = (m(C_k) - m(∅)) / (m(M) - m(∅)).
// Sizes: k = floor(p N) for the MIB fractions p (.001 .002 .005 .01 .02 .05 .1 .2 .5 1), plus
// every integer size 0..integer_sizes_up_to for node rankings. CPR = sum of trapezoids of f over
// consecutive MIB fractions (linear x), CMD = the same over |1 - f|: MIB's area_under and
// area_from_1 (MIB_circuit_track/evaluation.py, evaluate_area_under_curve).
#include <cstdint>
#include <string>
#include <vector>

#include "workers/interventions/edges.hpp"
#include "workers/interventions/intervention.hpp"
#include "workers/metrics/metric_row.hpp"

namespace csweep::circuits {

enum class RankingLevel { kNodes, kEdges };
const char* to_string(RankingLevel l);

struct Ranking {
  RankingLevel level = RankingLevel::kNodes;
  std::vector<interv::Component> nodes;  // kNodes, best first
  std::vector<interv::Edge> edges;       // kEdges, best first
  std::vector<double> scores;            // parallel to nodes / edges
  std::size_t size() const { return level == RankingLevel::kNodes ? nodes.size() : edges.size(); }
};

// Orders items by score, highest first (absolute = by |score|, MIB's default); ties keep the
// input order. InputError on duplicates or NaN scores, naming the item.
Ranking rank_nodes(std::vector<interv::Component> nodes, std::vector<double> scores, bool absolute);
Ranking rank_edges(std::vector<interv::Edge> edges, std::vector<double> scores, bool absolute);

// A JSON file of scores in MIB's layout: {"edges": {"a0.h1->a2.h3<q>": {"score": s}, ...}} or
// {"nodes": {"a0.h1": {"score": s}, "m3": {...}}}. InputError naming the file and the entry.
Ranking read_mib_scores(const std::string& path, bool absolute = true);

const std::vector<double>& mib_fractions();

struct CurveOptions {
  std::vector<double> fractions = mib_fractions();  // ascending, in (0, 1]
  int integer_sizes_up_to = 64;                     // node rankings: also k = 0..this
  interv::AblationKind node_ablation = interv::AblationKind::kMean;
  metrics::Metric metric = metrics::Metric::kLogitDiff;
  interv::Positions positions;  // where removed items are ablated / patched (all by default)
};

struct CurvePoint {
  std::int64_t size = 0;    // k
  double fraction = 0;      // k / N, or the MIB fraction p for MIB points
  bool mib = false;         // one of the MIB fraction points (used for CPR / CMD)
  double score = 0;         // m(C_k)
  double faithfulness = 0;  // f(k)
};

struct Curve {
  RankingLevel level = RankingLevel::kNodes;
  std::int64_t total = 0;          // N
  double m_full = 0, m_empty = 0;  // m(M), m(∅)
  std::vector<CurvePoint> points;  // MIB points in fraction order, then the integer sizes
  double cpr = 0, cmd = 0;
  double average = 0;              // mean f over the MIB points (MIB's "average")
};

// CPR and CMD of faithfulness values at ascending fractions (trapezoids, linear x).
void cpr_cmd(const std::vector<double>& x, const std::vector<double>& f, double* cpr, double* cmd);

// MIB's result layout for one curve: {"percentages", "sizes", "faithfulnesses", "area_under",
// "area_from_1", "average", "m_full", "m_empty", "level", "n_items"} (MIB points only).
std::string curve_json(const Curve& c);

}  // namespace csweep::circuits
