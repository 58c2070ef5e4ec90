#include "pipeline/eval_args.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"
#include "vocab/names.hpp"
#include "vocab/tasks.hpp"

namespace csweep::pipeline {

EvalSelection parse_eval_selection(const std::string& task, const std::string& corruption,
                                   const std::string& ablate, const std::string& kind,
                                   const std::string& positions) {
  vocab::task_info(task, "--task");
  vocab::check_corruption(task, corruption, "--corruption");
  EvalSelection sel;
  for (const auto& c : split_list(ablate))
    sel.intervention.components.push_back(vocab::parse_component(c, "--ablate"));
  const auto labels = split_list(positions);
  if (!(labels.size() == 1 && labels[0] == vocab::kAllPositions))
    sel.intervention.positions = vocab::parse_positions(labels, "--positions");
  sel.kind = vocab::ablation_kinds().parse(kind, "--kind");
  CSWEEP_CHECK_INPUT(sel.kind != interv::AblationKind::kPathPatch,
                     "--kind: path patching needs receivers; use a job spec (got {}, expected zero, "
                     "mean, resample or a patching kind)", kind);
  return sel;
}

}  // namespace csweep::pipeline
