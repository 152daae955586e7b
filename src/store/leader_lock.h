// Leader locks: at most one holder of a named lock at a time, so that a
// control-plane singleton (the event applier, the reconciler, the scheduler)
// runs in one place even when several control-plane processes share a
// database.
//
// There are two implementations. Over PostgreSQL, the lock is a session
// advisory lock held on a connection of its own (TryAcquireLeaderLock in
// store/postgres_store.h). Over SQLite, where one process owns the database,
// it is an in-process lock (TryAcquireLocalLeaderLock below).
//
// Usage:
//   TANDEM_ASSIGN_OR_RETURN(auto lock, TryAcquireLeaderLock(conninfo, "applier"));
//   if (!lock) { /* another process leads: stand by and try again later */ }
//   while (lock->held()) { /* lead */ }
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace tandem::store {

// A held leader lock. Destroying the object releases the lock.
// Threads: held() and name() may be called from any thread.
class LeaderLock {
 public:
  virtual ~LeaderLock() = default;

  // Returns whether the lock is still held. For PostgreSQL this is one round
  // trip on the lock's connection: a lost connection loses the lock (the
  // server releases a session's advisory locks when the session ends), and
  // once false it stays false. Stop acting as leader when it returns false.
  virtual bool held() = 0;

  // The name the lock was taken under.
  virtual const std::string& name() const = 0;
};

// Takes the in-process lock `name`, or returns nullptr when another
// LeaderLock object of this process holds it. Never fails otherwise: with
// SQLite one process owns the database, so the first taker always wins.
std::unique_ptr<LeaderLock> TryAcquireLocalLeaderLock(std::string_view name);

}  // namespace tandem::store
