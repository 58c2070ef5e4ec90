#pragma once
// File helpers whose errors always name the file.
#include <cstdint>
#include <string>
#include <vector>

namespace csweep {

// Whole file as bytes; InputError naming the path if it cannot be read.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);

// Writes atomically: to "<path>.tmp.<pid>", fsync, rename over path. A reader never sees a
// half-written file under the final name.
void write_file_atomic(const std::string& path, const std::string& data);

// SHA-256 of a file's contents as lowercase hex (provenance of models and tokenizers).
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const void* data, std::size_t n);

}  // namespace csweep
