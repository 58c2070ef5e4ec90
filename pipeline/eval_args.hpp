#pragma once
// What `csweep eval`'s flags select, parsed torch-free with the same vocabulary (vocab/) as a job
// spec, so both accept exactly the same spellings (tests/unit/pipeline/test_spellings.cpp drives
// both parsers over one list). The torch part of the command lives in pipeline/cli/cmd_eval.cpp.
#include <string>

#include "workers/interventions/intervention.hpp"

namespace csweep::pipeline {

struct EvalSelection {
  interv::Intervention intervention;  // components and positions
  interv::AblationKind kind = interv::AblationKind::kMean;
};

// task / corruption: --task / --corruption (the corruption must apply to the task);
// ablate: --ablate "9.1,m3"; kind: --kind; positions: --positions "end,-1,S1" ("" or "all" =
// every position). Throws InputError naming the flag.
EvalSelection parse_eval_selection(const std::string& task, const std::string& corruption,
                                   const std::string& ablate, const std::string& kind,
                                   const std::string& positions);

}  // namespace csweep::pipeline
