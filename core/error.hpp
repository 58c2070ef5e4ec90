#pragma once
// Three error channels (see docs/DESIGN.md):
//  * InputError — bad user input (a file, a field, a value). The message names where the problem
//    is, the offending value and what was expected; the CLI prints it and exits non-zero.
//  * IoError — the input was fine but the system could not store or read the data (disk full,
//    quota, file size limit, a failing device, a checksum that no longer matches what was
//    written). Its own exit code, so job scripts can tell "fix the spec" from "fix the disk".
//  * InternalError — a broken invariant of our own code (a bug), stamped with file:line.
// Every other failure of a system call, HDF5, MPI or torch is wrapped into one of these with
// context before it reaches the user.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace csweep {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

class InternalError : public Error {
 public:
  using Error::Error;
};

// Exit codes of the csweep binary, documented in docs/CLI.md and relied on by slurm/ scripts.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,   // a bug: InternalError or an unexpected exception
  kExitInput = 2,      // bad input: InputError (file/field/value named in the message)
  kExitUsage = 64,     // command-line usage error (CLI11)
  kExitIo = 74,        // I/O failure: IoError (disk full, write/fsync/rename failed; EX_IOERR)
  kExitInterrupted = 75,  // SIGTERM/SIGINT: work so far is durable; rerun to resume (EX_TEMPFAIL)
};

// Builds "<where>: <what> (got <value>, expected <expected>)" — the one shape of every input error.
inline InputError input_error(const std::string& where, const std::string& what,
                              const std::string& got = {}, const std::string& expected = {}) {
  std::string msg = where.empty() ? what : where + ": " + what;
  if (!got.empty() || !expected.empty()) {
    msg += " (";
    if (!got.empty()) msg += "got " + got;
    if (!got.empty() && !expected.empty()) msg += ", ";
    if (!expected.empty()) msg += "expected " + expected;
    msg += ")";
  }
  return InputError(msg);
}

// "<where>: <what>: <system reason>" for a failed write, fsync, rename or HDF5 call.
inline IoError io_error(const std::string& where, const std::string& what,
                        const std::string& reason = {}) {
  std::string msg = where.empty() ? what : where + ": " + what;
  if (!reason.empty()) msg += ": " + reason;
  return IoError(msg);
}

}  // namespace csweep

// Internal invariant: throws InternalError naming the expression and file:line.
#define CSWEEP_ASSERT(cond, ...)                                                              \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      throw ::csweep::InternalError(::fmt::format("internal error at {}:{}: {} failed. {}",   \
                                                  __FILE__, __LINE__, #cond,                  \
                                                  ::fmt::format(__VA_ARGS__)));               \
    }                                                                                         \
  } while (0)

// User-input check: throws InputError with a formatted message when cond is false.
#define CSWEEP_CHECK_INPUT(cond, ...)                                         \
  do {                                                                        \
    if (!(cond)) throw ::csweep::InputError(::fmt::format(__VA_ARGS__));      \
  } while (0)
