#pragma once
// Visiting orders of the pruning loop and the run spec's validation (torch-free, so the job spec
// and `csweep plan` can use them without the engine).
//
//  * reference: backward over layers L-1 .. 0 (MLP first, then heads 0..H-1), then forward over
//    layers 0 .. L-1 (heads 0..H-1, then the MLP); every pool component appears twice.
//  * reversed: the reference sequence back to front.
//  * random: one permutation of the pool (each component once), drawn by random_permutation
//    from the order's seed; the same permutation every pass.
//
// pass_sequence restricts the order to the
// components kept when the pass starts. The pruner skips an entry whose component was removed
// earlier in the same pass (the reference order's forward half does not revisit what its
// backward half removed), so Step::position indexes this sequence and may skip values.
#include <cstdint>
#include <vector>

#include "workers/interventions/intervention.hpp"
#include "workers/pruning/run_spec.hpp"

namespace csweep::pruning {

// The reference sequence over the whole pool: indices into `pool` (sorted by (layer, kind, index)).
std::vector<int> reference_sequence(const std::vector<interv::Component>& pool);

// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference C): state += 0x9e3779b97f4a7c15, then
// z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9, z = (z ^ z >> 27) * 0x94d049bb133111eb, z ^ z >> 31.
std::uint64_t splitmix64_next(std::uint64_t& state);

// A uniform draw in [0, bound) from the stream: rejection of draws below 2^64 mod bound, then
// draw mod bound (exact, no modulo bias). bound >= 1.
std::uint64_t bounded_draw(std::uint64_t& state, std::uint64_t bound);

// Fisher-Yates over 0..n-1 with a SplitMix64 stream whose state starts at `seed`: for i = n-1
// down to 1, j = bounded_draw(state, i + 1), swap(p[i], p[j]). Written out here (not
// std::shuffle / std::uniform_int_distribution, whose outputs are implementation-defined) so a
// seed gives the same permutation on every platform and in any re-implementation.
std::vector<int> random_permutation(int n, std::uint64_t seed);

// The visiting sequence of one pass over the components still in the circuit: indices into
// spec.pool. `kept` has one entry per pool component.
std::vector<int> pass_sequence(const RunSpec& spec, const std::vector<std::uint8_t>& kept);

// The full sequence of one pass with every pool component kept (indices into spec.pool).
std::vector<int> order_sequence(const RunSpec& spec);

// InputError unless the pool is non-empty, sorted by (layer, kind, index) and unique, holds heads
// and MLPs only, each inside a model of n_layers x n_heads; the thresholds lie in (0, 100], and
// are exactly one (not nested) or strictly ascending (nested); the kind is not path patching.
void validate_run_spec(const RunSpec& spec, interv::AblationKind kind, int n_layers, int n_heads);

}  // namespace csweep::pruning
