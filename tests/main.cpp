// The one test binary's entry point: the same runtime settings as the CLI, then every test.
#include <gtest/gtest.h>

#include "arrakis/runtime.hpp"

int main(int argc, char** argv) {
  arrakis::configure_runtime();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
