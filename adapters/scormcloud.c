/*
 * scormcloud.c: SCORM Cloud registrations.
 *
 * API v2 JSON: {"registrations": [...], "more": ...}, an array of
 * registrations, a single registration, or a webhook payload
 * ({"body": {"topic": "RegistrationChanged", "body": {registration}}}),
 * streamed through jsonstream. A registration gives course-level statements:
 * completed (registrationCompletion COMPLETED, at completedDate), passed or
 * failed (registrationSuccess), attempted (INCOMPLETE), with score.scaled
 * (0-100 in SCORM Cloud, 0-1 in xAPI) and totalSecondsTracked; and, when
 * the learner has an email, an identity link. Course key: course.id.
 *
 * API v1 XML (libxml2, no network, no DTD, so no entity expansion):
 * <registrationlist>/<registration> (learner, course, completedDate: a
 * completed statement) and <registrationreport> in course, summary,
 * activity or full format (statuses and scores; the report names only the
 * registration id, which is the learner's account name unless a full
 * report names the learner, and no course, which --course gives).
 */
#include "adapters/adapter.h"
#include "adapters/peek.h"
#include "adapters/itemqueue.h"
#include "adapters/jsonstream.h"
#include "adapters/scorm_statement.h"
#include "lrs/error.h"
#include "lrs/jsonmem.h"
#include "lrs/xtime.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XML_MAX (64L << 20)
#define PEEK 4096

struct cloud_state {
	const struct adapter_input *in;
	struct itemq *queue;
	struct jsonstream *stream;   /* v2 JSON */
	int xml_done;                /* v1 XML: everything was queued at open */
	struct peek peek;            /* the first bytes, read at open to choose the reader */
};

static int cloud_sniff(const char *head, size_t len)
{
	size_t i = 0;

	if (len >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)head[i]))
		i++;
	if (i < len && head[i] == '<') {
		if (memmem(head, len, "<registrationreport", 19) ||
		    memmem(head, len, "<registrationlist", 17) ||
		    (memmem(head, len, "<rsp", 4) && memmem(head, len, "<registration ", 14)))
			return 95;
		if (memmem(head, len, "<rsp", 4))
			return 50;
		return 0;
	}
	if (i < len && (head[i] == '{' || head[i] == '[') &&
	    (memmem(head, len, "\"registrationCompletion\"", 24) ||
	     memmem(head, len, "\"registrationSuccess\"", 21) ||
	     memmem(head, len, "\"registrations\"", 15)))
		return 95;
	return 0;
}

static void base_event(struct scorm_event *ev, const struct cloud_state *st)
{
	scorm_event_init(ev);
	ev->org = st->in->org;
	ev->lms_url = st->in->lms_url;
	ev->system = "scormcloud";
}

/* Queues the statements of ev (times chosen by the caller per verb). */
static int queue_event(struct cloud_state *st, struct scorm_event *ev, int64_t completed_ms,
		       int has_completed, int64_t other_ms, int has_other, long line, long record)
{
	enum scorm_verb verbs[3];
	int n = scorm_event_verbs(ev, verbs), i, rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (verbs[i] == SCORM_COMPLETED && has_completed) {
			ev->time_ms = completed_ms;
			ev->has_time = 1;
		} else if (has_other || has_completed) {
			ev->time_ms = has_other ? other_ms : completed_ms;
			ev->has_time = 1;
		} else {
			ev->has_time = 0;
		}
		rc = scorm_statement_queue(st->queue, ev, verbs[i], line, record);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* API v2 JSON                                                          */
/* ------------------------------------------------------------------ */

static const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int json_reject(struct lr_error *err, const char *field, const char *fmt, const char *value)
{
	lr_error_set(err, LR_EINVAL, fmt, value ? value : "");
	lr_error_field(err, field);
	return LR_EINVAL;
}

/* A registration's date: RFC 3339, read as UTC when it has no offset. */
static int cloud_date(const json_t *reg, const char *key, int64_t *out, int *has, struct lr_error *err)
{
	const char *text = jstr(reg, key);

	*has = 0;
	if (!text || !*text)
		return 0;
	if (xtime_parse(out, text, 1) != 0)
		return json_reject(err, key, "'%s' is not a date-time", text);
	*has = 1;
	return 0;
}

/* Queues what one v2 registration says. LR_EINVAL: err says why (nothing queued). */
static int v2_registration(struct cloud_state *st, const json_t *reg, long line, long record,
			   struct lr_error *err)
{
	const json_t *learner, *course, *score, *v;
	const char *text, *learner_id, *course_id, *email;
	struct scorm_event ev;
	char name[512], duration[64];
	int64_t completed = 0, last = 0, updated = 0;
	int has_completed, has_last, has_updated, rc, depth;

	/* A webhook payload wraps the registration in "body" (once or twice). */
	for (depth = 0; depth < 3 && !json_object_get(reg, "registrationCompletion") &&
			json_is_object(json_object_get(reg, "body")); depth++)
		reg = json_object_get(reg, "body");
	learner = json_object_get(reg, "learner");
	course = json_object_get(reg, "course");
	learner_id = jstr(learner, "id");
	course_id = jstr(course, "id");
	if (!json_is_object(learner) || !learner_id || !*learner_id)
		return json_reject(err, "learner.id", "is required%s", "");
	if (!json_is_object(course) || !course_id || !*course_id)
		return json_reject(err, "course.id", "is required%s", "");
	if (strlen(learner_id) > 255 || strlen(course_id) > 255)
		return json_reject(err, "learner.id", "learner or course id is longer than 255 characters%s", "");
	base_event(&ev, st);
	ev.learner = learner_id;
	ev.course_key = course_id;
	ev.course_name = jstr(course, "title");
	snprintf(name, sizeof(name), "%s%s%s", jstr(learner, "firstName") ? jstr(learner, "firstName") : "",
		 jstr(learner, "firstName") && jstr(learner, "lastName") ? " " : "",
		 jstr(learner, "lastName") ? jstr(learner, "lastName") : "");
	ev.learner_name = name[0] ? name : NULL;
	v = json_object_get(reg, "instance");
	if (v && !json_is_integer(v))
		return json_reject(err, "instance", "is not a whole number%s", "");
	ev.attempt = v ? (long)json_integer_value(v) + 1 : 1;

	text = jstr(reg, "registrationCompletion");
	if (text && strcmp(text, "COMPLETED") == 0)
		ev.completion = 1;
	else if (text && strcmp(text, "INCOMPLETE") == 0)
		ev.completion = 0;
	else if (text && strcmp(text, "UNKNOWN") != 0)
		return json_reject(err, "registrationCompletion",
				   "'%s' is not COMPLETED, INCOMPLETE or UNKNOWN", text);
	text = jstr(reg, "registrationSuccess");
	if (text && strcmp(text, "PASSED") == 0)
		ev.success = 1;
	else if (text && strcmp(text, "FAILED") == 0)
		ev.success = 0;
	else if (text && strcmp(text, "UNKNOWN") != 0)
		return json_reject(err, "registrationSuccess", "'%s' is not PASSED, FAILED or UNKNOWN", text);
	score = json_object_get(reg, "score");
	v = json_object_get(score, "scaled");
	if (v && !json_is_null(v)) {
		double scaled = json_number_value(v);
		if (!json_is_number(v) || scaled < 0 || scaled > 100)
			return json_reject(err, "score.scaled", "is not a number from 0 to 100%s", "");
		ev.scaled = round(scaled * 1e4) / 1e6;
		ev.has_scaled = 1;
	}
	v = json_object_get(reg, "totalSecondsTracked");
	if (json_is_number(v) && json_number_value(v) > 0) {
		scorm_duration_seconds(duration, sizeof(duration), json_number_value(v));
		ev.duration = duration;
	}
	if ((rc = cloud_date(reg, "completedDate", &completed, &has_completed, err)) != 0 ||
	    (rc = cloud_date(reg, "lastAccessDate", &last, &has_last, err)) != 0 ||
	    (rc = cloud_date(reg, "updated", &updated, &has_updated, err)) != 0)
		return rc;
	if (ev.completion == 1 && !has_completed)
		return json_reject(err, "completedDate", "is required when registrationCompletion is COMPLETED%s", "");
	email = jstr(learner, "email");
	if (email && *email && (rc = itemq_push_identity(st->queue, learner_id, email, line, record)) != 0)
		return lr_error_set(err, rc, "out of memory");
	return queue_event(st, &ev, completed, has_completed,
			   has_completed ? completed : has_last ? last : updated,
			   has_completed || has_last || has_updated, line, record);
}

static int v2_step(struct cloud_state *st, struct adapter_item *item, struct lr_error *err)
{
	struct jsonstream_record rec;
	json_error_t jerr;
	json_t *value;
	int rc;

	rc = jsonstream_next(st->stream, &rec, err);
	if (rc <= 0) {
		if (rc == LR_EINVAL) {
			item->line = err->line;
			item->record = err->record;
		}
		return rc;
	}
	jsonmem_clear();
	value = json_loadb(rec.text, rec.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (jsonmem_failed() || (!value && json_error_code(&jerr) == json_error_out_of_memory)) {
		json_decref(value);
		return lr_error_set(err, LR_ENOMEM, "out of memory reading record %ld", rec.index);
	}
	if (!value || !json_is_object(value)) {
		json_decref(value);
		lr_error_where(err, NULL, rec.line, rec.index);
		item->raw = rec.text;
		item->raw_len = rec.len;
		item->line = rec.line;
		item->record = rec.index;
		return value ? lr_error_set(err, LR_EINVAL, "a registration must be a JSON object")
			     : lr_error_set(err, LR_EINVAL, "not valid JSON: %s", jerr.text);
	}
	rc = v2_registration(st, value, rec.line, rec.index, err);
	json_decref(value);
	if (rc == LR_EINVAL) {
		lr_error_where(err, NULL, rec.line, rec.index);
		item->raw = rec.text;
		item->raw_len = rec.len;
		item->line = rec.line;
		item->record = rec.index;
	}
	return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------------ */
/* API v1 XML                                                           */
/* ------------------------------------------------------------------ */

static int is_named(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	xmlNode *c;

	for (c = n ? n->children : NULL; c; c = c->next)
		if (is_named(c, name))
			return c;
	return NULL;
}

/* libxml2's own messages (out of memory) would go to stderr: library code never prints. */
static void xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/*
 * Set when libxml2 could not copy an element's text (out of memory): the
 * element read as empty, so what was made from the document is not to be
 * trusted. Cleared before each document is read.
 */
static _Thread_local int text_oom;

/* The trimmed text of n's child name into buf ("" if absent). */
static const char *child_text(const xmlNode *n, const char *name, char *buf, size_t size)
{
	xmlNode *c = child(n, name);
	xmlChar *text;

	buf[0] = '\0';
	if (!c)
		return buf;
	text = xmlNodeGetContent(c);
	if (!text)
		text_oom = 1;
	if (text) {
		scorm_trim(buf, size, (const char *)text);
		xmlFree(text);
	}
	return buf;
}

static const char *attr(const xmlNode *n, const char *name, char *buf, size_t size)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	if (!v && n && xmlHasProp(n, (const xmlChar *)name))
		text_oom = 1;
	buf[0] = '\0';
	if (v) {
		scorm_trim(buf, size, (const char *)v);
		xmlFree(v);
	}
	return buf;
}

static int xml_reject(struct cloud_state *st, const xmlNode *n, long record, const char *field,
		      const char *fmt, const char *value)
{
	struct lr_error e;

	lr_error_clear(&e);
	lr_error_set(&e, LR_EINVAL, fmt, value);
	lr_error_field(&e, field);
	return itemq_push_error(st->queue, &e, xmlGetLineNo(n), record, NULL, 0);
}

/* SCORM Cloud v1 dates: 2011-04-05T19:06:37.780+0000. */
static int v1_date(const char *text, int64_t *out)
{
	return xtime_parse(out, text, 1);
}

/* <registration id courseid> with learner and dates. */
static int v1_registration(struct cloud_state *st, const xmlNode *reg, long record)
{
	char learner[256], course[256], title[512], email[512], first[256], last[256], date[64],
		regid[256], name[520];
	struct scorm_event ev;
	int64_t when;
	long line = xmlGetLineNo(reg);
	int rc;

	child_text(reg, "learnerId", learner, sizeof(learner));
	child_text(reg, "courseId", course, sizeof(course));
	if (!course[0])
		attr(reg, "courseid", course, sizeof(course));
	child_text(reg, "registrationId", regid, sizeof(regid));
	if (!regid[0])
		attr(reg, "id", regid, sizeof(regid));
	if (!learner[0])
		return xml_reject(st, reg, record, "learnerId", "learnerId is empty%s", "");
	if (!course[0])
		return xml_reject(st, reg, record, "courseId", "courseId is empty%s", "");
	child_text(reg, "email", email, sizeof(email));
	if (email[0]) {
		if ((rc = itemq_push_identity(st->queue, learner, email, line, record)) != 0)
			return rc;
		/* Registration reports name only the registration: link it too. */
		if (regid[0] && strcmp(regid, learner) != 0 &&
		    (rc = itemq_push_identity(st->queue, regid, email, line, record)) != 0)
			return rc;
	}
	child_text(reg, "completedDate", date, sizeof(date));
	if (!date[0])
		return 0; /* not completed: nothing to say */
	if (v1_date(date, &when) != 0)
		return xml_reject(st, reg, record, "completedDate", "'%s' is not a date-time", date);
	base_event(&ev, st);
	child_text(reg, "learnerFirstName", first, sizeof(first));
	child_text(reg, "learnerLastName", last, sizeof(last));
	snprintf(name, sizeof(name), "%s%s%s", first, first[0] && last[0] ? " " : "", last);
	ev.learner = learner;
	ev.learner_name = name[0] ? name : NULL;
	ev.course_key = course;
	ev.course_name = child_text(reg, "courseTitle", title, sizeof(title))[0] ? title : NULL;
	ev.completion = 1;
	ev.time_ms = when;
	ev.has_time = 1;
	return scorm_statement_queue(st->queue, &ev, SCORM_COMPLETED, line, record);
}

/* A v1 score: 0-100, or "unknown"/empty. 1 read, 0 none, -1 bad. */
static int v1_score(const char *text, double *scaled)
{
	double v;

	if (!text[0] || strcasecmp(text, "unknown") == 0)
		return 0;
	if (scorm_number(text, &v) != 0 || v < 0 || v > 100)
		return -1;
	*scaled = v / 100;
	return 1;
}

/* complete/incomplete/unknown, passed/failed/unknown, true/false. */
static int v1_status(const char *text, const char *yes, const char *no, int *out)
{
	if (!text[0] || strcasecmp(text, "unknown") == 0)
		*out = -1;
	else if (strcasecmp(text, yes) == 0 || strcasecmp(text, "true") == 0)
		*out = 1;
	else if (strcasecmp(text, no) == 0 || strcasecmp(text, "false") == 0 ||
		 strcasecmp(text, "not attempted") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

struct v1_report {
	const char *regid;
	const char *learner;        /* from a full report's runtime/static, else regid */
	const char *learner_name;
	const char *course;
	long attempt;
	long record;
};

/* The statements of one activity of an activity or full report, and of its children. */
static int v1_activity(struct cloud_state *st, const struct v1_report *rep, const xmlNode *act,
		       int depth)
{
	char id[256], title[512], text[128], dur[64];
	const xmlNode *runtime = child(act, "runtime"), *c;
	struct scorm_event ev;
	double number;
	int rc, r;

	if (depth > 32)
		return 0;
	base_event(&ev, st);
	ev.learner = rep->learner;
	ev.learner_name = rep->learner_name;
	ev.course_key = rep->course;
	ev.attempt = rep->attempt;
	attr(act, "id", id, sizeof(id));
	child_text(act, "title", title, sizeof(title));
	if (depth > 0) {
		if (!id[0])
			return xml_reject(st, act, rep->record, "activity", "an activity has no id%s", "");
		ev.sco_key = id;
		ev.sco_name = title[0] ? title : NULL;
	} else {
		ev.course_name = title[0] ? title : NULL;
	}
	if (runtime) {
		if (v1_status(child_text(runtime, "completion_status", text, sizeof(text)),
			      "completed", "incomplete", &ev.completion) != 0)
			return xml_reject(st, act, rep->record, "completion_status",
					  "'%s' is not a completion status", text);
		if (v1_status(child_text(runtime, "success_status", text, sizeof(text)),
			      "passed", "failed", &ev.success) != 0)
			return xml_reject(st, act, rep->record, "success_status",
					  "'%s' is not a success status", text);
		r = v1_score(child_text(runtime, "score_scaled", text, sizeof(text)), &ev.scaled);
		if (r < 0)
			return xml_reject(st, act, rep->record, "score_scaled", "'%s' is not a score from 0 to 100", text);
		ev.has_scaled = r;
		if (child_text(runtime, "score_raw", text, sizeof(text))[0]) {
			if (scorm_number(text, &number) != 0)
				return xml_reject(st, act, rep->record, "score_raw", "'%s' is not a number", text);
			ev.raw = number;
			ev.has_raw = 1;
		}
		if (child_text(runtime, "total_time", text, sizeof(text))[0] &&
		    scorm_duration(dur, sizeof(dur), text) == 0 && strcmp(dur, "PT0S") != 0)
			ev.duration = dur;
	} else {
		if (v1_status(child_text(act, child(act, "complete") ? "complete" : "completed", text,
					 sizeof(text)), "complete", "incomplete", &ev.completion) != 0)
			return xml_reject(st, act, rep->record, "complete", "'%s' is not a completion status", text);
		if (v1_status(child_text(act, child(act, "success") ? "success" : "satisfied", text,
					 sizeof(text)), "passed", "failed", &ev.success) != 0)
			return xml_reject(st, act, rep->record, "success", "'%s' is not a success status", text);
		r = v1_score(child_text(act, "score", text, sizeof(text)), &ev.scaled);
		if (r < 0)
			return xml_reject(st, act, rep->record, "score", "'%s' is not a score from 0 to 100", text);
		ev.has_scaled = r;
	}
	if ((rc = queue_event(st, &ev, 0, 0, 0, 0, xmlGetLineNo(act), rep->record)) != 0)
		return rc;
	for (c = child(act, "children") ? child(act, "children")->children : NULL; c; c = c->next)
		if (is_named(c, "activity") && (rc = v1_activity(st, rep, c, depth + 1)) != 0)
			return rc;
	return 0;
}

/* Finds runtime/static/learner_id and learner_name anywhere under n. */
static void find_learner(const xmlNode *n, char *id, size_t id_size, char *name, size_t name_size,
			 int depth)
{
	const xmlNode *c;

	if (depth > 32 || id[0])
		return;
	if (is_named(n, "static")) {
		child_text(n, "learner_id", id, id_size);
		child_text(n, "learner_name", name, name_size);
		return;
	}
	for (c = n->children; c && !id[0]; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			find_learner(c, id, id_size, name, name_size, depth + 1);
}

static int v1_report(struct cloud_state *st, const xmlNode *report, long record)
{
	char format[32], regid[256], instance[32], learner[256], name[256], text[128];
	struct v1_report rep;
	struct scorm_event ev;
	const xmlNode *c;
	int r, rc;

	attr(report, "format", format, sizeof(format));
	attr(report, "regid", regid, sizeof(regid));
	attr(report, "instanceid", instance, sizeof(instance));
	if (!regid[0])
		return xml_reject(st, report, record, "regid", "the report has no regid%s", "");
	if (!st->in->course || !*st->in->course)
		return xml_reject(st, report, record, "course",
				  "a registration report does not name its course: ingest it with --course%s", "");
	learner[0] = name[0] = '\0';
	find_learner(report, learner, sizeof(learner), name, sizeof(name), 0);
	memset(&rep, 0, sizeof(rep));
	rep.regid = regid;
	rep.learner = learner[0] ? learner : regid;
	rep.learner_name = name[0] ? name : NULL;
	rep.course = st->in->course;
	rep.attempt = instance[0] ? strtol(instance, NULL, 10) + 1 : 1;
	rep.record = record;
	if (strcmp(format, "activity") == 0 || strcmp(format, "full") == 0 || child(report, "activity")) {
		for (c = report->children; c; c = c->next)
			if (is_named(c, "activity") && (rc = v1_activity(st, &rep, c, 0)) != 0)
				return rc;
		return 0;
	}
	/* course or summary format */
	base_event(&ev, st);
	ev.learner = rep.learner;
	ev.course_key = rep.course;
	ev.attempt = rep.attempt;
	if (v1_status(child_text(report, "complete", text, sizeof(text)), "complete", "incomplete",
		      &ev.completion) != 0)
		return xml_reject(st, report, record, "complete", "'%s' is not complete, incomplete or unknown", text);
	if (v1_status(child_text(report, "success", text, sizeof(text)), "passed", "failed",
		      &ev.success) != 0)
		return xml_reject(st, report, record, "success", "'%s' is not passed, failed or unknown", text);
	r = v1_score(child_text(report, "score", text, sizeof(text)), &ev.scaled);
	if (r < 0)
		return xml_reject(st, report, record, "score", "'%s' is not a score from 0 to 100 or unknown", text);
	ev.has_scaled = r;
	if (child_text(report, "totaltime", text, sizeof(text))[0]) {
		double seconds;
		char dur[64];
		if (scorm_number(text, &seconds) != 0 || seconds < 0)
			return xml_reject(st, report, record, "totaltime", "'%s' is not a number of seconds", text);
		if (seconds > 0) {
			scorm_duration_seconds(dur, sizeof(dur), seconds);
			ev.duration = dur;
			return queue_event(st, &ev, 0, 0, 0, 0, xmlGetLineNo(report), record);
		}
	}
	return queue_event(st, &ev, 0, 0, 0, 0, xmlGetLineNo(report), record);
}

static int xml_open(struct cloud_state *st, struct lr_error *err)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	xmlDoc *doc = NULL;
	xmlNode *root, *n, *c;
	char stat[32];
	long record = 0;
	int rc = 0;

	for (;;) {
		ssize_t got;
		if (len == cap) {
			char *more;
			if (cap >= (size_t)XML_MAX) {
				rc = lr_error_set(err, LR_ELIMIT, "the XML file is larger than 64 MiB");
				goto out;
			}
			more = realloc(buf, cap ? cap * 2 : 65536);
			if (!more) {
				rc = lr_error_set(err, LR_ENOMEM, "out of memory");
				goto out;
			}
			buf = more;
			cap = cap ? cap * 2 : 65536;
		}
		got = peek_read(&st->peek, buf + len, cap - len);
		if (got < 0) {
			rc = lr_error_set(err, LR_EIO, "read error");
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > (size_t)INT32_MAX) {
		rc = lr_error_set(err, LR_ELIMIT, "the XML file is too large");
		goto out;
	}
	if (memmem(buf, len, "<!DOCTYPE", 9)) {
		rc = lr_error_set(err, LR_EFORMAT, "the XML has a DOCTYPE: refused (no DTDs or entities)");
		goto out;
	}
	/* No network, no DTD loading, no entity substitution, libxml2's depth and size limits. */
	xmlSetGenericErrorFunc(NULL, xml_quiet); /* this thread's handler */
	xmlResetLastError();
	text_oom = 0;
	doc = xmlReadMemory(buf, (int)len, st->in->name, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || (xmlGetLastError() && xmlGetLastError()->code == XML_ERR_NO_MEMORY)) {
		const xmlError *xe = xmlGetLastError();
		if (xe && xe->code == XML_ERR_NO_MEMORY) {
			/* Not the file's fault, nor "malformed"; even with a document (text may be missing). */
			rc = lr_error_set(err, LR_ENOMEM, "out of memory reading the XML");
			goto out;
		}
		if (xe)
			lr_error_where(err, NULL, xe->line, 0);
		rc = lr_error_set(err, LR_EFORMAT, "not well-formed XML%s%s", xe && xe->message ? ": " : "",
				  xe && xe->message ? xe->message : "");
		if (err->text[0] && err->text[strlen(err->text) - 1] == '\n')
			err->text[strlen(err->text) - 1] = '\0';
		goto out;
	}
	if (doc->intSubset || doc->extSubset) {
		rc = lr_error_set(err, LR_EFORMAT, "the XML has a DOCTYPE: refused (no DTDs or entities)");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (is_named(root, "rsp")) {
		attr(root, "stat", stat, sizeof(stat));
		if (strcmp(stat, "fail") == 0) {
			char msg[256];
			xmlNode *e = child(root, "err");
			attr(e, "msg", msg, sizeof(msg));
			rc = lr_error_set(err, LR_EFORMAT, "SCORM Cloud answered with an error: %s",
					  msg[0] ? msg : "(no message)");
			goto out;
		}
		for (n = root->children; n && !is_named(n, "registrationreport") &&
					 !is_named(n, "registrationlist") && !is_named(n, "registration");
		     n = n->next)
			;
	} else {
		n = root;
	}
	if (is_named(n, "registrationlist")) {
		for (c = n->children; c && rc == 0; c = c->next)
			if (is_named(c, "registration"))
				rc = v1_registration(st, c, ++record);
	} else if (is_named(n, "registration")) {
		rc = v1_registration(st, n, ++record);
	} else if (is_named(n, "registrationreport")) {
		rc = v1_report(st, n, ++record);
	} else {
		const xmlNode *what = root;
		for (c = root ? root->children : NULL; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE) {
				what = c;
				break;
			}
		rc = lr_error_set(err, LR_EFORMAT,
				  "<%s> is not a SCORM Cloud registration, registration list or registration report",
				  what ? (const char *)what->name : "");
		goto out;
	}
	if (rc == 0 && text_oom)
		rc = LR_ENOMEM;
	if (rc != 0)
		rc = lr_error_set(err, rc, "out of memory");
	st->xml_done = 1;
out:
	xmlFreeDoc(doc);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */

static void cloud_close(void *state)
{
	struct cloud_state *st = state;

	if (!st)
		return;
	jsonstream_close(st->stream);
	itemq_free(st->queue);
	free(st);
}

static int cloud_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	static const char *const wrapper_keys[] = { "registrations", NULL };
	struct jsonstream_options opts = { .wrapper_keys = wrapper_keys };
	struct cloud_state *st = calloc(1, sizeof(*st));
	size_t i = 0;
	long first;
	int rc = 0;

	*state = NULL;
	if (!st || itemq_new(&st->queue) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	st->in = in;
	first = peek_fill(&st->peek, in);
	if (first < 0) {
		rc = lr_error_set(err, LR_EIO, "read error");
		goto out;
	}
	i = (size_t)first;
	if (i < st->peek.len && st->peek.buf[i] == '<') {
		rc = xml_open(st, err);
		goto out;
	}
	if (jsonstream_open(&st->stream, &opts, peek_read, &st->peek) != 0)
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
out:
	if (rc != 0)
		cloud_close(st);
	else
		*state = st;
	return rc;
}

static int cloud_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct cloud_state *st = state;
	int rc;

	for (;;) {
		memset(item, 0, sizeof(*item));
		rc = itemq_pop(st->queue, item, err);
		if (rc != 0 || st->xml_done)
			return rc;
		rc = v2_step(st, item, err);
		if (rc <= 0)
			return rc;
	}
}

const struct adapter adapter_scormcloud = {
	.name = "scormcloud",
	.description = "SCORM Cloud registrations: API v2 JSON (list, single, webhook) or v1 XML reports",
	.sniff = cloud_sniff,
	.open = cloud_open,
	.next = cloud_next,
	.close = cloud_close,
};
