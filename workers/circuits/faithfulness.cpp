#include "workers/circuits/faithfulness.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace csweep::circuits {
namespace {

double metric_of(const metrics::MetricRow& r, metrics::Metric m) {
  switch (m) {
    case metrics::Metric::kLogitDiff: return r.logit_diff;
    case metrics::Metric::kPerformance: return r.performance;
    case metrics::Metric::kNormalized: return r.normalized;
    case metrics::Metric::kKL: return r.kl;
    case metrics::Metric::kProbCorrect: return r.prob_correct;
    case metrics::Metric::kAccuracy: return r.accuracy;
    case metrics::Metric::kProbDiff: return r.prob_diff;
  }
  return 0;
}

}  // namespace

Curve faithfulness_curve(interv::Executor& ex, const interv::DatasetCache& cache, const Ranking& ranking,
                         const CurveOptions& opt) {
  const auto N = static_cast<std::int64_t>(ranking.size());
  CSWEEP_CHECK_INPUT(N > 0, "faithfulness: the ranking is empty");
  for (size_t i = 0; i < opt.fractions.size(); ++i) {
    CSWEEP_CHECK_INPUT(opt.fractions[i] > 0 && opt.fractions[i] <= 1 && (i == 0 || opt.fractions[i] > opt.fractions[i - 1]),
                       "faithfulness: fractions must be ascending in (0, 1] (got {} at position {})",
                       opt.fractions[i], i);
  }
  Curve c;
  c.level = ranking.level;
  c.total = N;
  // Sizes: m(M) = size N, m(∅) = size 0, the MIB points, the integer sizes (node rankings).
  std::vector<std::int64_t> sizes = {N, 0};
  for (double p : opt.fractions) {
    CurvePoint pt;
    // int(pct * n) as MIB computes it; the tiny offset keeps 0.29 * 100 at 29, not 28.
    pt.size = static_cast<std::int64_t>(std::floor(p * static_cast<double>(N) + 1e-9));
    pt.fraction = p;
    pt.mib = true;
    c.points.push_back(pt);
  }
  if (ranking.level == RankingLevel::kNodes) {
    for (std::int64_t k = 0; k <= std::min<std::int64_t>(N, opt.integer_sizes_up_to); ++k) {
      CurvePoint pt;
      pt.size = k;
      pt.fraction = static_cast<double>(k) / static_cast<double>(N);
      c.points.push_back(pt);
    }
  }
  for (const auto& pt : c.points) sizes.push_back(pt.size);
  // Distinct sizes evaluated once each.
  std::vector<std::int64_t> distinct = sizes;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<double> value(distinct.size());
  metrics::MetricSet want;
  want.metrics = {opt.metric};
  if (ranking.level == RankingLevel::kNodes) {
    std::vector<interv::Intervention> ivs;
    for (auto k : distinct) {
      interv::Intervention iv;
      iv.components.assign(ranking.nodes.begin() + k, ranking.nodes.end());
      iv.positions = opt.positions;
      ivs.push_back(iv);
    }
    const auto rows = ex.evaluate(cache, opt.node_ablation, ivs, want);
    for (size_t i = 0; i < rows.size(); ++i) value[i] = metric_of(rows[i], opt.metric);
  } else {
    std::vector<interv::EdgeIntervention> ivs;
    for (auto k : distinct) {
      interv::EdgeIntervention iv;
      iv.edges.assign(ranking.edges.begin() + k, ranking.edges.end());
      iv.positions = opt.positions;
      ivs.push_back(iv);
    }
    const auto rows = ex.evaluate_edges(cache, ivs, want);
    for (size_t i = 0; i < rows.size(); ++i) value[i] = metric_of(rows[i], opt.metric);
  }
  auto at = [&](std::int64_t k) {
    return value[static_cast<size_t>(std::lower_bound(distinct.begin(), distinct.end(), k) - distinct.begin())];
  };
  c.m_full = at(N);
  c.m_empty = at(0);
  CSWEEP_CHECK_INPUT(c.m_full != c.m_empty,
                     "faithfulness: the full model and the empty circuit score the same ({}); "
                     "faithfulness is undefined", c.m_full);
  std::vector<double> xs, fs;
  for (auto& pt : c.points) {
    pt.score = at(pt.size);
    // C_N is M and C_0 is ∅ (the same evaluated rows), so f is exactly 1 and 0 there.
    pt.faithfulness = (pt.score - c.m_empty) / (c.m_full - c.m_empty);
    if (pt.mib) {
      xs.push_back(pt.fraction);
      fs.push_back(pt.faithfulness);
    }
  }
  cpr_cmd(xs, fs, &c.cpr, &c.cmd);
  c.average = fs.empty() ? 0 : std::accumulate(fs.begin(), fs.end(), 0.0) / static_cast<double>(fs.size());
  return c;
}

}  // namespace csweep::circuits
