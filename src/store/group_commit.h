// Group commit for event applies: concurrent callers of Apply share one
// Store::ApplyEvents call, so one transaction and one commit serve all the
// events that arrived while the previous batch was being applied.
//
// No timer: the first caller finds no batch running and applies its event at
// once (as ApplyEvent would). Callers that arrive meanwhile queue up, and the
// next batch takes up to `max_batch` of them in arrival order. Each caller
// gets the result of its own event, the same one Store::ApplyEvents gives it.
//
// NOTE: the control plane does not use it. On SQLite with synchronous =
// NORMAL a commit is cheap, and the events route through it posted about 12%
// fewer events/s than one transaction per event (bench/job_events, 4 clients,
// 2 cores). It should pay where each commit waits for an fsync.
//
// Threads: Apply may be called from any thread. The caller that applies a
// batch (the leader) keeps applying queued batches until its own event is
// done, then hands the role to a waiting caller.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include "common/clock.h"
#include "common/status.h"
#include "jobs/event.h"
#include "store/store.h"

namespace tandem::store {

class GroupCommit {
 public:
  // `store` and `clock` must outlive this. `max_batch` caps the events per
  // transaction (0 counts as 1).
  GroupCommit(Store& store, const Clock& clock, size_t max_batch);

  // Applies `event` with the events of concurrent callers, in one
  // transaction. Errors: those of Store::ApplyEvents for this event.
  Result<ApplyResult> Apply(const jobs::Event& event);

 private:
  struct Waiter;

  // Applies the next batch of up to max_batch_ waiters. `lock` owns mu_ on
  // entry and on return, and is released while the store works.
  void ApplyNextBatch(std::unique_lock<std::mutex>& lock);

  Store& store_;
  const Clock& clock_;
  const size_t max_batch_;

  std::mutex mu_;
  std::condition_variable done_;
  std::deque<Waiter*> queue_;  // events not yet taken into a batch, in arrival order
  bool leader_active_ = false;
};

}  // namespace tandem::store
