/*
 * package.h: course packages (a zip holding a SCORM imsmanifest.xml, a
 * tincan.xml or a cmi5.xml) read into a course structure, and kept in the
 * store's package and package_part tables.
 *
 * Reading is bounded and refuses hostile input with a reason a person can
 * act on: not a zip, a truncated zip, no manifest, malformed XML, a DOCTYPE
 * that declares entities (billion laughs, external entities), more than
 * PACKAGE_MAX_ENTRIES entries, more than PACKAGE_MAX_TOTAL uncompressed
 * bytes, a manifest over PACKAGE_MAX_MANIFEST bytes or compressed more than
 * PACKAGE_MAX_RATIO to 1, entry names with '..' or an absolute path. The
 * XML is parsed without network access, without loading a DTD and without
 * expanding entities.
 *
 * The structure is what roll-up needs: the organization's item tree and
 * which items are SCOs (SCORM) or AUs (cmi5, launchable tincan activities),
 * with their identifiers, launch URLs, mastery score or moveOn, and
 * activity IRIs (tincan, cmi5).
 */
#ifndef LRHUB_PACKAGE_H
#define LRHUB_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

struct lr_error;
struct store;

#define PACKAGE_MAX_ENTRIES 10000L
#define PACKAGE_MAX_TOTAL (1024LL * 1024 * 1024)
#define PACKAGE_MAX_MANIFEST (16L * 1024 * 1024)
#define PACKAGE_MAX_RATIO 100
#define PACKAGE_MAX_ITEMS 10000L

/* One item of the structure: an aggregation, a block, an asset, a SCO or an AU. */
struct package_item {
	char *identifier;     /* the manifest's item identifier, or the activity IRI */
	char *parent;         /* the parent item's identifier, NULL at the top */
	int depth;            /* 0 at the top */
	char *title;          /* may be NULL */
	char *launch;         /* resolved launch URL (relative to the zip root), or NULL */
	int is_part;          /* 1 for a SCO or an AU: what LMSs track */
	int required;         /* 1 if the course's roll-up needs it (cmi5: moveOn not NotApplicable) */
	int has_mastery;
	double mastery_score; /* SCORM 1.2 masteryscore (0-100), 2004 minNormalizedMeasure, cmi5 masteryScore */
	char *move_on;        /* cmi5 moveOn, NULL otherwise */
	char *activity_iri;   /* cmi5 and tincan: the activity id, NULL for SCORM */
};

struct package;

/*
 * Reads the course package zip at path. On success *out is a new package
 * the caller frees with package_free. On failure err says why (LR_EIO the
 * file cannot be read, LR_EFORMAT not a package or malformed, LR_ELIMIT a
 * limit was passed, LR_EINVAL a hostile entry name or entity declaration,
 * LR_ENOMEM).
 */
int package_read(struct package **out, struct lr_error *err, const char *path);

/* The limits package_read applies; package_read_limited takes others (tests, tighter setups). */
struct package_limits {
	long max_entries;          /* PACKAGE_MAX_ENTRIES */
	long long max_total;       /* PACKAGE_MAX_TOTAL uncompressed bytes over all entries */
	long max_manifest;         /* PACKAGE_MAX_MANIFEST bytes */
	long max_ratio;            /* PACKAGE_MAX_RATIO: uncompressed / compressed of the manifest */
};
int package_read_limited(struct package **out, struct lr_error *err, const char *path,
			 const struct package_limits *limits);

/*
 * Reads a manifest held in memory (buf, len bytes) as the zip entry called
 * name would be read: its kind from the file name (imsmanifest.xml,
 * tincan.xml, cmi5.xml, in any folder), the same XML parsing, entity refusal
 * and checks as package_read, no zip and no SHA-256 (package_sha256 is "").
 * For tests and fuzzing of the XML readers. Owns nothing of buf.
 */
int package_read_manifest(struct package **out, struct lr_error *err, const char *name,
			  const char *buf, size_t len);

/* Frees p; package_free(NULL) does nothing. */
void package_free(struct package *p);

/* The accessors' strings are borrowed from p. */
const char *package_kind(const struct package *p);       /* scorm12, scorm2004-2nd, -3rd, -4th,
							    scorm2004 (edition not stated), tincan, cmi5 */
const char *package_title(const struct package *p);      /* may be NULL */
const char *package_version(const struct package *p);    /* may be NULL */
const char *package_identifier(const struct package *p); /* manifest identifier or course IRI; may be NULL */
const char *package_course_iri(const struct package *p); /* tincan/cmi5 course activity IRI, else NULL */
const char *package_manifest(const struct package *p);   /* the manifest's path inside the zip */
const char *package_sha256(const struct package *p);     /* 64 hex digits of the zip file */
long package_item_count(const struct package *p);
const struct package_item *package_item(const struct package *p, long i);
long package_part_count(const struct package *p);        /* SCOs or AUs */
long package_asset_count(const struct package *p);       /* SCORM launchable items that are assets */
/* Notes on what was odd but handled (a missing default organization, ...). */
long package_warning_count(const struct package *p);
const char *package_warning(const struct package *p, long i);

/* ---- in the store ---- */

struct package_import_result {
	int64_t package_id;
	int already;          /* 1: the same zip was imported for the same course and org: nothing done */
	long aliases_added;   /* course aliases made from activity IRIs */
};

/*
 * Records p (imported from path) in the store, for course_id (0: none) and
 * org_id (0: every org), in one transaction. With a course, a tincan or cmi5
 * package's course IRI and its parts' activity IRIs become aliases of the
 * course for org_id. Importing the same zip (same SHA-256) for the same
 * course and org again does nothing (result->already). LR_EEXISTS when an
 * IRI is already an alias of another course (nothing is stored).
 */
int package_import(struct store *s, struct lr_error *err, const struct package *p,
		   const char *path, int64_t course_id, int64_t org_id,
		   struct package_import_result *result);

/* A stored package, for package_each. Strings borrowed for the call. */
struct package_row {
	int64_t id;
	const char *org;          /* org code, NULL for every org */
	const char *kind;
	const char *identifier;
	const char *title;
	const char *version;
	const char *sha256;
	const char *path;
	const char *manifest;
	long parts;
	long required;
	const char *imported_at;
};

/* Calls fn for each package of course_id, oldest first. */
int package_each(struct store *s, struct lr_error *err, int64_t course_id,
		 int (*fn)(void *ctx, const struct package_row *row), void *ctx);

/* Calls fn for each item of package_id, in manifest order. Strings borrowed. */
int package_item_each(struct store *s, struct lr_error *err, int64_t package_id,
		      int (*fn)(void *ctx, const struct package_item *item), void *ctx);

/* Calls fn for each alias of course_id: org code (NULL: every org) and key. */
int package_alias_each(struct store *s, struct lr_error *err, int64_t course_id,
		       int (*fn)(void *ctx, const char *org, const char *key), void *ctx);

#endif
