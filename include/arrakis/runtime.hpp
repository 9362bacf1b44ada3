#pragma once
// Process-wide settings every Arrakis program makes once at start-up.
#include <string>

namespace arrakis {

/// Sets LibTorch's intra-op threads from the hardware (LibTorch defaults to 1 here) unless $ARRAKIS_THREADS says
/// otherwise. Returns a warning to show the user when the BLAS is known to run slowly (empty when all is well).
std::string configure_runtime();

/// The library version ("0.1.0").
const char* version();

}  // namespace arrakis
