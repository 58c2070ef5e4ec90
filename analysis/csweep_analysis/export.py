"""`csweep export`: a results file as tidy long tables.

One CSV per intervention table (DIR/<family>.csv): one row per intervention x metric, with the
experiment by name, the components as one readable label (9.1+4.4), position and receiver, and
only the metrics the experiment's metric set asked for. DIR/baselines.csv: one row per
experiment x baseline quantity. DIR/MANIFEST.json lists the files and the source.
"""
import importlib.util
import json
import os


from . import outdir
from .errors import input_error
from .results import BASELINE_COLUMNS, METRICS, Results

ID_COLUMNS = ["model", "seed", "task", "corruption", "ablation", "family", "intervention",
              "components", "n_components", "position", "receiver"]


def _metric_sets(r):
    return r.metric_set_names


def tidy(df, metric_sets):
    """Long form of one intervention table: only the metrics each row's metric set requested."""
    df = df.copy()
    df["components"] = df["components"].map(lambda c: "+".join(c))
    if "receiver" not in df:
        df["receiver"] = ""
    ids = [c for c in ID_COLUMNS if c in df]
    metrics = [m for m in METRICS if m in df]
    long = df.melt(id_vars=ids + ["metric_set"], value_vars=metrics, var_name="metric",
                   value_name="value")
    if metric_sets:
        wanted = {(i, m) for i, ms in enumerate(metric_sets) for m in ms}
        keep = [(int(i), m) in wanted for i, m in zip(long["metric_set"], long["metric"])]
        long = long[keep]
    order = {m: k for k, m in enumerate(METRICS)}
    long = long.assign(_m=long["metric"].map(order)).sort_values(
        [c for c in ("model", "seed", "task", "corruption", "ablation", "intervention",
                     "position", "receiver") if c in long] + ["_m"], kind="stable")
    return long.drop(columns=["_m", "metric_set"]).reset_index(drop=True)


def tidy_baselines(b):
    ids = [c for c in ("model", "seed", "task", "corruption", "ablation") if c in b]
    vals = [c for c in BASELINE_COLUMNS if c in b]
    return b.melt(id_vars=ids, value_vars=vals, var_name="quantity", value_name="value")


def run(args):
    if args.format == "parquet":
        if not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
            raise input_error("csweep export --format parquet", "no parquet writer in this Python",
                              "neither pyarrow nor fastparquet importable (Debian 12 packages "
                              "neither)", "--format csv, or $CSWEEP_PYTHON naming an interpreter "
                              "with pyarrow")
    r = Results(args.results, args.allow_incomplete)
    out = args.out or (args.results[:-3] if args.results.endswith(".h5") else args.results + "_export")
    path, tmp = outdir.prepare(out, "MANIFEST.json")
    try:
        files = []
        metric_sets = _metric_sets(r)
        ext = "csv" if args.format == "csv" else "parquet"
        for fam, df in r.tables.items():
            long = tidy(df, metric_sets)
            f = os.path.join(tmp, f"{fam}.{ext}")
            _write(long, f, args.format)
            files.append({"file": f"{fam}.{ext}", "table": f"tables/{fam}", "rows": len(long)})
        b = tidy_baselines(r.baselines)
        _write(b, os.path.join(tmp, f"baselines.{ext}"), args.format)
        files.append({"file": f"baselines.{ext}", "table": "baselines", "rows": len(b)})
        skipped = sorted(r.raw_tables)
        with open(os.path.join(tmp, "MANIFEST.json"), "w", encoding="utf-8") as fh:
            json.dump({"generator": "csweep export", "source": os.path.abspath(args.results),
                       "complete": r.complete, "files": files,
                       "not_exported": skipped}, fh, indent=1)
            fh.write("\n")
        outdir.commit(tmp, path)
    except BaseException:
        outdir.discard(tmp)
        raise
    print(f"csweep export: wrote {len(files)} tables ({sum(f['rows'] for f in files)} rows) to "
          f"{path}" + (f"; not in the intervention layout, not exported: {', '.join(skipped)}"
                       if skipped else ""))
    return 0


def _write(df, path, fmt):
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
