// Memory read bandwidth of this machine, the ceiling for memory-bound decode.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace ll::kernels {

// Streams a buffer of `bytes` (rounded down to a multiple of 4 KiB) with the best Isa's loads,
// split across the pool's threads (nullptr = one thread), and returns the best of a few
// repetitions in GB/s (1e9 bytes per second). Use a buffer well beyond the last-level cache.
double measure_read_bandwidth_gbs(ThreadPool* pool, size_t bytes = size_t{512} << 20);

}  // namespace ll::kernels
