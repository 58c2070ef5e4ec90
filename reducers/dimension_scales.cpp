#include "reducers/dimension_scales.hpp"

#include <H5DSpublic.h>

#include <map>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "reducers/h5.hpp"

namespace csweep::reducers {
namespace {

using h5::Hid;

hid_t checked(hid_t id, const std::string& path, const std::string& what) {
  CSWEEP_ASSERT(id >= 0, "{}: HDF5 failed to {}: {}", path, what, h5::error_text());
  return id;
}

void checked(herr_t rc, const std::string& path, const std::string& what) {
  CSWEEP_ASSERT(rc >= 0, "{}: HDF5 failed to {}: {}", path, what, h5::error_text());
}

// "row component" or "row,component" (format version 1) -> {"row", "component"}.
std::vector<std::string> split_dims(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string read_dims_attr(hid_t ds, const std::string& where) {
  if (H5Aexists(ds, "dims") <= 0) return {};
  Hid attr(checked(H5Aopen(ds, "dims", H5P_DEFAULT), where, "open attribute dims"), H5Aclose);
  Hid ftype(checked(H5Aget_type(attr), where, "get type of dims"), H5Tclose);
  if (H5Tget_class(ftype) != H5T_STRING) return {};
  if (H5Tis_variable_str(ftype) > 0) {
    // Read in the attribute's own string type (its character set included: HDF5 refuses to
    // convert UTF-8 to ASCII).
    Hid mtype(H5Tcopy(ftype), H5Tclose);
    char* p = nullptr;
    checked(H5Aread(attr, mtype, &p), where, "read attribute dims");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  std::string s(H5Tget_size(ftype), '\0');
  checked(H5Aread(attr, ftype, s.data()), where, "read attribute dims");
  return std::string(s.c_str());
}

struct Var {
  std::string name;
  std::vector<std::string> dims;
  std::vector<hsize_t> shape;
  bool is_string = false;  // a 1-D string dataset over a dimension labels it (e.g. components)
};

// Datasets with a "dims" attribute, per group path ("" = the root).
using Groups = std::map<std::string, std::vector<Var>>;

// Walks the groups below `group` by link index (H5Oopen + H5Iget_type: the same calls in every
// HDF5 API version, unlike H5Ovisit whose callback changed between 1.8, 1.10 and 1.12).
void collect(hid_t group, const std::string& gpath, const std::string& path, Groups& groups) {
  H5G_info_t info;
  checked(H5Gget_info(group, &info), path, "list group /" + gpath);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    checked(static_cast<herr_t>(len < 0 ? -1 : 0), path, "read a link name in /" + gpath);
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    const std::string child = gpath.empty() ? name : gpath + "/" + name;
    const std::string where = path + ":/" + child;
    Hid obj(checked(H5Oopen(group, name.c_str(), H5P_DEFAULT), where, "open object"), H5Oclose);
    const H5I_type_t kind = H5Iget_type(obj);
    if (kind == H5I_GROUP) {
      collect(obj, child, path, groups);
      continue;
    }
    if (kind != H5I_DATASET) continue;
    Var v;
    v.name = name;
    v.dims = split_dims(read_dims_attr(obj, where));
    if (v.dims.empty()) continue;
    Hid space(checked(H5Dget_space(obj), where, "get dataspace"), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank != static_cast<int>(v.dims.size())) continue;  // "dims" does not describe it
    v.shape.resize(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space, v.shape.data(), nullptr);
    Hid type(checked(H5Dget_type(obj), where, "get datatype"), H5Tclose);
    v.is_string = rank == 1 && H5Tget_class(type) == H5T_STRING;
    groups[gpath].push_back(v);
  }
}

void write_text_attr(hid_t obj, const char* key, const std::string& value,
                     const std::string& where) {
  Hid stype(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(stype, H5T_VARIABLE);
  H5Tset_cset(stype, H5T_CSET_UTF8);
  Hid sspace(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(checked(H5Acreate2(obj, key, stype, sspace, H5P_DEFAULT, H5P_DEFAULT), where,
                   std::string("create attribute ") + key),
           H5Aclose);
  const char* p = value.c_str();
  checked(H5Awrite(attr, stype, &p), where, std::string("write attribute ") + key);
}

void write_index_scale(hid_t group, const std::string& name, hsize_t n, const std::string& where) {
  Hid space(checked(H5Screate_simple(1, &n, nullptr), where, "create dataspace"), H5Sclose);
  Hid ds(checked(H5Dcreate2(group, name.c_str(), H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT),
                 where, "create dimension scale " + name),
         H5Dclose);
  std::vector<std::uint64_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::uint64_t{0});
  if (n) checked(H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx.data()), where,
                 "write dimension scale " + name);
  // Self-describing like every other dataset (schema.hpp: dims, unit, doc).
  write_text_attr(ds, "dims", name, where);
  write_text_attr(ds, "unit", "index", where);
  write_text_attr(ds, "doc", "dimension scale: " + name + " number 0.." + std::to_string(n) + "-1",
                  where);
  checked(H5DSset_scale(ds, name.c_str()), where, "make " + name + " a dimension scale");
}

}  // namespace

void attach_dimension_scales(hid_t file, const std::string& path) {
  Groups groups;
  collect(file, "", path, groups);
  for (const auto& [gpath, vars] : groups) {
    const std::string where = path + ":/" + gpath;
    Hid group(checked(H5Gopen2(file, gpath.empty() ? "." : gpath.c_str(), H5P_DEFAULT), where,
                      "open group"),
              H5Gclose);
    // One length per dimension name in the group.
    std::map<std::string, hsize_t> length;
    for (const auto& v : vars)
      for (std::size_t k = 0; k < v.dims.size(); ++k) {
        auto [it, fresh] = length.emplace(v.dims[k], v.shape[k]);
        CSWEEP_ASSERT(fresh || it->second == v.shape[k],
                      "{}: dimension {} is {} long in {} but {} in another dataset", where,
                      v.dims[k], v.shape[k], v.name, it->second);
      }
    // The scale of each dimension: the 1-D dataset of that name, or a new row-number dataset.
    for (const auto& [dim, n] : length) {
      bool own = false;
      for (const auto& v : vars) own |= v.name == dim && v.dims.size() == 1 && v.dims[0] == dim;
      if (own) {
        Hid ds(checked(H5Dopen2(group, dim.c_str(), H5P_DEFAULT), where, "open " + dim), H5Dclose);
        checked(H5DSset_scale(ds, dim.c_str()), where, "make " + dim + " a dimension scale");
      } else {
        CSWEEP_ASSERT(H5Lexists(group, dim.c_str(), H5P_DEFAULT) <= 0,
                      "{}: dataset {} exists but is not 1-D over dimension {}", where, dim, dim);
        write_index_scale(group, dim, n, where);
      }
    }
    // String labels of a dimension (the "components" names of each row) are auxiliary coordinate
    // variables in the netCDF/CF sense: every other variable over that dimension lists them in a
    // "coordinates" attribute, so xarray shows them as coordinates of the table.
    std::map<std::string, std::string> labels;  // dimension -> space-separated label datasets
    for (const auto& v : vars)
      if (v.is_string && v.name != v.dims[0])
        labels[v.dims[0]] += (labels[v.dims[0]].empty() ? "" : " ") + v.name;
    for (const auto& v : vars) {
      if (v.dims.size() == 1 && v.name == v.dims[0]) continue;  // a scale is not attached to itself
      Hid ds(checked(H5Dopen2(group, v.name.c_str(), H5P_DEFAULT), where, "open " + v.name),
             H5Dclose);
      for (std::size_t k = 0; k < v.dims.size(); ++k) {
        Hid scale(checked(H5Dopen2(group, v.dims[k].c_str(), H5P_DEFAULT), where,
                          "open scale " + v.dims[k]),
                  H5Dclose);
        checked(H5DSattach_scale(ds, scale, static_cast<unsigned>(k)), where,
                "attach " + v.dims[k] + " to " + v.name);
      }
      std::string coords;
      for (const auto& d : v.dims)
        if (!v.is_string && labels.count(d)) coords += (coords.empty() ? "" : " ") + labels[d];
      if (!coords.empty()) write_text_attr(ds, "coordinates", coords, where);
    }
  }
}

}  // namespace csweep::reducers
