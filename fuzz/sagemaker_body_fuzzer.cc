// libFuzzer entry point for tandem::fuzz::FuzzSageMakerBody (fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::FuzzSageMakerBody(data, size);
  return 0;
}
