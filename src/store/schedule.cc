#include "store/schedule.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace tandem::store {
namespace {

constexpr std::array<std::pair<OverlapPolicy, std::string_view>, 3> kPolicyNames = {{
    {OverlapPolicy::kSkip, "Skip"},
    {OverlapPolicy::kQueue, "Queue"},
    {OverlapPolicy::kReplace, "Replace"},
}};

}  // namespace

std::string_view Name(OverlapPolicy policy) {
  for (const auto& [value, name] : kPolicyNames) {
    if (value == policy) return name;
  }
  return "Unknown";
}

Result<OverlapPolicy> ParseOverlapPolicy(std::string_view name) {
  for (const auto& [value, known] : kPolicyNames) {
    if (known == name) return value;
  }
  return InvalidArgument(
      fmt::format("unknown overlap policy \"{}\", expected Skip, Queue or Replace", name));
}

bool SameDefinition(const Schedule& a, const Schedule& b) {
  return a.name == b.name && a.repository == b.repository && a.expression == b.expression &&
         a.overlap_policy == b.overlap_policy && a.job_template == b.job_template &&
         a.paused == b.paused;
}

}  // namespace tandem::store
