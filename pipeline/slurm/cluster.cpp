#include "pipeline/slurm/cluster.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/error.hpp"
#include "pipeline/slurm/scripts.hpp"

extern char** environ;

namespace csweep::slurm {

CommandResult run_command(const std::vector<std::string>& argv) {
  CommandResult r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw InternalError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw InternalError(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    r.err = argv[0] + ": " + std::strerror(rc);
    return r;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return r;
}

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

// Value of " Key=" in a one-line record (values we read contain no spaces).
std::string field(const std::string& line, const std::string& key) {
  std::size_t pos = 0;
  const std::string k = key + "=";
  while ((pos = line.find(k, pos)) != std::string::npos) {
    if (pos == 0 || line[pos - 1] == ' ') {
      const std::size_t start = pos + k.size();
      return line.substr(start, line.find(' ', start) - start);
    }
    pos += k.size();
  }
  return "";
}

}  // namespace

std::optional<int> max_array_size() {
  const CommandResult r = run_command({"scontrol", "show", "config"});
  if (r.status != 0) return std::nullopt;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || trim(line.substr(0, eq)) != "MaxArraySize") continue;
    try {
      const int v = std::stoi(trim(line.substr(eq + 1)));
      if (v >= 1) return v;
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

std::string sbatch(const std::vector<std::string>& argv) {
  const CommandResult r = run_command(argv);
  if (r.status != 0)
    throw input_error("sbatch", "submission refused", "'" + trim(r.err.empty() ? r.out : r.err) + "'",
                      "a successful `" + joined(argv) + "`");
  std::string id = trim(r.out);
  id = id.substr(0, id.find(';'));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw InternalError("sbatch --parsable printed '" + trim(r.out) + "', not a job id");
  return id;
}

std::vector<JobRecord> parse_show_job(const std::string& text) {
  std::vector<JobRecord> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.rfind("JobId=", 0) != 0) continue;
    JobRecord j;
    j.job_id = field(line, "JobId");
    j.array_job_id = field(line, "ArrayJobId");
    j.array_tasks = parse_index_list(field(line, "ArrayTaskId"));
    j.state = field(line, "JobState");
    j.reason = field(line, "Reason");
    j.exit_code = field(line, "ExitCode");
    try {
      j.restarts = std::stoi(field(line, "Restarts"));
    } catch (const std::exception&) {
      j.restarts = 0;
    }
    out.push_back(std::move(j));
  }
  return out;
}

JobQuery show_job(const std::string& job_id) {
  JobQuery q;
  const CommandResult r = run_command({"scontrol", "-o", "show", "job", job_id});
  if (r.status == 0) {
    q.reachable = true;
    q.records = parse_show_job(r.out);
  } else if (r.err.find("Invalid job id") != std::string::npos) {
    q.reachable = true;  // purged after MinJobAge, or never existed
  }
  return q;
}

bool scancel(const std::string& job_id) { return run_command({"scancel", job_id}).status == 0; }

bool is_terminal_state(const std::string& s) {
  return s == "COMPLETED" || s == "FAILED" || s == "CANCELLED" || s == "TIMEOUT" ||
         s == "NODE_FAIL" || s == "OUT_OF_MEMORY" || s == "BOOT_FAIL" || s == "DEADLINE" ||
         s == "PREEMPTED" || s == "SPECIAL_EXIT" || s == "REVOKED";
}

}  // namespace csweep::slurm
