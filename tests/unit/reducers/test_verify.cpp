// A results file is read only when its tables hold exactly the rows of its ledger's units, and
// a value changed on disk fails its checksum. The files are edited here with the plain HDF5 C
// API, as a user would with h5py.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "core/error.hpp"
#include "reducers/ledger.hpp"
#include "reducers/merge.hpp"
#include "tests/unit/reducers/fixtures.hpp"

namespace csweep::reducers {
namespace {

std::string what(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// A complete 10-unit file (units 0..9).
std::string complete_file(const std::string& out) {
  Ledger l(out, meta());
  for (std::uint64_t u = 0; u < 10; ++u) l.append(record(u));
  l.finish(meta());
  return out;
}

// Replaces dataset `name` by a 1-D one holding `values` (what `del f[name]; f[name] = values`
// does in h5py).
template <class T>
void replace_dataset(const std::string& file, const std::string& name, const std::vector<T>& values,
                     hid_t type) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  ASSERT_GE(H5Ldelete(f, name.c_str(), H5P_DEFAULT), 0);
  const hsize_t n = values.size();
  const hid_t space = H5Screate_simple(1, &n, nullptr);
  const hid_t ds = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  ASSERT_GE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(ds);
  H5Sclose(space);
  ASSERT_GE(H5Fclose(f), 0);
}

// Overwrites element `index` of an existing 1-D dataset in place.
template <class T>
void poke(const std::string& file, const std::string& name, hsize_t index, T value, hid_t type) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t ds = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  const hid_t fspace = H5Dget_space(ds);
  const hsize_t one = 1;
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &index, nullptr, &one, nullptr);
  const hid_t mspace = H5Screate_simple(1, &one, nullptr);
  ASSERT_GE(H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, &value), 0);
  H5Sclose(mspace);
  H5Sclose(fspace);
  H5Dclose(ds);
  ASSERT_GE(H5Fclose(f), 0);
}

std::vector<std::uint64_t> iota(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Issue 8, defect 2: /ledger/unit edited to drop units whose rows stay in the tables (a resume
// would add those rows a second time).
TEST_F(TempDir, LedgerMissingUnitsOfPresentRowsIsRefused) {
  const std::string out = complete_file(path("o.h5"));
  replace_dataset<std::uint64_t>(out, "/ledger/unit", {0, 1, 2, 3, 4, 5, 6, 9}, H5T_NATIVE_UINT64);
  const std::string msg = what([&] { read_results(out); });
  EXPECT_NE(msg.find(out + ": /tables/pairs: 4 row(s) belong to 2 unit(s) that /ledger/unit does "
                           "not list: 7-8"),
            std::string::npos) << msg;
  // Refused on resume and on merge too, before anything is written.
  EXPECT_NE(what([&] { Ledger l(out, meta()); }).find("7-8"), std::string::npos);
  EXPECT_NE(what([&] { merge_shards(path("m.h5"), {out}, {}); }).find("7-8"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("m.h5")));
}

// Issue 8, defect 2: /ledger/unit edited to claim units whose rows are not there.
TEST_F(TempDir, LedgerClaimingUnitsWithoutRowsIsRefused) {
  const std::string out = path("o.h5");
  {
    Ledger l(out, meta());
    for (std::uint64_t u : {0u, 1u, 6u}) l.append(record(u));
    l.finish(meta());
  }
  replace_dataset<std::uint64_t>(out, "/ledger/unit", iota(10), H5T_NATIVE_UINT64);
  const std::string msg = what([&] { read_results(out); });
  EXPECT_NE(msg.find(out + ": 7 unit(s) listed in /ledger/unit do not have their rows (unit 2 has "
                           "0 row(s), the grid gives it 2): 2-5, 7-9"),
            std::string::npos) << msg;
  EXPECT_NE(what([&] { Ledger l(out, meta()); }).find("2-5, 7-9"), std::string::npos);
}

TEST_F(TempDir, LedgerListingAUnitTwiceIsRefused) {
  const std::string out = complete_file(path("o.h5"));
  replace_dataset<std::uint64_t>(out, "/ledger/unit", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9},
                                 H5T_NATIVE_UINT64);
  EXPECT_NE(what([&] { read_results(out); }).find("lists 1 unit(s) more than once: 9"),
            std::string::npos);
  // The cheap metadata read used before a merge checks the ledger too.
  EXPECT_NE(what([&] { read_results_meta(out); }).find("more than once"), std::string::npos);
}

// A duplicated intervention key with the right row count per unit: only the key check sees it.
TEST_F(TempDir, DuplicateInterventionKeyIsRefused) {
  const std::string out = complete_file(path("o.h5"));
  // Rows are sorted: row 1 is intervention 1 of task 0; make it a second intervention 0.
  poke<std::uint64_t>(out, "/tables/pairs/intervention", 1, 0, H5T_NATIVE_UINT64);
  const std::string msg = what([&] { read_results(out); });
  EXPECT_NE(msg.find("/tables/pairs: 1 duplicated row(s) (first: intervention 0 of model 0, seed "
                     "0, task 0"),
            std::string::npos) << msg;
}

TEST_F(TempDir, BaselinesMustMatchTheLedgersExperiments) {
  const std::string out = complete_file(path("o.h5"));
  // Baselines sorted by experiment: row 1 is task 1. Relabel it task 0: task 0 twice, 1 missing.
  poke<std::int32_t>(out, "/baselines/task", 1, 0, H5T_NATIVE_INT32);
  EXPECT_NE(what([&] { read_results(out); }).find("/baselines holds 2 rows for model 0, seed 0, task 0"),
            std::string::npos);
  poke<std::int32_t>(out, "/baselines/task", 1, 5, H5T_NATIVE_INT32);
  EXPECT_NE(what([&] { read_results(out); })
                .find("/baselines holds a row for model 0, seed 0, task 5, corruption 0, ablation 0, "
                      "metric_set 0, which has no unit"),
            std::string::npos);
}

// Issue 8, defect 11: the readable "components" column names the row's components; the reader
// refuses a file where it disagrees with the component_* columns.
TEST_F(TempDir, ComponentsColumnNamesTheComponents) {
  const std::string out = complete_file(path("o.h5"));
  const hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(f, "/tables/pairs/components", H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  const hid_t type = H5Dget_type(ds);
  const std::size_t width = H5Tget_size(type);
  const hid_t space = H5Dget_space(ds);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  std::vector<char> buf(n * width);
  ASSERT_GE(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), 0);
  auto row = [&](std::size_t i) { return std::string(buf.data() + i * width, strnlen(buf.data() + i * width, width)); };
  // fixtures.hpp: even interventions ablate head 1.0, odd ones 1.1 together with mlp2.
  EXPECT_EQ(row(0), "1.0");
  EXPECT_EQ(row(1), "1.1+mlp2");
  std::fill(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(width), '\0');
  buf[0] = '9';
  ASSERT_GE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), 0);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(ds);
  ASSERT_GE(H5Fclose(f), 0);
  const std::string msg = what([&] { read_results(out); });
  EXPECT_NE(msg.find("/tables/pairs/components: row 0 says '9', its component_* columns say '1.0'"),
            std::string::npos) << msg;
}

// Issue 8, defect 2: fletcher32 on every result dataset. One byte flipped in the stored chunk of
// a metric column is detected on read instead of returning a wrong value.
TEST_F(TempDir, FlippedByteFailsTheChecksum) {
  const std::string out = complete_file(path("o.h5"));
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    const hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t ds = H5Dopen2(f, "/tables/pairs/logit_diff", H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    const hid_t dcpl = H5Dget_create_plist(ds);
    bool has_fletcher = false;
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0;
      size_t n = 0;
      has_fletcher |= H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &n, nullptr, 0,
                                     nullptr, nullptr) == H5Z_FILTER_FLETCHER32;
    }
    EXPECT_TRUE(has_fletcher);
    hsize_t offset[1];
    unsigned mask = 0;
    const hid_t space = H5Dget_space(ds);
    ASSERT_GE(H5Dget_chunk_info(ds, space, 0, offset, &mask, &addr, &size), 0);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
  }
  ASSERT_GT(size, 4u);
  const int fd = ::open(out.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char byte = 0;
  const off_t at = static_cast<off_t>(addr + size / 2);
  ASSERT_EQ(::pread(fd, &byte, 1, at), 1);
  byte ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &byte, 1, at), 1);
  ::close(fd);
  const std::string msg = what([&] { read_results(out); });
  EXPECT_NE(msg.find(out + ": /tables/pairs: read dataset logit_diff: checksum mismatch"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace csweep::reducers
