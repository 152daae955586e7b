// The Store over PostgreSQL 15 (libpq), for a control plane that outgrows one
// machine or runs several processes on one database.
//
// Connection string: anything libpq accepts, either a URI
// ("postgresql://user:password@host:5432/dbname?sslmode=require") or
// key=value pairs ("host=127.0.0.1 port=5432 dbname=tandem user=tandem").
// Unless the string sets them, connections use connect_timeout=10 and TCP
// keepalives, so that a vanished server is noticed. Tables live in the first
// schema of the session's search_path (normally "public"; a URI can choose
// another with "?options=-csearch_path%3Dname").
//
// Threads: the store is safe to call from any thread. It keeps a pool of up
// to kPostgresPoolSize connections, each used by one call at a time; a call
// waits while all are busy. A connection that broke is reconnected when it
// is next taken from the pool.
//
// Concurrency across processes: ApplyEvent locks the job's row with
// SELECT ... FOR UPDATE in a READ COMMITTED transaction. Writers of one job
// queue on that row lock instead of failing, so no caller needs a retry loop,
// which SERIALIZABLE would demand on every conflict. After the lock is taken
// every read in the transaction sees the last committed state of the job and
// its inbox. The conditional update on row_version stays as a check and
// turns a broken invariant into kAborted. A new model version takes its
// number from one INSERT ... ON CONFLICT DO UPDATE on the model's row, which
// also serializes two jobs registering versions of one model. CreateJob
// inserts with ON CONFLICT DO NOTHING, so two processes creating one job name
// end with one job.
//
// Schema changes are ordered migration steps, as in the SQLite store. Open
// takes a PostgreSQL advisory lock, so that two processes starting at once
// migrate one after the other; applies the missing steps, each in its own
// transaction; records them in `schema_migrations`; and releases the lock.
//
// Errors: as store.h, plus kUnavailable when the server cannot be reached or
// the connection breaks during a call (the message names host, port, database
// and user, never the password; retrying may work).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "store/leader_lock.h"
#include "store/store.h"

namespace tandem::store {

// The maximum number of connections one store opens.
inline constexpr size_t kPostgresPoolSize = 8;

// The schema version this binary writes.
int PostgresSchemaVersion();
// The number of schema migrations this binary applies to a new database.
int PostgresMigrationCount();

// Returns whether `database` is a PostgreSQL connection URI ("postgresql://"
// or "postgres://"), as opposed to an SQLite file path.
bool IsPostgresUri(std::string_view database);

// Connects to the database named by `conninfo` and migrates it to
// PostgresSchemaVersion().
// Errors:
//  - kInvalidArgument when `conninfo` cannot be parsed;
//  - kUnavailable when the server cannot be reached or rejects the login;
//  - kFailedPrecondition when the database was written by a newer binary
//    (the message names both versions);
//  - kInternal when a migration fails (nothing of that step is kept).
Result<std::unique_ptr<Store>> OpenPostgresStore(std::string_view conninfo);

// Takes the PostgreSQL session advisory lock `name` on a connection of its
// own, without waiting. Returns nullptr when another session holds it. The
// lock is held while the returned object lives and its connection stays up.
// The lock's 64-bit key is derived from `name` and scoped to the database,
// not to the schema. The holder shows in pg_stat_activity with the
// application_name "tandem leader lock: NAME" (the server keeps 63 bytes)
// unless `conninfo` sets another. Errors: kInvalidArgument for an unparsable `conninfo`;
// kUnavailable when the server cannot be reached.
Result<std::unique_ptr<LeaderLock>> TryAcquireLeaderLock(std::string_view conninfo,
                                                         std::string_view name);

}  // namespace tandem::store
