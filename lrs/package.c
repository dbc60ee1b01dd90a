/*
 * package.c: reading course packages (see package.h).
 *
 * The zip is opened with libzip and checked as a whole before anything is
 * decompressed: entry count, declared uncompressed total, entry names. The
 * manifest is the shallowest cmi5.xml, tincan.xml or imsmanifest.xml
 * (__MACOSX folders are ignored); it is read into memory within its own
 * limits and parsed by libxml2 with a SAX hook that stops the parse at the
 * first entity declaration, so no entity is ever expanded. Elements and
 * attributes are matched by local name, since vendors get namespaces and
 * attribute case (scormtype, scormType) wrong.
 */
#include "package.h"
#include "error.h"
#include "hash.h"
#include "store.h"
#include "xtime.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <sqlite3.h>
#include <zip.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct package {
	char *kind;
	char *title;
	char *version;
	char *identifier;
	char *course_iri;
	char *manifest;       /* path inside the zip */
	char *base;           /* the manifest's folder inside the zip, "" or ending in '/' */
	char sha256[65];
	struct package_item *items;
	long n_items, cap_items;
	long n_parts, n_assets;
	char **warnings;
	long n_warnings;
};

/* ---- small helpers ---- */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Copies s with leading and trailing white space removed and inner runs made one space. */
static char *dup_squeezed(const char *s)
{
	char *d, *o;

	if (!s)
		return NULL;
	d = malloc(strlen(s) + 1);
	if (!d)
		return NULL;
	o = d;
	while (*s) {
		if (isspace((unsigned char)*s)) {
			while (isspace((unsigned char)*s))
				s++;
			if (o != d && *s)
				*o++ = ' ';
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	return d;
}

/*
 * Copies a URL as written in XML: white space at either end dropped, and so
 * is any run of white space holding a line break or a tab (a URL wrapped
 * over lines); single spaces inside (a folder name) are kept.
 */
static char *dup_url(const char *s)
{
	char *d, *o;

	if (!s)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	d = malloc(strlen(s) + 1);
	if (!d)
		return NULL;
	o = d;
	while (*s) {
		const char *run = s;
		int wrap = 0;
		while (isspace((unsigned char)*s)) {
			wrap |= *s != ' ';
			s++;
		}
		if (s != run) {
			if (!*s)
				break;
			if (!wrap) {
				memcpy(o, run, (size_t)(s - run));
				o += s - run;
			}
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	return d;
}

static int warn(struct package *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int warn(struct package *p, const char *fmt, ...)
{
	char buf[512];
	char **w;
	va_list ap;

	if (p->n_warnings >= 50)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	w = realloc(p->warnings, (size_t)(p->n_warnings + 1) * sizeof(*w));
	if (!w)
		return LR_ENOMEM;
	p->warnings = w;
	if (!(w[p->n_warnings] = strdup(buf)))
		return LR_ENOMEM;
	p->n_warnings++;
	return 0;
}

static void item_clear(struct package_item *it)
{
	free(it->identifier);
	free(it->parent);
	free(it->title);
	free(it->launch);
	free(it->move_on);
	free(it->activity_iri);
}

void package_free(struct package *p)
{
	long i;

	if (!p)
		return;
	free(p->kind);
	free(p->title);
	free(p->version);
	free(p->identifier);
	free(p->course_iri);
	free(p->manifest);
	free(p->base);
	for (i = 0; i < p->n_items; i++)
		item_clear(&p->items[i]);
	free(p->items);
	for (i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p);
}

/* Appends a zeroed item; NULL when out of memory or over the item limit (*limit set). */
static struct package_item *item_add(struct package *p, int *limit)
{
	struct package_item *it;

	if (p->n_items >= PACKAGE_MAX_ITEMS) {
		*limit = 1;
		return NULL;
	}
	if (p->n_items == p->cap_items) {
		long cap = p->cap_items ? p->cap_items * 2 : 16;
		it = realloc(p->items, (size_t)cap * sizeof(*it));
		if (!it)
			return NULL;
		p->items = it;
		p->cap_items = cap;
	}
	it = &p->items[p->n_items++];
	memset(it, 0, sizeof(*it));
	return it;
}

/* ---- XML access by local name ---- */

static int is_el(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	xmlNode *c;

	for (c = n ? n->children : NULL; c; c = c->next)
		if (is_el(c, name))
			return c;
	return NULL;
}

/* An attribute by local name, any namespace, any case; a new string or NULL. */
static char *attr(const xmlNode *n, const char *name)
{
	xmlAttr *a;

	for (a = n->properties; a; a = a->next) {
		if (xmlStrcasecmp(a->name, (const xmlChar *)name) == 0) {
			xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
			char *s = v ? strdup((const char *)v) : strdup("");
			xmlFree(v);
			return s;
		}
	}
	return NULL;
}

/* The text of n, squeezed; a new string, or NULL when empty. */
static char *text_of(const xmlNode *n)
{
	xmlChar *v;
	char *s;

	if (!n)
		return NULL;
	v = xmlNodeGetContent(n);
	s = dup_squeezed(v ? (const char *)v : "");
	xmlFree(v);
	if (s && !s[0]) {
		free(s);
		s = NULL;
	}
	return s;
}

/* Among the children of n called name, the en-GB, en-US, en-*, else the first one. */
static xmlNode *pick_lang(const xmlNode *n, const char *name)
{
	static const char *const prefer[] = { "en-GB", "en-US", "en", NULL };
	xmlNode *c, *pick = NULL;
	int i;

	if (!n)
		return NULL;
	for (i = 0; prefer[i] && !pick; i++) {
		for (c = n->children; c && !pick; c = c->next) {
			char *lang;
			if (!is_el(c, name))
				continue;
			lang = attr(c, "lang");
			if (lang && strncasecmp(lang, prefer[i], strlen(prefer[i])) == 0)
				pick = c;
			free(lang);
		}
	}
	for (c = n->children; c && !pick; c = c->next)
		if (is_el(c, name))
			pick = c;
	return pick;
}

/* A cmi5 language map (<title><langstring lang=..>): the preferred text. */
static char *langstring(const xmlNode *n)
{
	xmlNode *pick = pick_lang(n, "langstring");

	return text_of(pick ? pick : n);
}

static int parse_number(const char *s, double *out)
{
	char *end;

	if (!s)
		return 0;
	errno = 0;
	*out = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	return errno == 0 && end != s && *end == '\0';
}

/* ---- the zip ---- */

static int file_sha256(char out[65], struct lr_error *err, const char *path)
{
	unsigned char buf[65536], digest[HASH_SHA256_LEN];
	struct hash_sha256_ctx *h = NULL;
	FILE *fp = NULL;
	size_t n;
	int rc = 0;

	fp = fopen(path, "rb");
	if (!fp) {
		rc = lr_error_set(err, LR_EIO, "cannot read the file: %s", strerror(errno));
		goto out;
	}
	if (!(h = hash_sha256_new())) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		hash_sha256_update(h, buf, n);
	if (ferror(fp)) {
		rc = lr_error_set(err, LR_EIO, "cannot read the file: %s", strerror(errno));
		goto out;
	}
	hash_sha256_final(h, digest);
	hash_hex(out, digest, sizeof(digest));
out:
	hash_sha256_free(h);
	if (fp)
		fclose(fp);
	return rc;
}

static int starts_with_zip_magic(const char *path)
{
	unsigned char magic[4] = { 0 };
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (!fp)
		return 0;
	n = fread(magic, 1, 4, fp);
	fclose(fp);
	return n == 4 && magic[0] == 'P' && magic[1] == 'K' &&
	       ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6));
}

/* 1 when an entry name escapes the package: absolute, a drive letter, or a '..' part. */
static int name_escapes(const char *name)
{
	const char *p = name;

	if (name[0] == '/' || name[0] == '\\')
		return 1;
	if (isalpha((unsigned char)name[0]) && name[1] == ':')
		return 1;
	while (*p) {
		size_t len = strcspn(p, "/\\");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += len;
		if (*p)
			p++;
	}
	return 0;
}

static int ignored_entry(const char *name)
{
	return strncmp(name, "__MACOSX/", 9) == 0 || strstr(name, "/__MACOSX/") != NULL ||
	       strncmp(name, "._", 2) == 0 || strstr(name, "/._") != NULL;
}

enum manifest_kind { M_NONE = 0, M_SCORM = 1, M_TINCAN = 2, M_CMI5 = 3 };

static enum manifest_kind manifest_kind_of(const char *name)
{
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	if (strcasecmp(base, "imsmanifest.xml") == 0)
		return M_SCORM;
	if (strcasecmp(base, "tincan.xml") == 0)
		return M_TINCAN;
	if (strcasecmp(base, "cmi5.xml") == 0)
		return M_CMI5;
	return M_NONE;
}

static int depth_of(const char *name)
{
	int d = 0;

	for (; *name; name++)
		if (*name == '/')
			d++;
	return d;
}

/* ---- XML parsing with entity declarations refused ---- */

struct parse_state {
	int entity;              /* an entity declaration was seen */
	int line;                /* where the first error was */
	char message[200];       /* the first error, "" if none */
};

static void on_error(void *ctx, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt ? ctxt->_private : NULL;
	size_t n;

	if (!st)
		return;
	if (!e || e->level < XML_ERR_ERROR || st->message[0])
		return;
	snprintf(st->message, sizeof(st->message), "%s", e->message ? e->message : "not well-formed");
	n = strlen(st->message);
	while (n > 0 && isspace((unsigned char)st->message[n - 1]))
		st->message[--n] = '\0';
	st->line = e->line;
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
			   const xmlChar *system_id, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	(void)name; (void)type; (void)public_id; (void)system_id; (void)content;
	st->entity = 1;
	xmlStopParser(ctxt);
}

static void on_unparsed_entity_decl(void *ctx, const xmlChar *name, const xmlChar *public_id,
				    const xmlChar *system_id, const xmlChar *notation)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	(void)name; (void)public_id; (void)system_id; (void)notation;
	st->entity = 1;
	xmlStopParser(ctxt);
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int parse_xml(xmlDoc **out, struct lr_error *err, const char *name, const char *buf,
		     size_t len)
{
	xmlParserCtxtPtr ctxt = NULL;
	struct parse_state st = { 0, 0, "" };
	int rc = 0;

	*out = NULL;
	/* libxml2 makes no parser for no bytes: that is an empty file, not a lack of memory. */
	if (len == 0)
		return lr_error_set(err, LR_EFORMAT, "%s is empty: it has no root element", name);
	ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
	if (!ctxt)
		return lr_error_set(err, LR_ENOMEM, "out of memory parsing %s", name);
	ctxt->_private = &st;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->unparsedEntityDecl = on_unparsed_entity_decl;
	ctxt->sax->error = quiet;
	ctxt->sax->warning = quiet;
	ctxt->vctxt.error = quiet;
	ctxt->vctxt.warning = quiet;
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctxt->sax->initialized = XML_SAX2_MAGIC;
	ctxt->sax->serror = on_error;
	ctxt->userData = ctxt;
	ctxt->replaceEntities = 0;
	ctxt->loadsubset = 0;
	ctxt->validate = 0;
	xmlParseDocument(ctxt);
	if (st.entity) {
		rc = lr_error_set(err, LR_EINVAL,
				  "%s declares XML entities in its DOCTYPE (entity expansion or external entities): refused",
				  name);
		goto out;
	}
	if (!ctxt->wellFormed || !ctxt->myDoc || !xmlDocGetRootElement(ctxt->myDoc)) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		int empty = !ctxt->myDoc || !xmlDocGetRootElement(ctxt->myDoc);

		if (empty && (ctxt->wellFormed || (e && (e->code == XML_ERR_DOCUMENT_END ||
							 e->code == XML_ERR_DOCUMENT_EMPTY))))
			rc = lr_error_set(err, LR_EFORMAT, "%s is empty: it has no root element", name);
		else
			rc = lr_error_set(err, LR_EFORMAT, "%s:%d: malformed XML: %s", name, st.line,
					  st.message[0] ? st.message : "not well-formed");
		goto out;
	}
	*out = ctxt->myDoc;
	ctxt->myDoc = NULL;
out:
	if (ctxt) {
		if (ctxt->myDoc)
			xmlFreeDoc(ctxt->myDoc);
		xmlFreeParserCtxt(ctxt);
	}
	return rc;
}

/* ---- SCORM ---- */

struct resource {
	char *identifier;
	char *href;          /* with xml:base applied, relative to the zip root */
	char *scormtype;     /* lower-cased, or NULL */
};

struct scorm {
	struct package *p;
	struct resource *res;
	long n_res;
	int limit;
};

static struct resource *resource_find(struct scorm *sc, const char *id)
{
	long i;

	for (i = 0; id && i < sc->n_res; i++)
		if (sc->res[i].identifier && strcmp(sc->res[i].identifier, id) == 0)
			return &sc->res[i];
	return NULL;
}

static int is_absolute_url(const char *s)
{
	const char *p = s;

	if (!isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':' && p - s > 1;
}

/* base (the manifest folder) + the xml:base chain + href; a new string. */
static char *resolve_href(const char *base, const char *const *bases, int n_bases, const char *href)
{
	size_t len = strlen(base) + strlen(href) + 1;
	char *out;
	int i, start = 0;

	if (is_absolute_url(href) || href[0] == '/')
		return strdup(href);
	for (i = n_bases - 1; i >= 0; i--) {
		if (bases[i] && (is_absolute_url(bases[i]) || bases[i][0] == '/')) {
			start = i;
			base = "";
			break;
		}
	}
	for (i = start; i < n_bases; i++)
		len += bases[i] ? strlen(bases[i]) + 1 : 0;
	out = malloc(len);
	if (!out)
		return NULL;
	strcpy(out, base);
	for (i = start; i < n_bases; i++) {
		size_t l;
		if (!bases[i] || !bases[i][0])
			continue;
		strcat(out, bases[i]);
		l = strlen(out);
		if (out[l - 1] != '/')
			strcat(out, "/");
	}
	strcat(out, href[0] == '.' && href[1] == '/' ? href + 2 : href);
	return out;
}

static int read_resources(struct scorm *sc, xmlNode *root)
{
	xmlNode *resources = child(root, "resources"), *r;
	char *b_manifest = attr(root, "base"), *b_resources = NULL;
	int rc = 0;

	if (resources)
		b_resources = attr(resources, "base");
	for (r = resources ? resources->children : NULL; r; r = r->next) {
		struct resource *res;
		char *href, *b_resource;
		const char *bases[3];

		if (!is_el(r, "resource"))
			continue;
		res = realloc(sc->res, (size_t)(sc->n_res + 1) * sizeof(*res));
		if (!res) {
			rc = LR_ENOMEM;
			goto out;
		}
		sc->res = res;
		res = &sc->res[sc->n_res++];
		memset(res, 0, sizeof(*res));
		res->identifier = attr(r, "identifier");
		res->scormtype = attr(r, "scormtype");
		if (res->scormtype) {
			char *c;
			for (c = res->scormtype; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
		href = attr(r, "href");
		if (href) {
			char *clean = dup_url(href);
			b_resource = attr(r, "base");
			bases[0] = b_manifest;
			bases[1] = b_resources;
			bases[2] = b_resource;
			res->href = clean ? resolve_href(sc->p->base, bases, 3, clean) : NULL;
			free(clean);
			free(b_resource);
			free(href);
			if (!res->href) {
				rc = LR_ENOMEM;
				goto out;
			}
		}
	}
out:
	free(b_manifest);
	free(b_resources);
	return rc;
}

/* The launch URL: the resource's href with the item's parameters. */
static char *launch_url(const char *href, const char *params)
{
	char *out;

	if (!params || !params[0])
		return strdup(href);
	out = malloc(strlen(href) + strlen(params) + 2);
	if (!out)
		return NULL;
	strcpy(out, href);
	if (params[0] == '?' && strchr(href, '?')) {
		strcat(out, "&");
		strcat(out, params + 1);
	} else {
		if (params[0] != '?' && params[0] != '#' && params[0] != '&')
			strcat(out, strchr(href, '?') ? "&" : "?");
		strcat(out, params);
	}
	return out;
}

/* SCORM 2004: the primary objective's minNormalizedMeasure when satisfiedByMeasure. */
static int item_min_measure(const xmlNode *item, double *out)
{
	xmlNode *seq = child(item, "sequencing"), *objs, *prim;
	char *by = NULL, *v = NULL;
	int ok = 0;

	if (!seq || !(objs = child(seq, "objectives")) || !(prim = child(objs, "primaryObjective")))
		return 0;
	by = attr(prim, "satisfiedByMeasure");
	if (by && strcmp(by, "true") == 0) {
		v = text_of(child(prim, "minNormalizedMeasure"));
		ok = parse_number(v ? v : "1.0", out);
	}
	free(by);
	free(v);
	return ok;
}

static int scorm_items(struct scorm *sc, xmlNode *parent_node, const char *parent, int depth)
{
	xmlNode *n;
	int rc;

	for (n = parent_node->children; n; n = n->next) {
		struct package_item *it;
		struct resource *res;
		char *ref, *params, *mastery;

		rc = 0;
		if (!is_el(n, "item"))
			continue;
		if (!(it = item_add(sc->p, &sc->limit)))
			return sc->limit ? LR_ELIMIT : LR_ENOMEM;
		it->depth = depth;
		it->identifier = attr(n, "identifier");
		if (!it->identifier || !it->identifier[0]) {
			free(it->identifier);
			if (!(it->identifier = malloc(32)))
				return LR_ENOMEM;
			snprintf(it->identifier, 32, "item-%ld", sc->p->n_items);
			if ((rc = warn(sc->p, "an item has no identifier: called it %s", it->identifier)) != 0)
				return rc;
		}
		if (parent && !(it->parent = strdup(parent)))
			return LR_ENOMEM;
		it->title = text_of(child(n, "title"));
		ref = attr(n, "identifierref");
		res = resource_find(sc, ref);
		if (ref && !res) {
			rc = warn(sc->p, "item %s refers to resource %s, which the manifest does not have: it cannot be launched and is not counted",
				  it->identifier, ref);
		} else if (res && res->href) {
			params = attr(n, "parameters");
			it->launch = launch_url(res->href, params);
			free(params);
			if (!it->launch)
				rc = LR_ENOMEM;
		}
		if (res && res->scormtype && strcmp(res->scormtype, "sco") == 0) {
			it->is_part = 1;
			it->required = 1;
			sc->p->n_parts++;
		} else if (res) {
			sc->p->n_assets++;
			if (!res->scormtype && rc == 0)
				rc = warn(sc->p,
					  "resource %s has no adlcp:scormType: item %s is counted as an asset, not a SCO",
					  res->identifier ? res->identifier : "?", it->identifier);
		}
		free(ref);
		if (rc != 0)
			return rc;
		mastery = text_of(child(n, "masteryscore"));
		if (mastery && parse_number(mastery, &it->mastery_score))
			it->has_mastery = 1;
		else if (item_min_measure(n, &it->mastery_score))
			it->has_mastery = 1;
		free(mastery);
		if ((rc = scorm_items(sc, n, it->identifier, depth + 1)) != 0)
			return rc;
	}
	return 0;
}

static const char *kind_from_schemaversion(const char *v)
{
	if (!v)
		return NULL;
	if (strcmp(v, "1.2") == 0)
		return "scorm12";
	if (strcasecmp(v, "CAM 1.3") == 0 || strcasecmp(v, "2004 2nd Edition") == 0)
		return "scorm2004-2nd";
	if (strcasecmp(v, "2004 3rd Edition") == 0)
		return "scorm2004-3rd";
	if (strcasecmp(v, "2004 4th Edition") == 0)
		return "scorm2004-4th";
	return NULL;
}

/* With no usable schemaversion: the namespaces tell SCORM 1.2 from 2004. */
static const char *kind_from_namespaces(xmlNode *root)
{
	xmlNs *ns;
	int v12 = 0, v2004 = 0;

	for (ns = root->nsDef; ns; ns = ns->next) {
		const char *href = (const char *)ns->href;
		if (!href)
			continue;
		if (strstr(href, "imscp_rootv1p1p2") || strstr(href, "adlcp_rootv1p2"))
			v12 = 1;
		if (strstr(href, "imscp_v1p1") || strstr(href, "adlcp_v1p3") || strstr(href, "imsss") ||
		    strstr(href, "adlseq") || strstr(href, "adlnav"))
			v2004 = 1;
	}
	if (v2004 && !v12)
		return "scorm2004";
	return "scorm12";
}

static int read_scorm(struct package *p, struct lr_error *err, xmlDoc *doc)
{
	struct scorm sc = { p, NULL, 0, 0 };
	xmlNode *root = xmlDocGetRootElement(doc), *orgs, *org = NULL, *n, *meta;
	char *def = NULL, *schemaversion = NULL;
	const char *kind;
	long i;
	int rc = 0;

	if (!is_el(root, "manifest")) {
		rc = lr_error_set(err, LR_EFORMAT, "%s: the root element is <%s>, not <manifest>",
				  p->manifest, (const char *)root->name);
		goto out;
	}
	p->identifier = attr(root, "identifier");
	p->version = attr(root, "version");
	meta = child(root, "metadata");
	schemaversion = text_of(child(meta, "schemaversion"));
	if (!schemaversion)
		schemaversion = text_of(child(root, "schemaversion"));
	kind = kind_from_schemaversion(schemaversion);
	if (!kind) {
		kind = kind_from_namespaces(root);
		if (schemaversion)
			rc = warn(p, "unknown schemaversion '%s': read as %s from the namespaces",
				  schemaversion, kind);
		else
			rc = warn(p, "the manifest has no schemaversion: read as %s from the namespaces%s",
				  kind, strcmp(kind, "scorm2004") == 0 ? " (edition not stated)" : "");
		if (rc)
			goto nomem;
	}
	if (!(p->kind = strdup(kind)))
		goto nomem;
	if ((rc = read_resources(&sc, root)) != 0)
		goto nomem;

	orgs = child(root, "organizations");
	if (orgs)
		def = attr(orgs, "default");
	for (n = orgs ? orgs->children : NULL; n; n = n->next) {
		char *id;
		if (!is_el(n, "organization"))
			continue;
		id = attr(n, "identifier");
		if (def && id && strcmp(id, def) == 0)
			org = n;
		free(id);
		if (org)
			break;
	}
	if (!org) {
		org = child(orgs, "organization");
		if (org && def) {
			char *id = attr(org, "identifier");
			rc = warn(p, "the default organization %s does not exist: using the first one, %s",
				  def, id && id[0] ? id : "(without identifier)");
			free(id);
			if (rc)
				goto nomem;
		}
	}
	if (org) {
		char *id = attr(org, "identifier");
		if ((!id || !id[0]) && (rc = warn(p, "the organization has no identifier")) != 0) {
			free(id);
			goto nomem;
		}
		free(id);
		p->title = text_of(child(org, "title"));
		rc = scorm_items(&sc, org, NULL, 0);
		if (rc == LR_ELIMIT) {
			rc = lr_error_set(err, LR_ELIMIT, "%s has more than %ld items", p->manifest,
					  PACKAGE_MAX_ITEMS);
			goto out;
		}
		if (rc)
			goto nomem;
	} else {
		/* No organization: what LMSs do is launch the resources that have an href. */
		if ((rc = warn(p, "the manifest has no organization: its resources with a launch URL are the course's items")) != 0)
			goto nomem;
		for (i = 0; i < sc.n_res; i++) {
			struct package_item *it;
			if (!sc.res[i].href || !sc.res[i].identifier)
				continue;
			if (!(it = item_add(p, &sc.limit))) {
				if (!sc.limit)
					goto nomem;
				rc = lr_error_set(err, LR_ELIMIT, "%s has more than %ld resources",
						  p->manifest, PACKAGE_MAX_ITEMS);
				goto out;
			}
			if (!(it->identifier = strdup(sc.res[i].identifier)) ||
			    !(it->launch = strdup(sc.res[i].href)))
				goto nomem;
			if (sc.res[i].scormtype && strcmp(sc.res[i].scormtype, "sco") == 0) {
				it->is_part = it->required = 1;
				p->n_parts++;
			} else {
				p->n_assets++;
			}
		}
	}
	if (!p->title)
		p->title = text_of(child(child(child(meta, "lom"), "general"), "title"));
	/* Duplicate identifiers are kept (roll-up counts distinct ones), and noted. */
	for (i = 1; i < p->n_items; i++) {
		long j;
		for (j = 0; j < i; j++) {
			if (strcmp(p->items[i].identifier, p->items[j].identifier) == 0) {
				if ((rc = warn(p, "item identifier %s appears more than once",
					       p->items[i].identifier)) != 0)
					goto nomem;
				break;
			}
		}
	}
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory reading %s", p->manifest);
out:
	for (i = 0; i < sc.n_res; i++) {
		free(sc.res[i].identifier);
		free(sc.res[i].href);
		free(sc.res[i].scormtype);
	}
	free(sc.res);
	free(def);
	free(schemaversion);
	return rc;
}

/* ---- cmi5 ---- */

#define CMI5_NS "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd"
#define CMI5_OLD_NS "http://www.adlnet.gov/cmi5/CourseStructure.xsd"

static int cmi5_url(struct package *p, const char *url, char **out)
{
	const char *bases[1] = { NULL };

	*out = NULL;
	if (!url)
		return 0;
	*out = resolve_href(p->base, bases, 0, url);
	return *out ? 0 : LR_ENOMEM;
}

static int cmi5_nodes(struct package *p, xmlNode *parent_node, const char *parent, int depth,
		      int *limit)
{
	xmlNode *n;
	int rc;

	for (n = parent_node->children; n; n = n->next) {
		struct package_item *it;
		int is_au = is_el(n, "au");

		if (!is_au && !is_el(n, "block"))
			continue;
		if (!(it = item_add(p, limit)))
			return *limit ? LR_ELIMIT : LR_ENOMEM;
		it->depth = depth;
		it->activity_iri = attr(n, "id");
		if (!it->activity_iri || !it->activity_iri[0]) {
			free(it->activity_iri);
			it->activity_iri = NULL;
			if (!(it->identifier = malloc(32)))
				return LR_ENOMEM;
			snprintf(it->identifier, 32, "%s-%ld", is_au ? "au" : "block", p->n_items);
			if ((rc = warn(p, "an %s has no id: called it %s", is_au ? "au" : "block",
				       it->identifier)) != 0)
				return rc;
		} else if (!(it->identifier = strdup(it->activity_iri))) {
			return LR_ENOMEM;
		}
		if (parent && !(it->parent = strdup(parent)))
			return LR_ENOMEM;
		it->title = langstring(child(n, "title"));
		if (is_au) {
			char *url = NULL, *mastery;
			xmlNode *u = child(n, "url");
			if (u) {
				xmlChar *v = xmlNodeGetContent(u);
				url = dup_url(v ? (const char *)v : "");
				xmlFree(v);
				if (!url)
					return LR_ENOMEM;
			}
			rc = cmi5_url(p, url && url[0] ? url : NULL, &it->launch);
			free(url);
			if (rc)
				return rc;
			it->is_part = 1;
			p->n_parts++;
			it->move_on = attr(n, "moveOn");
			if (!it->move_on && !(it->move_on = strdup("NotApplicable")))
				return LR_ENOMEM;
			it->required = strcmp(it->move_on, "NotApplicable") != 0;
			mastery = attr(n, "masteryScore");
			if (mastery && parse_number(mastery, &it->mastery_score))
				it->has_mastery = 1;
			free(mastery);
		} else if ((rc = cmi5_nodes(p, n, it->identifier, depth + 1, limit)) != 0) {
			return rc;
		}
	}
	return 0;
}

static int read_cmi5(struct package *p, struct lr_error *err, xmlDoc *doc)
{
	xmlNode *root = xmlDocGetRootElement(doc), *course;
	const char *ns = root->ns && root->ns->href ? (const char *)root->ns->href : "";
	int limit = 0, rc;

	if (!is_el(root, "courseStructure"))
		return lr_error_set(err, LR_EFORMAT, "%s: the root element is <%s>, not <courseStructure>",
				    p->manifest, (const char *)root->name);
	if (strcmp(ns, CMI5_NS) != 0 && strcmp(ns, CMI5_OLD_NS) != 0 &&
	    warn(p, "unknown cmi5 namespace '%s': read as cmi5", ns) != 0)
		goto nomem;
	if (!(p->kind = strdup("cmi5")))
		goto nomem;
	course = child(root, "course");
	if (!course)
		return lr_error_set(err, LR_EFORMAT, "%s: there is no <course> element", p->manifest);
	p->course_iri = attr(course, "id");
	if (!p->course_iri || !p->course_iri[0])
		return lr_error_set(err, LR_EFORMAT, "%s: the <course> has no id", p->manifest);
	if (!(p->identifier = strdup(p->course_iri)))
		goto nomem;
	p->title = langstring(child(course, "title"));
	rc = cmi5_nodes(p, root, NULL, 0, &limit);
	if (rc == LR_ELIMIT)
		return lr_error_set(err, LR_ELIMIT, "%s has more than %ld blocks and AUs", p->manifest,
				    PACKAGE_MAX_ITEMS);
	if (rc)
		goto nomem;
	if (p->n_parts == 0)
		return lr_error_set(err, LR_EFORMAT, "%s: the course has no AU", p->manifest);
	return 0;
nomem:
	return lr_error_set(err, LR_ENOMEM, "out of memory reading %s", p->manifest);
}

/* ---- tincan ---- */

static int read_tincan(struct package *p, struct lr_error *err, xmlDoc *doc)
{
	xmlNode *root = xmlDocGetRootElement(doc), *acts, *n, *course = NULL;
	int limit = 0;

	if (!is_el(root, "tincan"))
		return lr_error_set(err, LR_EFORMAT, "%s: the root element is <%s>, not <tincan>",
				    p->manifest, (const char *)root->name);
	if (!(p->kind = strdup("tincan")))
		goto nomem;
	acts = child(root, "activities");
	for (n = acts ? acts->children : NULL; n && !course; n = n->next) {
		char *type;
		if (!is_el(n, "activity"))
			continue;
		type = attr(n, "type");
		if (type && strcmp(type, "http://adlnet.gov/expapi/activities/course") == 0)
			course = n;
		free(type);
	}
	if (!course)
		course = child(acts, "activity");
	if (!course)
		return lr_error_set(err, LR_EFORMAT, "%s: there is no <activity>", p->manifest);
	p->course_iri = attr(course, "id");
	if (!p->course_iri || !p->course_iri[0])
		return lr_error_set(err, LR_EFORMAT, "%s: the course activity has no id", p->manifest);
	if (!(p->identifier = strdup(p->course_iri)))
		goto nomem;
	p->title = text_of(pick_lang(course, "name"));
	/* The parts are the launchable activities (Storyline lists its questions too: skipped). */
	for (n = acts->children; n; n = n->next) {
		struct package_item *it;
		xmlNode *launch = child(n, "launch");
		char *url;
		if (!is_el(n, "activity") || !launch)
			continue;
		if (!(it = item_add(p, &limit))) {
			if (limit)
				return lr_error_set(err, LR_ELIMIT, "%s has more than %ld activities",
						    p->manifest, PACKAGE_MAX_ITEMS);
			goto nomem;
		}
		it->activity_iri = attr(n, "id");
		if (!it->activity_iri || !it->activity_iri[0])
			return lr_error_set(err, LR_EFORMAT, "%s: a launchable activity has no id",
					    p->manifest);
		if (!(it->identifier = strdup(it->activity_iri)))
			goto nomem;
		it->title = text_of(pick_lang(n, "name"));
		{
			xmlChar *v = xmlNodeGetContent(launch);
			url = dup_url(v ? (const char *)v : "");
			xmlFree(v);
		}
		if (url && url[0] && cmi5_url(p, url, &it->launch) != 0) {
			free(url);
			goto nomem;
		}
		free(url);
		it->is_part = it->required = 1;
		p->n_parts++;
	}
	if (p->n_parts == 0)
		return lr_error_set(err, LR_EFORMAT, "%s: no activity has a <launch>", p->manifest);
	return 0;
nomem:
	return lr_error_set(err, LR_ENOMEM, "out of memory reading %s", p->manifest);
}

/* ---- the whole package ---- */

static const char *zip_reason(int ze)
{
	static char buf[128];
	zip_error_t e;

	zip_error_init_with_code(&e, ze);
	snprintf(buf, sizeof(buf), "%s", zip_error_strerror(&e));
	zip_error_fini(&e);
	return buf;
}

/* Parses the manifest text (buf, len bytes, NUL-terminated) of kind into p. */
static int read_manifest(struct package *p, struct lr_error *err, enum manifest_kind kind,
			 const char *buf, size_t len)
{
	xmlDoc *doc = NULL;
	int rc;

	if ((rc = parse_xml(&doc, err, p->manifest, buf, len)) != 0)
		return rc;
	if (kind == M_SCORM)
		rc = read_scorm(p, err, doc);
	else if (kind == M_CMI5)
		rc = read_cmi5(p, err, doc);
	else
		rc = read_tincan(p, err, doc);
	if (rc == 0 && kind == M_SCORM && p->n_parts == 0 && p->n_items > 0 &&
	    warn(p, "no item is a SCO: nothing in the package reports progress to the LMS") != 0)
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
	xmlFreeDoc(doc);
	return rc;
}

int package_read_manifest(struct package **out, struct lr_error *err, const char *name,
			  const char *buf, size_t len)
{
	enum manifest_kind kind = manifest_kind_of(name);
	struct package *p = NULL;
	char *text = NULL;
	int rc = 0;

	*out = NULL;
	if (!kind)
		return lr_error_set(err, LR_EINVAL,
				    "'%s' is not imsmanifest.xml, tincan.xml or cmi5.xml", name);
	if (len > PACKAGE_MAX_MANIFEST)
		return lr_error_set(err, LR_ELIMIT, "%s is %zu bytes, more than the limit of %ld",
				    name, len, PACKAGE_MAX_MANIFEST);
	p = calloc(1, sizeof(*p));
	text = malloc(len + 1);
	if (!p || !text || !(p->manifest = strdup(name))) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	{
		const char *slash = strrchr(name, '/');
		p->base = dup_n(name, slash ? (size_t)(slash - name + 1) : 0);
		if (!p->base) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			goto out;
		}
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	rc = read_manifest(p, err, kind, text, len);
out:
	free(text);
	if (rc != 0) {
		package_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int package_read(struct package **out, struct lr_error *err, const char *path)
{
	static const struct package_limits limits = {
		PACKAGE_MAX_ENTRIES, PACKAGE_MAX_TOTAL, PACKAGE_MAX_MANIFEST, PACKAGE_MAX_RATIO
	};

	return package_read_limited(out, err, path, &limits);
}

int package_read_limited(struct package **out, struct lr_error *err, const char *path,
			 const struct package_limits *limits)
{
	struct package *p = NULL;
	zip_t *za = NULL;
	zip_file_t *zf = NULL;
	char *buf = NULL;
	zip_int64_t n_entries, i, found = -1, other = -1;
	int found_depth = 0, ze = 0, rc = 0;
	enum manifest_kind found_kind = M_NONE;
	unsigned long long total = 0;
	zip_stat_t st;
	zip_int64_t got;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	if ((rc = file_sha256(p->sha256, err, path)) != 0)
		goto out;
	za = zip_open(path, ZIP_RDONLY, &ze);
	if (!za) {
		if (ze == ZIP_ER_NOZIP && starts_with_zip_magic(path))
			rc = lr_error_set(err, LR_EFORMAT,
					  "the zip file is truncated or damaged: its central directory is missing");
		else if (ze == ZIP_ER_NOZIP)
			rc = lr_error_set(err, LR_EFORMAT, "not a zip file");
		else if (ze == ZIP_ER_INCONS || ze == ZIP_ER_CRC || ze == ZIP_ER_COMPNOTSUPP)
			rc = lr_error_set(err, LR_EFORMAT, "the zip file is damaged: %s", zip_reason(ze));
		else if (ze == ZIP_ER_MEMORY)
			rc = lr_error_set(err, LR_ENOMEM, "out of memory opening the zip");
		else if (ze == ZIP_ER_OPEN || ze == ZIP_ER_READ || ze == ZIP_ER_SEEK)
			rc = lr_error_set(err, LR_EIO, "cannot open the zip: %s", zip_reason(ze));
		else
			/* The file was just read whole: what it holds is a zip libzip cannot open (multi-disk, ...). */
			rc = lr_error_set(err, LR_EFORMAT, "the zip file cannot be read: %s", zip_reason(ze));
		goto out;
	}
	n_entries = zip_get_num_entries(za, 0);
	if (n_entries > limits->max_entries) {
		rc = lr_error_set(err, LR_ELIMIT, "the zip has %lld entries, more than the limit of %ld",
				  (long long)n_entries, limits->max_entries);
		goto out;
	}
	for (i = 0; i < n_entries; i++) {
		enum manifest_kind k;
		int d;

		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
			rc = lr_error_set(err, LR_EFORMAT, "the zip file is damaged: entry %lld unreadable",
					  (long long)i + 1);
			goto out;
		}
		if (name_escapes(st.name)) {
			rc = lr_error_set(err, LR_EINVAL,
					  "entry '%s' points outside the package (an absolute path or '..'): refused",
					  st.name);
			goto out;
		}
		if (st.valid & ZIP_STAT_SIZE)
			total += st.size;
		if (total > (unsigned long long)limits->max_total) {
			rc = lr_error_set(err, LR_ELIMIT,
					  "the zip's entries hold more than %lld bytes uncompressed, the limit",
					  limits->max_total);
			goto out;
		}
		if (ignored_entry(st.name) || !(k = manifest_kind_of(st.name)))
			continue;
		d = depth_of(st.name);
		/* Shallowest first; at one depth cmi5.xml, then tincan.xml, then imsmanifest.xml. */
		if (found < 0 || d < found_depth || (d == found_depth && k > found_kind)) {
			if (found >= 0 && d == found_depth)
				other = found;
			found = i;
			found_depth = d;
			found_kind = k;
		} else if (d == found_depth) {
			other = i;
		}
	}
	if (found < 0) {
		rc = lr_error_set(err, LR_EFORMAT,
				  "not a course package: no imsmanifest.xml, tincan.xml or cmi5.xml in the zip");
		goto out;
	}
	if (zip_stat_index(za, (zip_uint64_t)found, 0, &st) != 0 ||
	    !(p->manifest = strdup(st.name))) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	{
		const char *slash = strrchr(p->manifest, '/');
		p->base = dup_n(p->manifest, slash ? (size_t)(slash - p->manifest + 1) : 0);
		if (!p->base) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (other >= 0) {
		const char *oname = zip_get_name(za, (zip_uint64_t)other, 0);
		if (warn(p, "the zip also has %s: read %s", oname ? oname : "another manifest",
			 p->manifest) != 0) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (st.size > (zip_uint64_t)limits->max_manifest) {
		rc = lr_error_set(err, LR_ELIMIT, "%s is %llu bytes, more than the limit of %ld",
				  p->manifest, (unsigned long long)st.size, limits->max_manifest);
		goto out;
	}
	if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > 65536 &&
	    st.size / (st.comp_size ? st.comp_size : 1) > (zip_uint64_t)limits->max_ratio) {
		rc = lr_error_set(err, LR_ELIMIT,
				  "%s is compressed %llu to 1, more than %ld to 1: a zip bomb, refused",
				  p->manifest,
				  (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)),
				  limits->max_ratio);
		goto out;
	}
	buf = malloc((size_t)st.size + 1);
	if (!buf) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory reading %s", p->manifest);
		goto out;
	}
	zf = zip_fopen_index(za, (zip_uint64_t)found, 0);
	if (!zf) {
		rc = lr_error_set(err, LR_EFORMAT, "the zip file is damaged: cannot read %s: %s",
				  p->manifest, zip_strerror(za));
		goto out;
	}
	/* Read one byte more than declared: a size that lies is damage. */
	got = zip_fread(zf, buf, st.size + 1);
	if (got < 0 || (zip_uint64_t)got != st.size) {
		rc = lr_error_set(err, LR_EFORMAT, "the zip file is damaged: cannot read %s: %s",
				  p->manifest, got < 0 ? zip_file_strerror(zf) : "its size is wrong");
		goto out;
	}
	buf[got] = '\0';
	rc = read_manifest(p, err, found_kind, buf, (size_t)got);
out:
	free(buf);
	if (zf)
		zip_fclose(zf);
	if (za)
		zip_discard(za);
	if (rc != 0) {
		package_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

const char *package_kind(const struct package *p) { return p->kind; }
const char *package_title(const struct package *p) { return p->title; }
const char *package_version(const struct package *p) { return p->version; }
const char *package_identifier(const struct package *p) { return p->identifier; }
const char *package_course_iri(const struct package *p) { return p->course_iri; }
const char *package_manifest(const struct package *p) { return p->manifest; }
const char *package_sha256(const struct package *p) { return p->sha256; }
long package_item_count(const struct package *p) { return p->n_items; }
long package_part_count(const struct package *p) { return p->n_parts; }
long package_asset_count(const struct package *p) { return p->n_assets; }
long package_warning_count(const struct package *p) { return p->n_warnings; }

const struct package_item *package_item(const struct package *p, long i)
{
	return i >= 0 && i < p->n_items ? &p->items[i] : NULL;
}

const char *package_warning(const struct package *p, long i)
{
	return i >= 0 && i < p->n_warnings ? p->warnings[i] : NULL;
}

/* ---- the store ---- */

static int db_fail(struct lr_error *err, sqlite3 *db, const char *what)
{
	return store__db_error(db, err, what);
}

#define bind_text store__bind_text
#define bind_id store__bind_id

int package_import(struct store *s, struct lr_error *err, const struct package *p,
		   const char *path, int64_t course_id, int64_t org_id,
		   struct package_import_result *result)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	char now[XTIME_MAX];
	long i, required = 0;
	int rc = 0, in_tx = 0, step;

	memset(result, 0, sizeof(*result));
	if ((rc = store_begin(s, err)) != 0)
		return rc;
	in_tx = 1;
	if (sqlite3_prepare_v2(db, "SELECT id FROM package WHERE sha256 = ?1 AND course_id IS ?2"
				   " AND org_id IS ?3", -1, &q, NULL) != SQLITE_OK)
		goto db_error;
	sqlite3_bind_text(q, 1, p->sha256, -1, SQLITE_STATIC);
	bind_id(q, 2, course_id);
	bind_id(q, 3, org_id);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		result->package_id = sqlite3_column_int64(q, 0);
		result->already = 1;
		goto done;
	}
	if (step != SQLITE_DONE)
		goto db_error;
	sqlite3_finalize(q);
	q = NULL;
	for (i = 0; i < p->n_items; i++)
		required += p->items[i].is_part && p->items[i].required;
	xtime_format(now, xtime_now_ms() / 1000 * 1000);
	if (sqlite3_prepare_v2(db, "INSERT INTO package(course_id, org_id, kind, identifier, title,"
				   " version, course_iri, sha256, path, manifest, parts, required,"
				   " imported_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &q, NULL) != SQLITE_OK)
		goto db_error;
	bind_id(q, 1, course_id);
	bind_id(q, 2, org_id);
	bind_text(q, 3, p->kind);
	bind_text(q, 4, p->identifier);
	bind_text(q, 5, p->title);
	bind_text(q, 6, p->version);
	bind_text(q, 7, p->course_iri);
	bind_text(q, 8, p->sha256);
	bind_text(q, 9, path);
	bind_text(q, 10, p->manifest);
	sqlite3_bind_int64(q, 11, p->n_parts);
	sqlite3_bind_int64(q, 12, required);
	bind_text(q, 13, now);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto db_error;
	result->package_id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO package_part(package_id, position, identifier, parent,"
				   " depth, title, launch, is_part, required, mastery_score, move_on,"
				   " activity_iri) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &q, NULL) != SQLITE_OK)
		goto db_error;
	for (i = 0; i < p->n_items; i++) {
		const struct package_item *it = &p->items[i];
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		sqlite3_bind_int64(q, 1, result->package_id);
		sqlite3_bind_int64(q, 2, i + 1);
		bind_text(q, 3, it->identifier);
		bind_text(q, 4, it->parent);
		sqlite3_bind_int(q, 5, it->depth);
		bind_text(q, 6, it->title);
		bind_text(q, 7, it->launch);
		sqlite3_bind_int(q, 8, it->is_part);
		sqlite3_bind_int(q, 9, it->is_part && it->required);
		if (it->has_mastery)
			sqlite3_bind_double(q, 10, it->mastery_score);
		bind_text(q, 11, it->move_on);
		bind_text(q, 12, it->activity_iri);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto db_error;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (course_id > 0 && p->course_iri) {
		/* tincan and cmi5: the course and each part's activity IRI name the course. */
		if ((rc = store_course_alias(s, err, course_id, org_id, p->course_iri)) != 0)
			goto out;
		result->aliases_added++;
		for (i = 0; i < p->n_items; i++) {
			const char *iri = p->items[i].is_part ? p->items[i].activity_iri : NULL;
			if (!iri || strcmp(iri, p->course_iri) == 0)
				continue;
			if ((rc = store_course_alias(s, err, course_id, org_id, iri)) != 0)
				goto out;
			result->aliases_added++;
		}
	}
done:
	sqlite3_finalize(q);
	q = NULL;
	if ((rc = store_commit(s, err)) != 0)
		goto out;
	in_tx = 0;
	goto out;
db_error:
	rc = db_fail(err, db, "recording the package");
out:
	sqlite3_finalize(q);
	if (in_tx)
		store_rollback(s);
	return rc;
}

int package_each(struct store *s, struct lr_error *err, int64_t course_id,
		 int (*fn)(void *ctx, const struct package_row *row), void *ctx)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT p.id, o.code, p.kind, p.identifier, p.title, p.version,"
				   " p.sha256, p.path, p.manifest, p.parts, p.required, p.imported_at"
				   " FROM package p LEFT JOIN org o ON o.id = p.org_id"
				   " WHERE p.course_id = ? ORDER BY p.id", -1, &q, NULL) != SQLITE_OK)
		return db_fail(err, db, "reading packages");
	sqlite3_bind_int64(q, 1, course_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct package_row r = {
			.id = sqlite3_column_int64(q, 0),
			.org = (const char *)sqlite3_column_text(q, 1),
			.kind = (const char *)sqlite3_column_text(q, 2),
			.identifier = (const char *)sqlite3_column_text(q, 3),
			.title = (const char *)sqlite3_column_text(q, 4),
			.version = (const char *)sqlite3_column_text(q, 5),
			.sha256 = (const char *)sqlite3_column_text(q, 6),
			.path = (const char *)sqlite3_column_text(q, 7),
			.manifest = (const char *)sqlite3_column_text(q, 8),
			.parts = sqlite3_column_int(q, 9),
			.required = sqlite3_column_int(q, 10),
			.imported_at = (const char *)sqlite3_column_text(q, 11),
		};
		if ((rc = fn(ctx, &r)) != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = db_fail(err, db, "reading packages");
out:
	sqlite3_finalize(q);
	return rc;
}

int package_item_each(struct store *s, struct lr_error *err, int64_t package_id,
		      int (*fn)(void *ctx, const struct package_item *item), void *ctx)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT identifier, parent, depth, title, launch, is_part, required,"
				   " mastery_score, move_on, activity_iri FROM package_part"
				   " WHERE package_id = ? ORDER BY position", -1, &q, NULL) != SQLITE_OK)
		return db_fail(err, db, "reading a package's items");
	sqlite3_bind_int64(q, 1, package_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct package_item it = {
			.identifier = (char *)sqlite3_column_text(q, 0),
			.parent = (char *)sqlite3_column_text(q, 1),
			.depth = sqlite3_column_int(q, 2),
			.title = (char *)sqlite3_column_text(q, 3),
			.launch = (char *)sqlite3_column_text(q, 4),
			.is_part = sqlite3_column_int(q, 5),
			.required = sqlite3_column_int(q, 6),
			.has_mastery = sqlite3_column_type(q, 7) != SQLITE_NULL,
			.mastery_score = sqlite3_column_double(q, 7),
			.move_on = (char *)sqlite3_column_text(q, 8),
			.activity_iri = (char *)sqlite3_column_text(q, 9),
		};
		if ((rc = fn(ctx, &it)) != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = db_fail(err, db, "reading a package's items");
out:
	sqlite3_finalize(q);
	return rc;
}

int package_alias_each(struct store *s, struct lr_error *err, int64_t course_id,
		       int (*fn)(void *ctx, const char *org, const char *key), void *ctx)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT o.code, a.key FROM course_alias a"
				   " LEFT JOIN org o ON o.id = a.org_id WHERE a.course_id = ?"
				   " ORDER BY a.org_id, a.key", -1, &q, NULL) != SQLITE_OK)
		return db_fail(err, db, "reading course aliases");
	sqlite3_bind_int64(q, 1, course_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if ((rc = fn(ctx, (const char *)sqlite3_column_text(q, 0),
			     (const char *)sqlite3_column_text(q, 1))) != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = db_fail(err, db, "reading course aliases");
out:
	sqlite3_finalize(q);
	return rc;
}
