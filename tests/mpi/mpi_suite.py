#!/usr/bin/python3
"""MPI suite of the sweep machinery, run under real mpirun (registered by tests/mpi/suite.cmake).

  mpi_suite.py TEST --driver BIN --mpirun MPIRUN --workdir DIR

TEST is one of:
  ranks    -np 1, 2, 3 and 4 give identical tables, equal to an independent enumeration of the grid
  shards   2 shards (-np 2 and -np 1) merged == -np 1; merge errors list missing/duplicate units
  sigkill  SIGKILL (a worker, rank 0, or mpirun) at random times, rerun until done: 0 lost,
           0 duplicated rows, identical to an uninterrupted run
  sigterm  SIGTERM -> exit 75 with durable partial output; the rerun completes identically
  hang     a worker stopped (SIGSTOP) past --worker-timeout: its units are re-issued, the job
           completes identically
  stop_any any one rank ending early ends the whole run within seconds, exit 75 with a durable,
           resumable output: SIGTERM to the only worker (-np 2, --worker-timeout 10), to one worker
           of -np 3, to rank 0 alone (-np 4); the only worker stopped past --worker-timeout;
           --worker-timeout 0 / negative / absurd refused
  quickstart_ranks
           the real `csweep` (--driver) on jobs/quickstart.toml (--job): -np 1, -np 3 and 2 shards
           (-np 1 and -np 2) merged with `csweep merge` give identical tables, all complete
Uses only h5py/numpy (Debian's /usr/bin/python3), never our own reader.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_tables  # noqa: E402
import h5py  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "jobs", "small.toml")
SUMMARIZE = os.path.join(HERE, "..", "..", "analysis", "summarize.py")
EXIT_INTERRUPTED = 75
EXIT_INCOMPLETE = 3  # analysis/summarize.py on a partial file

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")


def complete_attr(path):
    """The root attribute "complete" as h5py reads it (None when absent)."""
    with h5py.File(path, "r") as f:
        value = f.attrs.get("complete")
    return None if value is None else int(value)


def summarize(path, *extra):
    return subprocess.run([sys.executable, SUMMARIZE, path, *extra], capture_output=True, text=True,
                          timeout=120)


def log(msg):
    print(f"[mpi_suite] {msg}", flush=True)


class Suite:
    def __init__(self, args):
        self.driver = args.driver
        self.mpirun = args.mpirun
        self.dir = args.workdir
        self.job = args.job
        self.launches = 0
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cmd(self, np_, output, *extra):
        return [self.mpirun, "-np", str(np_), "--oversubscribe", self.driver, "run", self.job,
                "--output", output, *extra]

    def run(self, np_, output, *extra, env=None, expect=0):
        t = time.time()
        p = subprocess.run(self.cmd(np_, output, *extra), env=env or ENV, capture_output=True,
                           text=True, timeout=240)
        if p.returncode != expect:
            sys.stderr.write(p.stdout + p.stderr)
            raise AssertionError(f"-np {np_} {extra}: exit {p.returncode}, expected {expect}")
        log(f"-np {np_} {' '.join(extra)} -> {os.path.basename(output)} ({time.time() - t:.1f} s)")
        return p

    def reference(self):
        ref = self.path("ref.h5")
        self.run(1, ref)
        lost, dup, wrong = check_tables.compare_to_expected(ref, JOB)
        assert (lost, dup, wrong) == (0, 0, 0), f"-np 1 vs independent grid: lost {lost} extra {dup} wrong {wrong}"
        assert not os.path.exists(ref + ".journal"), "journal left after a complete run"
        return ref

    def same(self, a, b):
        diff = check_tables.identical(a, b)
        assert not diff, f"{a} vs {b}: {diff}"


def units_by_rank(path):
    """Units journaled from each rank by the last run of `path` (its `runs` provenance)."""
    with h5py.File(path, "r") as f:
        runs = json.loads(f.attrs["runs"])
    return runs[-1]["units_by_rank"]


def test_ranks(s):
    ref = s.reference()
    for np_ in (2, 3, 4):
        out = s.path(f"np{np_}.h5")
        s.run(np_, out)
        s.same(ref, out)
        # Every rank evaluates, rank 0 included (324 units of 1-3 ms: all ranks get some).
        by_rank = units_by_rank(out)
        assert len(by_rank) == np_ and sum(by_rank) == 324, by_rank
        assert by_rank[0] > 0, f"-np {np_}: rank 0 evaluated nothing: {by_rank}"
    # Running again on a complete output does nothing and changes no table.
    s.run(2, s.path("np2.h5"))
    s.same(ref, s.path("np2.h5"))
    log("ranks: -np 1, 2, 3, 4 identical and equal to the independent enumeration")


def test_shards(s):
    ref = s.reference()
    a, b = s.path("a.h5"), s.path("b.h5")
    s.run(2, a, "--shard", "0/2")
    s.run(1, b, "--shard", "1/2")
    merged = s.path("merged.h5")
    subprocess.run([s.driver, "merge", merged, a, b], check=True, env=ENV)
    s.same(ref, merged)
    # A finished shard is complete (its own unit range); so is the merge of all of them.
    assert (complete_attr(a), complete_attr(b), complete_attr(merged)) == (1, 1, 1)
    # Three shards, merged in another order.
    parts = [s.path(f"t{i}.h5") for i in range(3)]
    for i, p in enumerate(parts):
        s.run(1 + i % 2, p, "--shard", f"{i}/3")
    subprocess.run([s.driver, "merge", s.path("merged3.h5"), parts[2], parts[0], parts[1]], check=True, env=ENV)
    s.same(ref, s.path("merged3.h5"))
    # Missing and duplicated units are errors that list them.
    p = subprocess.run([s.driver, "merge", s.path("bad.h5"), a], env=ENV, capture_output=True, text=True)
    assert p.returncode == 2 and "missing" in p.stderr, p.stderr
    p = subprocess.run([s.driver, "merge", s.path("bad.h5"), a, b, a], env=ENV, capture_output=True, text=True)
    assert p.returncode == 2 and "duplicated" in p.stderr and "unit" in p.stderr, p.stderr
    assert not os.path.exists(s.path("bad.h5"))
    log("shards: 2 and 3 merged shards identical to -np 1; missing/duplicate units reported")


class Launch:
    """A background run whose ranks announce their pids in a directory of their own (the
    driver's CSWEEP_TEST_PID_DIR), so signals reach exactly the processes of this run."""

    def __init__(self, s, np_, out, *extra, delay_ms):
        s.launches += 1
        self.np = np_
        self.out = out
        self.pid_dir = s.path(f"pids{s.launches}")
        os.makedirs(self.pid_dir)
        env = dict(ENV, CSWEEP_TEST_UNIT_DELAY_MS=str(delay_ms), CSWEEP_TEST_PID_DIR=self.pid_dir)
        self.p = subprocess.Popen(s.cmd(np_, out, *extra), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)

    def ranks(self, timeout=60.0):
        """{MPI rank: pid} once every rank has announced itself (None if the run ended first)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = {}
            for name in os.listdir(self.pid_dir):
                if name.startswith("rank") and name.endswith(".pid"):
                    with open(os.path.join(self.pid_dir, name)) as f:
                        found[int(name[4:-4])] = int(f.read())
            if len(found) == self.np:
                return found
            if self.p.poll() is not None:
                return None
            time.sleep(0.02)
        self.kill_all()
        raise AssertionError(f"only {len(found)} of {self.np} ranks started within {timeout} s")

    def wait_for_results(self, timeout=60.0):
        """Returns once rank 0 has journaled results (the journal grew), i.e. the schedule runs."""
        journal = self.out + ".journal"
        deadline = time.time() + timeout
        first = None
        while time.time() < deadline and self.p.poll() is None:
            if os.path.exists(journal):
                size = os.path.getsize(journal)
                if first is None:
                    first = size
                elif size > first:
                    return
            time.sleep(0.01)

    def signal(self, pid, sig):
        """Sends sig to a live process of this run; False if it had already ended."""
        if self.p.poll() is not None:
            return False
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False

    def wait(self, timeout):
        try:
            _, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(f"the run did not end within {timeout} s (hang)")
        return self.p.returncode, err

    def kill_group(self):
        """SIGKILLs whatever is left of the run's process group (mpirun and its ranks)."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_all(self):
        self.kill_group()
        self.p.communicate()


def kill_and_resume(s, out, np_, rng, target):
    """Starts a run and SIGKILLs `target` at a random time once every rank is up; returns
    "finished" if the run completed first, else "killed"."""
    run = Launch(s, np_, out, delay_ms=8)  # a full run: ~1-3 s of work
    ranks = run.ranks()
    if ranks is None:
        return "finished" if run.wait(60)[0] == 0 else "failed"
    delay = rng.uniform(0.1, 1.0)
    time.sleep(delay)
    if target == "mpirun":
        victim = run.p.pid
    elif target == "rank0":
        victim = ranks[0]
    else:
        victim = rng.choice([pid for r, pid in ranks.items() if r != 0] or list(ranks.values()))
    delivered = run.signal(victim, signal.SIGKILL)
    rc, _ = run.wait(60)
    # mpirun killed directly leaves its ranks orphaned: end them (they belong to this test only).
    run.kill_group()
    if not delivered:
        assert rc == 0, f"-np {np_}: exit {rc} without a kill"
        return "finished"
    log(f"  SIGKILL {target} of -np {np_} after {delay:.2f} s (mpirun exit {rc})")
    time.sleep(0.2)
    return "killed"


def test_sigkill(s):
    ref = s.reference()
    rng = random.Random(int(os.environ.get("CSWEEP_TEST_SEED", "12345")))
    kills = 0
    targets = ["worker", "rank0", "mpirun"]
    trial = 0
    while kills < 8 and trial < 10:  # until enough kills landed mid-run (machines differ in speed)
        trial += 1
        out = s.path(f"killed{trial}.h5")
        attempts = 0
        while True:
            np_ = rng.choice([2, 3, 4])
            target = targets[(trial + attempts) % 3]
            outcome = kill_and_resume(s, out, np_, rng, target)
            attempts += 1
            assert outcome != "failed", f"-np {np_}: an uninterrupted run failed"
            if outcome == "finished":
                break
            kills += 1
            if attempts >= 4:  # enough kills for this trial: finish without interruption
                s.run(rng.choice([1, 2, 3]), out)
                break
        lost, extra, wrong = check_tables.compare_to_expected(out, JOB)
        assert (lost, extra, wrong) == (0, 0, 0), f"trial {trial}: lost {lost} extra {extra} wrong {wrong}"
        s.same(ref, out)
        log(f"sigkill trial {trial}: {attempts} run(s), rows lost 0, duplicated 0, identical")
    log(f"sigkill: {kills} kills, 0 rows lost, 0 duplicated")
    assert kills >= 8, f"only {kills} kills happened; the runs finish too fast to test resume"


def start_and_signal(s, out, np_, to_ranks):
    """Starts a slow run and, 1 s after every rank is up, sends SIGTERM to every rank (as
    srun/Slurm do) or to mpirun only; returns (exit code, stderr)."""
    run = Launch(s, np_, out, delay_ms=20)  # ~3 s of work for 2 workers
    ranks = run.ranks()
    assert ranks is not None, f"-np {np_} ended before its ranks were seen: {run.wait(60)}"
    time.sleep(1.0)
    targets = list(ranks.values()) if to_ranks else [run.p.pid]
    delivered = [run.signal(pid, signal.SIGTERM) for pid in targets]
    assert all(delivered), f"-np {np_}: the run ended before SIGTERM reached it"
    return run.wait(60)


def test_sigterm(s):
    ref = s.reference()
    # SIGTERM to the ranks: each stops taking work, rank 0 journals what returns and compacts;
    # every rank exits 75 and so does mpirun.
    out = s.path("term.h5")
    for np_ in (3, 1):
        rc, err = start_and_signal(s, out, np_, to_ranks=True)
        assert rc == EXIT_INTERRUPTED, f"-np {np_}: exit {rc}, expected {EXIT_INTERRUPTED}:\n{err}"
        assert "interrupted" in err, err
        done = len(check_tables.datasets(out)[0]["ledger/unit"])
        assert 0 < done < 324, f"{done} units durable after the interruption"
        lost, extra, wrong = check_tables.compare_to_expected(out, JOB)
        assert extra == 0 and wrong == 0 and lost > 0
        # The partial file says so, and the summary refuses it unless asked to go on.
        assert complete_attr(out) == 0, f"interrupted file has complete = {complete_attr(out)}"
        p = summarize(out)
        assert p.returncode == EXIT_INCOMPLETE, f"summarize exit {p.returncode}:\n{p.stderr}"
        assert f"INCOMPLETE: {done} of 324 units" in p.stderr, p.stderr
        p = summarize(out, "--allow-incomplete")
        assert p.returncode == 0 and "INCOMPLETE" in p.stderr, f"exit {p.returncode}:\n{p.stderr}"
        log(f"sigterm to the ranks of -np {np_}: exit 75, {done} units durable, complete = 0")
    s.run(2, out)
    s.same(ref, out)
    assert complete_attr(out) == 1, f"resumed file has complete = {complete_attr(out)}"
    p = summarize(out)
    assert p.returncode == 0 and "INCOMPLETE" not in p.stderr, f"exit {p.returncode}:\n{p.stderr}"
    # SIGTERM to mpirun itself: OpenMPI forwards it to the ranks (which flush and exit 75) but
    # mpirun reports 1 whatever the ranks return; the output is still durable and resumable.
    out2 = s.path("term_mpirun.h5")
    rc, err = start_and_signal(s, out2, 3, to_ranks=False)
    assert rc != 0, "an interrupted run must not report success"
    s.run(3, out2)
    s.same(ref, out2)
    log(f"sigterm to mpirun: exit {rc}; resume completed identically")


def test_hang(s):
    ref = s.reference()
    out = s.path("hang.h5")
    run = Launch(s, 3, out, "--worker-timeout", "1", "--max-chunk", "4", delay_ms=20)
    ranks = run.ranks()  # ~2-3 s of work for 3 evaluating ranks
    assert ranks is not None, f"the run ended before its ranks were seen: {run.wait(60)}"
    # Stop the victim once the schedule runs: from then on it holds units almost all the time,
    # whereas during start-up it has none to re-issue.
    run.wait_for_results()
    victim = ranks[2]
    assert run.signal(victim, signal.SIGSTOP), "the run ended before the worker could be stopped"
    time.sleep(2.5)  # > the timeout: rank 0 re-issues the victim's units
    os.kill(victim, signal.SIGCONT)
    rc, err = run.wait(120)
    assert rc == 0, f"exit {rc}:\n{err}"
    assert "re-issuing" in err, err
    s.same(ref, out)
    log("hang: a stopped worker's units were re-issued; tables identical")


def expect_interrupted(s, run, np_, what, timeout=20):
    """The run ends within `timeout` s (a hang otherwise) with exit 75, a clean MPI shutdown and a
    durable, partial, correct output."""
    rc, err = run.wait(timeout)
    run.kill_group()  # a rank stopped with SIGSTOP is still there
    assert rc == EXIT_INTERRUPTED, f"{what}: exit {rc}, expected {EXIT_INTERRUPTED}:\n{err}"
    assert "interrupted: rerun the same command to resume" in err, f"{what}:\n{err}"
    out = run.out
    assert complete_attr(out) == 0, f"{what}: complete = {complete_attr(out)}"
    lost, extra, wrong = check_tables.compare_to_expected(out, JOB)
    assert extra == 0 and wrong == 0 and lost > 0, f"{what}: lost {lost} extra {extra} wrong {wrong}"
    return err


def test_stop_any(s):
    ref = s.reference()
    # Issue 8's reproduction: SIGTERM to the only worker used to leave it in MPI_Finalize and rank 0
    # polling forever (the worker timeout never fired: the worker had said goodbye).
    run = Launch(s, 2, s.path("term_only_worker.h5"), "--worker-timeout", "10", delay_ms=20)
    ranks = run.ranks()
    assert ranks is not None, "-np 2 ended before its ranks were seen"
    run.wait_for_results()
    assert run.signal(ranks[1], signal.SIGTERM), "-np 2 ended before the SIGTERM"
    err = expect_interrupted(s, run, 2, "SIGTERM to the only worker")
    assert "rank 1 was stopped" in err, err
    assert "MPI_ABORT" not in err, f"expected a clean MPI shutdown:\n{err}"
    log("stop_any: SIGTERM to the only worker of -np 2: exit 75, clean shutdown")
    # One worker of three: the run stops too (it does not continue short-handed).
    run = Launch(s, 3, s.path("term_one_of_two.h5"), delay_ms=20)
    ranks = run.ranks()
    assert ranks is not None
    run.wait_for_results()
    assert run.signal(ranks[2], signal.SIGTERM)
    err = expect_interrupted(s, run, 3, "SIGTERM to one worker of -np 3")
    assert "MPI_ABORT" not in err, err
    log("stop_any: SIGTERM to rank 2 of -np 3: exit 75, clean shutdown")
    # Rank 0 alone (no signal reaches the workers): it tells them to stop after the unit in hand
    # rather than waiting out its 30 s grace for the chunk.
    run = Launch(s, 4, s.path("term_rank0.h5"), "--max-chunk", "16", delay_ms=20)
    ranks = run.ranks()
    assert ranks is not None
    run.wait_for_results()
    assert run.signal(ranks[0], signal.SIGTERM)
    err = expect_interrupted(s, run, 4, "SIGTERM to rank 0 of -np 4", timeout=25)
    assert "MPI_ABORT" not in err and "lost" not in err, f"rank 0 waited out its grace:\n{err}"
    log("stop_any: SIGTERM to rank 0 alone of -np 4: exit 75, clean shutdown")
    # The only worker stopped (SIGSTOP) for good, past the timeout: rank 0 re-issues its units to
    # itself, completes the grid and ends the job (the stopped rank would hang MPI_Finalize).
    out = s.path("stopped_only_worker.h5")
    run = Launch(s, 2, out, "--worker-timeout", "1", delay_ms=20)
    ranks = run.ranks()
    assert ranks is not None
    run.wait_for_results()
    assert run.signal(ranks[1], signal.SIGSTOP)
    rc, err = run.wait(60)
    run.kill_group()
    assert "re-issuing" in err and "lost; ending the MPI job" in err, err
    assert complete_attr(out) == 1, f"complete = {complete_attr(out)}:\n{err}"
    s.same(ref, out)
    log(f"stop_any: the only worker SIGSTOPped past --worker-timeout: rank 0 completed it (exit {rc})")
    # A worker stopped as soon as MPI is up (rank 0 opened the output; a stop inside MPI_Init would
    # block every rank there, which no program can help), typically before it asks for work:
    # rank 0 does all the work, tells it to stop, times out waiting for the answer, ends the job.
    out = s.path("stopped_at_start.h5")
    run = Launch(s, 2, out, "--worker-timeout", "1", delay_ms=1)
    ranks = run.ranks()
    assert ranks is not None
    while run.p.poll() is None and not os.path.exists(out + ".journal"):
        time.sleep(0.002)
    if run.signal(ranks[1], signal.SIGSTOP):
        rc, err = run.wait(60)
        run.kill_group()
        assert complete_attr(out) == 1, f"complete = {complete_attr(out)}:\n{err}"
        s.same(ref, out)
        log(f"stop_any: a worker SIGSTOPped during start-up: rank 0 completed the grid (exit {rc})")
    # Every one of these outputs resumes to the uninterrupted tables.
    for name in ("term_only_worker.h5", "term_rank0.h5"):
        s.run(2, s.path(name))
        s.same(ref, s.path(name))
    # Timeouts that would make re-issue fire at once or never are usage errors.
    for bad in ("0", "nan", "1e9"):
        p = subprocess.run(s.cmd(1, s.path("never.h5"), "--worker-timeout", bad), env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "--worker-timeout" in p.stderr and "expected seconds" in p.stderr, \
            f"--worker-timeout {bad}: exit {p.returncode}:\n{p.stderr}"
        assert not os.path.exists(s.path("never.h5")), f"--worker-timeout {bad} left an output"
    log("stop_any: resumed outputs identical; bad --worker-timeout values refused")


def test_quickstart_ranks(s):
    """Acceptance on the real engine: the rank count and the shard split change no number."""
    # The pruning family runs in the reference order only here (3 runs instead of 27): rank and
    # shard invariance of pruning runs is what matters, and tests/pruning covers every order.
    with open(s.job, encoding="utf-8") as f:
        text = f.read()
    assert 'orders = ["reference", "random:8"]' in text, "jobs/quickstart.toml's pruning orders changed"
    job = s.path("quickstart.toml")
    with open(job, "w", encoding="utf-8") as f:
        f.write(text.replace('orders = ["reference", "random:8"]', 'orders = ["reference"]'))
    s.job = job
    # The real command line refuses a timeout that would re-issue at once or never (usage, 64).
    for bad in ("0", "-1", "1e9", "soon"):
        p = subprocess.run([s.driver, "run", s.job, "--output", s.path("never.h5"), "--worker-timeout", bad],
                           env=ENV, capture_output=True, text=True, timeout=60)
        assert p.returncode == 64 and "--worker-timeout" in p.stderr, f"{bad}: exit {p.returncode}:\n{p.stderr}"
        assert not os.path.exists(s.path("never.h5"))
    one = s.path("np1.h5")
    s.run(1, one)
    three = s.path("np3.h5")
    s.run(3, three)
    s.same(one, three)
    a, b = s.path("shard0.h5"), s.path("shard1.h5")
    s.run(1, a, "--shard", "0/2")
    s.run(2, b, "--shard", "1/2")
    merged = s.path("merged.h5")
    p = subprocess.run([s.driver, "merge", merged, a, b], env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"csweep merge: exit {p.returncode}:\n{p.stdout}{p.stderr}"
    s.same(one, merged)
    with h5py.File(one, "r") as f:
        rows = sum(f["tables"][name]["intervention"].shape[0] for name in f["tables"])
    assert rows > 0, "the quickstart produced no rows"
    for path in (one, three, a, b, merged):
        assert complete_attr(path) == 1, f"{path}: complete = {complete_attr(path)}"
    log(f"quickstart_ranks: -np 1, -np 3 and 2 merged shards identical ({rows} rows), all complete")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["ranks", "shards", "sigkill", "sigterm", "hang",
                                     "stop_any", "quickstart_ranks"])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--job", default=JOB, help="job spec (default tests/mpi/jobs/small.toml)")
    args = ap.parse_args()
    s = Suite(args)
    globals()[f"test_{args.test}"](s)


if __name__ == "__main__":
    main()
