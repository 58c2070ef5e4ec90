#pragma once
// Rank-aware logging on stderr. Every line carries the MPI rank once MPI is up, so the output of
// many ranks interleaved in one Slurm log stays attributable.
#include <spdlog/spdlog.h>

#include <string>

namespace csweep::log {

// Sets the rank shown in every line (-1 = not under MPI) and the level ("info", "debug", ...).
void init(int rank = -1, const std::string& level = "info");
int rank();

}  // namespace csweep::log
