// libFuzzer entry point for tandem::fuzz::FuzzRecordTransform (fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::FuzzRecordTransform(data, size);
  return 0;
}
