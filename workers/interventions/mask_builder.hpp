#pragma once
// Intervention masks made directly on the model's device.
//
// The executors plan a batch on the CPU and then need, per layer, bool masks [n, Bm, Pm, X]
// (which rows edit which head / neuron at which positions) and 0/1 coefficient matrices on the
// model's device. Writing them cell by cell into CPU tensors and copying each dense mask over is
// many tiny tensor ops on the CPU and one host->device copy of a whole mask per layer on a GPU.
// Here the planner only records the entries in plain vectors; materialising a mask is one
// zeros() on the device, one host->device transfer of its small int64 index vectors, and one
// index_put_ per group of entries that share a position mask (each distinct [Bm, Pm] position
// mask is uploaded once per builder, however many masks and rows use it).
#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace csweep::interv {

// The recorded entries of one mask [n, Bm, Pm, X]; empty = no mask (no edit at this hook).
struct MaskRecord {
  struct Entry {
    int64_t row = 0, idx = 0;
    int pos = -1;  // MaskBuilder's position-mask id; -1 = every position
  };
  int64_t X = 0;
  std::vector<Entry> entries;
  int first_row = std::numeric_limits<int>::max();  // smallest row with an entry
  bool empty() const { return entries.empty(); }
};

class MaskBuilder {
 public:
  // Masks of this builder are [n, Bm, Pm, X] on `device`; position masks must broadcast to [Bm, Pm].
  MaskBuilder(int64_t n, int64_t Bm, int64_t Pm, torch::Device device);

  // Records mask[row, :, :, idx] := posmask (a CPU bool [Bm, Pm]; undefined = all true). As with
  // writing the cell, a later entry for the same (row, idx) replaces an earlier one. The position
  // mask is read when first recorded and must not change afterwards (it is then found by identity).
  void set(MaskRecord& m, int64_t X, int64_t row, int64_t idx, const torch::Tensor& posmask);

  // The mask on the device (bool [n, Bm, Pm, X]); undefined for an empty record.
  torch::Tensor build(const MaskRecord& m);

  // Distinct position masks recorded so far (by content): each is uploaded at most once.
  size_t distinct_position_masks() const { return pos_cpu_.size(); }

 private:
  int position_id(const torch::Tensor& posmask);

  int64_t n_, Bm_, Pm_;
  torch::Device device_;
  // The executors pass one position-mask tensor for all of an intervention's entries, so a
  // tensor seen before is looked up by identity (held here, so its address stays its own) before
  // its bytes are compared with the others'.
  std::map<const void*, std::pair<torch::Tensor, int>> pos_by_tensor_;
  std::map<std::string, int> pos_ids_;  // position mask bytes -> id
  std::vector<torch::Tensor> pos_cpu_;  // id -> [Bm, Pm] bool (CPU, contiguous)
  std::vector<torch::Tensor> pos_dev_;  // id -> the same on the device, uploaded on first use
};

// A zero tensor of `shape` with ones at the given points, made on opts' device: coords[d][k] is
// point k's coordinate along dimension d (coords.size() == shape.size(), all of equal length).
// The coordinates travel host->device as one int64 tensor; repeated points are harmless (every
// write stores the same one). Undefined when there are no points.
torch::Tensor ones_at(at::IntArrayRef shape, const std::vector<std::vector<int64_t>>& coords,
                      const torch::TensorOptions& opts);

}  // namespace csweep::interv
