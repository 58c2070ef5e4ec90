#pragma once
// HDF5 dimension scales (H5DS, the netCDF-4 data model) for every table csweep writes, so that
// netCDF readers see named dimensions instead of anonymous ones:
//   xarray.open_dataset(path, group="tables/single_heads", engine="h5netcdf")
// opens a table as a Dataset with dimensions (row, component) and no phony_dim_*.
//
// The dimension names are the ones each dataset already declares in its "dims" attribute
// (reducers/schema.hpp: "row", "row component", "unit", ...), so the schema stays the one source
// of truth. In every group holding such datasets, each dimension d becomes a dimension scale:
// the group's dataset named d when it is 1-D over d (e.g. /ledger/unit), otherwise a new uint64
// dataset d = 0, 1, ..., n-1 (its coordinate variable: the row number). Every dataset is attached
// to the scale of each of its axes. A 1-D string dataset over a dimension (the "components"
// names "9.1+4.4" of an intervention table) labels it: the group's other datasets over that
// dimension name it in a "coordinates" attribute (netCDF/CF), so xarray shows it as a coordinate.
#include <hdf5.h>

#include <string>

namespace csweep::reducers {

// Attaches dimension scales in every group under `file` (an open file or group id). `path`
// names the file in errors. Throws InternalError when two datasets of one group give the same
// dimension different lengths (a writer bug), or when an HDF5 call fails.
void attach_dimension_scales(hid_t file, const std::string& path);

}  // namespace csweep::reducers
