#include "jobs/warm_pool.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace tandem::jobs {
namespace {

constexpr std::array<std::pair<WarmPoolStatus, std::string_view>, 4> kStatusNames = {{
    {WarmPoolStatus::kAvailable, "Available"},
    {WarmPoolStatus::kInUse, "InUse"},
    {WarmPoolStatus::kReused, "Reused"},
    {WarmPoolStatus::kTerminated, "Terminated"},
}};

struct Move {
  std::optional<WarmPoolStatus> from;
  WarmPoolStatus to;
};

// The legal moves; the header's table in code.
constexpr std::array<Move, 5> kMoves = {{
    {std::nullopt, WarmPoolStatus::kAvailable},
    {WarmPoolStatus::kAvailable, WarmPoolStatus::kInUse},
    {WarmPoolStatus::kAvailable, WarmPoolStatus::kTerminated},
    {WarmPoolStatus::kInUse, WarmPoolStatus::kReused},
    {WarmPoolStatus::kInUse, WarmPoolStatus::kTerminated},
}};

}  // namespace

std::string_view Name(WarmPoolStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "Terminated";  // unreachable: the table lists every enumerator
}

Result<WarmPoolStatus> ParseWarmPoolStatus(std::string_view text) {
  for (const auto& [value, name] : kStatusNames) {
    if (name == text) return value;
  }
  return InvalidArgument(fmt::format(
      "unknown warm pool status \"{}\"; expected one of Available, InUse, Reused, Terminated",
      text));
}

bool CanMove(std::optional<WarmPoolStatus> from, WarmPoolStatus to) {
  for (const Move& move : kMoves) {
    if (move.from == from && move.to == to) return true;
  }
  return false;
}

int64_t RetainedBillableSeconds(const WarmPoolState& state, int64_t now_ms) {
  int64_t end_ms = state.released_ms.value_or(now_ms);
  return end_ms > state.retained_ms ? (end_ms - state.retained_ms) / 1000 : 0;
}

MatchKey MatchKeyOf(const JobSpec& spec, std::string image) {
  const ResourceConfig& resources = spec.resources;
  return MatchKey{
      .repository = spec.repository,
      .instance_type = resources.instance_type.value_or(""),
      .instance_count = resources.instance_count,
      .cpu_count = resources.cpu_count,
      .memory_mib = resources.memory_mib,
      .volume_size_gb = resources.volume_size_gb,
      .role_arn = spec.role_arn.value_or(""),
      .network_isolation = spec.enable_network_isolation,
      .image = std::move(image),
  };
}

std::vector<std::string> MatchKeyDifferences(const MatchKey& a, const MatchKey& b) {
  std::vector<std::string> differences;
  auto check = [&differences](bool same, std::string_view field) {
    if (!same) differences.emplace_back(field);
  };
  check(a.repository == b.repository, "Repository");
  check(a.instance_type == b.instance_type, "ResourceConfig.InstanceType");
  check(a.instance_count == b.instance_count, "ResourceConfig.InstanceCount");
  check(a.cpu_count == b.cpu_count, "ResourceConfig.CpuCount");
  check(a.memory_mib == b.memory_mib, "ResourceConfig.MemoryMiB");
  check(a.volume_size_gb == b.volume_size_gb, "ResourceConfig.VolumeSizeInGB");
  check(a.role_arn == b.role_arn, "RoleArn");
  check(a.network_isolation == b.network_isolation, "EnableNetworkIsolation");
  check(a.image == b.image, "Image");
  return differences;
}

Status CheckKeepAlivePeriod(const JobSpec& spec, int64_t max_keep_alive_s) {
  int64_t period = spec.resources.keep_alive_period_s;
  if (period <= max_keep_alive_s) return Ok();
  return InvalidArgument(fmt::format(
      "ResourceConfig.KeepAlivePeriodInSeconds: {} is above this server's maximum of {} s; "
      "use a value from 0 to {}",
      period, max_keep_alive_s, max_keep_alive_s));
}

}  // namespace tandem::jobs
