#include "reducers/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "core/error.hpp"
#include "reducers/dimension_scales.hpp"
#include "reducers/h5.hpp"
#include "reducers/layout.hpp"
#include "vocab/edges.hpp"
#include "vocab/names.hpp"

namespace csweep::reducers {
namespace {

using h5::Hid;

// Reading: a failure means the file is not what it should be (InputError naming the file, the
// object and HDF5's own reason); a checksum mismatch says so explicitly.
[[noreturn]] void read_failed(const std::string& path, const std::string& what) {
  if (h5::checksum_failed())
    throw input_error(path, what + ": checksum mismatch, the data on disk is not what csweep wrote "
                      "(modified or damaged since); restore the file or rerun into a new --output");
  const std::string why = h5::error_text();
  throw input_error(path, "HDF5 failed: " + what + (why.empty() ? "" : " (" + why + ")"));
}
hid_t check_id(hid_t id, const std::string& path, const std::string& what) {
  if (id < 0) read_failed(path, what);
  return id;
}
void check(herr_t rc, const std::string& path, const std::string& what) {
  if (rc < 0) read_failed(path, what);
}
// Writing happens into an in-memory file image (write_results), so a failure here is no disk
// error but a failure to build the image (memory); reported as an I/O failure of `path`.
hid_t wcheck_id(hid_t id, const std::string& path, const std::string& what) {
  if (id < 0) throw io_error(path, "HDF5 failed: " + what, h5::error_text());
  return id;
}
void wcheck(herr_t rc, const std::string& path, const std::string& what) {
  if (rc < 0) throw io_error(path, "HDF5 failed: " + what, h5::error_text());
}

hid_t file_type(DType t) {
  switch (t) {
    case DType::kInt8: return H5T_STD_I8LE;
    case DType::kInt32: return H5T_STD_I32LE;
    case DType::kInt64: return H5T_STD_I64LE;
    case DType::kUInt64: return H5T_STD_U64LE;
    case DType::kFloat32: return H5T_IEEE_F32LE;
    case DType::kFloat64: return H5T_IEEE_F64LE;
    case DType::kString: break;  // its type depends on the data: write_string_column
  }
  return -1;
}

template <class T> hid_t mem_type();
template <> hid_t mem_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t mem_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t mem_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t mem_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <> hid_t mem_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t mem_type<double>() { return H5T_NATIVE_DOUBLE; }

Hid vlen_str_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return Hid(t, H5Tclose);
}

// ---- attributes --------------------------------------------------------------------------------

void write_text_attr(hid_t obj, const std::string& name, const std::string& value,
                     const std::string& path) {
  Hid type = vlen_str_type();
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(wcheck_id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), path,
                    "create attribute " + name),
           H5Aclose);
  const char* p = value.c_str();
  wcheck(H5Awrite(attr, type, &p), path, "write attribute " + name);
}

void write_text_list_attr(hid_t obj, const std::string& name, const std::vector<std::string>& v,
                          const std::string& path) {
  Hid type = vlen_str_type();
  const hsize_t n = v.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid attr(wcheck_id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), path,
                    "create attribute " + name),
           H5Aclose);
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  if (n) wcheck(H5Awrite(attr, type, ptrs.data()), path, "write attribute " + name);
}

template <class T>
void write_num_attr(hid_t obj, const std::string& name, const std::vector<T>& v, bool scalar,
                    hid_t ftype, const std::string& path) {
  const hsize_t n = v.size();
  Hid space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid attr(wcheck_id(H5Acreate2(obj, name.c_str(), ftype, space, H5P_DEFAULT, H5P_DEFAULT), path,
                    "create attribute " + name),
           H5Aclose);
  if (n) wcheck(H5Awrite(attr, mem_type<T>(), v.data()), path, "write attribute " + name);
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::vector<std::string> read_text_attr_values(hid_t obj, const std::string& name,
                                               const std::string& path) {
  Hid attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), path, "open attribute " + name),
           H5Aclose);
  Hid space(H5Aget_space(attr), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::string> out;
  if (n <= 0) return out;
  Hid ftype(H5Aget_type(attr), H5Tclose);
  if (H5Tget_class(ftype) != H5T_STRING)
    throw input_error(path, "attribute " + name + " is not a string");
  if (H5Tis_variable_str(ftype) > 0) {
    Hid type = vlen_str_type();
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    check(H5Aread(attr, type, ptrs.data()), path, "read attribute " + name);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
  } else {  // fixed-length strings (written by other tools)
    const std::size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len * static_cast<std::size_t>(n) + 1, '\0');
    Hid type(H5Tcopy(ftype), H5Tclose);
    check(H5Aread(attr, type, buf.data()), path, "read attribute " + name);
    for (hssize_t i = 0; i < n; ++i)
      out.emplace_back(strnlen(buf.data() + i * len, len) == len
                           ? std::string(buf.data() + i * len, len)
                           : std::string(buf.data() + i * len));
  }
  return out;
}

std::string read_text_attr(hid_t obj, const std::string& name, const std::string& path) {
  auto v = read_text_attr_values(obj, name, path);
  return v.empty() ? std::string() : v.front();
}

template <class T>
std::vector<T> read_num_attr(hid_t obj, const std::string& name, const std::string& path) {
  Hid attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), path, "open attribute " + name),
           H5Aclose);
  Hid space(H5Aget_space(attr), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<T> v(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  if (!v.empty()) check(H5Aread(attr, mem_type<T>(), v.data()), path, "read attribute " + name);
  return v;
}

// ---- datasets ----------------------------------------------------------------------------------

Hid make_group(hid_t parent, const std::string& name, const std::string& path) {
  return Hid(wcheck_id(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      path, "create group " + name),
             H5Gclose);
}

template <class T>
void write_column(hid_t group, const Column& col, const std::vector<T>& data, hsize_t rows,
                  hsize_t width, const std::string& path) {
  const bool two_d = std::strchr(col.dims, ' ') != nullptr;
  const int rank = two_d ? 2 : 1;
  hsize_t dims[2] = {rows, width};
  CSWEEP_ASSERT(data.size() == rows * (two_d ? width : 1), "column {} has {} values for {} rows",
                col.name, data.size(), rows);
  Hid space(H5Screate_simple(rank, dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  // Chunked + shuffle + deflate: metric columns compress well and h5py reads them transparently.
  // fletcher32 last, over the compressed chunk: a byte changed on disk fails the read.
  hsize_t chunk[2] = {std::max<hsize_t>(1, std::min<hsize_t>(rows, 1 << 15)),
                      std::max<hsize_t>(1, width)};
  if (rows > 0 && (!two_d || width > 0)) {
    wcheck(H5Pset_chunk(dcpl, rank, chunk), path, "chunk " + std::string(col.name));
    wcheck(H5Pset_shuffle(dcpl), path, "shuffle filter");
    wcheck(H5Pset_deflate(dcpl, 4), path, "deflate filter");
    wcheck(H5Pset_fletcher32(dcpl), path, "fletcher32 filter");
  }
  Hid ds(wcheck_id(H5Dcreate2(group, col.name, file_type(col.dtype), space, H5P_DEFAULT, dcpl,
                             H5P_DEFAULT),
                  path, std::string("create dataset ") + col.name),
         H5Dclose);
  if (!data.empty())
    wcheck(H5Dwrite(ds, mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), path,
          std::string("write dataset ") + col.name);
  write_text_attr(ds, "dims", col.dims, path);
  write_text_attr(ds, "unit", col.unit, path);
  write_text_attr(ds, "doc", col.doc, path);
}

// A kString column: fixed-length strings as wide as the longest value (at least 1 byte).
void write_string_column(hid_t group, const Column& col, const std::vector<std::string>& data,
                         const std::string& path) {
  CSWEEP_ASSERT(col.dtype == DType::kString, "column {} is not a string column", col.name);
  const hsize_t rows = data.size();
  std::size_t width = 1;
  for (const auto& s : data) width = std::max(width, s.size());
  Hid type(wcheck_id(H5Tcopy(H5T_C_S1), path, "string type"), H5Tclose);
  wcheck(H5Tset_size(type, width), path, "string size");
  wcheck(H5Tset_strpad(type, H5T_STR_NULLPAD), path, "string padding");
  wcheck(H5Tset_cset(type, H5T_CSET_UTF8), path, "string character set");
  Hid space(H5Screate_simple(1, &rows, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (rows > 0) {
    const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(rows, 1 << 15));
    wcheck(H5Pset_chunk(dcpl, 1, &chunk), path, "chunk " + std::string(col.name));
    wcheck(H5Pset_deflate(dcpl, 4), path, "deflate filter");
    wcheck(H5Pset_fletcher32(dcpl), path, "fletcher32 filter");
  }
  Hid ds(wcheck_id(H5Dcreate2(group, col.name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), path,
                   std::string("create dataset ") + col.name),
         H5Dclose);
  if (rows > 0) {
    std::vector<char> buf(rows * width, '\0');
    for (hsize_t i = 0; i < rows; ++i) std::copy(data[i].begin(), data[i].end(), buf.begin() + i * width);
    wcheck(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path,
           std::string("write dataset ") + col.name);
  }
  write_text_attr(ds, "dims", col.dims, path);
  write_text_attr(ds, "unit", col.unit, path);
  write_text_attr(ds, "doc", col.doc, path);
}

std::vector<std::string> read_string_column(hid_t group, const char* name, const std::string& path) {
  Hid ds(check_id(H5Dopen2(group, name, H5P_DEFAULT), path, std::string("open dataset ") + name),
         H5Dclose);
  Hid ftype(H5Dget_type(ds), H5Tclose);
  CSWEEP_CHECK_INPUT(H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) <= 0,
                     "{}: dataset {} is not a fixed-length string column", path, name);
  const std::size_t width = H5Tget_size(ftype);
  Hid space(H5Dget_space(ds), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::string> out;
  if (n <= 0) return out;
  std::vector<char> buf(static_cast<std::size_t>(n) * width);
  Hid mtype(H5Tcopy(ftype), H5Tclose);
  check(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path,
        std::string("read dataset ") + name);
  for (hssize_t i = 0; i < n; ++i) {
    const char* p = buf.data() + static_cast<std::size_t>(i) * width;
    out.emplace_back(p, strnlen(p, width));
  }
  return out;
}

template <class T>
std::vector<T> read_column(hid_t group, const char* name, const std::string& path,
                           hsize_t* width = nullptr) {
  Hid ds(check_id(H5Dopen2(group, name, H5P_DEFAULT), path, std::string("open dataset ") + name),
         H5Dclose);
  Hid space(H5Dget_space(ds), H5Sclose);
  hsize_t dims[2] = {0, 1};
  const int rank = H5Sget_simple_extent_ndims(space);
  CSWEEP_CHECK_INPUT(rank == 1 || rank == 2, "{}: dataset {} has rank {}, expected 1 or 2", path,
                     name, rank);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  if (width) *width = rank == 2 ? dims[1] : 1;
  std::vector<T> v(static_cast<std::size_t>(dims[0] * (rank == 2 ? dims[1] : 1)));
  if (!v.empty())
    check(H5Dread(ds, mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), path,
          std::string("read dataset ") + name);
  return v;
}

const Column& column(const Column* begin, const Column* end, const char* name) {
  for (auto* c = begin; c != end; ++c)
    if (std::strcmp(c->name, name) == 0) return *c;
  CSWEEP_ASSERT(false, "schema has no column {}", name);
  return *begin;
}
#define COL(table, name) column(std::begin(table), std::end(table), name)

// Struct fields behind the experiment and baseline columns, in kExperimentColumns order and by
// kBaselineColumns name; shared by the writer and the reader so the two cannot drift apart.
constexpr std::int32_t ExperimentIndex::*kExperimentFields[] = {
    &ExperimentIndex::model,      &ExperimentIndex::seed,     &ExperimentIndex::task,
    &ExperimentIndex::corruption, &ExperimentIndex::ablation, &ExperimentIndex::metric_set};
static_assert(std::size(kExperimentFields) == std::size(kExperimentColumns));

constexpr std::pair<const char*, double metrics::Baseline::*> kBaselineFields[] = {
    {"clean_logit_diff", &metrics::Baseline::clean_logit_diff},
    {"corrupted_logit_diff", &metrics::Baseline::corrupted_logit_diff},
    {"clean_accuracy", &metrics::Baseline::clean_accuracy},
    {"corrupted_accuracy", &metrics::Baseline::corrupted_accuracy},
    {"clean_prob_correct", &metrics::Baseline::clean_prob_correct}};

void write_experiment_columns(hid_t g, const std::vector<ExperimentIndex>& exps,
                              const std::string& path) {
  const hsize_t n = exps.size();
  std::vector<std::int32_t> v(n);
  for (std::size_t f = 0; f < std::size(kExperimentColumns); ++f) {
    for (hsize_t i = 0; i < n; ++i) v[i] = exps[i].*kExperimentFields[f];
    write_column(g, kExperimentColumns[f], v, n, 1, path);
  }
}

std::vector<ExperimentIndex> read_experiment_columns(hid_t g, const std::string& path) {
  std::vector<ExperimentIndex> exps;
  for (std::size_t f = 0; f < std::size(kExperimentColumns); ++f) {
    auto v = read_column<std::int32_t>(g, kExperimentColumns[f].name, path);
    if (f == 0) exps.resize(v.size());
    CSWEEP_CHECK_INPUT(v.size() == exps.size(), "{}: column {} has {} rows, expected {}", path,
                       kExperimentColumns[f].name, v.size(), exps.size());
    for (std::size_t i = 0; i < v.size(); ++i) exps[i].*kExperimentFields[f] = v[i];
  }
  return exps;
}

void write_baselines(hid_t root, const std::vector<BaselineRow>& rows, const std::string& path) {
  Hid g = make_group(root, "baselines", path);
  const hsize_t n = rows.size();
  std::vector<ExperimentIndex> exps;
  for (const auto& r : rows) exps.push_back(r.exp);
  write_experiment_columns(g, exps, path);
  std::vector<double> v(n);
  for (const auto& [name, field] : kBaselineFields) {
    for (hsize_t i = 0; i < n; ++i) v[i] = rows[i].baseline.*field;
    write_column(g, COL(kBaselineColumns, name), v, n, 1, path);
  }
  std::vector<std::int32_t> np(n);
  for (hsize_t i = 0; i < n; ++i) np[i] = rows[i].baseline.n_prompts;
  write_column(g, COL(kBaselineColumns, "n_prompts"), np, n, 1, path);
  for (hsize_t i = 0; i < n; ++i) np[i] = rows[i].baseline.n_dropped_by_filter;
  write_column(g, COL(kBaselineColumns, "n_dropped_by_filter"), np, n, 1, path);
}

std::vector<BaselineRow> read_baselines(hid_t root, const std::string& path) {
  Hid g(check_id(H5Gopen2(root, "baselines", H5P_DEFAULT), path, "open group /baselines"),
        H5Gclose);
  auto exps = read_experiment_columns(g, path);
  std::vector<BaselineRow> rows(exps.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i].exp = exps[i];
  for (const auto& [name, field] : kBaselineFields) {
    auto v = read_column<double>(g, name, path);
    CSWEEP_CHECK_INPUT(v.size() == rows.size(), "{}: /baselines/{} has {} rows, expected {}",
                       path, name, v.size(), rows.size());
    for (std::size_t i = 0; i < v.size(); ++i) rows[i].baseline.*field = v[i];
  }
  auto np = read_column<std::int32_t>(g, "n_prompts", path);
  CSWEEP_CHECK_INPUT(np.size() == rows.size(), "{}: /baselines/n_prompts has {} rows", path,
                     np.size());
  for (std::size_t i = 0; i < np.size(); ++i) rows[i].baseline.n_prompts = np[i];
  // Files written before the filter existed have no such column: nothing was dropped.
  if (H5Lexists(g, "n_dropped_by_filter", H5P_DEFAULT) > 0) {
    auto nd = read_column<std::int32_t>(g, "n_dropped_by_filter", path);
    CSWEEP_CHECK_INPUT(nd.size() == rows.size(), "{}: /baselines/n_dropped_by_filter has {} rows", path,
                       nd.size());
    for (std::size_t i = 0; i < nd.size(); ++i) rows[i].baseline.n_dropped_by_filter = nd[i];
  }
  return rows;
}

using MetricField = double metrics::MetricRow::*;
const std::pair<const char*, MetricField> kMetricFields[] = {
    {"logit_diff", &metrics::MetricRow::logit_diff},
    {"performance", &metrics::MetricRow::performance},
    {"normalized", &metrics::MetricRow::normalized},
    {"kl", &metrics::MetricRow::kl},
    {"prob_correct", &metrics::MetricRow::prob_correct},
    {"accuracy", &metrics::MetricRow::accuracy},
    {"prob_diff", &metrics::MetricRow::prob_diff}};

void write_table(hid_t tables, const FamilyMeta& fam, const std::vector<Row>& rows,
                 const std::string& path) {
  Hid g = make_group(tables, fam.name, path);
  write_text_attr(g, "kind", fam.kind, path);
  write_text_attr(g, "spec", fam.spec_json, path);
  write_text_list_attr(g, "position_labels", fam.position_labels, path);
  write_num_attr<std::int32_t>(g, "max_components", {fam.max_components}, true, H5T_STD_I32LE,
                               path);
  const hsize_t n = rows.size();
  std::vector<ExperimentIndex> exps;
  for (const auto& r : rows) exps.push_back(r.exp);
  write_experiment_columns(g, exps, path);

  std::vector<std::uint64_t> ids(n);
  std::vector<std::int32_t> ncomp(n), pos(n), rlayer(n), rhead(n);
  std::vector<std::int8_t> rkind(n);
  const hsize_t width = static_cast<hsize_t>(std::max(fam.max_components, 1));
  std::vector<std::int8_t> ckind(n * width, -1);
  std::vector<std::int32_t> clayer(n * width, -1), cindex(n * width, -1);
  hsize_t prompts = 0;
  for (const auto& r : rows) prompts = std::max<hsize_t>(prompts, r.metrics.per_prompt_logit_diff.size());
  std::vector<float> per_prompt(n * prompts, std::numeric_limits<float>::quiet_NaN());
  for (hsize_t i = 0; i < n; ++i) {
    const Row& r = rows[i];
    ids[i] = r.intervention;
    CSWEEP_ASSERT(r.components.size() <= width, "row with {} components in family {} (max {})",
                  r.components.size(), fam.name, width);
    ncomp[i] = static_cast<std::int32_t>(r.components.size());
    for (std::size_t c = 0; c < r.components.size(); ++c) {
      ckind[i * width + c] = static_cast<std::int8_t>(r.components[c].kind);
      clayer[i * width + c] = r.components[c].layer;
      cindex[i * width + c] = r.components[c].index;
    }
    pos[i] = r.position;
    rkind[i] = r.receiver_kind;
    rlayer[i] = r.receiver_layer;
    rhead[i] = r.receiver_head;
    std::copy(r.metrics.per_prompt_logit_diff.begin(), r.metrics.per_prompt_logit_diff.end(),
              per_prompt.begin() + static_cast<std::ptrdiff_t>(i * prompts));
  }
  write_column(g, COL(kInterventionColumns, "intervention"), ids, n, 1, path);
  write_column(g, COL(kInterventionColumns, "n_components"), ncomp, n, 1, path);
  std::vector<std::string> names(n);
  for (hsize_t i = 0; i < n; ++i) names[i] = vocab::components_name(rows[i].components);
  write_string_column(g, COL(kInterventionColumns, "components"), names, path);
  write_column(g, COL(kInterventionColumns, "component_kind"), ckind, n, width, path);
  write_column(g, COL(kInterventionColumns, "component_layer"), clayer, n, width, path);
  write_column(g, COL(kInterventionColumns, "component_index"), cindex, n, width, path);
  write_column(g, COL(kInterventionColumns, "position"), pos, n, 1, path);
  write_column(g, COL(kInterventionColumns, "receiver_kind"), rkind, n, 1, path);
  write_column(g, COL(kInterventionColumns, "receiver_layer"), rlayer, n, 1, path);
  write_column(g, COL(kInterventionColumns, "receiver_head"), rhead, n, 1, path);
  std::vector<double> v(n);
  for (const auto& [name, field] : kMetricFields) {
    for (hsize_t i = 0; i < n; ++i) v[i] = rows[i].metrics.*field;
    write_column(g, COL(kInterventionColumns, name), v, n, 1, path);
  }
  if (prompts > 0)
    write_column(g, COL(kInterventionColumns, "per_prompt_logit_diff"), per_prompt, n, prompts,
                 path);
}

std::vector<Row> read_table(hid_t tables, const std::string& name, const std::string& path) {
  const std::string where = path + ": /tables/" + name;
  Hid g(check_id(H5Gopen2(tables, name.c_str(), H5P_DEFAULT), path, "open group /tables/" + name),
        H5Gclose);
  auto exps = read_experiment_columns(g, where);
  const std::size_t n = exps.size();
  std::vector<Row> rows(n);
  auto expect_rows = [&](std::size_t got, const char* col) {
    CSWEEP_CHECK_INPUT(got == n, "{}/{}: {} values, expected {}", where, col, got, n);
  };
  auto ids = read_column<std::uint64_t>(g, "intervention", where);
  auto ncomp = read_column<std::int32_t>(g, "n_components", where);
  hsize_t width = 1;
  auto ckind = read_column<std::int8_t>(g, "component_kind", where, &width);
  auto clayer = read_column<std::int32_t>(g, "component_layer", where);
  auto cindex = read_column<std::int32_t>(g, "component_index", where);
  auto pos = read_column<std::int32_t>(g, "position", where);
  auto rkind = read_column<std::int8_t>(g, "receiver_kind", where);
  auto rlayer = read_column<std::int32_t>(g, "receiver_layer", where);
  auto rhead = read_column<std::int32_t>(g, "receiver_head", where);
  expect_rows(ids.size(), "intervention");
  expect_rows(ncomp.size(), "n_components");
  expect_rows(pos.size(), "position");
  expect_rows(rkind.size(), "receiver_kind");
  expect_rows(rlayer.size(), "receiver_layer");
  expect_rows(rhead.size(), "receiver_head");
  expect_rows(ckind.size() / std::max<hsize_t>(width, 1), "component_kind");
  expect_rows(clayer.size() / std::max<hsize_t>(width, 1), "component_layer");
  expect_rows(cindex.size() / std::max<hsize_t>(width, 1), "component_index");
  for (std::size_t i = 0; i < n; ++i) {
    Row& r = rows[i];
    r.exp = exps[i];
    r.intervention = ids[i];
    CSWEEP_CHECK_INPUT(ncomp[i] >= 0 && static_cast<hsize_t>(ncomp[i]) <= width,
                       "{}/n_components: row {} has {} (width {})", where, i, ncomp[i], width);
    for (std::int32_t c = 0; c < ncomp[i]; ++c) {
      interv::Component comp;
      comp.kind = static_cast<interv::ComponentKind>(ckind[i * width + c]);
      comp.layer = clayer[i * width + c];
      comp.index = cindex[i * width + c];
      r.components.push_back(comp);
    }
    r.position = pos[i];
    r.receiver_kind = rkind[i];
    r.receiver_layer = rlayer[i];
    r.receiver_head = rhead[i];
  }
  // The readable name column is derived from the component_* columns; both must agree.
  const auto names = read_string_column(g, "components", where);
  expect_rows(names.size(), "components");
  for (std::size_t i = 0; i < n; ++i) {
    const std::string want = vocab::components_name(rows[i].components);
    CSWEEP_CHECK_INPUT(names[i] == want,
                       "{}/components: row {} says '{}', its component_* columns say '{}'", where,
                       i, names[i], want);
  }
  for (const auto& [col, field] : kMetricFields) {
    auto v = read_column<double>(g, col, where);
    expect_rows(v.size(), col);
    for (std::size_t i = 0; i < n; ++i) rows[i].metrics.*field = v[i];
  }
  if (H5Lexists(g, "per_prompt_logit_diff", H5P_DEFAULT) > 0) {
    hsize_t prompts = 0;
    auto v = read_column<float>(g, "per_prompt_logit_diff", where, &prompts);
    for (std::size_t i = 0; i < n; ++i) {
      auto& out = rows[i].metrics.per_prompt_logit_diff;
      out.assign(v.begin() + static_cast<std::ptrdiff_t>(i * prompts),
                 v.begin() + static_cast<std::ptrdiff_t>((i + 1) * prompts));
      // Padding (rows of a task with fewer prompts) is NaN at the end; drop it.
      while (!out.empty() && std::isnan(out.back())) out.pop_back();
    }
  }
  return rows;
}

// fsync a directory: the rename of a compacted file is durable only once the directory entry is.
void fsync_dir(const std::string& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error(p, "cannot open the directory for fsync", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw io_error(p, "fsync of the directory failed", std::strerror(err));
}

// Writes `bytes` to `tmp` (created or truncated) and fsyncs it. Any failure (ENOSPC, EFBIG,
// EDQUOT, EIO) unlinks `tmp` and throws IoError: a failed write never leaves a stray file.
void write_file_durably(const std::string& tmp, const std::vector<unsigned char>& bytes,
                        const std::string& target) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error(tmp, "cannot create the file", std::strerror(errno));
  struct stat st;
  const std::string kept = ::stat(target.c_str(), &st) == 0 ? target + " is unchanged"
                                                            : target + " was not created";
  auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error(tmp, what, std::string(std::strerror(err)) + "; " + kept + " (" +
                                   std::to_string(bytes.size()) + " bytes were to be written)");
  };
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    // A short write is retried; the retry reports the reason (ENOSPC, EFBIG) as a failure.
    if (n <= 0) throw fail("write failed", n == 0 ? EIO : errno);
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw fail("fsync failed", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw io_error(tmp, "close failed", std::string(std::strerror(err)) + "; " + kept);
  }
}

// ---- pruning tables (/circuits, /pruning_steps, /cross_task) -------------------------------------

bool is_pruning(const FamilyMeta& f) { return f.kind == "pruning"; }
bool has_pruning(const Results& r) {
  return std::any_of(r.meta.families.begin(), r.meta.families.end(), is_pruning);
}

// Group attributes a table carries besides its columns (TableIn checks them).
enum class GroupAttrs { kNone, kFingerprint, kFingerprintAndStages };

// A table group: its attributes, then the experiment columns of `rows`.
template <class R>
Hid table_group(hid_t root, const char* name, const Results& r, const std::vector<R>& rows, GroupAttrs attrs,
                const std::string& path) {
  Hid g = make_group(root, name, path);
  if (attrs != GroupAttrs::kNone) write_text_attr(g, "grid_fingerprint", r.meta.grid_fingerprint, path);
  if (attrs == GroupAttrs::kFingerprintAndStages) write_text_attr(g, "stages", r.stages_json, path);
  std::vector<ExperimentIndex> exps;
  exps.reserve(rows.size());
  for (const auto& x : rows) exps.push_back(x.exp);
  write_experiment_columns(g, exps, path);
  return g;
}

template <class T>
std::vector<T> read_n(hid_t g, const char* col, const std::string& where, std::size_t n,
                      hsize_t* width = nullptr) {
  hsize_t w = 1;
  auto v = read_column<T>(g, col, where, &w);
  if (width) *width = w;
  CSWEEP_CHECK_INPUT(v.size() == n * std::max<hsize_t>(w, 1) || (n == 0 && v.empty()),
                     "{}/{}: {} values, expected {} rows", where, col, v.size(), n);
  return v;
}

// Writes one column per call from a row accessor; every column of `table` must be written.
template <class R>
class TableOut {
 public:
  TableOut(hid_t g, const Column* begin, const Column* end, const std::vector<R>& rows, const std::string& path)
      : g_(g), begin_(begin), end_(end), rows_(rows), path_(path) {}
  template <class T, class F>
  void num(const char* name, F get) {
    std::vector<T> v;
    v.reserve(rows_.size());
    for (const auto& r : rows_) v.push_back(static_cast<T>(get(r)));
    write_column(g_, column(begin_, end_, name), v, rows_.size(), 1, path_);
    ++written_;
  }
  template <class F>
  void str(const char* name, F get) {
    std::vector<std::string> v;
    v.reserve(rows_.size());
    for (const auto& r : rows_) v.push_back(get(r));
    write_string_column(g_, column(begin_, end_, name), v, path_);
    ++written_;
  }
  // Every metric column (kMetricFields), from each row's `metrics`.
  void metrics() {
    for (const auto& [name, field] : kMetricFields) {
      const auto f = field;
      num<double>(name, [f](const R& x) { return x.metrics.*f; });
    }
  }
  // A [rows x width] column; get(row) gives at most `width` values, the rest is `pad`.
  template <class T, class F>
  void matrix(const char* name, hsize_t width, T pad, F get) {
    std::vector<T> v(rows_.size() * width, pad);
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& row = get(rows_[i]);
      std::copy(row.begin(), row.end(), v.begin() + static_cast<std::ptrdiff_t>(i * width));
    }
    write_column(g_, column(begin_, end_, name), v, rows_.size(), width, path_);
    ++written_;
  }
  ~TableOut() noexcept(false) {
    if (std::uncaught_exceptions() == 0)
      CSWEEP_ASSERT(written_ == static_cast<std::size_t>(end_ - begin_), "table wrote {} of {} columns",
                    written_, static_cast<std::size_t>(end_ - begin_));
  }

 private:
  hid_t g_;
  const Column *begin_, *end_;
  const std::vector<R>& rows_;
  const std::string& path_;
  std::size_t written_ = 0;
};

// Reads one column per call into the rows (sized from the experiment columns).
template <class R>
class TableIn {
 public:
  // `attrs`: what the group carries besides its columns. A derived table (/cross_task, the stage
  // tables) records the grid it was computed for, refused when it is not the file's.
  TableIn(hid_t root, const char* name, const Results& r, std::vector<R>* rows, const std::string& path,
          GroupAttrs attrs = GroupAttrs::kFingerprintAndStages)
      : where_(path + ": /" + name), rows_(rows) {
    g_ = Hid(check_id(H5Gopen2(root, name, H5P_DEFAULT), path, std::string("open /") + name), H5Gclose);
    if (attrs != GroupAttrs::kNone) {
      const auto fp = read_text_attr(g_, "grid_fingerprint", path);
      CSWEEP_CHECK_INPUT(fp == r.meta.grid_fingerprint,
                         "{}: computed for another grid (fingerprint {}, the file's is {})", where_, fp,
                         r.meta.grid_fingerprint);
    }
    if (attrs == GroupAttrs::kFingerprintAndStages) stages_ = read_text_attr(g_, "stages", path);
    const auto exps = read_experiment_columns(g_, where_);
    rows_->resize(exps.size());
    for (std::size_t i = 0; i < exps.size(); ++i) (*rows_)[i].exp = exps[i];
  }
  template <class T, class F>
  void num(const char* col, F set) {
    const auto v = read_n<T>(g_, col, where_, rows_->size());
    for (std::size_t i = 0; i < v.size(); ++i) set((*rows_)[i], v[i]);
  }
  template <class F>
  void str(const char* col, F set) {
    const auto v = read_string_column(g_, col, where_);
    CSWEEP_CHECK_INPUT(v.size() == rows_->size(), "{}/{}: {} values, expected {}", where_, col, v.size(),
                       rows_->size());
    for (std::size_t i = 0; i < v.size(); ++i) set((*rows_)[i], v[i]);
  }
  void metrics() {
    for (const auto& [col, field] : kMetricFields) {
      const auto f = field;
      num<double>(col, [f](R& x, double v) { x.metrics.*f = v; });
    }
  }
  // A [rows x width] column, row-major.
  template <class T>
  std::vector<T> matrix(const char* col, hsize_t* width) {
    return read_n<T>(g_, col, where_, rows_->size(), width);
  }
  const std::string& where() const { return where_; }
  const std::string& stages() const { return stages_; }

 private:
  std::string where_;
  std::vector<R>* rows_;
  Hid g_;
  std::string stages_;
};

void write_pruning_tables(hid_t root, const Results& r, const std::string& path) {
  if (!has_pruning(r)) return;
  using interv::ComponentKind;
  {
    Hid g = table_group(root, "circuits", r, r.circuits, GroupAttrs::kNone, path);
    hsize_t width = 1;
    for (const auto& c : r.circuits) width = std::max<hsize_t>(width, c.kept.size());
    TableOut<CircuitRow> t(g, std::begin(kCircuitColumns), std::end(kCircuitColumns), r.circuits, path);
    t.num<std::int32_t>("family", [](auto& c) { return c.family; });
    t.num<std::uint64_t>("circuit", [](auto& c) { return c.circuit; });
    t.num<double>("threshold", [](auto& c) { return c.threshold; });
    t.num<std::int32_t>("threshold_index", [](auto& c) { return c.threshold_index; });
    t.num<std::int8_t>("order_kind", [](auto& c) { return c.order_kind; });
    t.num<std::uint64_t>("order_seed", [](auto& c) { return c.order_seed; });
    t.str("order", [](auto& c) {
      return vocab::pruning_order_name({static_cast<pruning::OrderKind>(c.order_kind), c.order_seed});
    });
    t.num<std::int8_t>("nested", [](auto& c) { return c.nested ? 1 : 0; });
    t.matrix<std::int8_t>("kept", width, -1, [](auto& c) -> const auto& { return c.kept; });
    t.str("components", [](auto& c) { return vocab::components_name(c.components); });
    auto count = [](const CircuitRow& c, ComponentKind k) {
      return std::count_if(c.components.begin(), c.components.end(), [k](auto& x) { return x.kind == k; });
    };
    t.num<std::int32_t>("n_heads", [&](auto& c) { return count(c, ComponentKind::kHead); });
    t.num<std::int32_t>("n_mlps", [&](auto& c) { return count(c, ComponentKind::kMlp); });
    t.num<std::int32_t>("passes", [](auto& c) { return c.passes; });
    t.num<std::int64_t>("evaluations", [](auto& c) { return c.evaluations; });
    t.metrics();
  }
  {
    Hid g = table_group(root, "pruning_steps", r, r.steps, GroupAttrs::kNone, path);
    TableOut<StepRow> t(g, std::begin(kPruningStepColumns), std::end(kPruningStepColumns), r.steps, path);
    t.num<std::int32_t>("family", [](auto& x) { return x.family; });
    t.num<std::uint64_t>("circuit", [](auto& x) { return x.circuit; });
    t.num<std::int64_t>("step", [](auto& x) { return x.step; });
    t.num<std::int32_t>("pass", [](auto& x) { return x.pass; });
    t.num<std::int32_t>("position", [](auto& x) { return x.position; });
    t.num<std::int8_t>("component_kind", [](auto& x) { return static_cast<int>(x.component.kind); });
    t.num<std::int32_t>("component_layer", [](auto& x) { return x.component.layer; });
    t.num<std::int32_t>("component_index", [](auto& x) { return x.component.index; });
    t.str("component", [](auto& x) { return vocab::component_name(x.component); });
    t.num<double>("performance", [](auto& x) { return x.performance; });
    t.num<std::int8_t>("removed", [](auto& x) { return x.removed ? 1 : 0; });
  }
  if (!r.cross_task.empty()) {
    Hid g = table_group(root, "cross_task", r, r.cross_task, GroupAttrs::kFingerprint, path);
    TableOut<CrossTaskRow> t(g, std::begin(kCrossTaskColumns), std::end(kCrossTaskColumns), r.cross_task, path);
    t.num<std::int32_t>("family", [](auto& x) { return x.family; });
    t.num<std::uint64_t>("circuit", [](auto& x) { return x.circuit; });
    t.num<std::int32_t>("circuit_task", [](auto& x) { return x.circuit_task; });
    t.str("components", [](auto& x) { return vocab::components_name(x.components); });
    t.num<std::int32_t>("n_components", [](auto& x) { return x.components.size(); });
    t.metrics();
  }
}

void read_pruning_tables(hid_t root, Results* r, const std::string& path) {
  auto has = [&](const char* n) { return H5Lexists(root, n, H5P_DEFAULT) > 0; };
  if (has("circuits")) {
    TableIn<CircuitRow> t(root, "circuits", *r, &r->circuits, path, GroupAttrs::kNone);
    const std::string where = t.where();
    t.num<std::int32_t>("family", [](auto& c, auto v) { c.family = v; });
    t.num<std::uint64_t>("circuit", [](auto& c, auto v) { c.circuit = v; });
    t.num<double>("threshold", [](auto& c, auto v) { c.threshold = v; });
    t.num<std::int32_t>("threshold_index", [](auto& c, auto v) { c.threshold_index = v; });
    t.num<std::int8_t>("order_kind", [](auto& c, auto v) { c.order_kind = v; });
    t.num<std::uint64_t>("order_seed", [](auto& c, auto v) { c.order_seed = v; });
    t.num<std::int8_t>("nested", [](auto& c, auto v) { c.nested = v != 0; });
    hsize_t width = 1;
    const auto kept = t.matrix<std::int8_t>("kept", &width);
    for (std::size_t i = 0; i < r->circuits.size(); ++i) {
      auto& k = r->circuits[i].kept;
      k.assign(kept.begin() + static_cast<std::ptrdiff_t>(i * width),
               kept.begin() + static_cast<std::ptrdiff_t>((i + 1) * width));
      while (!k.empty() && k.back() == -1) k.pop_back();  // padding to the widest pool
    }
    t.str("components", [&](auto& c, const std::string& v) {
      c.components = vocab::parse_components(v, where + "/components");
    });
    t.num<std::int32_t>("passes", [](auto& c, auto v) { c.passes = v; });
    t.num<std::int64_t>("evaluations", [](auto& c, auto v) { c.evaluations = v; });
    t.metrics();
  }
  if (has("pruning_steps")) {
    TableIn<StepRow> t(root, "pruning_steps", *r, &r->steps, path, GroupAttrs::kNone);
    t.num<std::int32_t>("family", [](auto& x, auto v) { x.family = v; });
    t.num<std::uint64_t>("circuit", [](auto& x, auto v) { x.circuit = v; });
    t.num<std::int64_t>("step", [](auto& x, auto v) { x.step = v; });
    t.num<std::int32_t>("pass", [](auto& x, auto v) { x.pass = v; });
    t.num<std::int32_t>("position", [](auto& x, auto v) { x.position = v; });
    t.num<std::int8_t>("component_kind", [](auto& x, auto v) { x.component.kind = static_cast<interv::ComponentKind>(v); });
    t.num<std::int32_t>("component_layer", [](auto& x, auto v) { x.component.layer = v; });
    t.num<std::int32_t>("component_index", [](auto& x, auto v) { x.component.index = v; });
    t.num<double>("performance", [](auto& x, auto v) { x.performance = v; });
    t.num<std::int8_t>("removed", [](auto& x, auto v) { x.removed = v != 0; });
  }
  if (has("cross_task")) {
    TableIn<CrossTaskRow> t(root, "cross_task", *r, &r->cross_task, path, GroupAttrs::kFingerprint);
    const std::string where = t.where();
    t.num<std::int32_t>("family", [](auto& x, auto v) { x.family = v; });
    t.num<std::uint64_t>("circuit", [](auto& x, auto v) { x.circuit = v; });
    t.num<std::int32_t>("circuit_task", [](auto& x, auto v) { x.circuit_task = v; });
    t.str("components", [&](auto& x, const std::string& v) {
      x.components = vocab::parse_components(v, where + "/components");
    });
    t.metrics();
  }
}

// The pruning tables hold exactly the circuits of the pruning tables' rows: one /circuits row per
// row of every pruning family's table (same experiment and index, same removed set), steps only
// of those circuits, cross-task rows only of existing circuits.
void verify_pruning(const std::string& path, const Results& r) {
  std::map<std::tuple<ExperimentIndex, std::int32_t, std::uint64_t>, const Row*> rows;
  for (std::size_t f = 0; f < r.tables.size(); ++f) {
    if (!is_pruning(r.meta.families[f])) continue;
    for (const auto& row : r.tables[f])
      rows[{row.exp, static_cast<std::int32_t>(f), row.intervention}] = &row;
  }
  if (rows.empty() && r.circuits.empty() && r.steps.empty() && r.cross_task.empty()) return;
  std::set<std::tuple<ExperimentIndex, std::int32_t, std::uint64_t>> seen;
  for (const auto& c : r.circuits) {
    const auto key = std::make_tuple(c.exp, c.family, c.circuit);
    const auto it = rows.find(key);
    if (it == rows.end())
      throw input_error(path, "/circuits has a circuit without its pruning-table row",
                        fmt::format("family {}, circuit {}, {}", c.family, c.circuit, describe(c.exp)),
                        "one /circuits row per row of a pruning family's table");
    if (!seen.insert(key).second)
      throw input_error(path, "/circuits lists a circuit twice",
                        fmt::format("family {}, circuit {}, {}", c.family, c.circuit, describe(c.exp)),
                        "each circuit once");
    // The table row ablates what the run removed: circuit + removed = the pool, disjoint.
    for (const auto& x : c.components)
      if (std::find(it->second->components.begin(), it->second->components.end(), x) !=
          it->second->components.end())
        throw input_error(path, "/circuits and the pruning table disagree",
                          fmt::format("circuit {} of family {} keeps {} which its table row ablates",
                                      c.circuit, c.family, vocab::component_name(x)),
                          "the table row ablating exactly the components outside the circuit");
  }
  if (seen.size() != rows.size())
    throw input_error(path, "/circuits misses circuits of the pruning tables",
                      fmt::format("{} circuits for {} pruning-table rows", seen.size(), rows.size()),
                      "one /circuits row per row");
  for (const auto& s : r.steps)
    if (!seen.count({s.exp, s.family, s.circuit}))
      throw input_error(path, "/pruning_steps has a step of no circuit",
                        fmt::format("family {}, circuit {}, step {}, {}", s.family, s.circuit, s.step,
                                    describe(s.exp)),
                        "steps only of circuits in /circuits");
  for (const auto& x : r.cross_task) {
    if (x.circuit_task >= 0) {
      ExperimentIndex own = x.exp;
      own.task = x.circuit_task;
      if (!seen.count({own, x.family, x.circuit}))
        throw input_error(path, "/cross_task evaluates a circuit that /circuits does not hold",
                          fmt::format("family {}, circuit {}, task {}", x.family, x.circuit,
                                      x.circuit_task),
                          "cross-task rows of existing circuits");
    }
  }
}

// ---- circuit-stage tables (/edge_circuits, /edges, /faithfulness_curves, /faithfulness) ---------

void write_stage_tables(hid_t root, const Results& r, const std::string& path) {
  if (r.edge_circuits.empty() && r.curves.empty()) return;
  using interv::ComponentKind;
  if (!r.edge_circuits.empty()) {
    Hid g = table_group(root, "edge_circuits", r, r.edge_circuits, GroupAttrs::kFingerprintAndStages, path);
    TableOut<EdgeCircuitRow> t(g, std::begin(kEdgeCircuitColumns), std::end(kEdgeCircuitColumns), r.edge_circuits, path);
    t.str("stage", [](auto& x) { return x.stage; });
    t.num<std::uint64_t>("circuit", [](auto& x) { return x.circuit; });
    t.str("source", [](auto& x) { return x.source; });
    t.num<double>("threshold", [](auto& x) { return x.threshold; });
    t.str("order", [](auto& x) { return x.order; });
    t.str("components", [](auto& x) { return vocab::components_name(x.components); });
    t.num<std::int32_t>("n_components", [](auto& x) { return x.components.size(); });
    t.num<std::int64_t>("n_candidates", [](auto& x) { return x.n_candidates; });
    t.num<std::int64_t>("n_kept", [](auto& x) { return x.n_kept; });
    t.num<std::int8_t>("inside", [](auto& x) { return x.inside ? 1 : 0; });
    t.num<double>("ratio_rule", [](auto& x) { return x.ratio_rule; });
    t.num<double>("effect_rule", [](auto& x) { return x.effect_rule; });
    t.num<double>("clean_logit_diff", [](auto& x) { return x.clean_logit_diff; });
    t.num<double>("corrupted_logit_diff", [](auto& x) { return x.corrupted_logit_diff; });
    t.num<double>("circuit_logit_diff", [](auto& x) { return x.circuit_logit_diff; });
    t.num<double>("circuit_performance", [](auto& x) { return x.circuit_performance; });
    t.num<double>("recheck_logit_diff", [](auto& x) { return x.recheck_logit_diff; });
    t.num<double>("recheck_performance", [](auto& x) { return x.recheck_performance; });
    t.num<double>("recheck_normalized", [](auto& x) { return x.recheck_normalized; });
  }
  if (!r.edge_circuits.empty()) {
    Hid g = table_group(root, "edges", r, r.edges, GroupAttrs::kFingerprintAndStages, path);
    TableOut<EdgeRow> t(g, std::begin(kEdgeColumns), std::end(kEdgeColumns), r.edges, path);
    t.str("stage", [](auto& x) { return x.stage; });
    t.num<std::uint64_t>("circuit", [](auto& x) { return x.circuit; });
    t.str("edge", [](auto& x) { return vocab::edge_name(x.edge); });
    t.str("sender", [](auto& x) { return vocab::node_name(x.edge.sender); });
    t.num<std::int8_t>("sender_kind", [](auto& x) { return static_cast<int>(x.edge.sender.kind); });
    t.num<std::int32_t>("sender_layer", [](auto& x) { return x.edge.sender.layer; });
    t.num<std::int32_t>("sender_index", [](auto& x) { return x.edge.sender.index; });
    t.str("receiver", [](auto& x) {
      const auto n = vocab::edge_name(x.edge);
      return n.substr(n.find("->") + 2);
    });
    t.str("channel", [](auto& x) { return vocab::channel_name(x.edge.receiver.kind); });
    t.num<std::int32_t>("receiver_layer", [](auto& x) {
      return x.edge.receiver.kind == interv::ReceiverKind::kResidFinal ? -1 : x.edge.receiver.layer;
    });
    t.num<std::int32_t>("receiver_head", [](auto& x) {
      const auto k = x.edge.receiver.kind;
      return k == interv::ReceiverKind::kResidFinal || k == interv::ReceiverKind::kMlpIn ? -1 : x.edge.receiver.head;
    });
    t.num<double>("logit_diff", [](auto& x) { return x.logit_diff; });
    t.num<double>("ratio", [](auto& x) { return x.ratio; });
    t.num<double>("effect", [](auto& x) { return x.effect; });
    t.num<std::int8_t>("kept", [](auto& x) { return x.kept ? 1 : 0; });
  }
  if (!r.curves.empty()) {
    Hid g = table_group(root, "faithfulness_curves", r, r.curves, GroupAttrs::kFingerprintAndStages, path);
    TableOut<CurveRow> t(g, std::begin(kFaithfulnessCurveColumns), std::end(kFaithfulnessCurveColumns), r.curves, path);
    t.str("stage", [](auto& x) { return x.stage; });
    t.num<std::uint64_t>("curve", [](auto& x) { return x.curve; });
    t.str("source", [](auto& x) { return x.source; });
    t.str("level", [](auto& x) { return x.level; });
    t.num<std::int64_t>("n_items", [](auto& x) { return x.n_items; });
    t.str("metric", [](auto& x) { return x.metric; });
    t.num<double>("m_full", [](auto& x) { return x.m_full; });
    t.num<double>("m_empty", [](auto& x) { return x.m_empty; });
    t.num<double>("cpr", [](auto& x) { return x.cpr; });
    t.num<double>("cmd", [](auto& x) { return x.cmd; });
    t.num<double>("average", [](auto& x) { return x.average; });
    t.str("ranking", [](auto& x) { return x.ranking; });
  }
  if (!r.curves.empty()) {
    Hid g = table_group(root, "faithfulness", r, r.curve_points, GroupAttrs::kFingerprintAndStages, path);
    TableOut<CurvePointRow> t(g, std::begin(kFaithfulnessColumns), std::end(kFaithfulnessColumns), r.curve_points, path);
    t.str("stage", [](auto& x) { return x.stage; });
    t.num<std::uint64_t>("curve", [](auto& x) { return x.curve; });
    t.num<std::int64_t>("size", [](auto& x) { return x.size; });
    t.num<double>("fraction", [](auto& x) { return x.fraction; });
    t.num<std::int8_t>("mib", [](auto& x) { return x.mib ? 1 : 0; });
    t.num<double>("score", [](auto& x) { return x.score; });
    t.num<double>("faithfulness", [](auto& x) { return x.faithfulness; });
  }
  (void)ComponentKind::kHead;
}

void read_stage_tables(hid_t root, Results* r, const std::string& path) {
  auto has = [&](const char* n) { return H5Lexists(root, n, H5P_DEFAULT) > 0; };
  if (has("edge_circuits")) {
    TableIn<EdgeCircuitRow> t(root, "edge_circuits", *r, &r->edge_circuits, path);
    r->stages_json = t.stages();
    const std::string where = t.where();
    t.str("stage", [](auto& x, const std::string& v) { x.stage = v; });
    t.num<std::uint64_t>("circuit", [](auto& x, auto v) { x.circuit = v; });
    t.str("source", [](auto& x, const std::string& v) { x.source = v; });
    t.num<double>("threshold", [](auto& x, auto v) { x.threshold = v; });
    t.str("order", [](auto& x, const std::string& v) { x.order = v; });
    t.str("components", [&](auto& x, const std::string& v) { x.components = vocab::parse_components(v, where + "/components"); });
    t.num<std::int64_t>("n_candidates", [](auto& x, auto v) { x.n_candidates = v; });
    t.num<std::int64_t>("n_kept", [](auto& x, auto v) { x.n_kept = v; });
    t.num<std::int8_t>("inside", [](auto& x, auto v) { x.inside = v != 0; });
    t.num<double>("ratio_rule", [](auto& x, auto v) { x.ratio_rule = v; });
    t.num<double>("effect_rule", [](auto& x, auto v) { x.effect_rule = v; });
    t.num<double>("clean_logit_diff", [](auto& x, auto v) { x.clean_logit_diff = v; });
    t.num<double>("corrupted_logit_diff", [](auto& x, auto v) { x.corrupted_logit_diff = v; });
    t.num<double>("circuit_logit_diff", [](auto& x, auto v) { x.circuit_logit_diff = v; });
    t.num<double>("circuit_performance", [](auto& x, auto v) { x.circuit_performance = v; });
    t.num<double>("recheck_logit_diff", [](auto& x, auto v) { x.recheck_logit_diff = v; });
    t.num<double>("recheck_performance", [](auto& x, auto v) { x.recheck_performance = v; });
    t.num<double>("recheck_normalized", [](auto& x, auto v) { x.recheck_normalized = v; });
  }
  if (has("edges")) {
    TableIn<EdgeRow> t(root, "edges", *r, &r->edges, path);
    const std::string where = t.where();
    t.str("stage", [](auto& x, const std::string& v) { x.stage = v; });
    t.num<std::uint64_t>("circuit", [](auto& x, auto v) { x.circuit = v; });
    t.str("edge", [&](auto& x, const std::string& v) { x.edge = vocab::parse_edge(v, where + "/edge"); });
    t.num<double>("logit_diff", [](auto& x, auto v) { x.logit_diff = v; });
    t.num<double>("ratio", [](auto& x, auto v) { x.ratio = v; });
    t.num<double>("effect", [](auto& x, auto v) { x.effect = v; });
    t.num<std::int8_t>("kept", [](auto& x, auto v) { x.kept = v != 0; });
  }
  if (has("faithfulness_curves")) {
    TableIn<CurveRow> t(root, "faithfulness_curves", *r, &r->curves, path);
    if (r->stages_json.empty()) r->stages_json = t.stages();
    t.str("stage", [](auto& x, const std::string& v) { x.stage = v; });
    t.num<std::uint64_t>("curve", [](auto& x, auto v) { x.curve = v; });
    t.str("source", [](auto& x, const std::string& v) { x.source = v; });
    t.str("level", [](auto& x, const std::string& v) { x.level = v; });
    t.num<std::int64_t>("n_items", [](auto& x, auto v) { x.n_items = v; });
    t.str("metric", [](auto& x, const std::string& v) { x.metric = v; });
    t.num<double>("m_full", [](auto& x, auto v) { x.m_full = v; });
    t.num<double>("m_empty", [](auto& x, auto v) { x.m_empty = v; });
    t.num<double>("cpr", [](auto& x, auto v) { x.cpr = v; });
    t.num<double>("cmd", [](auto& x, auto v) { x.cmd = v; });
    t.num<double>("average", [](auto& x, auto v) { x.average = v; });
    t.str("ranking", [](auto& x, const std::string& v) { x.ranking = v; });
  }
  if (has("faithfulness")) {
    TableIn<CurvePointRow> t(root, "faithfulness", *r, &r->curve_points, path);
    t.str("stage", [](auto& x, const std::string& v) { x.stage = v; });
    t.num<std::uint64_t>("curve", [](auto& x, auto v) { x.curve = v; });
    t.num<std::int64_t>("size", [](auto& x, auto v) { x.size = v; });
    t.num<double>("fraction", [](auto& x, auto v) { x.fraction = v; });
    t.num<std::int8_t>("mib", [](auto& x, auto v) { x.mib = v != 0; });
    t.num<double>("score", [](auto& x, auto v) { x.score = v; });
    t.num<double>("faithfulness", [](auto& x, auto v) { x.faithfulness = v; });
  }
}

// Every edge belongs to a circuit of its stage, every circuit has exactly n_candidates edges of
// which n_kept kept; every point belongs to a curve.
void verify_stages(const std::string& path, const Results& r) {
  std::map<std::tuple<ExperimentIndex, std::string, std::uint64_t>, std::pair<std::int64_t, std::int64_t>> count;
  for (const auto& c : r.edge_circuits)
    if (!count.emplace(std::make_tuple(c.exp, c.stage, c.circuit), std::make_pair(0, 0)).second)
      throw input_error(path, "/edge_circuits lists a circuit twice",
                        fmt::format("stage {}, circuit {}, {}", c.stage, c.circuit, describe(c.exp)), "each once");
  for (const auto& e : r.edges) {
    auto it = count.find({e.exp, e.stage, e.circuit});
    if (it == count.end())
      throw input_error(path, "/edges has an edge of no circuit",
                        fmt::format("stage {}, circuit {}, edge {}", e.stage, e.circuit, vocab::edge_name(e.edge)),
                        "edges of circuits in /edge_circuits");
    ++it->second.first;
    it->second.second += e.kept;
  }
  for (const auto& c : r.edge_circuits) {
    const auto& n = count[{c.exp, c.stage, c.circuit}];
    if (n.first != c.n_candidates || n.second != c.n_kept)
      throw input_error(path, "/edges and /edge_circuits disagree",
                        fmt::format("stage {}, circuit {}: {} edges ({} kept) for n_candidates {} (n_kept {})",
                                    c.stage, c.circuit, n.first, n.second, c.n_candidates, c.n_kept),
                        "n_candidates rows in /edges, n_kept of them kept");
  }
  std::set<std::tuple<ExperimentIndex, std::string, std::uint64_t>> curves;
  for (const auto& c : r.curves)
    if (!curves.insert({c.exp, c.stage, c.curve}).second)
      throw input_error(path, "/faithfulness_curves lists a curve twice", c.stage, "each once");
  for (const auto& p : r.curve_points)
    if (!curves.count({p.exp, p.stage, p.curve}))
      throw input_error(path, "/faithfulness has a point of no curve",
                        fmt::format("stage {}, curve {}", p.stage, p.curve), "points of curves in /faithfulness_curves");
}

// ---- unit layout (/ledger/segments) -------------------------------------------------------------

void write_layout(hid_t ledger, const UnitLayout& layout, const std::string& path) {
  Hid g = make_group(ledger, "segments", path);
  const auto& segs = layout.segments();
  const hsize_t n = segs.size();
  std::vector<ExperimentIndex> exps;
  for (const auto& s : segs) exps.push_back(s.exp);
  write_experiment_columns(g, exps, path);
  std::vector<std::int32_t> family(n);
  std::vector<std::uint64_t> first(n), units(n), size(n), usize(n);
  for (hsize_t i = 0; i < n; ++i) {
    family[i] = segs[i].family;
    first[i] = segs[i].first_unit;
    units[i] = segs[i].n_units;
    size[i] = segs[i].size;
    usize[i] = segs[i].unit_size;
  }
  write_column(g, COL(kSegmentColumns, "family"), family, n, 1, path);
  write_column(g, COL(kSegmentColumns, "first_unit"), first, n, 1, path);
  write_column(g, COL(kSegmentColumns, "n_units"), units, n, 1, path);
  write_column(g, COL(kSegmentColumns, "size"), size, n, 1, path);
  write_column(g, COL(kSegmentColumns, "unit_size"), usize, n, 1, path);
  write_num_attr<std::uint64_t>(ledger, "unit_size", {layout.unit_size()}, true, H5T_STD_U64LE,
                                path);
}

UnitLayout read_layout(hid_t ledger, const std::string& path) {
  const std::string where = path + ": /ledger/segments";
  Hid g(check_id(H5Gopen2(ledger, "segments", H5P_DEFAULT), path, "open group /ledger/segments"),
        H5Gclose);
  const auto exps = read_experiment_columns(g, where);
  const auto family = read_column<std::int32_t>(g, "family", where);
  const auto first = read_column<std::uint64_t>(g, "first_unit", where);
  const auto units = read_column<std::uint64_t>(g, "n_units", where);
  const auto size = read_column<std::uint64_t>(g, "size", where);
  const auto unit_size = read_num_attr<std::uint64_t>(ledger, "unit_size", path);
  const std::size_t n = exps.size();
  CSWEEP_CHECK_INPUT(family.size() == n && first.size() == n && units.size() == n &&
                         size.size() == n && unit_size.size() == 1 && unit_size[0] > 0,
                     "{}: inconsistent column lengths or unit_size", where);
  // Format 2 has no per-segment column: every segment used the /ledger attribute.
  std::vector<std::uint64_t> usize(n, unit_size[0]);
  if (H5Lexists(g, "unit_size", H5P_DEFAULT) > 0) {
    usize = read_column<std::uint64_t>(g, "unit_size", where);
    CSWEEP_CHECK_INPUT(usize.size() == n, "{}/unit_size: {} values, expected {}", where,
                       usize.size(), n);
  }
  std::vector<Segment> segs(n);
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    CSWEEP_CHECK_INPUT(usize[i] > 0, "{}/unit_size: segment {} has unit size 0", where, i);
    segs[i] = {exps[i], family[i], first[i], units[i], size[i], usize[i]};
    const std::uint64_t want = size[i] / usize[i] + (size[i] % usize[i] ? 1 : 0);
    CSWEEP_CHECK_INPUT(first[i] == next && units[i] == want,
                       "{}: segment {} (units {} + {}, {} interventions) is not contiguous with "
                       "unit size {}",
                       where, i, first[i], units[i], size[i], usize[i]);
    next += units[i];
  }
  return UnitLayout(unit_size[0], std::move(segs));
}

std::vector<TableView> table_views(const Results& r) {
  std::vector<TableView> v;
  for (std::size_t f = 0; f < r.tables.size(); ++f)
    v.push_back({r.meta.families[f].name, static_cast<std::int32_t>(f), &r.tables[f]});
  return v;
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Results read_impl(const std::string& path, bool with_rows) {
  h5::init();
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw input_error(path, "not an HDF5 file (or unreadable)", "", "a csweep results file");
  Hid file(check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "open file"),
           H5Fclose);
  Hid root(check_id(H5Gopen2(file, "/", H5P_DEFAULT), path, "open /"), H5Gclose);
  if (!has_attr(root, "format_version"))
    throw input_error(path, "no root attribute format_version", "",
                      "a file written by csweep run or csweep merge");
  const auto version = read_num_attr<std::int64_t>(root, "format_version", path);
  if (version.size() != 1 || version[0] < kOldestReadableFormatVersion ||
      version[0] > kFormatVersion)
    throw input_error(path, "unsupported format_version",
                      version.empty() ? "none" : std::to_string(version[0]),
                      fmt::format("{} to {}", kOldestReadableFormatVersion, kFormatVersion));
  Results r;
  FileMeta& m = r.meta;
  m.model_names = read_text_attr_values(root, "model_names", path);
  m.task_names = read_text_attr_values(root, "task_names", path);
  m.corruption_names = read_text_attr_values(root, "corruption_names", path);
  m.ablation_names = read_text_attr_values(root, "ablation_names", path);
  m.metric_sets = read_text_attr_values(root, "metric_sets", path);
  m.seeds = read_num_attr<std::int64_t>(root, "seeds", path);
  const auto family_names = read_text_attr_values(root, "family_names", path);

  // Provenance: every other root attribute, classified by type.
  const std::vector<std::string> structural = {"format_version", "model_names",    "task_names",
                                               "corruption_names", "ablation_names", "metric_sets",
                                               "seeds",          "family_names"};
  std::vector<std::string> names;
  H5Aiterate2(
      root, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  for (const auto& name : names) {
    if (std::find(structural.begin(), structural.end(), name) != structural.end()) continue;
    Hid attr(H5Aopen(root, name.c_str(), H5P_DEFAULT), H5Aclose);
    Hid type(H5Aget_type(attr), H5Tclose);
    switch (H5Tget_class(type)) {
      case H5T_STRING: m.text_attrs[name] = read_text_attr(root, name, path); break;
      case H5T_INTEGER: m.int_attrs[name] = read_num_attr<std::int64_t>(root, name, path).at(0); break;
      case H5T_FLOAT: m.real_attrs[name] = read_num_attr<double>(root, name, path).at(0); break;
      default: break;
    }
  }

  Hid ledger(check_id(H5Gopen2(file, "ledger", H5P_DEFAULT), path, "open group /ledger"),
             H5Gclose);
  m.total_units = read_num_attr<std::uint64_t>(ledger, "total_units", path).at(0);
  m.grid_fingerprint = read_text_attr(ledger, "grid_fingerprint", path);
  m.shard_index = read_num_attr<std::int32_t>(ledger, "shard_index", path).at(0);
  m.shard_count = read_num_attr<std::int32_t>(ledger, "shard_count", path).at(0);
  r.ledger = read_column<std::uint64_t>(ledger, "unit", path);
  m.layout = read_layout(ledger, path);
  CSWEEP_CHECK_INPUT(m.layout.total_units() == m.total_units,
                     "{}: /ledger/segments describe {} units, /ledger total_units says {}", path,
                     m.layout.total_units(), m.total_units);

  Hid tables(check_id(H5Gopen2(file, "tables", H5P_DEFAULT), path, "open group /tables"),
             H5Gclose);
  for (const auto& name : family_names) {
    Hid g(check_id(H5Gopen2(tables, name.c_str(), H5P_DEFAULT), path, "open /tables/" + name),
          H5Gclose);
    FamilyMeta fm;
    fm.name = name;
    fm.kind = read_text_attr(g, "kind", path);
    fm.spec_json = read_text_attr(g, "spec", path);
    fm.position_labels = read_text_attr_values(g, "position_labels", path);
    fm.max_components = read_num_attr<std::int32_t>(g, "max_components", path).at(0);
    m.families.push_back(fm);
    r.tables.push_back(with_rows ? read_table(tables, name, path) : std::vector<Row>{});
  }
  if (with_rows) {
    r.baselines = read_baselines(root, path);
    verify_contents(path, m.layout, r.ledger, table_views(r), r.baselines);
    read_pruning_tables(root, &r, path);
    verify_pruning(path, r);
    read_stage_tables(root, &r, path);
    verify_stages(path, r);
  } else {
    verify_ledger(path, m.layout, r.ledger);
  }
  return r;
}

}  // namespace

std::pair<std::uint64_t, std::uint64_t> shard_unit_range(std::uint64_t total_units, int index,
                                                         int count) {
  CSWEEP_ASSERT(count >= 1 && index >= 0 && index < count, "shard {}/{}", index, count);
  const auto t = static_cast<unsigned __int128>(total_units);
  return {static_cast<std::uint64_t>(t * static_cast<unsigned>(index) / static_cast<unsigned>(count)),
          static_cast<std::uint64_t>(t * static_cast<unsigned>(index + 1) / static_cast<unsigned>(count))};
}

std::pair<std::uint64_t, std::uint64_t> shard_coverage(const Results& results) {
  const FileMeta& m = results.meta;
  const auto [first, last] = shard_unit_range(m.total_units, m.shard_index, m.shard_count);
  std::vector<std::uint64_t> units = results.ledger;
  std::sort(units.begin(), units.end());
  units.erase(std::unique(units.begin(), units.end()), units.end());
  const auto done = std::count_if(units.begin(), units.end(),
                                  [&](std::uint64_t u) { return u >= first && u < last; });
  return {static_cast<std::uint64_t>(done), last - first};
}

void write_results(const std::string& path, Results& results) {
  h5::init();
  const FileMeta& m = results.meta;
  CSWEEP_ASSERT(results.tables.size() == m.families.size(), "{} tables for {} families",
                results.tables.size(), m.families.size());
  CSWEEP_ASSERT(m.layout.total_units() == m.total_units, "layout of {} units for a {}-unit grid",
                m.layout.total_units(), m.total_units);
  for (auto& t : results.tables) sort_rows(t);
  sort_baselines(results.baselines);
  std::sort(results.ledger.begin(), results.ledger.end());
  // Every writer (run, resume, merge) goes through here: never write a file its own reader
  // would refuse.
  sort_circuits(results.circuits);
  sort_steps(results.steps);
  sort_cross_task(results.cross_task);
  sort_edge_circuits(results.edge_circuits);
  sort_edges(results.edges);
  sort_curves(results.curves);
  sort_curve_points(results.curve_points);
  try {
    verify_contents(path, m.layout, results.ledger, table_views(results), results.baselines);
    verify_pruning(path, results);
    verify_stages(path, results);
  } catch (const InputError& e) {
    throw InternalError(std::string("refusing to write inconsistent results: ") + e.what());
  }
  // Derived here from the ledger, never taken from the caller: a reader must not mistake an
  // interrupted run's (or an unfinished shard's) file for the whole grid.
  const auto [done, expected] = shard_coverage(results);
  results.meta.int_attrs["complete"] = done == expected ? 1 : 0;

  // The file is built in memory (HDF5's core driver, no backing store) and written with plain
  // write()/fsync() afterwards. So HDF5 never meets a disk error: disk full, a quota or a file
  // size limit surface as one errno of ours, with nothing half-closed inside the library (a
  // failed flush there used to crash its exit handler), and the .tmp is removed. Costs one
  // in-memory copy of the compressed file, small next to the rows held to write it.
  const std::string tmp = path + ".tmp";
  std::vector<unsigned char> image;
  {
    Hid fapl(wcheck_id(H5Pcreate(H5P_FILE_ACCESS), path, "file access list"), H5Pclose);
    wcheck(H5Pset_fapl_core(fapl, 16u << 20, /*backing_store=*/0), path, "core driver");
    Hid file(wcheck_id(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), tmp,
                       "create file in memory"),
             H5Fclose);
    Hid root(wcheck_id(H5Gopen2(file, "/", H5P_DEFAULT), tmp, "open /"), H5Gclose);
    write_num_attr<std::int64_t>(root, "format_version", {kFormatVersion}, true, H5T_STD_I64LE,
                                 tmp);
    write_text_list_attr(root, "model_names", m.model_names, tmp);
    write_text_list_attr(root, "task_names", m.task_names, tmp);
    write_text_list_attr(root, "corruption_names", m.corruption_names, tmp);
    write_text_list_attr(root, "ablation_names", m.ablation_names, tmp);
    write_text_list_attr(root, "metric_sets", m.metric_sets, tmp);
    write_num_attr<std::int64_t>(root, "seeds", m.seeds, false, H5T_STD_I64LE, tmp);
    std::vector<std::string> family_names;
    for (const auto& f : m.families) family_names.push_back(f.name);
    write_text_list_attr(root, "family_names", family_names, tmp);
    for (const auto& [k, v] : m.text_attrs) write_text_attr(root, k, v, tmp);
    for (const auto& [k, v] : m.int_attrs)
      write_num_attr<std::int64_t>(root, k, {v}, true, H5T_STD_I64LE, tmp);
    for (const auto& [k, v] : m.real_attrs)
      write_num_attr<double>(root, k, {v}, true, H5T_IEEE_F64LE, tmp);

    write_baselines(root, results.baselines, tmp);
    {
      Hid tables = make_group(root, "tables", tmp);
      for (std::size_t f = 0; f < m.families.size(); ++f)
        write_table(tables, m.families[f], results.tables[f], tmp);
    }
    write_pruning_tables(root, results, tmp);
    write_stage_tables(root, results, tmp);
    {
      Hid ledger = make_group(root, "ledger", tmp);
      write_column(ledger, kLedgerColumns[0], results.ledger, results.ledger.size(), 1, tmp);
      write_num_attr<std::uint64_t>(ledger, "total_units", {m.total_units}, true, H5T_STD_U64LE,
                                    tmp);
      write_text_attr(ledger, "grid_fingerprint", m.grid_fingerprint, tmp);
      write_num_attr<std::int32_t>(ledger, "shard_index", {m.shard_index}, true, H5T_STD_I32LE,
                                   tmp);
      write_num_attr<std::int32_t>(ledger, "shard_count", {m.shard_count}, true, H5T_STD_I32LE,
                                   tmp);
      write_layout(ledger, m.layout, tmp);
    }
    attach_dimension_scales(file, tmp);  // named dimensions for netCDF readers (xarray)
    root.reset();
    wcheck(H5Fflush(file, H5F_SCOPE_GLOBAL), tmp, "flush");
    const ssize_t size = H5Fget_file_image(file, nullptr, 0);
    wcheck(size < 0 ? -1 : 0, tmp, "size of the file image");
    image.resize(static_cast<std::size_t>(size));
    wcheck(H5Fget_file_image(file, image.data(), image.size()) == size ? 0 : -1, tmp,
           "copy of the file image");
    wcheck(file.close(), tmp, "close the in-memory file");
  }
  write_file_durably(tmp, image, path);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw io_error(path, "rename from " + tmp + " failed", std::strerror(err));
  }
  fsync_dir(dir_of(path));
}

Results read_results(const std::string& path) { return read_impl(path, true); }
Results read_results_meta(const std::string& path) { return read_impl(path, false); }

}  // namespace csweep::reducers
