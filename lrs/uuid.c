/*
 * uuid.c: UUID parsing and RFC 4122 section 4.3 name-based UUIDs.
 */
#include "uuid.h"
#include "error.h"
#include "hash.h"

#include <ctype.h>
#include <string.h>

int uuid_is_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != UUID_STR_LEN)
		return 0;
	for (i = 0; i < UUID_STR_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

void uuid_normalize(char out[UUID_STR_LEN + 1], const char *s)
{
	size_t i;

	for (i = 0; i < UUID_STR_LEN; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[UUID_STR_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return (tolower((unsigned char)c) - 'a') + 10;
}

int uuid_v5(char out[UUID_STR_LEN + 1], const char *ns, const void *name, size_t len)
{
	unsigned char digest[HASH_SHA1_LEN];
	unsigned char bytes[16];
	size_t i, j;
	char hex[33];

	for (i = 0, j = 0; i < UUID_STR_LEN; i++) {
		if (ns[i] == '-')
			continue;
		if (j % 2 == 0)
			bytes[j / 2] = (unsigned char)(hexval(ns[i]) << 4);
		else
			bytes[j / 2] |= (unsigned char)hexval(ns[i]);
		j++;
	}
	if (hash_sha1_pair(digest, bytes, 16, name, len) != 0)
		return LR_ENOMEM;
	memcpy(bytes, digest, 16);
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x50);
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	hash_hex(hex, bytes, 16);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = '\0';
	return 0;
}
