/*
 * scorm_statement.h: the xAPI statements that the ADL xAPI SCORM Profile
 * would have produced for what an LMS export says about a learner's attempt
 * at a SCO (or at a whole course): completed, passed, failed, attempted,
 * scored. Shared by the LMS export adapters (Moodle, SCORM Cloud, Totara),
 * so that the same fact gives the same statement whatever format carried it.
 *
 * Everything is deterministic: statement ids are version 5 UUIDs (namespace
 * UUID_NS_LRHUB) of the org, learner, course, SCO, attempt, verb and time;
 * the registration is one of org, learner, course and attempt; activity
 * IRIs are derived from the org's LMS address (or urn:lrhub:org:ORG). So an
 * export ingested twice, or two overlapping exports, store nothing twice.
 *
 * Also here: the small readers of SCORM data model values every adapter
 * needs (lesson/completion/success status words, CMITimespan durations,
 * numbers).
 */
#ifndef LRHUB_SCORM_STATEMENT_H
#define LRHUB_SCORM_STATEMENT_H

#include <stddef.h>
#include <stdint.h>

struct json_t;
struct lr_error;

enum scorm_verb {
	SCORM_COMPLETED = 1,
	SCORM_PASSED,
	SCORM_FAILED,
	SCORM_ATTEMPTED,        /* started, not completed (incomplete, browsed) */
	SCORM_SCORED            /* a score without a status */
};

/* What an export says about one learner's attempt at a SCO or a course. */
struct scorm_event {
	const char *org;          /* org code (required) */
	const char *lms_url;      /* the org's LMS address, or NULL: urn:lrhub:org:ORG */
	const char *system;       /* "moodle", "scormcloud", "totara": part of activity IRIs */
	const char *learner;      /* the LMS account name (user id, username), or NULL ... */
	const char *email;        /* ... then the learner is this mbox (required then) */
	const char *learner_name; /* display name, or NULL */
	const char *course_key;   /* the LMS's local course key (required) */
	const char *course_name;  /* or NULL */
	const char *sco_key;      /* the SCO's key, or NULL for the course itself */
	const char *sco_name;     /* or NULL */
	long attempt;             /* 1-based; 0 or less is written as 1 */
	int64_t time_ms;          /* the statement's timestamp, when has_time */
	int has_time;
	int completion;           /* 1 completed, 0 not, -1 unknown */
	int success;              /* 1 passed, 0 failed, -1 unknown */
	int has_scaled, has_raw, has_min, has_max;
	double scaled, raw, min, max;
	const char *duration;     /* ISO 8601 duration (result.duration), or NULL */
};

struct itemq;

/* Initialises ev: everything unknown. */
void scorm_event_init(struct scorm_event *ev);

/*
 * Builds the statement for verb about ev into *out (a new reference the
 * caller owns) and checks it with xapi_validate. Returns 0, LR_EINVAL (err
 * says which field; nothing in *out) or LR_ENOMEM.
 */
int scorm_statement_build(struct json_t **out, struct lr_error *err,
			  const struct scorm_event *ev, enum scorm_verb verb);

/*
 * The statement ev calls for, into verbs[0]; returns 1, or 0 when ev says
 * nothing (no status, no score). One statement per attempt: passed or
 * failed when success is known and the attempt is complete (SCORM 1.2
 * passed and failed imply complete), else failed, else completed, else
 * attempted (incomplete, or a 2004 "passed" not complete: it keeps
 * result.success true but is not a completion), else scored.
 */
int scorm_event_verbs(const struct scorm_event *ev, enum scorm_verb verbs[3]);

/*
 * Builds the statement for verb and queues it (with ev's course and SCO
 * keys), or queues the reject if it is invalid (err-free: the reason goes in
 * the queue with line and record). Returns 0 or LR_ENOMEM.
 */
int scorm_statement_queue(struct itemq *q, const struct scorm_event *ev, enum scorm_verb verb,
			  long line, long record);

/*
 * Reads a SCORM 1.2 cmi.core.lesson_status (passed, completed, failed,
 * incomplete, browsed, not attempted; also the first letter as Moodle's
 * old rows have it) into completion and success (1, 0 or -1). SCORM 1.2
 * passed and failed imply completed. Returns 0 or LR_EINVAL.
 */
int scorm_lesson_status(const char *value, int *completion, int *success);

/* SCORM 2004 cmi.completion_status (completed, incomplete, not attempted, unknown). */
int scorm_completion_status(const char *value, int *completion);

/* SCORM 2004 cmi.success_status (passed, failed, unknown). */
int scorm_success_status(const char *value, int *success);

/*
 * Writes the ISO 8601 duration of a SCORM time into out: a SCORM 1.2
 * CMITimespan "HHHH:MM:SS[.SS]" (also SCORM Cloud's "0000:00:26.66"), or a
 * SCORM 2004 ISO 8601 duration (checked, copied). Returns 0 or LR_EINVAL.
 */
int scorm_duration(char *out, size_t size, const char *value);

/* Writes a number of seconds as an ISO 8601 duration ("PT26S", "PT1H2M3.5S"). */
void scorm_duration_seconds(char *out, size_t size, double seconds);

/* Reads a whole decimal number (white space around allowed). Returns 0 or LR_EINVAL. */
int scorm_number(const char *text, double *out);

/* Copies text trimmed of white space into out (cut to fit). Returns out. */
char *scorm_trim(char *out, size_t size, const char *text);

#endif
