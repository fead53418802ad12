// The preamble of the SDOT kernel files (matvec_dotprod_neon.cpp, kquants_dotprod_neon.cpp):
// include this, then the kernel header, and nothing else. It includes every header the kernel
// headers need while the baseline target is still in force, then switches the rest of the file
// to ARMv8.2 + dot product.
//
// Why a pragma and not a flag: inline functions with external linkage (GroupClaim's
// compare-and-swap, the standard library) must keep the baseline target. With -march=armv8.2-a
// on the whole file they would be compiled with ARMv8.1 atomics, and the linker could keep that
// copy for the baseline path too, which must run on ARMv8.0 cores (Cortex-A53/A72). So every
// header they come from is included above the pragma; a header first included below it would
// get the new target. Clang's arm_neon.h (before clang 16) declares the SDOT intrinsics only
// when the whole file targets dotprod, so src/kernels/CMakeLists.txt gives clang
// -march=armv8-a+dotprod for these files: that adds SDOT and nothing else (no atomics).
#pragma once

#if defined(__aarch64__)

#include <arm_neon.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/kernels_internal.h"

#if !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

#endif  // __aarch64__
