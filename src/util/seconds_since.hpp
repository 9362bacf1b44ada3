#pragma once
// Wall-clock seconds since a steady-clock instant: what every benchmark and timed report measures with.
#include <chrono>

namespace arrakis {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace arrakis
