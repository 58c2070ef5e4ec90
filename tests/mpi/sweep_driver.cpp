// Test driver for the MPI suite: `csweep run` / `csweep merge` with the deterministic
// HashEvaluator instead of the engine (same pipeline code path, same exit codes).
//   sweep_driver run JOB [--output F] [--shard i/N] [--worker-timeout S] [--progress S]
//   sweep_driver merge OUT SHARD...
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "pipeline/run.hpp"
#include "tests/mpi/hash_evaluator.hpp"

namespace {

// With CSWEEP_TEST_PID_DIR set, each rank announces "<dir>/rank<R>.pid" (written to a temporary
// name and renamed, so a reader never sees half a number). The suite signals ranks by these
// files rather than by scanning /proc, whose environ files are not readable on every machine.
void announce_pid() {
  const char* dir = std::getenv("CSWEEP_TEST_PID_DIR");
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (dir == nullptr || rank == nullptr) return;
  const std::string path = std::string(dir) + "/rank" + rank + ".pid";
  {
    std::ofstream out(path + ".tmp");
    out << ::getpid() << "\n";
  }
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace csweep;
  log::init(-1, "info");
  announce_pid();
  try {
    if (argc >= 3 && std::strcmp(argv[1], "run") == 0) {
      pipeline::RunRequest req;
      req.job_path = argv[2];
      req.progress_interval_s = 1;
      for (int i = 3; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) throw InputError("option " + a + " needs a value");
        const std::string v = argv[++i];
        if (a == "--output") req.output = v;
        else if (a == "--shard") req.shard = v;
        else if (a == "--worker-timeout") req.worker_timeout_s = std::atof(v.c_str());
        else if (a == "--progress") req.progress_interval_s = std::atof(v.c_str());
        else if (a == "--max-chunk") req.max_chunk = std::strtoull(v.c_str(), nullptr, 10);
        else throw InputError("unknown option " + a);
      }
      return pipeline::run_main(req, [](const pipeline::JobSpec& job, int, int) {
        return std::make_unique<testing::HashEvaluator>(job);
      });
    }
    if (argc >= 4 && std::strcmp(argv[1], "merge") == 0) {
      pipeline::merge_main(argv[2], std::vector<std::string>(argv + 3, argv + argc));
      return kExitOk;
    }
    std::fprintf(stderr, "usage: sweep_driver run JOB [options] | merge OUT SHARD...\n");
    return kExitUsage;
  } catch (const InputError& e) {
    std::fprintf(stderr, "csweep: error: %s\n", e.what());
    return kExitInput;
  } catch (const IoError& e) {
    std::fprintf(stderr, "csweep: I/O error: %s\n", e.what());
    return kExitIo;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "csweep: internal error: %s\n", e.what());
    return kExitInternal;
  }
}
