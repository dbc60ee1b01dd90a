/*
 * ifi.h: inverse functional identifiers (IFIs), the keys by which xAPI knows
 * an agent, in one normalised text form so that the same learner exported by
 * two systems gets the same key:
 *
 *   mbox:alice@example.org          (trimmed, lower-cased, "mailto:" dropped)
 *   sha1:0f3c...                    (mbox_sha1sum, lower-case hex)
 *   openid:https://id.example/x     (as given)
 *   account:https://lms.example|42  (homePage, "|", name; both as given)
 */
#ifndef LRHUB_IFI_H
#define LRHUB_IFI_H

#include <stddef.h>

struct json_t;

#define IFI_MAX 1024 /* longest key, with the NUL */

/*
 * Writes the normalised email of an address given with or without "mailto:"
 * into out (size bytes): surrounding white space removed, lower-cased.
 * Returns 0, LR_EINVAL if it is not an address (no "@", or empty local part or
 * domain, or white space inside), LR_ELIMIT if it does not fit.
 */
int ifi_email_normalize(char *out, size_t size, const char *address);

/*
 * Writes the 40 hex digits (and a NUL) of SHA-1("mailto:" + email), the
 * mbox_sha1sum xAPI defines, for a normalised email.
 */
void ifi_email_sha1(char out[41], const char *email);

/*
 * Writes the key of an Agent or identified Group (borrowed JSON object) into
 * out. Returns 0, LR_ENOTFOUND if it has no IFI, LR_EINVAL if the IFI is
 * malformed, LR_ELIMIT if the key would exceed IFI_MAX.
 */
int ifi_key(char *out, size_t size, const struct json_t *agent);

/*
 * If key is an "mbox:" key, returns a pointer to its email inside key,
 * else NULL.
 */
const char *ifi_key_email(const char *key);

#endif
