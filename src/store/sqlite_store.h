// The Store over SQLite 3: the embedded default.
//
// The database runs in WAL mode with foreign keys on and a 5 s busy timeout.
// One connection serves every call, guarded by a mutex, so calls are
// serialized; that is enough for one control-plane process. Several processes
// may open one file (SQLite locks it), and ApplyEvent's conditional update
// then turns a lost race into kAborted.
//
// Schema changes are ordered migration steps. Open applies the missing ones,
// each in its own transaction, and records them in `schema_migrations`.
#pragma once

#include <filesystem>
#include <memory>

#include "common/status.h"
#include "store/store.h"

namespace tandem::store {

// The schema version this binary writes.
int SqliteSchemaVersion();
// The number of schema migrations this binary applies to a new database.
int SqliteMigrationCount();

// Opens (creating when missing) the database at `path` and migrates it to
// SqliteSchemaVersion(). ":memory:" opens a private in-memory database.
// Errors: kFailedPrecondition when the database was written by a newer binary
// (naming both versions); kUnavailable when the file cannot be opened or is
// locked; kInternal when a migration fails (nothing of it is kept).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& path);

}  // namespace tandem::store
