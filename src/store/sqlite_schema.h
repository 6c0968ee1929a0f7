/* The SQLite schema and its migrations. Internal to src/store.
 *
 * The schema version lives in PRAGMA user_version: 0 is an empty file,
 * LS_SQLITE_SCHEMA_VERSION the layout this program writes. Each migration
 * takes the database from version N to N + 1; a new layout adds one at the end
 * of the list in sqlite_schema.c and never edits the earlier ones. */
#ifndef LS_STORE_SQLITE_SCHEMA_H
#define LS_STORE_SQLITE_SCHEMA_H

#include "store/sqlite_conn.h"

#define LS_SQLITE_SCHEMA_VERSION 6

/* Brings the database on c (open, no transaction active) to
 * LS_SQLITE_SCHEMA_VERSION in one transaction. -EPROTONOSUPPORT when the file
 * is from a newer version; other errors as ls_sqlite_fail. */
int ls_sqlite_migrate(ls_sqlite_conn *c);

#endif
