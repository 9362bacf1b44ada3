#pragma once
// c10::Allocator's interface changed in LibTorch 2.3: allocate() lost its const and copy_data() became pure virtual.
// Allocators written once for both use these.
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define ARRAKIS_ALLOCATE_CONST
#define ARRAKIS_ALLOCATOR_HAS_COPY_DATA 1
#else
#define ARRAKIS_ALLOCATE_CONST const
#define ARRAKIS_ALLOCATOR_HAS_COPY_DATA 0
#endif
