/*
 * scorm_statement.c: statements of the ADL xAPI SCORM Profile built from
 * LMS export facts, and readers of SCORM data model values (see
 * scorm_statement.h).
 *
 * The statement shape, for a SCO:
 *   actor    Agent with account {homePage: LMS, name: user id} (or mbox)
 *   verb     http://adlnet.gov/expapi/verbs/{completed,passed,failed,attempted,scored}
 *   object   the SCO, type lesson (the course itself, type course, for course rows)
 *   result   completion, success, score {scaled, raw, min, max}, duration
 *   context  registration; contextActivities parent [course], grouping
 *            [course, attempt], category [https://w3id.org/xapi/scorm];
 *            extensions {urn:lrhub:extension:attempt: N}
 *   timestamp
 */
#include "adapters/scorm_statement.h"
#include "adapters/itemqueue.h"
#include "lrs/error.h"
#include "lrs/uuid.h"
#include "lrs/xapi.h"
#include "lrs/xtime.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCORM_CATEGORY "https://w3id.org/xapi/scorm"
#define ATTEMPT_EXTENSION "urn:lrhub:extension:attempt"
#define IRI_MAX 2048

static const char *const verb_words[] = {
	[SCORM_COMPLETED] = "completed",
	[SCORM_PASSED] = "passed",
	[SCORM_FAILED] = "failed",
	[SCORM_ATTEMPTED] = "attempted",
	[SCORM_SCORED] = "scored",
};

void scorm_event_init(struct scorm_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->completion = -1;
	ev->success = -1;
}

/* Appends text to out at *at, percent-encoding all but RFC 3986 unreserved bytes. */
static void put_encoded(char *out, size_t size, size_t *at, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p && *at + 4 < size; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[(*at)++] = (char)*p;
		} else {
			out[(*at)++] = '%';
			out[(*at)++] = hex[*p >> 4];
			out[(*at)++] = hex[*p & 15];
		}
	}
	out[*at] = '\0';
}

static void put_plain(char *out, size_t size, size_t *at, const char *text)
{
	size_t n = strlen(text);

	if (*at + n + 1 > size)
		n = size - *at - 1;
	memcpy(out + *at, text, n);
	*at += n;
	out[*at] = '\0';
}

/* The account homePage: the LMS address, else urn:lrhub:org:ORG. */
static void home_page(char *out, size_t size, const struct scorm_event *ev)
{
	size_t at = 0;

	out[0] = '\0';
	if (ev->lms_url && *ev->lms_url) {
		put_plain(out, size, &at, ev->lms_url);
		return;
	}
	put_plain(out, size, &at, "urn:lrhub:org:");
	put_encoded(out, size, &at, ev->org);
}

/* BASE/lrhub/SYSTEM/course/KEY[/sco/KEY] (base without a trailing '/'), or urn:lrhub:org:ORG:... */
static void activity_iri(char *out, size_t size, const struct scorm_event *ev, int with_sco)
{
	size_t at = 0;

	out[0] = '\0';
	if (ev->lms_url && *ev->lms_url) {
		put_plain(out, size, &at, ev->lms_url);
		while (at > 0 && out[at - 1] == '/')
			out[--at] = '\0';
		put_plain(out, size, &at, "/lrhub/");
	} else {
		put_plain(out, size, &at, "urn:lrhub:org:");
		put_encoded(out, size, &at, ev->org);
		put_plain(out, size, &at, ":");
	}
	put_encoded(out, size, &at, ev->system ? ev->system : "lms");
	put_plain(out, size, &at, "/course/");
	put_encoded(out, size, &at, ev->course_key);
	if (with_sco && ev->sco_key) {
		put_plain(out, size, &at, "/sco/");
		put_encoded(out, size, &at, ev->sco_key);
	}
}

static json_t *lang_map(const char *text)
{
	return json_pack("{s:s}", "en-US", text);
}

static json_t *activity(const char *iri, const char *name, const char *type)
{
	json_t *def = json_object(), *a;

	if (!def)
		return NULL;
	/* A member that cannot be made (out of memory) fails the whole activity. */
	if ((name && *name && json_object_set_new(def, "name", lang_map(name)) != 0) ||
	    json_object_set_new(def, "type", json_string(type)) != 0) {
		json_decref(def);
		return NULL;
	}
	a = json_pack("{s:s,s:s,s:o}", "objectType", "Activity", "id", iri, "definition", def);
	return a;
}

/* The learner key used in ids: the account name, or mailto:EMAIL. */
static void learner_key(char *out, size_t size, const struct scorm_event *ev)
{
	if (ev->learner)
		snprintf(out, size, "account:%s", ev->learner);
	else
		snprintf(out, size, "mailto:%s", ev->email ? ev->email : "");
}

int scorm_statement_build(json_t **out, struct lr_error *err, const struct scorm_event *ev,
			  enum scorm_verb verb)
{
	char course_iri[IRI_MAX], object_iri[IRI_MAX], attempt_iri[IRI_MAX + 64], home[IRI_MAX];
	char who[1024], id[UUID_STR_LEN + 1], reg[UUID_STR_LEN + 1], when[XTIME_MAX];
	char *name = NULL;
	json_t *st = NULL, *actor = NULL, *result = NULL, *context = NULL, *ca = NULL, *score;
	long attempt = ev->attempt > 0 ? ev->attempt : 1;
	int len, rc = 0, bad = 0;  /* bad: a member could not be set (out of memory) */

	*out = NULL;
	home_page(home, sizeof(home), ev);
	activity_iri(course_iri, sizeof(course_iri), ev, 0);
	activity_iri(object_iri, sizeof(object_iri), ev, 1);
	learner_key(who, sizeof(who), ev);
	when[0] = '\0';
	if (ev->has_time)
		xtime_format(when, ev->time_ms);

	/* The registration: org, learner, course, attempt. */
	len = asprintf(&name, "registration\n%s\n%s\n%s\n%ld", ev->org, who, ev->course_key, attempt);
	if (len < 0) {
		name = NULL;
		goto nomem;
	}
	if (uuid_v5(reg, UUID_NS_LRHUB, name, (size_t)len) != 0)
		goto nomem;
	free(name);
	/* The statement: and the SCO, what happened and when. */
	len = asprintf(&name, "scorm\n%s\n%s\n%s\n%s\n%ld\n%s\n%s", ev->org, who, ev->course_key,
		       ev->sco_key ? ev->sco_key : "", attempt, verb_words[verb], when);
	if (len < 0) {
		name = NULL;
		goto nomem;
	}
	if (uuid_v5(id, UUID_NS_LRHUB, name, (size_t)len) != 0)
		goto nomem;
	snprintf(attempt_iri, sizeof(attempt_iri), "%s?attemptId=%s", object_iri, reg);

	if (ev->learner)
		actor = json_pack("{s:s,s:{s:s,s:s}}", "objectType", "Agent", "account",
				  "homePage", home, "name", ev->learner);
	else {
		char mbox[1024];
		snprintf(mbox, sizeof(mbox), "mailto:%s", ev->email ? ev->email : "");
		actor = json_pack("{s:s,s:s}", "objectType", "Agent", "mbox", mbox);
	}
	if (!actor)
		goto nomem;
	if (ev->learner_name && *ev->learner_name)
		bad |= json_object_set_new(actor, "name", json_string(ev->learner_name));

	result = json_object();
	if (!result)
		goto nomem;
	if (ev->completion >= 0)
		bad |= json_object_set_new(result, "completion", json_boolean(ev->completion));
	if (ev->success >= 0)
		bad |= json_object_set_new(result, "success", json_boolean(ev->success));
	if (ev->has_scaled || ev->has_raw) {
		double scaled = ev->scaled, low = ev->has_min ? ev->min : 0;
		int has_scaled = ev->has_scaled;

		/* No scaled score: from raw within min..max, or a raw 0..100 as a percentage. */
		if (!has_scaled && ev->has_max && ev->max > low && ev->raw >= low && ev->raw <= ev->max) {
			scaled = (ev->raw - low) / (ev->max - low);
			has_scaled = 1;
		} else if (!has_scaled && !ev->has_max && ev->raw >= 0 && ev->raw <= 100) {
			scaled = ev->raw / 100;
			has_scaled = 1;
		}
		score = json_object();
		if (!score)
			goto nomem;
		if (has_scaled)
			bad |= json_object_set_new(score, "scaled", json_real(round(scaled * 1e6) / 1e6));
		if (ev->has_raw)
			bad |= json_object_set_new(score, "raw", json_real(ev->raw));
		if (ev->has_raw && ev->has_min)
			bad |= json_object_set_new(score, "min", json_real(ev->min));
		if (ev->has_raw && ev->has_max)
			bad |= json_object_set_new(score, "max", json_real(ev->max));
		bad |= json_object_set_new(result, "score", score);
	}
	if (ev->duration && *ev->duration)
		bad |= json_object_set_new(result, "duration", json_string(ev->duration));

	ca = json_object();
	if (!ca)
		goto nomem;
	if (ev->sco_key) {
		bad |= json_object_set_new(ca, "parent", json_pack("[o]",
			activity(course_iri, ev->course_name, "http://adlnet.gov/expapi/activities/course")));
		bad |= json_object_set_new(ca, "grouping", json_pack("[o,o]",
			activity(course_iri, ev->course_name, "http://adlnet.gov/expapi/activities/course"),
			activity(attempt_iri, NULL, "http://adlnet.gov/expapi/activities/attempt")));
	} else {
		bad |= json_object_set_new(ca, "grouping", json_pack("[o]",
			activity(attempt_iri, NULL, "http://adlnet.gov/expapi/activities/attempt")));
	}
	bad |= json_object_set_new(ca, "category", json_pack("[{s:s,s:s}]", "objectType", "Activity",
						      "id", SCORM_CATEGORY));
	context = json_pack("{s:s,s:o,s:{s:I}}", "registration", reg, "contextActivities", ca,
			    "extensions", ATTEMPT_EXTENSION, (json_int_t)attempt);
	ca = NULL;
	if (!context)
		goto nomem;

	st = json_pack("{s:s,s:o,s:{s:s,s:{s:s}},s:o}", "id", id, "actor", actor,
		       "verb", "id", "", "display", "en-US", verb_words[verb],
		       "object", ev->sco_key
				? activity(object_iri, ev->sco_name, "http://adlnet.gov/expapi/activities/lesson")
				: activity(course_iri, ev->course_name, "http://adlnet.gov/expapi/activities/course"));
	actor = NULL;
	if (!st)
		goto nomem;
	{
		char verb_iri[80];
		snprintf(verb_iri, sizeof(verb_iri), "http://adlnet.gov/expapi/verbs/%s", verb_words[verb]);
		bad |= json_object_set_new(json_object_get(st, "verb"), "id", json_string(verb_iri)) != 0;
	}
	if (json_object_size(result) > 0)
		bad |= json_object_set(st, "result", result) != 0;
	bad |= json_object_set(st, "context", context) != 0;
	if (ev->has_time)
		bad |= json_object_set_new(st, "timestamp", json_string(when));
	if (bad)
		goto nomem;
	if ((rc = xapi_validate(err, st, XAPI_ACCEPT_ANY)) != 0) {
		json_decref(st);
		st = NULL;
		goto out;
	}
	*out = st;
	st = NULL;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory");
out:
	free(name);
	json_decref(st);
	json_decref(actor);
	json_decref(result);
	json_decref(context);
	json_decref(ca);
	return rc;
}

int scorm_event_verbs(const struct scorm_event *ev, enum scorm_verb verbs[3])
{
	/*
	 * One statement per attempt, as the profile's terminating statement
	 * carries the outcome: passed or failed when success is known and the
	 * attempt is complete (SCORM 1.2 passed and failed imply it), completed,
	 * attempted. A 2004 "passed" that is not complete stays "attempted" with
	 * result.success true, so that it does not count as a completion.
	 */
	if (ev->success >= 0 && ev->completion == 1)
		verbs[0] = ev->success ? SCORM_PASSED : SCORM_FAILED;
	else if (ev->success == 0)
		verbs[0] = SCORM_FAILED;
	else if (ev->completion == 1)
		verbs[0] = SCORM_COMPLETED;
	else if (ev->completion == 0 || ev->success == 1)
		verbs[0] = SCORM_ATTEMPTED;
	else if (ev->has_raw || ev->has_scaled)
		verbs[0] = SCORM_SCORED;
	else
		return 0;
	return 1;
}

int scorm_statement_queue(struct itemq *q, const struct scorm_event *ev, enum scorm_verb verb,
			  long line, long record)
{
	struct lr_error err;
	json_t *st = NULL;
	int rc;

	lr_error_clear(&err);
	rc = scorm_statement_build(&st, &err, ev, verb);
	if (rc == LR_EINVAL)
		return itemq_push_error(q, &err, line, record, NULL, 0);
	if (rc != 0)
		return rc;
	return itemq_push_statement(q, st, ev->course_key, ev->sco_key, line, record);
}

/* Compares value (trimmed, any case) with word. */
static int is_word(const char *value, const char *word)
{
	size_t n = strlen(word);

	while (isspace((unsigned char)*value))
		value++;
	if (strncasecmp(value, word, n) != 0)
		return 0;
	for (value += n; isspace((unsigned char)*value); value++)
		;
	return *value == '\0';
}

int scorm_lesson_status(const char *value, int *completion, int *success)
{
	*completion = -1;
	*success = -1;
	if (is_word(value, "passed") || is_word(value, "p")) {
		*completion = 1;
		*success = 1;
	} else if (is_word(value, "failed") || is_word(value, "f")) {
		*completion = 1;
		*success = 0;
	} else if (is_word(value, "completed") || is_word(value, "c")) {
		*completion = 1;
	} else if (is_word(value, "incomplete") || is_word(value, "i") || is_word(value, "browsed") ||
		   is_word(value, "b") || is_word(value, "not attempted") || is_word(value, "n")) {
		*completion = 0;
	} else {
		return LR_EINVAL;
	}
	return 0;
}

int scorm_completion_status(const char *value, int *completion)
{
	if (is_word(value, "completed"))
		*completion = 1;
	else if (is_word(value, "incomplete") || is_word(value, "not attempted") ||
		 is_word(value, "not_attempted"))
		*completion = 0;
	else if (is_word(value, "unknown"))
		*completion = -1;
	else
		return LR_EINVAL;
	return 0;
}

int scorm_success_status(const char *value, int *success)
{
	if (is_word(value, "passed"))
		*success = 1;
	else if (is_word(value, "failed"))
		*success = 0;
	else if (is_word(value, "unknown"))
		*success = -1;
	else
		return LR_EINVAL;
	return 0;
}

void scorm_duration_seconds(char *out, size_t size, double seconds)
{
	long long whole, h, m;
	double s;

	if (!(seconds >= 0) || seconds > 1e12)
		seconds = 0;
	whole = (long long)seconds;
	h = whole / 3600;
	m = whole / 60 % 60;
	s = seconds - (double)(h * 3600 + m * 60);
	{
		char sec[64];
		size_t n;

		snprintf(sec, sizeof(sec), "%.2f", s);
		/* "5.00" -> "5", "5.50" -> "5.5" */
		n = strlen(sec);
		while (n > 0 && sec[n - 1] == '0')
			sec[--n] = '\0';
		if (n > 0 && sec[n - 1] == '.')
			sec[--n] = '\0';
		if ((h > 0 || m > 0) && strcmp(sec, "0") == 0) {
			if (h > 0 && m > 0)
				snprintf(out, size, "PT%lldH%lldM", h, m);
			else if (h > 0)
				snprintf(out, size, "PT%lldH", h);
			else
				snprintf(out, size, "PT%lldM", m);
		} else if (h > 0 && m > 0)
			snprintf(out, size, "PT%lldH%lldM%sS", h, m, sec);
		else if (h > 0)
			snprintf(out, size, "PT%lldH%sS", h, sec);
		else if (m > 0)
			snprintf(out, size, "PT%lldM%sS", m, sec);
		else
			snprintf(out, size, "PT%sS", sec);
	}
}

int scorm_duration(char *out, size_t size, const char *value)
{
	char text[128];
	const char *p;
	long h, m;
	double s;
	char *end;

	scorm_trim(text, sizeof(text), value);
	if (text[0] == 'P') {
		if (!xtime_duration_valid(text) || strlen(text) + 1 > size)
			return LR_EINVAL;
		memcpy(out, text, strlen(text) + 1);
		return 0;
	}
	/* HHHH:MM:SS[.S{1,2}] */
	p = text;
	if (!isdigit((unsigned char)*p))
		return LR_EINVAL;
	errno = 0;
	h = strtol(p, &end, 10);
	if (errno || *end != ':' || end - p > 6)
		return LR_EINVAL;
	p = end + 1;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':')
		return LR_EINVAL;
	m = (p[0] - '0') * 10 + (p[1] - '0');
	p += 3;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return LR_EINVAL;
	s = strtod(p, &end);
	if (*end != '\0' || m > 59 || s >= 60)
		return LR_EINVAL;
	scorm_duration_seconds(out, size, (double)h * 3600 + (double)m * 60 + s);
	return 0;
}

int scorm_number(const char *text, double *out)
{
	char buf[64], *end;
	double v;

	scorm_trim(buf, sizeof(buf), text);
	if (!buf[0] || strlen(text) > 60)
		return LR_EINVAL;
	errno = 0;
	v = strtod(buf, &end);
	if (errno || *end != '\0' || !isfinite(v) || strpbrk(buf, "xXnNiI"))
		return LR_EINVAL;
	*out = v;
	return 0;
}

char *scorm_trim(char *out, size_t size, const char *text)
{
	size_t n;

	while (isspace((unsigned char)*text))
		text++;
	n = strlen(text);
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, text, n);
	out[n] = '\0';
	return out;
}
