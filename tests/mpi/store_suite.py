#!/usr/bin/python3
"""Results-store suite: the reproductions of issue 8 (defects 1, 2, 4, 5, 9, 11) end to end,
with the sweep driver (tests/mpi/sweep_driver: `csweep run`/`merge` with the deterministic hash
evaluator) under mpirun, files edited and read back with Debian's h5py only.

  store_suite.py --driver BIN --mpirun MPIRUN --workdir DIR

  journal    a killed run's journal + a different spec into the same --output: exit 2 naming the
             journal and both fingerprints, nothing created; the original spec resumes from it;
             a corrupt record is discarded with a warning saying how much and where
  ledger     /ledger/unit edited (units dropped / all claimed) or one stored byte flipped:
             run and merge exit 2 naming the file, units and counts (or the checksum)
  diskfull   run and merge onto a full file system: exit 74 (I/O error), no signal, no .tmp,
             the previous output byte-identical. A 40 KiB tmpfs when `mount -t tmpfs` works
             (root), else RLIMIT_FSIZE with SIGXFSZ ignored (writes fail with EFBIG; merge only,
             as MPI's start-up files would hit the limit first); prints which one it used
  merge      merge OUT with OUT one of its inputs (same path, other spelling, hard link): exit 2
  rerun      a rerun on a complete output leaves the file byte-identical (sha256, job_spec)
  tables     metrics not requested are NaN (doc says so), requested ones finite; `components`
             strings name the components; every dataset's "dims" has one space-separated name
             per axis
"""
import argparse
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_tables  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "jobs", "small.toml")
EXIT_INPUT, EXIT_IO = 2, 74
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")
HEADER_BYTES = 16 + 8 + 64 + 16  # journal header frame: frame header, version+length, sha256 hex, units+shard


def log(msg):
    print(f"[store_suite] {msg}", flush=True)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Suite:
    def __init__(self, args):
        self.driver, self.mpirun, self.dir = args.driver, args.mpirun, args.workdir
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cmd(self, job, out, *extra):
        return [self.mpirun, "-np", "1", self.driver, "run", job, "--output", out, *extra]

    def run(self, job, out, *extra, expect=0):
        p = subprocess.run(self.cmd(job, out, *extra), env=ENV, capture_output=True, text=True,
                           timeout=120)
        if p.returncode != expect:
            sys.stderr.write(p.stdout + p.stderr)
            raise AssertionError(f"run {os.path.basename(job)} -> {out}: exit {p.returncode}, "
                                 f"expected {expect}")
        return p

    def merge(self, out, *shards, expect=0, preexec=None):
        p = subprocess.run([self.driver, "merge", out, *shards], env=ENV, capture_output=True,
                           text=True, timeout=120, preexec_fn=preexec)
        if p.returncode != expect:
            sys.stderr.write(p.stdout + p.stderr)
            raise AssertionError(f"merge {out}: exit {p.returncode}, expected {expect}")
        return p

    def killed_run(self, job, out, records):
        """Starts a slow run and SIGKILLs it (the rank and mpirun) once its journal holds at
        least `records` records' worth of bytes; the journal stays behind, as after a crash."""
        pid_dir = out + ".pids"
        os.makedirs(pid_dir)
        env = dict(ENV, CSWEEP_TEST_UNIT_DELAY_MS="30", CSWEEP_TEST_PID_DIR=pid_dir)
        p = subprocess.Popen(self.cmd(job, out), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        journal, rank_pid = out + ".journal", os.path.join(pid_dir, "rank0.pid")
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if (os.path.exists(rank_pid) and os.path.exists(journal)
                    and os.path.getsize(journal) > HEADER_BYTES + records * 800):
                break
            time.sleep(0.02)
        with open(rank_pid) as f:
            pid = int(f.read())
        for kill in (lambda: os.kill(pid, signal.SIGKILL), lambda: os.killpg(p.pid, signal.SIGKILL)):
            try:
                kill()
            except ProcessLookupError:
                pass
        p.wait()
        while time.time() < deadline + 30:  # the rank holds the journal's lock until it is gone
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        shutil.rmtree(pid_dir)
        assert os.path.getsize(journal) > HEADER_BYTES, "the killed run journaled nothing"
        return journal


def variant(s, name, old, new):
    """A copy of the small job spec with one text substitution (another grid)."""
    with open(JOB) as f:
        text = f.read()
    assert old in text, old
    path = s.path(name)
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    return path


def test_journal(s):
    out = s.path("p.h5")
    journal = s.killed_run(JOB, out, records=5)
    os.remove(out)
    zero = variant(s, "z.toml", '"mean", "zero"', '"zero", "resample"')
    p = s.run(zero, out, expect=EXIT_INPUT)
    assert f"{journal}: is the journal of another grid" in p.stderr, p.stderr
    assert p.stderr.count("fingerprint ") >= 2 and f"delete {journal}" in p.stderr, p.stderr
    assert not os.path.exists(out), "a refused run created its output"
    # Damage one record in the middle: the resume warns how much it discarded, then completes
    # with the right values.
    with open(journal, "r+b") as f:
        data = bytearray(f.read())
        at = len(data) - 50  # inside the last record
        data[at] ^= 0x40
        f.seek(0)
        f.write(data)
    p = s.run(JOB, out)
    assert "discarded" in p.stderr and f"{journal}: discarded" in p.stderr, p.stderr
    assert "from the journal" in p.stderr, p.stderr
    assert check_tables.compare_to_expected(out, JOB) == (0, 0, 0)
    log("journal: another grid's journal refused (exit 2), corrupt record reported, resume exact")
    return out


def replace_ledger(path, units):
    with h5py.File(path, "r+") as f:
        del f["ledger/unit"]
        f["ledger/unit"] = np.asarray(units, dtype=np.uint64)


def test_ledger(s, complete):
    total = int(h5py.File(complete, "r")["ledger"].attrs["total_units"])
    # Two units dropped from the ledger, their rows still in the tables.
    dropped = s.path("dropped.h5")
    shutil.copy(complete, dropped)
    units = [u for u in range(total) if u not in (10, 11)]
    replace_ledger(dropped, units)
    for p in (s.run(JOB, dropped, expect=EXIT_INPUT),
              s.merge(s.path("m_dropped.h5"), dropped, expect=EXIT_INPUT)):
        assert f"{dropped}: /tables/" in p.stderr and "/ledger/unit does not list: 10-11" in p.stderr, p.stderr
    assert not os.path.exists(s.path("m_dropped.h5"))
    # Every unit claimed by a file that holds the rows of a few.
    claimed = s.path("claimed.h5")
    s.killed_run(JOB, claimed, records=3)
    os.remove(claimed + ".journal")
    replace_ledger(claimed, range(total))
    p = s.run(JOB, claimed, expect=EXIT_INPUT)
    assert f"{claimed}: {total} unit(s) listed in /ledger/unit do not have their rows" in p.stderr, p.stderr
    # One stored byte flipped in a metric column's chunk.
    flipped = s.path("flipped.h5")
    shutil.copy(complete, flipped)
    with h5py.File(flipped, "r") as f:
        info = f["tables/heads/kl"].id.get_chunk_info(0)
    with open(flipped, "r+b") as f:
        f.seek(info.byte_offset + info.size // 2)
        b = f.read(1)
        f.seek(info.byte_offset + info.size // 2)
        f.write(bytes([b[0] ^ 0x08]))
    p = s.merge(s.path("m_flipped.h5"), flipped, expect=EXIT_INPUT)
    assert "read dataset kl: checksum mismatch" in p.stderr and flipped in p.stderr, p.stderr
    log("ledger: dropped units, claimed units and a flipped byte refused by run and merge (exit 2)")


def disk_full_method(s):
    """('tmpfs', dir) with a 40 KiB tmpfs mounted, else ('fsize', dir) with a file size limit."""
    small = s.path("small")
    os.makedirs(small)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", small],
                       capture_output=True, text=True)
    if p.returncode == 0:
        return "tmpfs", small, None

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40 << 10, resource.RLIM_INFINITY))
    log(f"mount -t tmpfs failed ({p.stderr.strip()}); forcing the failure with RLIMIT_FSIZE")
    return "fsize", small, limit


def test_diskfull(s, complete):
    method, small, preexec = disk_full_method(s)
    try:
        log(f"diskfull: using {'a 40 KiB tmpfs' if method == 'tmpfs' else 'RLIMIT_FSIZE = 40 KiB'}")
        # A sweep into the full file system: exit 74 wherever it hits the limit (fresh output,
        # journal or compaction), never a signal, never a .tmp. Only on the tmpfs: under a file
        # size limit MPI's own start-up files fail first (test_reducers covers the compaction
        # failure with the same limit in-process).
        if method == "tmpfs":
            out = os.path.join(small, "o.h5")
            p = s.run(JOB, out, expect=EXIT_IO)
            assert "I/O error" in p.stderr, p.stderr
            assert not os.path.exists(out + ".tmp"), os.listdir(small)
            if os.path.exists(out):
                with h5py.File(out, "r") as f:
                    assert int(f.attrs["complete"]) == 0
            for name in os.listdir(small):
                os.remove(os.path.join(small, name))
            # The same at the compaction itself: 450 KiB hold the fresh output (~120 KB) and the
            # journal (~270 KB) but not the compacted file (~500 KB). The output and the journal
            # stay intact and the run resumes once there is space.
            subprocess.run(["umount", small], check=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=450k", "tmpfs", small], check=True)
            p = s.run(JOB, out, expect=EXIT_IO)
            assert f"{out}.tmp: write failed: No space left on device; {out} is unchanged" in p.stderr, p.stderr
            assert not os.path.exists(out + ".tmp")
            moved = s.path("resumed.h5")
            shutil.copy(out, moved)
            shutil.copy(out + ".journal", moved + ".journal")
            p = s.run(JOB, moved)
            assert "from the journal" in p.stderr, p.stderr
            assert check_tables.compare_to_expected(moved, JOB) == (0, 0, 0)
            for name in os.listdir(small):
                os.remove(os.path.join(small, name))
        # A merge over an earlier output: exit 74, the earlier output byte-identical, no .tmp.
        a, b = s.path("s0.h5"), s.path("s1.h5")
        s.run(JOB, a, "--shard", "0/2")
        s.run(JOB, b, "--shard", "1/2")
        merged = os.path.join(small, "m.h5")
        with open(merged, "wb") as f:
            f.write(os.urandom(8 << 10))  # stands for the previous merge's output
        before = sha256(merged)
        p = s.merge(merged, a, b, expect=EXIT_IO, preexec=preexec)
        assert "I/O error" in p.stderr and "is unchanged" in p.stderr, p.stderr
        assert sha256(merged) == before and not os.path.exists(merged + ".tmp")
        log(f"diskfull ({method}): {'run (fresh output and compaction) and ' if method == 'tmpfs' else ''}"
            "merge exit 74, no .tmp, previous output intact" + (", resumed exactly" if method == "tmpfs" else ""))
    finally:
        if method == "tmpfs":
            subprocess.run(["umount", small], check=False)


def test_merge(s):
    a, b = s.path("s0.h5"), s.path("s1.h5")
    before = sha256(a)
    os.link(a, s.path("s0_link.h5"))
    for out in (a, os.path.join(s.dir, ".", "s0.h5"), s.path("s0_link.h5")):
        p = s.merge(out, a, b, expect=EXIT_INPUT)
        assert "the merge output is also one of its inputs" in p.stderr, p.stderr
    assert sha256(a) == before
    log("merge: OUT equal to an input (path, spelling, hard link) refused, shard untouched")


def test_rerun(s, complete):
    before = sha256(complete)
    with h5py.File(complete, "r") as f:
        spec = f.attrs["job_spec"]
    s.run(JOB, complete)
    assert sha256(complete) == before, "a rerun on a complete output rewrote it"
    with h5py.File(complete, "r") as f:
        assert f.attrs["job_spec"] == spec
    assert not os.path.exists(complete + ".journal")
    log("rerun: complete output byte-identical after a rerun")


def test_tables(s, complete):
    requested = {"logit_diff", "performance", "normalized", "kl"}  # tests/mpi/jobs/small.toml
    with h5py.File(complete, "r") as f:
        for fam in f.attrs["family_names"]:
            g = f["tables"][fam]
            for m in ("logit_diff", "performance", "normalized", "kl", "prob_correct", "accuracy",
                      "prob_diff"):
                v = g[m][()]
                if m in requested:
                    assert np.isfinite(v).all(), f"{fam}/{m}: requested but not finite"
                else:
                    assert np.isnan(v).all(), f"{fam}/{m}: not requested but not NaN"
                    assert "NaN when not requested" in g[m].attrs["doc"], g[m].attrs["doc"]
            names = g["components"].asstr()[()]
            kinds, layers, idx = (g["component_kind"][()], g["component_layer"][()],
                                  g["component_index"][()])
            for i in range(len(names)):
                want = "+".join(check_tables.component_name(int(kinds[i, j]), int(layers[i, j]),
                                                            int(idx[i, j]))
                                for j in range(int(g["n_components"][i])))
                assert names[i] == want, f"{fam} row {i}: components '{names[i]}', expected '{want}'"

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                dims = obj.attrs["dims"]
                dims = dims.decode() if isinstance(dims, bytes) else dims
                assert len(dims.split(" ")) == obj.ndim and "," not in dims, f"{name}: dims '{dims}'"
        f.visititems(visit)
    log("tables: NaN for metrics not requested, components names, one dims convention")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--workdir", required=True)
    s = Suite(ap.parse_args())
    t = time.time()
    complete = test_journal(s)
    test_tables(s, complete)
    test_rerun(s, complete)
    test_ledger(s, complete)
    test_diskfull(s, complete)
    test_merge(s)
    log(f"all store checks passed in {time.time() - t:.1f} s")


if __name__ == "__main__":
    main()
