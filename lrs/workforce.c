/*
 * workforce.c: orgs' sectors and dated headcounts (see workforce.h), kept in
 * the org table's sector column and the org_headcount table.
 */
#include "workforce.h"
#include "adapters/csv.h"
#include "error.h"
#include "store.h"
#include "xtime.h"

#include <sqlite3.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int workforce_date_valid(const char *text)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, i, leap;

	if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
			return 0;
	y = atoi(text);
	m = atoi(text + 5);
	d = atoi(text + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= days[m - 1] + (m == 2 && leap);
}

static void today(char out[11])
{
	char now[XTIME_MAX];

	xtime_format(now, xtime_now_ms());
	memcpy(out, now, 10);
	out[10] = '\0';
}

/* Runs sql (no result rows) with up to four bound values: texts, then an id last. */
static int exec_bound(struct store *s, struct lr_error *err, const char *sql, const char *what,
		      const char *t1, const char *t2, int64_t id)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, n = 1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return store__db_error(db, err, what);
	if (t1)
		store__bind_text(q, n++, t1);
	if (t2)
		store__bind_text(q, n++, t2);
	sqlite3_bind_int64(q, n, id);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = store__db_error(db, err, what);
	sqlite3_finalize(q);
	return rc;
}

/* The figures stored for (org, as_of): -1 when not set. */
static int stored_figures(struct store *s, struct lr_error *err, int64_t org_id, const char *as_of,
			  long *headcount, long *frontline)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	*headcount = *frontline = -1;
	if (sqlite3_prepare_v2(db, "SELECT headcount, frontline FROM org_headcount"
				   " WHERE org_id = ? AND as_of = ?", -1, &q, NULL) != SQLITE_OK)
		return store__db_error(db, err, "reading a headcount");
	sqlite3_bind_int64(q, 1, org_id);
	store__bind_text(q, 2, as_of);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		if (sqlite3_column_type(q, 0) != SQLITE_NULL)
			*headcount = (long)sqlite3_column_int64(q, 0);
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			*frontline = (long)sqlite3_column_int64(q, 1);
	} else if (step != SQLITE_DONE) {
		rc = store__db_error(db, err, "reading a headcount");
	}
	sqlite3_finalize(q);
	return rc;
}

/* The latest headcount set on or before date (-1 if none). */
static int headcount_in_effect(struct store *s, struct lr_error *err, int64_t org_id,
			       const char *date, long *out)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	*out = -1;
	if (sqlite3_prepare_v2(db, "SELECT headcount FROM org_headcount WHERE org_id = ?"
				   " AND as_of <= ? AND headcount IS NOT NULL ORDER BY as_of DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		return store__db_error(db, err, "reading a headcount");
	sqlite3_bind_int64(q, 1, org_id);
	store__bind_text(q, 2, date);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW)
		*out = (long)sqlite3_column_int64(q, 0);
	else if (step != SQLITE_DONE)
		rc = store__db_error(db, err, "reading a headcount");
	sqlite3_finalize(q);
	return rc;
}

int workforce_set(struct store *s, struct lr_error *err, const struct workforce_update *u,
		  int create, int *out_created)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	char date[11], now[XTIME_MAX];
	int64_t org_id = 0;
	long old_head, old_front, head, front;
	int rc, created = 0;

	if (out_created)
		*out_created = 0;
	if (u->as_of) {
		if (!workforce_date_valid(u->as_of)) {
			rc = lr_error_set(err, LR_EINVAL, "as_of '%s' is not a date (YYYY-MM-DD)", u->as_of);
			lr_error_field(err, "as_of");
			return rc;
		}
		memcpy(date, u->as_of, 11);
	} else {
		today(date);
	}
	if (!u->name && !u->sector && u->headcount < 0 && u->frontline < 0 && !create)
		return lr_error_set(err, LR_EINVAL, "org '%s': nothing to set", u->org);
	rc = store_org_id(s, err, u->org, &org_id);
	if (rc == LR_ENOTFOUND && create) {
		struct store_org org = { 0, u->org, u->name, NULL, NULL };
		if ((rc = store_org_add(s, err, &org)) != 0 ||
		    (rc = store_org_id(s, err, u->org, &org_id)) != 0)
			return rc;
		created = 1;
	} else if (rc == LR_ENOTFOUND) {
		lr_error_clear(err);
		return lr_error_set(err, LR_ENOTFOUND, "no org '%s' (add it with 'lrhub org add')",
				    u->org);
	} else if (rc != 0) {
		return rc;
	}
	/* Check the figures of that date as they will be, before changing anything. */
	if (u->headcount >= 0 || u->frontline >= 0) {
		if ((rc = stored_figures(s, err, org_id, date, &old_head, &old_front)) != 0)
			return rc;
		head = u->headcount >= 0 ? u->headcount : old_head;
		front = u->frontline >= 0 ? u->frontline : old_front;
		if (head < 0 && front >= 0 &&
		    (rc = headcount_in_effect(s, err, org_id, date, &head)) != 0)
			return rc;
		if (head >= 0 && front > head) {
			rc = lr_error_set(err, LR_EINVAL,
					  "org '%s': frontline %ld is more than the headcount %ld as of %s",
					  u->org, front, head, date);
			return rc;
		}
	}
	if (u->name && !created &&
	    (rc = exec_bound(s, err, "UPDATE org SET name = ? WHERE id = ?", "setting an org's name",
			     u->name[0] ? u->name : NULL, NULL, org_id)) != 0)
		return rc;
	if (u->sector &&
	    (rc = exec_bound(s, err, "UPDATE org SET sector = ? WHERE id = ?", "setting an org's sector",
			     u->sector[0] ? u->sector : NULL, NULL, org_id)) != 0)
		return rc;
	if (u->headcount >= 0 || u->frontline >= 0) {
		if (sqlite3_prepare_v2(db,
				       "INSERT INTO org_headcount(org_id, as_of, headcount, frontline, set_at)"
				       " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(org_id, as_of) DO UPDATE SET"
				       " headcount = coalesce(excluded.headcount, headcount),"
				       " frontline = coalesce(excluded.frontline, frontline),"
				       " set_at = excluded.set_at", -1, &q, NULL) != SQLITE_OK)
			return store__db_error(db, err, "setting a headcount");
		xtime_format(now, xtime_now_ms() / 1000 * 1000);
		sqlite3_bind_int64(q, 1, org_id);
		store__bind_text(q, 2, date);
		if (u->headcount >= 0)
			sqlite3_bind_int64(q, 3, u->headcount);
		if (u->frontline >= 0)
			sqlite3_bind_int64(q, 4, u->frontline);
		store__bind_text(q, 5, now);
		rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store__db_error(db, err, "setting a headcount");
		sqlite3_finalize(q);
		if (rc != 0)
			return rc;
	}
	if (out_created)
		*out_created = created;
	return 0;
}

int workforce_each(struct store *s, struct lr_error *err, const char *date,
		   int (*fn)(void *ctx, const struct workforce_org *org), void *ctx)
{
	static const char sql[] =
		"SELECT o.code, o.name, o.sector,"
		" h.headcount, h.as_of, f.frontline, f.as_of"
		" FROM org o"
		" LEFT JOIN org_headcount h ON h.org_id = o.id AND h.as_of = (SELECT max(x.as_of)"
		"  FROM org_headcount x WHERE x.org_id = o.id AND x.headcount IS NOT NULL"
		"  AND (?1 IS NULL OR x.as_of <= ?1))"
		" LEFT JOIN org_headcount f ON f.org_id = o.id AND f.as_of = (SELECT max(x.as_of)"
		"  FROM org_headcount x WHERE x.org_id = o.id AND x.frontline IS NOT NULL"
		"  AND (?1 IS NULL OR x.as_of <= ?1))"
		" ORDER BY o.code";
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (date && !workforce_date_valid(date))
		return lr_error_set(err, LR_EINVAL, "'%s' is not a date (YYYY-MM-DD)", date);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return store__db_error(db, err, "reading headcounts");
	store__bind_text(q, 1, date);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct workforce_org org;

		org.code = (const char *)sqlite3_column_text(q, 0);
		org.name = (const char *)sqlite3_column_text(q, 1);
		org.sector = (const char *)sqlite3_column_text(q, 2);
		org.headcount = sqlite3_column_type(q, 3) == SQLITE_NULL ? -1
									 : (long)sqlite3_column_int64(q, 3);
		org.headcount_as_of = (const char *)sqlite3_column_text(q, 4);
		org.frontline = sqlite3_column_type(q, 5) == SQLITE_NULL ? -1
									 : (long)sqlite3_column_int64(q, 5);
		org.frontline_as_of = (const char *)sqlite3_column_text(q, 6);
		if ((rc = fn(ctx, &org)) != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = store__db_error(db, err, "reading headcounts");
out:
	sqlite3_finalize(q);
	return rc;
}

/* ---- import ---- */

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	FILE *fp = ctx;
	size_t n = fread(buf, 1, len, fp);

	if (n == 0 && ferror(fp))
		return -1;
	return (ssize_t)n;
}

enum { COL_ORG, COL_NAME, COL_SECTOR, COL_HEADCOUNT, COL_FRONTLINE, COL_AS_OF, N_COLS };
static const char *const col_names[N_COLS] = { "org", "name", "sector", "headcount", "frontline",
					       "as_of" };

/* A cell as a count: -1 when empty; LR_EINVAL (err set) when not a whole number >= 0. */
static int cell_count(struct lr_error *err, const char *text, const char *column, long *out)
{
	char *end;
	long v;

	*out = -1;
	if (!text[0])
		return 0;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || text[0] == '-' || text[0] == '+' ||
	    text[0] == ' ') {
		lr_error_set(err, LR_EINVAL, "'%.40s' is not a whole number of 0 or more", text);
		lr_error_field(err, column);
		return LR_EINVAL;
	}
	*out = v;
	return 0;
}

int workforce_import_csv(struct store *s, struct lr_error *err, const char *path,
			 struct workforce_import_counts *counts,
			 void (*reject)(void *ctx, const struct lr_error *row_err), void *ctx)
{
	struct csv *csv = NULL;
	struct csv_row row;
	long col[N_COLS];
	FILE *fp = NULL;
	size_t i;
	int rc = 0, step, in_tx = 0;

	memset(counts, 0, sizeof(*counts));
	fp = fopen(path, "rb");
	if (!fp) {
		rc = lr_error_set(err, LR_EIO, "cannot read the file: %s", strerror(errno));
		lr_error_where(err, path, 0, 0);
		goto out;
	}
	if (csv_open(&csv, NULL, file_read, fp) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	if ((step = csv_header(csv, &row, err)) != 1) {
		rc = step < 0 ? step : LR_EFORMAT;
		lr_error_where(err, path, 0, 0);
		goto out;
	}
	for (i = 0; i < N_COLS; i++)
		col[i] = csv_column(&row, col_names[i]);
	for (i = 0; i < row.n; i++) {
		size_t k;
		for (k = 0; k < N_COLS; k++)
			if (col[k] == (long)i)
				break;
		if (k == N_COLS) {
			rc = lr_error_set(err, LR_EINVAL,
					  "unknown column '%.60s' (the columns are org,name,sector,"
					  "headcount,frontline,as_of)", row.fields[i]);
			lr_error_where(err, path, row.line, 0);
			goto out;
		}
	}
	if (col[COL_ORG] < 0) {
		rc = lr_error_set(err, LR_EINVAL,
				  "the header has no 'org' column (the columns are org,name,sector,"
				  "headcount,frontline,as_of)");
		lr_error_where(err, path, row.line, 0);
		goto out;
	}
	if ((rc = store_begin(s, err)) != 0)
		goto out;
	in_tx = 1;
	while ((step = csv_next(csv, &row, err)) != 0) {
		struct lr_error row_err;
		struct workforce_update u;
		const char *cell[N_COLS];
		int created = 0, r = 0;

		if (step == LR_EIO || step == LR_ENOMEM) {
			rc = step;
			lr_error_where(err, path, err->line, err->record);
			goto out;
		}
		lr_error_clear(&row_err);
		counts->rows++;
		if (step < 0) {
			row_err = *err;
			lr_error_clear(err);
			lr_error_where(&row_err, path, row_err.line, row_err.record);
			counts->rejected++;
			if (reject)
				reject(ctx, &row_err);
			continue;
		}
		for (i = 0; i < N_COLS; i++) {
			cell[i] = "";
			if (col[i] >= 0 && (size_t)col[i] < row.n)
				cell[i] = row.fields[col[i]];
		}
		memset(&u, 0, sizeof(u));
		u.org = cell[COL_ORG];
		u.name = cell[COL_NAME][0] ? cell[COL_NAME] : NULL;
		u.sector = cell[COL_SECTOR][0] ? cell[COL_SECTOR] : NULL;
		u.as_of = cell[COL_AS_OF][0] ? cell[COL_AS_OF] : NULL;
		if (!u.org[0]) {
			r = lr_error_set(&row_err, LR_EINVAL, "the org is empty");
			lr_error_field(&row_err, "org");
		}
		if (r == 0)
			r = cell_count(&row_err, cell[COL_HEADCOUNT], "headcount", &u.headcount);
		if (r == 0)
			r = cell_count(&row_err, cell[COL_FRONTLINE], "frontline", &u.frontline);
		if (r == 0)
			r = workforce_set(s, &row_err, &u, 1, &created);
		if (r == 0) {
			counts->applied++;
			counts->created += created;
			continue;
		}
		if (r != LR_EINVAL && r != LR_ENOTFOUND && r != LR_EEXISTS) {
			*err = row_err;
			rc = r;
			goto out;
		}
		lr_error_where(&row_err, path, row.line, row.record);
		counts->rejected++;
		if (reject)
			reject(ctx, &row_err);
	}
	rc = store_commit(s, err);
	in_tx = 0;
out:
	if (in_tx)
		store_rollback(s);
	csv_close(csv);
	if (fp)
		fclose(fp);
	return rc;
}
