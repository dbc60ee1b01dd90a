/*
 * web.c: the report endpoints, the dashboard and the upload form (see
 * web.h). Pages are built with the frame and stylesheet of web/ (built into
 * the binary, lrs/assets.h); the charts are SVG drawn here, each with a
 * table of the same figures, so the page needs no script, no font and
 * nothing from the network, reads with a screen reader and prints.
 * Large answers (completions.csv) are written to an unlinked temporary
 * file and sent from it, so memory stays bounded.
 */
#include "web.h"
#include "adapters/adapter.h"
#include "assets.h"
#include "completions.h"
#include "credentials.h"
#include "error.h"
#include "http.h"
#include "reports.h"
#include "store.h"
#include "xtime.h"

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DASHBOARD_RUNS 10
#define DASHBOARD_REJECTS_PER_RUN 5

const struct asset *asset_find(const char *name)
{
	size_t i;

	for (i = 0; assets[i].name; i++)
		if (strcmp(assets[i].name, name) == 0)
			return &assets[i];
	return NULL;
}

enum web_resource web_resource_of(const char *url)
{
	if (strcmp(url, "/") == 0)
		return WEB_DASHBOARD;
	if (strcmp(url, "/upload") == 0)
		return WEB_UPLOAD_FORM;
	if (strcmp(url, "/uploads") == 0)
		return WEB_UPLOADS;
	if (strcmp(url, "/reports/completions.csv") == 0)
		return WEB_COMPLETIONS_CSV;
	if (strcmp(url, "/reports/coverage.json") == 0)
		return WEB_COVERAGE_JSON;
	if (strcmp(url, "/reports/trend.json") == 0)
		return WEB_TREND_JSON;
	if (strncmp(url, "/assets/", 8) == 0)
		return WEB_ASSET;
	return WEB_NONE;
}

int web_is_page(enum web_resource r)
{
	return r == WEB_DASHBOARD || r == WEB_UPLOAD_FORM;
}

void web_escape(FILE *out, const char *text)
{
	const char *p;

	if (!text)
		return;
	for (p = text; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*p, out);
		}
	}
}

/* Writes text percent-encoded for a query string value. */
static void url_escape(FILE *out, const char *text)
{
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == ':')
			fputc(*p, out);
		else
			fprintf(out, "%%%02X", *p);
	}
}

int web_wants_html(const struct http_request *req)
{
	const char *accept = http_header(req, "Accept");

	if (!accept)
		return 0;
	if (strstr(accept, "application/json") &&
	    (!strstr(accept, "text/html") || strstr(accept, "application/json") < strstr(accept, "text/html")))
		return 0;
	return strstr(accept, "text/html") != NULL;
}

void web_page_headers(struct http_response *resp)
{
	http_add_header(resp, "Content-Security-Policy",
			"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
			" frame-ancestors 'none'; base-uri 'none'");
	http_add_header(resp, "X-Content-Type-Options", "nosniff");
	http_add_header(resp, "Referrer-Policy", "same-origin");
	http_add_header(resp, "Cache-Control", "no-store");
}

/* Copies asset a to out, replacing each "@NAME@" of names with the value (raw HTML). */
static void fill(FILE *out, const struct asset *a, const char *const *names,
		 const char *const *values, size_t n)
{
	const char *p = (const char *)a->data, *end = p + a->len;

	while (p < end) {
		const char *at = memchr(p, '@', (size_t)(end - p));
		size_t i;
		int done = 0;

		if (!at) {
			fwrite(p, 1, (size_t)(end - p), out);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), out);
		for (i = 0; i < n && !done; i++) {
			size_t len = strlen(names[i]);
			if ((size_t)(end - at) >= len + 2 && memcmp(at + 1, names[i], len) == 0 &&
			    at[len + 1] == '@') {
				fputs(values[i] ? values[i] : "", out);
				p = at + len + 2;
				done = 1;
			}
		}
		if (!done) {
			fputc('@', out);
			p = at + 1;
		}
	}
}

/* Takes the text a memstream wrote as resp's body. */
static int take_stream(struct http_response *resp, int status, const char *type, FILE *f,
		       char *text, size_t len)
{
	(void)f;
	free(resp->body);
	resp->body = text;
	resp->body_len = len;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
	return 0;
}

static int page_with_query(struct http_response *resp, int status, const char *title,
			   const char *main_html, const char *query)
{
	const struct asset *frame = asset_find("page.html");
	char *text = NULL, *title_html = NULL, *query_html = NULL;
	size_t len = 0, tlen = 0, qlen = 0;
	FILE *f = NULL, *t = NULL, *q = NULL;

	if (!frame || !(f = open_memstream(&text, &len)) || !(t = open_memstream(&title_html, &tlen)) ||
	    !(q = open_memstream(&query_html, &qlen))) {
		if (f)
			fclose(f);
		if (t)
			fclose(t);
		free(text);
		free(title_html);
		return http_error(resp, 500, "out of memory");
	}
	web_escape(t, title);
	fclose(t);
	web_escape(q, query ? query : "");
	fclose(q);
	{
		const char *names[] = { "TITLE", "MAIN", "QUERY" };
		const char *values[] = { title_html, main_html, query_html };
		fill(f, frame, names, values, 3);
	}
	fclose(f);
	free(title_html);
	free(query_html);
	take_stream(resp, status, "text/html; charset=utf-8", NULL, text, len);
	web_page_headers(resp);
	return 0;
}

int web_page(struct http_response *resp, int status, const char *title, const char *main_html)
{
	return page_with_query(resp, status, title, main_html, NULL);
}

int web_error_page(struct http_response *resp, int status, const char *message)
{
	char *main_html = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&main_html, &len);
	const char *title = status == 401 ? "Sign in needed" : status == 403 ? "Not allowed"
			    : status == 404 ? "Not found" : status == 413 ? "File too large" : "Error";

	if (!f)
		return http_error(resp, 500, "out of memory");
	fprintf(f, "<h1>");
	web_escape(f, title);
	fprintf(f, "</h1>\n<p class=\"error\" role=\"alert\">");
	web_escape(f, message);
	fprintf(f, "</p>\n");
	if (status == 401)
		fprintf(f, "<p>Sign in with the key and secret of an lrhub credential"
			   " (<code>lrhub credential add ORG --scope SCOPE</code>).</p>\n");
	fclose(f);
	web_page(resp, status, title, main_html);
	free(main_html);
	return status;
}

int web_error_for(const struct http_request *req, struct http_response *resp, int status,
		  const char *message)
{
	if (web_wants_html(req))
		return web_error_page(resp, status, message);
	return http_error(resp, status, "%s", message);
}

/* ---- the report endpoints ---- */

static int status_of(int code)
{
	switch (code) {
	case LR_ENOTFOUND: return 404;
	case LR_EINVAL: return 400;
	case LR_EBUSY: return 503;
	default: return 500;
	}
}

/* Checks that every query argument is one of allowed. Returns 0 or the 400 status. */
static int only_args(const struct http_request *req, struct http_response *resp,
		     const char *const *allowed)
{
	size_t i, j;

	for (i = 0; i < req->n_args; i++) {
		int ok = 0;
		for (j = 0; allowed[j] && !ok; j++)
			ok = strcmp(req->args[i].name, allowed[j]) == 0;
		if (!ok)
			return http_error(resp, 400, "unknown parameter '%s'", req->args[i].name);
	}
	return 0;
}

struct first_course {
	char code[256];
	long n;
};

static int note_course(void *ctx, const struct store_course *c)
{
	struct first_course *fc = ctx;

	if (fc->n++ == 0)
		snprintf(fc->code, sizeof(fc->code), "%s", c->code);
	return 0;
}

/*
 * Fills q from the query: course (default: the only course, or with
 * any_course the first by code), as_of, org, target (repeated), by. Returns
 * 0 or the error status after filling resp.
 */
static int report_query(const struct http_request *req, struct http_response *resp,
			struct reports_query *q, struct reports_target *targets,
			struct first_course *fc, int any_course)
{
	struct lr_error err;
	size_t i;
	const char *by = http_arg(req, "by");

	lr_error_clear(&err);
	memset(q, 0, sizeof(*q));
	q->course = http_arg(req, "course");
	q->as_of = http_arg(req, "as_of");
	q->org = http_arg(req, "org");
	if (q->as_of && !q->as_of[0])
		q->as_of = NULL;
	if (q->org && !q->org[0])
		q->org = NULL;
	if (!q->course || !q->course[0]) {
		memset(fc, 0, sizeof(*fc));
		if (store_course_each(req->store, &err, note_course, fc) != 0)
			return http_error(resp, status_of(err.code), "%s", err.text);
		if (fc->n == 0)
			return http_error(resp, 404, "the store has no course yet (lrhub course add)");
		if (fc->n > 1 && !any_course)
			return http_error(resp, 400, "course is required: the store has %ld courses", fc->n);
		q->course = fc->code;
	}
	q->targets = targets;
	for (i = 0; i < req->n_args; i++) {
		if (strcmp(req->args[i].name, "target") != 0 || !req->args[i].value[0])
			continue;
		if (q->n_targets >= REPORTS_MAX_TARGETS)
			return http_error(resp, 400, "at most %d targets", REPORTS_MAX_TARGETS);
		if (reports_target_parse(&targets[q->n_targets], &err, req->args[i].value) != 0)
			return http_error(resp, 400, "target '%s': %s", req->args[i].value, err.text);
		q->n_targets++;
	}
	if (by && by[0] && reports_period_parse(&q->by, &err, by) != 0)
		return http_error(resp, 400, "by: %s", err.text);
	return 0;
}

/* Makes resp's body the whole of f (a temporary file), sent from disk. */
static int send_file(struct http_response *resp, FILE *f, const char *type)
{
	long size;
	int fd;

	if (fflush(f) != 0 || ferror(f) || (size = ftell(f)) < 0 || (fd = dup(fileno(f))) < 0)
		return http_error(resp, 500, "cannot write the answer to a temporary file");
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return http_error(resp, 500, "cannot write the answer to a temporary file");
	}
	free(resp->body);
	resp->body = NULL;
	resp->has_file = 1;
	resp->file_fd = fd;
	resp->body_len = (size_t)size;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
	return 0;
}

static void handle_coverage(const struct http_request *req, struct http_response *resp, int trend)
{
	static const char *const allowed[] = { "course", "as_of", "org", "target", "by", NULL };
	struct reports_target targets[REPORTS_MAX_TARGETS];
	struct reports_query q;
	struct first_course fc;
	struct lr_error err;
	json_t *report = NULL;
	FILE *f = NULL;
	int rc;

	lr_error_clear(&err);
	if (only_args(req, resp, allowed) != 0 || report_query(req, resp, &q, targets, &fc, 0) != 0)
		return;
	rc = trend ? reports_trend(&report, &err, req->store, &q)
		   : reports_coverage(&report, &err, req->store, &q);
	if (rc != 0) {
		http_error(resp, status_of(rc), "%s", err.text[0] ? err.text : lr_strerror(rc));
		return;
	}
	/* Written as `lrhub report coverage|trend --format json` writes it. */
	if (!(f = tmpfile())) {
		http_error(resp, 500, "cannot make a temporary file for the answer");
	} else if ((rc = trend ? reports_trend_write(f, report, REPORTS_JSON)
			      : reports_coverage_write(f, report, REPORTS_JSON)) != 0) {
		http_error(resp, 500, "writing the report: %s", lr_strerror(rc));
	} else if (send_file(resp, f, "application/json") == 0) {
		http_add_header(resp, "Cache-Control", "no-store");
	}
	if (f)
		fclose(f);
	json_decref(report);
}

static int write_csv_row(void *ctx, const struct completion *row)
{
	return completions_write_csv(ctx, row);
}

static void handle_completions_csv(const struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = { "course", "org", "since", "until", NULL };
	struct completions_query q;
	struct lr_error err;
	const char *since = http_arg(req, "since"), *until = http_arg(req, "until");
	int64_t id;
	FILE *f = NULL;
	int rc;

	lr_error_clear(&err);
	memset(&q, 0, sizeof(q));
	if (only_args(req, resp, allowed) != 0)
		return;
	q.course = http_arg(req, "course");
	q.org = http_arg(req, "org");
	if (q.course && !q.course[0])
		q.course = NULL;
	if (q.org && !q.org[0])
		q.org = NULL;
	if (since && since[0]) {
		if (xtime_parse_bound(&q.since_ms, since, 0) != 0) {
			http_error(resp, 400, "since: '%s' is not a date (YYYY-MM-DD) or timestamp", since);
			return;
		}
		q.has_since = 1;
	}
	if (until && until[0]) {
		if (xtime_parse_bound(&q.until_ms, until, 1) != 0) {
			http_error(resp, 400, "until: '%s' is not a date (YYYY-MM-DD) or timestamp", until);
			return;
		}
		q.has_until = 1;
	}
	if ((q.course && store_course_id(req->store, &err, q.course, &id) != 0) ||
	    (q.org && store_org_id(req->store, &err, q.org, &id) != 0)) {
		http_error(resp, status_of(err.code), "%s", err.text);
		return;
	}
	if (!(f = tmpfile())) {
		http_error(resp, 500, "cannot make a temporary file for the answer");
		return;
	}
	fputs(completions_csv_header, f);
	rc = completions_each(req->store, &err, &q, write_csv_row, f);
	if (rc != 0)
		http_error(resp, status_of(rc), "%s", err.text[0] ? err.text : "writing the completions failed");
	else if (send_file(resp, f, "text/csv; charset=utf-8") == 0) {
		http_add_header(resp, "Content-Disposition", "inline; filename=\"completions.csv\"");
		http_add_header(resp, "Cache-Control", "no-store");
	}
	fclose(f);
}

/* ---- the dashboard ---- */

static double num(const json_t *v, const char *key, int *known)
{
	json_t *n = json_object_get(v, key);

	if (known)
		*known = json_is_number(n);
	return json_is_number(n) ? json_number_value(n) : 0.0;
}

static void percent(FILE *f, const json_t *v, const char *key)
{
	int known;
	double x = num(v, key, &known);

	if (known)
		fprintf(f, "%.1f%%", x * 100.0);
	else
		fputs("–", f);
}

static void number_cell(FILE *f, const json_t *v, const char *key, const char *fmt)
{
	int known;
	double x = num(v, key, &known);

	fputs("<td class=\"num\">", f);
	if (known)
		fprintf(f, fmt, x);
	else
		fputs("–", f);
	fputs("</td>", f);
}

/* The figure each bar shows: coverage of the first target's population (all staff when none). */
static const char *bar_key(const json_t *report)
{
	const json_t *t = json_array_get(json_object_get(report, "targets"), 0);
	const char *pop = json_string_value(json_object_get(t, "population"));

	return pop && strcmp(pop, "frontline") == 0 ? "frontline_coverage" : "coverage";
}

static void coverage_section(FILE *f, const json_t *report)
{
	const json_t *orgs = json_object_get(report, "orgs");
	const json_t *system = json_object_get(report, "system");
	const json_t *t0 = json_array_get(json_object_get(report, "targets"), 0);
	const char *key = bar_key(report);
	const char *population = strcmp(key, "frontline_coverage") == 0 ? "frontline staff" : "all staff";
	int has_target = json_is_object(t0);
	double target = has_target ? num(t0, "fraction", NULL) : 0;
	size_t i, n = json_array_size(orgs);
	const int label_w = 190, plot_w = 420, row_h = 30, top = 30;
	int height = top + (int)(n ? n : 1) * row_h + 30;
	const json_t *org;

	fputs("<section aria-labelledby=\"coverage-h\">\n<h2 id=\"coverage-h\">Coverage per organisation</h2>\n", f);
	fputs("<p>", f);
	fprintf(f, "Course <strong>");
	web_escape(f, json_string_value(json_object_get(report, "course")));
	fputs("</strong>", f);
	if (json_string_value(json_object_get(report, "course_title"))) {
		fputs(" (", f);
		web_escape(f, json_string_value(json_object_get(report, "course_title")));
		fputs(")", f);
	}
	fputs(", as of ", f);
	web_escape(f, json_string_value(json_object_get(report, "as_of")));
	fprintf(f, ". Whole system: <strong>%.0f</strong> people completed", num(system, "completed", NULL));
	{
		int known;
		double cov = num(system, "coverage", &known);
		if (known)
			fprintf(f, " of %.0f staff (%.1f%%)", num(system, "headcount", NULL), cov * 100.0);
	}
	fputs(".</p>\n", f);
	if (n == 0) {
		fputs("<p class=\"note\">No organisation has data for this course yet.</p>\n</section>\n", f);
		return;
	}
	fputs("<figure aria-labelledby=\"coverage-cap\">\n", f);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\""
		   " role=\"img\" aria-labelledby=\"coverage-svg-title\" aria-describedby=\"coverage-svg-desc\">\n",
		label_w + plot_w + 80, height, label_w + plot_w + 80, height);
	fprintf(f, "<title id=\"coverage-svg-title\">Coverage of %s per organisation</title>\n", population);
	fputs("<desc id=\"coverage-svg-desc\">Horizontal bars, one per organisation, 0 to 100%", f);
	if (has_target)
		fprintf(f, "; a dashed line marks the target of %.0f%%", target * 100.0);
	fputs(". The table below gives the same figures.</desc>\n", f);
	/* Grid lines at 0, 25, 50, 75, 100%. */
	for (i = 0; i <= 4; i++) {
		int x = label_w + (int)(plot_w * i / 4);
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
			   "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">%zu%%</text>\n",
			x, top - 6, x, height - 24, x, height - 8, i * 25);
	}
	json_array_foreach(orgs, i, org) {
		int known;
		double cov = num(org, key, &known);
		int y = top + (int)i * row_h;
		int w = known ? (int)lround((cov > 1 ? 1 : cov < 0 ? 0 : cov) * plot_w) : 0;
		const char *name = json_string_value(json_object_get(org, "name"));
		if (!name)
			name = json_string_value(json_object_get(org, "org"));
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"13\">", label_w - 8,
			y + row_h / 2 + 4);
		web_escape(f, name);
		fputs("</text>", f);
		fprintf(f, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", label_w,
			y + 4, w, row_h - 8);
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\">", label_w + w + 6, y + row_h / 2 + 4);
		if (known)
			fprintf(f, "%.1f%%", cov * 100.0);
		else
			fputs("no headcount", f);
		fputs("</text>\n", f);
	}
	if (has_target) {
		int x = label_w + (int)lround(target * plot_w);
		fprintf(f, "<line class=\"target\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", x, top - 10, x,
			height - 24);
		fprintf(f, "<text class=\"target-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">"
			   "Target %.0f%% by ", x, top - 14, target * 100.0);
		web_escape(f, json_string_value(json_object_get(t0, "date")));
		fputs("</text>\n", f);
	}
	fputs("</svg>\n<figcaption id=\"coverage-cap\">", f);
	fprintf(f, "Share of %s who have completed the course, per organisation", population);
	if (has_target)
		fprintf(f, ", against the target of %.0f%%", target * 100.0);
	fputs(".</figcaption>\n</figure>\n", f);

	/* The same figures as a table. */
	fputs("<table>\n<caption>Coverage per organisation", f);
	if (has_target)
		fprintf(f, " and the first target (%.0f%% of %s by ", target * 100.0, population);
	if (has_target) {
		web_escape(f, json_string_value(json_object_get(t0, "date")));
		fputs(")", f);
	}
	fputs("</caption>\n<thead><tr><th scope=\"col\">Organisation</th><th scope=\"col\">Sector</th>"
	      "<th scope=\"col\" class=\"num\">Completed</th><th scope=\"col\" class=\"num\">Headcount</th>"
	      "<th scope=\"col\" class=\"num\">Coverage</th><th scope=\"col\" class=\"num\">Frontline coverage</th>"
	      "<th scope=\"col\" class=\"num\">Last 3 months, per month</th>", f);
	if (has_target)
		fputs("<th scope=\"col\" class=\"num\">Needed per month</th><th scope=\"col\">On track</th>", f);
	fputs("</tr></thead>\n<tbody>\n", f);
	for (i = 0; i <= n; i++) {
		const json_t *row = i < n ? json_array_get(orgs, i) : system;
		const json_t *rt = json_array_get(json_object_get(row, "targets"), 0);
		const char *name = i < n ? json_string_value(json_object_get(row, "name")) : "Whole system";
		if (!name)
			name = json_string_value(json_object_get(row, "org"));
		fputs("<tr><th scope=\"row\">", f);
		web_escape(f, name);
		fputs("</th><td>", f);
		web_escape(f, i < n ? json_string_value(json_object_get(row, "sector")) : "");
		fputs("</td>", f);
		number_cell(f, row, "completed", "%.0f");
		number_cell(f, row, "headcount", "%.0f");
		fputs("<td class=\"num\">", f);
		percent(f, row, "coverage");
		fputs("</td><td class=\"num\">", f);
		percent(f, row, "frontline_coverage");
		fputs("</td>", f);
		number_cell(f, row, "recent_monthly_rate", "%.1f");
		if (has_target) {
			json_t *on = json_object_get(rt, "on_track");
			number_cell(f, rt, "needed_monthly_rate", "%.1f");
			fprintf(f, "<td>%s</td>", json_is_true(on) ? "<span class=\"status-ok\">yes</span>"
					     : json_is_false(on) ? "<span class=\"status-bad\">no</span>" : "–");
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n</section>\n", f);
}

static void trend_section(FILE *f, const json_t *report)
{
	const json_t *periods = json_object_get(report, "periods");
	const json_t *series = json_object_get(report, "series");
	const json_t *system = json_array_get(series, 0);
	const json_t *cum = json_object_get(system, "cumulative");
	size_t n = json_array_size(periods), i, s;
	const int left = 60, top = 20, plot_w = 560, plot_h = 220;
	double max = 1;
	const json_t *one;

	fputs("<section aria-labelledby=\"trend-h\">\n<h2 id=\"trend-h\">Cumulative completions</h2>\n", f);
	if (n == 0) {
		fputs("<p class=\"note\">No completions of this course yet.</p>\n</section>\n", f);
		return;
	}
	for (i = 0; i < n; i++)
		if (json_number_value(json_array_get(cum, i)) > max)
			max = json_number_value(json_array_get(cum, i));
	{
		/* Four whole-number steps of 1, 2, 3, 4, 5, 6 or 8 times a power of ten. */
		static const double nice[] = { 1, 2, 3, 4, 5, 6, 8, 10 };
		double raw = max / 4, mag = 1, step = 1;
		size_t k;
		while (mag * 10 <= raw)
			mag *= 10;
		for (k = 0; k < sizeof(nice) / sizeof(nice[0]); k++) {
			step = nice[k] * mag;
			if (step >= raw)
				break;
		}
		max = step * 4;
	}
	fputs("<figure aria-labelledby=\"trend-cap\">\n", f);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\""
		   " role=\"img\" aria-labelledby=\"trend-svg-title\" aria-describedby=\"trend-svg-desc\">\n",
		left + plot_w + 30, top + plot_h + 50, left + plot_w + 30, top + plot_h + 50);
	fputs("<title id=\"trend-svg-title\">Cumulative first completions per period</title>\n", f);
	fprintf(f, "<desc id=\"trend-svg-desc\">A line rising from %.0f in ",
		json_number_value(json_array_get(cum, 0)));
	web_escape(f, json_string_value(json_array_get(periods, 0)));
	fprintf(f, " to %.0f in ", json_number_value(json_array_get(cum, n - 1)));
	web_escape(f, json_string_value(json_array_get(periods, n - 1)));
	fputs(" for the whole system; the table below gives every period.</desc>\n", f);
	for (i = 0; i <= 4; i++) {
		int y = top + plot_h - (int)(plot_h * i / 4);
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
			   "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\">%.0f</text>\n",
			left, y, left + plot_w, y, left - 6, y + 4, max * (double)i / 4.0);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", left, top + plot_h,
		left + plot_w, top + plot_h);
	/* The orgs' series thin and dashed, the system's bold on top. */
	for (s = json_array_size(series); s-- > 0;) {
		const json_t *c = json_object_get(json_array_get(series, s), "cumulative");
		int is_system = json_is_null(json_object_get(json_array_get(series, s), "org"));
		fprintf(f, "<polyline class=\"%s\" points=\"", is_system ? "series" : "series-org");
		for (i = 0; i < n; i++) {
			double x = left + (n == 1 ? plot_w / 2.0 : (double)plot_w * (double)i / (double)(n - 1));
			double y = top + plot_h - plot_h * json_number_value(json_array_get(c, i)) / max;
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
		}
		fputs("\"/>\n", f);
	}
	for (i = 0; i < n; i++) {
		double x = left + (n == 1 ? plot_w / 2.0 : (double)plot_w * (double)i / (double)(n - 1));
		double y = top + plot_h - plot_h * json_number_value(json_array_get(cum, i)) / max;
		fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"/>", x, y);
		/* Label the first, the last and a few between. */
		if (i == 0 || i == n - 1 || (n > 8 && i % ((n + 5) / 6) == 0)) {
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">", x,
				top + plot_h + 18);
			web_escape(f, json_string_value(json_array_get(periods, i)));
			fputs("</text>", f);
		}
		fputc('\n', f);
	}
	fputs("</svg>\n<figcaption id=\"trend-cap\">People who have completed the course, cumulative, "
	      "per period (bold: the whole system, dashed: each organisation).</figcaption>\n</figure>\n", f);
	fputs("<table>\n<caption>First completions and cumulative total per period</caption>\n"
	      "<thead><tr><th scope=\"col\">Period</th>", f);
	json_array_foreach(series, s, one) {
		const char *name = json_string_value(json_object_get(one, "name"));
		if (!name)
			name = json_is_null(json_object_get(one, "org")) ? "Whole system"
			       : json_string_value(json_object_get(one, "org"));
		fputs("<th scope=\"col\" class=\"num\">", f);
		web_escape(f, name);
		fputs(" (new / total)</th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
	for (i = 0; i < n; i++) {
		fputs("<tr><th scope=\"row\">", f);
		web_escape(f, json_string_value(json_array_get(periods, i)));
		fputs("</th>", f);
		json_array_foreach(series, s, one) {
			fprintf(f, "<td class=\"num\">%.0f / %.0f</td>",
				json_number_value(json_array_get(json_object_get(one, "first_completions"), i)),
				json_number_value(json_array_get(json_object_get(one, "cumulative"), i)));
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n</section>\n", f);
}

struct runs_page {
	FILE *f;
	struct store *s;
	int64_t ids[DASHBOARD_RUNS];
	long rejected[DASHBOARD_RUNS];
	size_t n;
	long shown;
};

static int run_row(void *ctx, const struct store_run *r)
{
	struct runs_page *rp = ctx;
	FILE *f = rp->f;
	int bad = r->counts.rejected > 0 || r->counts.conflicts > 0 ||
		  (r->status && strcmp(r->status, "done") != 0);

	if (rp->n < DASHBOARD_RUNS) {
		rp->ids[rp->n] = r->id;
		rp->rejected[rp->n] = r->counts.rejected + r->counts.conflicts;
		rp->n++;
	}
	fprintf(f, "<tr><th scope=\"row\">%lld</th><td>", (long long)r->id);
	web_escape(f, r->kind);
	fputs("</td><td>", f);
	web_escape(f, r->org ? r->org : "–");
	fputs("</td><td>", f);
	web_escape(f, r->started_at);
	fprintf(f, "</td><td><span class=\"%s\">", bad ? "status-bad" : "status-ok");
	web_escape(f, r->finished_at ? r->status : "unfinished");
	fprintf(f, "</span></td><td class=\"num\">%ld</td><td class=\"num\">%ld</td><td class=\"num\">%ld</td>"
		   "<td class=\"num\">%ld</td><td class=\"num\">%ld</td></tr>\n",
		r->files, r->counts.accepted, r->counts.duplicates, r->counts.conflicts, r->counts.rejected);
	return 0;
}

static int reject_row(void *ctx, const struct store_reject *r)
{
	struct runs_page *rp = ctx;
	FILE *f = rp->f;
	char where[64] = "";

	if (rp->shown++ >= DASHBOARD_REJECTS_PER_RUN)
		return 1;
	if (r->line)
		snprintf(where, sizeof(where), "line %ld", r->line);
	else if (r->record)
		snprintf(where, sizeof(where), "record %ld", r->record);
	fputs("<tr><td>", f);
	web_escape(f, r->path);
	fputs("</td><td>", f);
	web_escape(f, where);
	fputs("</td><td>", f);
	web_escape(f, r->kind);
	fputs("</td><td>", f);
	web_escape(f, r->field);
	fputs("</td><td>", f);
	web_escape(f, r->reason);
	fputs("</td></tr>\n", f);
	return 0;
}

static void runs_section(FILE *f, struct store *s)
{
	struct runs_page rp;
	struct lr_error err;
	size_t i;

	memset(&rp, 0, sizeof(rp));
	rp.f = f;
	rp.s = s;
	lr_error_clear(&err);
	fputs("<section aria-labelledby=\"runs-h\">\n<h2 id=\"runs-h\">Latest ingest runs</h2>\n", f);
	fputs("<table>\n<caption>The latest runs, newest first</caption>\n<thead><tr>"
	      "<th scope=\"col\">Run</th><th scope=\"col\">Kind</th><th scope=\"col\">Org</th>"
	      "<th scope=\"col\">Started</th><th scope=\"col\">Status</th><th scope=\"col\" class=\"num\">Files</th>"
	      "<th scope=\"col\" class=\"num\">Accepted</th><th scope=\"col\" class=\"num\">Duplicates</th>"
	      "<th scope=\"col\" class=\"num\">Conflicts</th><th scope=\"col\" class=\"num\">Rejected</th>"
	      "</tr></thead>\n<tbody>\n", f);
	if (store_run_each(s, &err, DASHBOARD_RUNS, run_row, &rp) != 0) {
		fputs("</tbody></table>\n<p class=\"error\">", f);
		web_escape(f, err.text);
		fputs("</p>\n</section>\n", f);
		return;
	}
	fputs("</tbody>\n</table>\n", f);
	if (rp.n == 0)
		fputs("<p class=\"note\">No runs yet: ingest a file with <code>lrhub ingest</code> or "
		      "<a href=\"/upload\">upload one</a>.</p>\n", f);
	for (i = 0; i < rp.n; i++) {
		if (rp.rejected[i] == 0)
			continue;
		fprintf(f, "<h3 id=\"rejects-%lld\">Rejects of run %lld</h3>\n<table>\n"
			   "<caption>Records of run %lld that did not go in (first %d; "
			   "<code>lrhub rejects --run %lld</code> lists all)</caption>\n<thead><tr>"
			   "<th scope=\"col\">File</th><th scope=\"col\">Where</th><th scope=\"col\">Kind</th>"
			   "<th scope=\"col\">Field</th><th scope=\"col\">Reason</th></tr></thead>\n<tbody>\n",
			(long long)rp.ids[i], (long long)rp.ids[i], (long long)rp.ids[i],
			DASHBOARD_REJECTS_PER_RUN, (long long)rp.ids[i]);
		rp.shown = 0;
		lr_error_clear(&err);
		store_reject_each(s, &err, rp.ids[i], reject_row, &rp);
		fputs("</tbody>\n</table>\n", f);
	}
	fputs("</section>\n", f);
}

struct course_options {
	FILE *f;
	const char *selected;
};

static int course_option(void *ctx, const struct store_course *c)
{
	struct course_options *co = ctx;

	fputs("<option value=\"", co->f);
	web_escape(co->f, c->code);
	fprintf(co->f, "\"%s>", co->selected && strcmp(co->selected, c->code) == 0 ? " selected" : "");
	web_escape(co->f, c->code);
	if (c->title) {
		fputs(" – ", co->f);
		web_escape(co->f, c->title);
	}
	fputs("</option>\n", co->f);
	return 0;
}

static void handle_dashboard(const struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = { "course", "as_of", "org", "target", "by", NULL };
	struct reports_target targets[REPORTS_MAX_TARGETS];
	struct reports_query q;
	struct first_course fc;
	struct lr_error err;
	json_t *coverage = NULL, *trend = NULL;
	char *main_html = NULL, *query = NULL;
	size_t len = 0, qlen = 0;
	FILE *f = NULL, *qf = NULL;
	const char *target_text = NULL;
	size_t i;
	int rc = 0;

	lr_error_clear(&err);
	if (only_args(req, resp, allowed) != 0) {
		web_error_page(resp, 400, "unknown parameter in the address");
		return;
	}
	memset(&fc, 0, sizeof(fc));
	if (report_query(req, resp, &q, targets, &fc, 1) != 0 && resp->status != 404) {
		char message[512];
		json_t *body = json_loads(resp->body ? resp->body : "", 0, NULL);
		snprintf(message, sizeof(message), "%s",
			 json_string_value(json_object_get(json_object_get(body, "error"), "message"))
				 ? json_string_value(json_object_get(json_object_get(body, "error"), "message"))
				 : "bad parameters");
		json_decref(body);
		web_error_page(resp, 400, message);
		return;
	}
	for (i = 0; i < req->n_args; i++)
		if (strcmp(req->args[i].name, "target") == 0 && req->args[i].value[0] && !target_text)
			target_text = req->args[i].value;
	if (!(f = open_memstream(&main_html, &len)) || !(qf = open_memstream(&query, &qlen))) {
		if (f)
			fclose(f);
		free(main_html);
		http_error(resp, 500, "out of memory");
		return;
	}
	if (resp->status == 404) {
		/* No course yet: say so, and still show the runs. */
		q.course = NULL;
		free(resp->body);
		memset(resp, 0, sizeof(*resp));
	}
	/* The query the footer's JSON links repeat. */
	if (q.course) {
		fputs("?course=", qf);
		url_escape(qf, q.course);
		for (i = 0; i < req->n_args; i++) {
			if (strcmp(req->args[i].name, "course") == 0 || !req->args[i].value[0])
				continue;
			if (strcmp(req->args[i].name, "by") == 0)
				continue;
			fprintf(qf, "&%s=", req->args[i].name);
			url_escape(qf, req->args[i].value);
		}
	}
	fclose(qf);
	qf = NULL;

	fputs("<h1>Training completion dashboard</h1>\n", f);
	fputs("<form class=\"filters\" method=\"get\" action=\"/\" aria-label=\"Report settings\">\n", f);
	fputs("<div class=\"field\"><label for=\"course\">Course</label><select id=\"course\" name=\"course\">\n", f);
	{
		struct course_options co = { f, q.course };
		store_course_each(req->store, &err, course_option, &co);
	}
	fputs("</select></div>\n<div class=\"field\"><label for=\"as_of\">As of</label>"
	      "<input id=\"as_of\" name=\"as_of\" type=\"date\" value=\"", f);
	web_escape(f, q.as_of);
	fputs("\"></div>\n<div class=\"field\"><label for=\"target\">Target</label>"
	      "<input id=\"target\" name=\"target\" type=\"text\" placeholder=\"0.9:frontline:2028-03-31\" value=\"", f);
	web_escape(f, target_text);
	fputs("\" aria-describedby=\"target-help\"><p id=\"target-help\" class=\"help\">"
	      "FRACTION:all|frontline:DATE</p></div>\n"
	      "<div class=\"field\"><label for=\"by\">Trend by</label><select id=\"by\" name=\"by\">", f);
	fprintf(f, "<option value=\"month\"%s>month</option><option value=\"week\"%s>week</option></select></div>\n",
		q.by == REPORTS_WEEK ? "" : " selected", q.by == REPORTS_WEEK ? " selected" : "");
	fputs("<div class=\"field\"><button type=\"submit\">Show</button></div>\n</form>\n", f);

	if (!q.course) {
		fputs("<p class=\"note\">The store has no course yet: add one with <code>lrhub course add</code>"
		      " and map the LMS's course keys to it.</p>\n", f);
	} else {
		struct reports_query tq = q;
		tq.org = NULL;
		lr_error_clear(&err);
		rc = reports_coverage(&coverage, &err, req->store, &q);
		if (rc == 0) {
			coverage_section(f, coverage);
		} else {
			fputs("<p class=\"error\" role=\"alert\">Coverage: ", f);
			web_escape(f, err.text);
			fputs("</p>\n", f);
		}
		lr_error_clear(&err);
		rc = reports_trend(&trend, &err, req->store, &tq);
		if (rc == 0) {
			trend_section(f, trend);
		} else {
			fputs("<p class=\"error\" role=\"alert\">Trend: ", f);
			web_escape(f, err.text);
			fputs("</p>\n", f);
		}
	}
	runs_section(f, req->store);
	fclose(f);
	page_with_query(resp, 200, "Dashboard", main_html, query);
	free(main_html);
	free(query);
	json_decref(coverage);
	json_decref(trend);
}

/* ---- the upload form ---- */

static void handle_upload_form(const struct http_request *req, struct http_response *resp,
			       size_t max_upload)
{
	const struct asset *form = asset_find("upload.html");
	char *main_html = NULL, *formats = NULL, *org = NULL;
	size_t len = 0, flen = 0, olen = 0, i;
	char max[32];
	FILE *f = NULL, *ff = NULL, *of = NULL;

	if (!form || !(f = open_memstream(&main_html, &len)) || !(ff = open_memstream(&formats, &flen)) ||
	    !(of = open_memstream(&org, &olen))) {
		if (f)
			fclose(f);
		if (ff)
			fclose(ff);
		free(main_html);
		free(formats);
		http_error(resp, 500, "out of memory");
		return;
	}
	for (i = 0; adapter_list[i]; i++) {
		fputs("<option value=\"", ff);
		web_escape(ff, adapter_list[i]->name);
		fputs("\">", ff);
		web_escape(ff, adapter_list[i]->name);
		fputs(" – ", ff);
		web_escape(ff, adapter_list[i]->description);
		fputs("</option>\n", ff);
	}
	fclose(ff);
	web_escape(of, req->cred->org);
	fclose(of);
	if (max_upload >= 1024 * 1024)
		snprintf(max, sizeof(max), "%zu MiB", max_upload / (1024 * 1024));
	else
		snprintf(max, sizeof(max), "%zu KiB", max_upload / 1024);
	{
		const char *names[] = { "ORG", "FORMATS", "MAX" };
		const char *values[] = { org, formats, max };
		fill(f, form, names, values, 3);
	}
	fclose(f);
	web_page(resp, 200, "Upload an export", main_html);
	free(main_html);
	free(formats);
	free(org);
}

/* ---- dispatch ---- */

static void handle_asset(const struct http_request *req, struct http_response *resp)
{
	const char *name = req->path + 8;
	const struct asset *a = asset_find(name);
	const char *dot = strrchr(name, '.');

	/* Only the files meant to be fetched: the page fragments are not. */
	if (!a || !dot || strcmp(dot, ".html") == 0) {
		http_error(resp, 404, "no asset %s", name);
		return;
	}
	http_set_body(resp, 200, strcmp(dot, ".css") == 0 ? "text/css; charset=utf-8"
				 : strcmp(dot, ".js") == 0 ? "text/javascript; charset=utf-8"
				 : strcmp(dot, ".svg") == 0 ? "image/svg+xml" : "application/octet-stream",
		      a->data, a->len);
	http_add_header(resp, "Cache-Control", "max-age=3600");
	http_add_header(resp, "X-Content-Type-Options", "nosniff");
}

void web_handle(enum web_resource r, const struct http_request *req, struct http_response *resp)
{
	const struct credential *cred = req->cred;
	int page = web_is_page(r);

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_error(resp, 405, "%s answers only GET", req->path);
		http_add_header(resp, "Allow", "GET, HEAD");
		return;
	}
	if (r == WEB_ASSET) {
		handle_asset(req, resp);
		return;
	}
	if (r == WEB_UPLOAD_FORM) {
		if (!credential_can_write(cred)) {
			web_error_page(resp, 403, "this credential may not upload: it needs the write or admin scope");
			return;
		}
		handle_upload_form(req, resp, req->max_upload);
		return;
	}
	if (!credential_reads_all(cred)) {
		const char *msg = "the reports and the dashboard need a read-all or admin credential";
		if (page)
			web_error_page(resp, 403, msg);
		else
			http_error(resp, 403, "%s", msg);
		return;
	}
	switch (r) {
	case WEB_DASHBOARD: handle_dashboard(req, resp); break;
	case WEB_COMPLETIONS_CSV: handle_completions_csv(req, resp); break;
	case WEB_COVERAGE_JSON: handle_coverage(req, resp, 0); break;
	case WEB_TREND_JSON: handle_coverage(req, resp, 1); break;
	default: http_error(resp, 404, "no resource %s", req->path);
	}
}
