/*
 * base64.h: base64 for the few places lrhub needs it: HTTP Basic
 * credentials (standard alphabet), API secrets and signed paging tokens
 * (the URL-safe alphabet, RFC 4648 section 5, without padding).
 */
#ifndef LRHUB_BASE64_H
#define LRHUB_BASE64_H

#include <stddef.h>

/* The length of the base64url text of n bytes, without padding or NUL. */
#define BASE64URL_LEN(n) (((n) * 4 + 2) / 3)

/* Writes the base64url text of in (len bytes) and a NUL into out (BASE64URL_LEN(len) + 1 bytes). */
void base64url_encode(char *out, const unsigned char *in, size_t len);

/*
 * Decodes len characters of base64 in either alphabet ('+' '/' or '-' '_'),
 * with or without '=' padding at the end, into out (room for size bytes, of
 * which the last is kept for a NUL after the data). Returns the number of
 * bytes decoded, or -1 for a character outside the alphabets or no room.
 */
long base64_decode(unsigned char *out, size_t size, const char *text, size_t len);

#endif
