/*
 * upload.h: the web upload (POST /uploads, multipart/form-data): an LMS
 * administrator's export goes through exactly the pipeline of `lrhub
 * ingest` (ingest/ingest.h) under the org of the credential that sent it,
 * as a run of kind "upload" whose file is recorded under the name the
 * browser gave, with its SHA-256.
 *
 * The body streams through the multipart parser (multipart.h) into a
 * temporary file made with mkstemp in the store's own folder
 * (<folder of the store>/uploads/), never at a name derived from the
 * client's; the file is removed when the upload is answered. The fields:
 * "file" (the export, required, once), "format" (an adapter name, or empty
 * to detect), "course" (the course key of single-course files), "org"
 * (optional: must be the credential's org).
 */
#ifndef LRHUB_UPLOAD_H
#define LRHUB_UPLOAD_H

#include <stddef.h>

struct http_request;
struct http_response;
struct lr_error;
struct upload;

/*
 * Starts an upload whose body has content_type (with its boundary), at
 * most max_bytes long, spooled in spool_dir (made, mode 0700, if missing).
 * *out is new (upload_free). Returns 0, LR_EINVAL (not multipart/form-data,
 * a bad boundary), LR_EIO (the spool file cannot be made), LR_ENOMEM.
 */
int upload_begin(struct upload **out, struct lr_error *err, const char *spool_dir,
		 const char *content_type, size_t max_bytes);

/*
 * Feeds the next bytes of the body. Returns 0, or a negative code once the
 * upload cannot succeed (too large, malformed, a field not allowed, a write
 * error); upload_answer then says why. Further bytes are ignored.
 */
int upload_feed(struct upload *u, struct lr_error *err, const char *data, size_t len);

/*
 * Finishes the upload: ingests the file for req->cred's org with
 * req->store, and sets resp to the run report (accepted, duplicates,
 * conflicts, rejects with their reasons), as an HTML page when the client
 * prefers text/html (the form), else as JSON; or to the error (400, 403,
 * 413, 500) that stopped it.
 */
void upload_answer(struct upload *u, const struct http_request *req, struct http_response *resp);

/* Removes the spool file and frees u; upload_free(NULL) does nothing. */
void upload_free(struct upload *u);

/*
 * 1 if a POST from a browser came from this server's own pages: its Origin
 * (or, without one, its Referer) names the Host it was sent to, or it has
 * neither (a script or curl). A guard against cross-site form posts.
 */
int upload_same_origin(const struct http_request *req);

#endif
