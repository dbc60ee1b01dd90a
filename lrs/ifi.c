/*
 * ifi.c: normalising agent identifiers (see ifi.h for the key forms).
 */
#include "ifi.h"
#include "error.h"
#include "hash.h"

#include <jansson.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int ifi_email_normalize(char *out, size_t size, const char *address)
{
	const char *start = address, *end, *at = NULL, *p;
	size_t len, i;

	while (*start && isspace((unsigned char)*start))
		start++;
	if (strncasecmp(start, "mailto:", 7) == 0)
		start += 7;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	for (p = start; p < end; p++) {
		if (isspace((unsigned char)*p) || *p == '<' || *p == '>')
			return LR_EINVAL;
		if (*p == '@')
			at = p;
	}
	if (!at || at == start || at + 1 == end)
		return LR_EINVAL;
	len = (size_t)(end - start);
	if (len + 1 > size)
		return LR_ELIMIT;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)start[i]);
	out[len] = '\0';
	return 0;
}

void ifi_email_sha1(char out[41], const char *email)
{
	unsigned char digest[HASH_SHA1_LEN];
	char buf[IFI_MAX + 8];
	int n = snprintf(buf, sizeof(buf), "mailto:%s", email);

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	hash_sha1(digest, buf, (size_t)n);
	hash_hex(out, digest, sizeof(digest));
}

static int put(char *out, size_t size, const char *prefix, const char *a, const char *b)
{
	int n = b ? snprintf(out, size, "%s%s|%s", prefix, a, b)
		  : snprintf(out, size, "%s%s", prefix, a);

	if (n < 0 || (size_t)n >= size || (size_t)n >= IFI_MAX)
		return LR_ELIMIT;
	return 0;
}

int ifi_key(char *out, size_t size, const struct json_t *agent)
{
	const json_t *v;
	char email[IFI_MAX];
	int rc;

	if (!json_is_object(agent))
		return LR_EINVAL;
	if ((v = json_object_get(agent, "mbox")) != NULL) {
		if (!json_is_string(v) || strncasecmp(json_string_value(v), "mailto:", 7) != 0)
			return LR_EINVAL;
		rc = ifi_email_normalize(email, sizeof(email), json_string_value(v));
		if (rc != 0)
			return rc;
		return put(out, size, "mbox:", email, NULL);
	}
	if ((v = json_object_get(agent, "mbox_sha1sum")) != NULL) {
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;
		size_t i;

		if (!s || strlen(s) != 40)
			return LR_EINVAL;
		for (i = 0; i < 40; i++) {
			if (!isxdigit((unsigned char)s[i]))
				return LR_EINVAL;
			email[i] = (char)tolower((unsigned char)s[i]);
		}
		email[40] = '\0';
		return put(out, size, "sha1:", email, NULL);
	}
	if ((v = json_object_get(agent, "openid")) != NULL) {
		if (!json_is_string(v) || !json_string_value(v)[0])
			return LR_EINVAL;
		return put(out, size, "openid:", json_string_value(v), NULL);
	}
	if ((v = json_object_get(agent, "account")) != NULL) {
		const json_t *home = json_object_get(v, "homePage");
		const json_t *name = json_object_get(v, "name");

		if (!json_is_string(home) || !json_is_string(name))
			return LR_EINVAL;
		return put(out, size, "account:", json_string_value(home), json_string_value(name));
	}
	return LR_ENOTFOUND;
}

const char *ifi_key_email(const char *key)
{
	return strncmp(key, "mbox:", 5) == 0 ? key + 5 : NULL;
}
