#include "store/leader_lock.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <set>

namespace tandem::store {
namespace {

// The names held by LocalLeaderLock objects of this process.
std::mutex local_locks_mu;
std::set<std::string, std::less<>> local_locks;

class LocalLeaderLock final : public LeaderLock {
 public:
  explicit LocalLeaderLock(std::string name) : name_(std::move(name)) {}
  ~LocalLeaderLock() override {
    std::lock_guard lock(local_locks_mu);
    local_locks.erase(name_);
    spdlog::info("leader lock released lock={}", name_);
  }

  bool held() override { return true; }
  const std::string& name() const override { return name_; }

 private:
  const std::string name_;
};

}  // namespace

std::unique_ptr<LeaderLock> TryAcquireLocalLeaderLock(std::string_view name) {
  std::lock_guard lock(local_locks_mu);
  auto [position, inserted] = local_locks.emplace(name);
  if (!inserted) return nullptr;
  spdlog::info("leader lock acquired lock={} database=sqlite", name);
  return std::make_unique<LocalLeaderLock>(std::string(name));
}

}  // namespace tandem::store
