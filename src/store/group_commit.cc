#include "store/group_commit.h"

#include <algorithm>
#include <optional>
#include <vector>

namespace tandem::store {

struct GroupCommit::Waiter {
  const jobs::Event* event = nullptr;
  std::optional<Result<ApplyResult>> result;  // set by the leader that applied it
};

GroupCommit::GroupCommit(Store& store, const Clock& clock, size_t max_batch)
    : store_(store), clock_(clock), max_batch_(std::max<size_t>(max_batch, 1)) {}

Result<ApplyResult> GroupCommit::Apply(const jobs::Event& event) {
  Waiter self{.event = &event};
  std::unique_lock lock(mu_);
  queue_.push_back(&self);

  // Wait until a leader applied this event, or until no leader is left.
  done_.wait(lock, [&] { return self.result.has_value() || !leader_active_; });
  if (self.result) return std::move(*self.result);

  // Lead: apply batches until this caller's own event is done.
  leader_active_ = true;
  while (!self.result) ApplyNextBatch(lock);
  leader_active_ = false;
  done_.notify_all();  // a caller still queued takes the lead
  return std::move(*self.result);
}

void GroupCommit::ApplyNextBatch(std::unique_lock<std::mutex>& lock) {
  std::vector<Waiter*> batch;
  while (!queue_.empty() && batch.size() < max_batch_) {
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  lock.unlock();

  std::vector<jobs::Event> events;
  events.reserve(batch.size());
  for (const Waiter* waiter : batch) events.push_back(*waiter->event);
  std::vector<Result<ApplyResult>> results = store_.ApplyEvents(events, clock_.NowMillis());

  lock.lock();
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
  done_.notify_all();
}

}  // namespace tandem::store
