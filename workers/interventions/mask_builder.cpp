#include "workers/interventions/mask_builder.hpp"

#include <utility>

#include "core/error.hpp"

namespace csweep::interv {

using torch::indexing::Slice;

MaskBuilder::MaskBuilder(int64_t n, int64_t Bm, int64_t Pm, torch::Device device)
    : n_(n), Bm_(Bm), Pm_(Pm), device_(device) {}

int MaskBuilder::position_id(const torch::Tensor& posmask) {
  CSWEEP_ASSERT(posmask.dim() == 2 && posmask.size(0) == Bm_ && posmask.size(1) == Pm_,
                "position mask with {} dimensions and {} elements for masks [n, {}, {}, X]", posmask.dim(),
                posmask.numel(), Bm_, Pm_);
  const void* impl = posmask.unsafeGetTensorImpl();
  const auto seen = pos_by_tensor_.find(impl);
  if (seen != pos_by_tensor_.end()) return seen->second.second;
  // A copy: for a CPU bool tensor to() and contiguous() return the caller's tensor itself.
  auto cpu = posmask.to(torch::kCPU, torch::kBool).contiguous().clone();
  std::string key(reinterpret_cast<const char*>(cpu.data_ptr<bool>()), static_cast<size_t>(cpu.numel()));
  auto it = pos_ids_.find(key);
  if (it == pos_ids_.end()) {
    it = pos_ids_.emplace(std::move(key), static_cast<int>(pos_cpu_.size())).first;
    pos_cpu_.push_back(std::move(cpu));
    pos_dev_.emplace_back();
  }
  pos_by_tensor_.emplace(impl, std::make_pair(posmask, it->second));
  return it->second;
}

void MaskBuilder::set(MaskRecord& m, int64_t X, int64_t row, int64_t idx, const torch::Tensor& posmask) {
  CSWEEP_ASSERT(row >= 0 && row < n_ && idx >= 0 && idx < X, "mask entry ({}, {}) outside [{}, {}]", row,
                idx, n_, X);
  CSWEEP_ASSERT(m.empty() || m.X == X, "mask entry with X = {} in a mask of X = {}", X, m.X);
  m.X = X;
  m.entries.push_back({row, idx, posmask.defined() ? position_id(posmask) : -1});
  m.first_row = std::min<int>(m.first_row, static_cast<int>(row));
}

torch::Tensor MaskBuilder::build(const MaskRecord& m) {
  if (m.empty()) return {};
  // The last entry per cell wins (as overwriting the cell would), so every cell is written by
  // exactly one index_put_ below and no write order between duplicates is left to the device.
  std::map<std::pair<int64_t, int64_t>, int> cell;
  for (const auto& e : m.entries) cell[{e.row, e.idx}] = e.pos;
  // Cells grouped by position mask, each group's rows and indices contiguous in one buffer.
  std::map<int, std::vector<std::pair<int64_t, int64_t>>> groups;
  for (const auto& [key, pos] : cell) groups[pos].push_back(key);
  const auto k = static_cast<int64_t>(cell.size());
  std::vector<int64_t> packed(static_cast<size_t>(2 * k));
  size_t at = 0;
  for (const auto& [pos, cells] : groups) {
    for (const auto& [row, idx] : cells) {
      packed[at] = row;
      packed[static_cast<size_t>(k) + at] = idx;
      ++at;
    }
  }
  const auto index = torch::tensor(packed, torch::kLong).view({2, k}).to(device_);
  auto mask = torch::zeros({n_, Bm_, Pm_, m.X}, torch::TensorOptions().dtype(torch::kBool).device(device_));
  int64_t off = 0;
  for (const auto& [pos, cells] : groups) {
    const auto cnt = static_cast<int64_t>(cells.size());
    const auto rows = index[0].narrow(0, off, cnt), idxs = index[1].narrow(0, off, cnt);
    if (pos < 0) {
      mask.index_put_({rows, Slice(), Slice(), idxs}, true);
    } else {
      auto& dev = pos_dev_[static_cast<size_t>(pos)];
      if (!dev.defined()) dev = pos_cpu_[static_cast<size_t>(pos)].to(device_);
      mask.index_put_({rows, Slice(), Slice(), idxs}, dev);  // [Bm, Pm] broadcast over the cells
    }
    off += cnt;
  }
  return mask;
}

torch::Tensor ones_at(at::IntArrayRef shape, const std::vector<std::vector<int64_t>>& coords,
                      const torch::TensorOptions& opts) {
  CSWEEP_ASSERT(coords.size() == shape.size(), "{} coordinate lists for a {}-dimensional tensor",
                coords.size(), shape.size());
  const auto k = static_cast<int64_t>(coords.empty() ? 0 : coords.front().size());
  if (k == 0) return {};
  const auto d = static_cast<int64_t>(coords.size());
  std::vector<int64_t> packed;
  packed.reserve(static_cast<size_t>(d * k));
  for (size_t i = 0; i < coords.size(); ++i) {
    CSWEEP_ASSERT(static_cast<int64_t>(coords[i].size()) == k, "coordinate list {} has {} points, not {}", i,
                  coords[i].size(), k);
    for (const int64_t v : coords[i]) {
      CSWEEP_ASSERT(v >= 0 && v < shape[i], "coordinate {} outside [0, {}) in dimension {}", v, shape[i], i);
    }
    packed.insert(packed.end(), coords[i].begin(), coords[i].end());
  }
  const auto index = torch::tensor(packed, torch::kLong).view({d, k}).to(opts.device());
  std::vector<torch::indexing::TensorIndex> where;
  for (int64_t i = 0; i < d; ++i) where.emplace_back(index[i]);
  auto t = torch::zeros(shape, opts);
  t.index_put_(where, 1);
  return t;
}

}  // namespace csweep::interv
