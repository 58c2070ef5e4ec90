"""Writes tables as CSV (pandas) and LaTeX (booktabs, pandas' writer) side by side."""
import os
import warnings



def _cell(v):
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return v


def write(df, out_dir, name, caption, float_format="%.2f"):
    """<name>.csv (every column, full precision) and <name>.tex (booktabs, `float_format`).
    Returns the entry summary.json lists for the table."""
    os.makedirs(out_dir, exist_ok=True)
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(_cell)
    csv = os.path.join(out_dir, name + ".csv")
    tex = os.path.join(out_dir, name + ".tex")
    df.to_csv(csv, index=False)
    with warnings.catch_warnings():
        # pandas 1.5 announces that to_latex will move onto Styler; its output is what we want.
        warnings.simplefilter("ignore", FutureWarning)
        body = df.to_latex(index=False, float_format=lambda x: float_format % x,
                           caption=caption, label=f"tab:{name}", escape=True,
                           longtable=len(df) > 40)
    with open(tex, "w", encoding="utf-8") as f:
        f.write("% needs \\usepackage{booktabs}" + (" and {longtable}" if len(df) > 40 else "")
                + "\n" + body)
    return {"name": name, "csv": csv, "tex": tex, "rows": int(len(df)), "caption": caption}
