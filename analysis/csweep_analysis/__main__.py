"""python3 -m csweep_analysis {analyze,export} ... (what `csweep analyze` / `csweep export` run).

    csweep analyze out/quickstart.h5 --out out/analysis --figures
    csweep analyze --circuits data/circuits/lan_barez_80.json --out out/study --figures
    csweep export out/quickstart.h5 --format csv --out out/quickstart_csv
"""
import argparse
import importlib.util
import sys

from .errors import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE, IncompleteError, InputError

# Python module -> the Debian 12 package that provides it (scripts/install_deps.sh installs all).
MODULES = {"numpy": "python3-numpy", "h5py": "python3-h5py", "pandas": "python3-pandas"}
FIGURE_MODULES = {"matplotlib": "python3-matplotlib", "matplotlib_venn": "python3-matplotlib-venn",
                  "upsetplot": "python3-upsetplot"}


def check_modules(needed, command):
    missing = [(m, pkg) for m, pkg in needed.items() if importlib.util.find_spec(m) is None]
    if missing:
        print(f"csweep {command}: error: {sys.executable} lacks the Python module(s) "
              + ", ".join(m for m, _ in missing) + " (Debian packages: "
              + " ".join(p for _, p in missing) + "; scripts/install_deps.sh installs them, or "
              "point $CSWEEP_PYTHON at an interpreter that has them)", file=sys.stderr)
        sys.exit(EXIT_INPUT)


def _thresholds(text):
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")


def parser():
    ap = argparse.ArgumentParser(prog="csweep", description="circuitsweep analysis stage")
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser(
        "analyze", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="results files and/or circuits -> summary.json, tables (CSV, LaTeX), figures",
        description="Set algebra of circuits across tasks (Venn regions, intersections, unions, "
                    "Jaccard), top single-head and head-pair effects, layer x head effect grids, "
                    "corruption baselines, ... -> DIR/summary.json, DIR/tables/*.csv|tex and "
                    "with --figures DIR/figures/*.pdf|png|txt.",
        epilog="examples:\n"
               "  csweep analyze out/quickstart.h5 --out out/analysis --figures\n"
               "  csweep analyze --circuits data/circuits/lan_barez_80.json --out out/study "
               "--figures\n\nDIR is replaced as a whole at the end (never half-written); an "
               "existing DIR must be an earlier analysis output (it holds summary.json).")
    a.add_argument("results", nargs="*", help="results files of csweep run / csweep merge")
    a.add_argument("--out", required=True, metavar="DIR", help="output folder")
    a.add_argument("--figures", action="store_true", help="also draw the figures (PDF + PNG)")
    a.add_argument("--circuits", metavar="FILE",
                   help='circuits to compare: JSON {"task": {"heads": ["9.1", ...], '
                        '"mlps": [0, ...]}} (data/circuits/README.md)')
    a.add_argument("--top", type=int, default=10, help="rows per experiment in top-effect tables")
    a.add_argument("--thresholds", type=_thresholds, default=None, metavar="T1,T2",
                   help="thresholds T (pp) of the single-ablation head sets (default: the job "
                        "spec's [experiments] thresholds, else 20)")
    a.add_argument("--erase-below", type=float, default=20.0, metavar="PERCENT",
                   help="a corruption erases a task when the corrupted LD is at most this %% of "
                        "the clean LD (default 20)")
    a.add_argument("--allow-incomplete", action="store_true",
                   help="analyse partial results files (complete != 1) instead of exiting 3")
    e = sub.add_parser(
        "export", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="results file -> tidy long tables (one row per intervention x metric)",
        description="Writes every table of a results file as a tidy long CSV: one row per "
                    "intervention and metric, experiments and components by name "
                    "(9.1+4.4), plus the baselines.",
        epilog="example:\n  csweep export out/quickstart.h5 --format csv --out out/quickstart_csv")
    e.add_argument("results", help="a results file")
    e.add_argument("--format", default="csv", choices=["csv", "parquet"],
                   help="csv (parquet needs a parquet writer; Debian 12 packages none)")
    e.add_argument("--out", metavar="DIR", help="output folder (default: RESULTS without .h5)")
    e.add_argument("--allow-incomplete", action="store_true",
                   help="export a partial results file (complete != 1) instead of exiting 3")
    return ap


def main(argv=None):
    ap = parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        sys.exit(EXIT_USAGE if e.code not in (0, None) else 0)
    needed = dict(MODULES)
    if args.command == "analyze" and args.figures:
        needed.update(FIGURE_MODULES)
    check_modules(needed, args.command)
    try:
        if args.command == "analyze":
            from . import analyze
            return analyze.run(args)
        from . import export
        return export.run(args)
    except IncompleteError as e:
        print(f"csweep {args.command}: {e}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except InputError as e:
        print(f"csweep {args.command}: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug of ours: say so, with the traceback for the report
        import traceback
        traceback.print_exc()
        print(f"csweep {args.command}: internal error: {e}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
