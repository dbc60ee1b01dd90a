/*
 * baseline.c: what the hardware and libraries alone allow, measured in the
 * same run as lrhub's figures: parse each statement of a JSON-lines file with
 * jansson and insert it with one prepared SQLite statement into a table with
 * a primary key on the id and nothing else, in transactions of 20,000 (as
 * lrhub batches), with the same page size and journal settings as the store.
 *
 *   baseline FILE.jsonl DB
 *
 * Prints "statements SECONDS".
 */
#include "lrs/store.h" /* STORE_PAGE_SIZE */

#include <jansson.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	sqlite3 *db;
	sqlite3_stmt *ins;
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;
	struct timespec t0, t1;

	if (argc != 3) {
		fprintf(stderr, "usage: baseline FILE.jsonl DB\n");
		return 1;
	}
	fp = fopen(argv[1], "rb");
	if (!fp || sqlite3_open(argv[2], &db) != SQLITE_OK) {
		fprintf(stderr, "baseline: cannot open %s or %s\n", argv[1], argv[2]);
		return 1;
	}
	{
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "PRAGMA page_size = %d; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 " PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = %d;"
			 " CREATE TABLE statement(id TEXT PRIMARY KEY, json TEXT NOT NULL)",
			 STORE_PAGE_SIZE, (32 << 20) / STORE_PAGE_SIZE);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_prepare_v2(db, "INSERT INTO statement(id, json) VALUES(?, ?)", -1, &ins, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	while ((len = getline(&line, &cap, fp)) > 0) {
		json_error_t jerr;
		json_t *st = json_loadb(line, (size_t)len, 0, &jerr);
		const char *id;

		if (!st)
			continue;
		id = json_string_value(json_object_get(st, "id"));
		if (id) {
			sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, line, (int)len, SQLITE_STATIC);
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		json_decref(st);
		if (++n % 20000 == 0) {
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		}
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%ld %.3f\n", n, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(line);
	fclose(fp);
	return 0;
}
