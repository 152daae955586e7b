// Confinement of a job spec's input paths to the server's input roots, so a
// submitted job can read only the data the operator exposed.
#pragma once

#include <filesystem>
#include <vector>

#include "common/status.h"
#include "jobs/job_spec.h"

namespace tandem::api {

// Resolves every InputDataConfig[i] Path and the AlgorithmSpecification's
// SourceDir (symlinks and ".." included) and replaces each with its resolved
// form, which must be one of `roots` or lie within one. Roots that do not
// exist confine nothing.
// Errors: kPermissionDenied naming the field and the path, and listing the
// roots, for the first path outside all of them.
Status ConfineSpecPaths(jobs::JobSpec& spec, const std::vector<std::filesystem::path>& roots);

}  // namespace tandem::api
