#!/usr/bin/python3
"""Results files open in researchers' tools: every group of a results file with datasets opens
with xarray + h5netcdf (Debian) as a Dataset with named dimensions (HDF5 dimension scales,
reducers/dimension_scales.hpp), no phony_dim_*, values equal to h5py's, and a table converts to
a pandas DataFrame.

    check_netcdf.py RESULTS.h5
"""
import sys
import warnings

import h5py
import numpy as np
import xarray as xr


def groups_with_datasets(f):
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and any(isinstance(v, h5py.Dataset) for v in obj.values()):
            out.append(name)
    f.visititems(visit)
    return out


def check(path):
    """Returns (failures, groups checked)."""
    failures = []
    with h5py.File(path, "r") as f:
        groups = groups_with_datasets(f)
        if "tables/single_heads" not in groups and not any(g.startswith("tables/") for g in groups):
            raise SystemExit(f"{path}: no tables to check")
        for g in groups:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # h5netcdf warns when it invents dimensions
                ds = xr.open_dataset(path, group=g, engine="h5netcdf")
            dims = set(ds.dims)
            if any(d.startswith("phony_dim") for d in dims):
                failures.append(f"{g}: phony dimensions {sorted(dims)}")
            for name, var in f[g].items():
                if not isinstance(var, h5py.Dataset) or "dims" not in var.attrs:
                    continue
                a = var.attrs["dims"]
                want = (a.decode() if isinstance(a, bytes) else str(a)).replace(",", " ").split()
                if list(ds[name].dims) != want:
                    failures.append(f"{g}/{name}: xarray dims {ds[name].dims}, 'dims' says {want}")
                got, ref = ds[name].values, var[...]
                if got.shape != ref.shape or not np.array_equal(got, ref, equal_nan=got.dtype.kind == "f"):
                    failures.append(f"{g}/{name}: values differ from h5py")
            if g.startswith("tables/"):
                if "components" in f[g] and "components" not in ds.coords:
                    failures.append(f"{g}: the components names are not a coordinate")
                df = ds.drop_dims([d for d in ds.dims if d != "row"]).to_dataframe()
                if len(df) != ds.dims["row"]:
                    failures.append(f"{g}: DataFrame has {len(df)} rows")
            ds.close()
    return failures, groups


def main():
    failures, groups = check(sys.argv[1])
    if failures:
        print("\n".join(failures), file=sys.stderr)
        raise SystemExit(f"{len(failures)} netCDF checks failed")
    print(f"netCDF view: {len(groups)} groups open in xarray with named dimensions: "
          + ", ".join(groups))


if __name__ == "__main__":
    main()
