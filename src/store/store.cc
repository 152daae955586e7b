#include "store/store.h"

#include "common/crypto.h"

namespace tandem::store {

std::string NewJobId() { return "job-" + RandomHex(6); }

}  // namespace tandem::store
