# pg_lib.sh - helpers for the PostgreSQL tests and bench (sourced, not run),
# inside `tests/support/pg_cluster.sh run ...` (CPIS_PG_SOCKET, CPIS_PG_BIN).

# pg_newdb NAME : creates database NAME; prints its connection string.
pg_newdb() {
    "$CPIS_PG_BIN/createdb" -h "$CPIS_PG_SOCKET" -U cpis "$1" >&2 || return 1
    printf 'host=%s user=cpis dbname=%s\n' "$CPIS_PG_SOCKET" "$1"
}

# pg_psql CONNINFO SQL : unaligned, '|'-separated rows, no headers.
pg_psql() {
    "$CPIS_PG_BIN/psql" -X -q -At -F '|' -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# The canonical dump of what the plugin wrote through the host table:
# items, landing entries, case notes, records, state, quarantine, closures,
# sorted by key; the same rows for both stores (sqlite3's and psql's
# output formats agree on these columns: '|' between columns, NULL as "").
# Not the mock host's own deliveries log (its duplicates depend on how many
# deliveries were made), not created_seq (creation order across nodes).
DUMP_ITEMS="SELECT 'item',item_id,kind,case_id,recipient,notification_id,access_id,subject,body,followup,occurred_at,status,closed_reason FROM items ORDER BY 2"
DUMP_LANDING="SELECT 'landing',id,revision,case_id,worker,team,notification_id,title,body,detail_json,updated_at,update_count FROM landing ORDER BY 2"
DUMP_NOTES="SELECT 'note',id,revision,case_id,worker,team,notification_id,title,body,detail_json,updated_at,update_count FROM case_notes ORDER BY 2"
DUMP_RECORDS="SELECT 'record',record_id,nhs_number,case_id,notification_id,summary,detail_json,accessed_at FROM records ORDER BY 2"
DUMP_CLOSURES="SELECT 'closure',kind,reason,closed FROM closures ORDER BY 2,3"

# sqlite_dump FILE / pg_dump_store CONNINFO : the canonical dump.
sqlite_dump() {
    sqlite3 "$1" "$DUMP_ITEMS;" "$DUMP_LANDING;" "$DUMP_NOTES;" "$DUMP_RECORDS;" \
        "SELECT 'state',key,CAST(value AS TEXT),version FROM state ORDER BY 2;" \
        "SELECT 'quarantine',quarantine_id,error,error_name,detail,source_name,transport_id,notification_id,lower(hex(payload)),status FROM quarantine ORDER BY 2;" \
        "$DUMP_CLOSURES;"
}
pg_dump_store() {
    local q
    for q in "$DUMP_ITEMS" "$DUMP_LANDING" "$DUMP_NOTES" "$DUMP_RECORDS" \
        "SELECT 'state',key,convert_from(value,'UTF8'),version FROM state ORDER BY 2" \
        "SELECT 'quarantine',quarantine_id,error,error_name,detail,source_name,transport_id,notification_id,encode(payload,'hex'),status FROM quarantine ORDER BY 2" \
        "$DUMP_CLOSURES"; do
        pg_psql "$1" "$q" || return 1
    done
}
