#pragma once
// Shared HDF5 plumbing (torch-free): library set-up, RAII identifiers, and HDF5's error stack
// turned into one line of our own message.
//
// HDF5 prints its whole error stack ("HDF5-DIAG: Error detected in ...", ~15 lines) to stderr on
// every failed call unless told otherwise, and registers an atexit() handler that flushes and
// closes whatever is still open. After a failed write (disk full) that handler works on a file
// whose flush already failed and can crash the process at exit. init() turns both off: every
// caller here checks each call, reports the failure itself, and closes every identifier it
// opened (Hid), so nothing is left for an exit handler to do.
#include <hdf5.h>

#include <string>

namespace csweep::reducers::h5 {

// Idempotent, cheap after the first call. Every HDF5 entry point of the project calls it first;
// csweep's main() calls it before anything else so H5dont_atexit() precedes library start-up.
void init();

// The innermost messages of the calling thread's current HDF5 error stack, e.g.
// "H5FD_sec2_open: unable to open file: name = 'x/y.h5', errno = 2, error message = 'No such file
// or directory'"; "" when the stack is empty.
std::string error_text();

// True when the current error stack says a stored checksum did not match the data read
// (fletcher32 filter): the file was modified or damaged after it was written.
bool checksum_failed();

// RAII for an HDF5 identifier; the close function depends on the kind of object.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  // Closes now and returns the close function's status (a file's last flush happens here).
  herr_t close() {
    herr_t rc = 0;
    if (id_ >= 0 && close_) rc = close_(id_);
    id_ = -1;
    return rc;
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: RAII handle used where the C API wants hid_t

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

}  // namespace csweep::reducers::h5
