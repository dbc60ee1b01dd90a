/*
 * base64.c: RFC 4648 base64 and base64url, six bits at a time.
 */
#include "base64.h"

void base64url_encode(char *out, const unsigned char *in, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	unsigned v = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		v = (v << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(v >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(v << (6 - bits)) & 63];
	out[o] = '\0';
}

static int digit_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

long base64_decode(unsigned char *out, size_t size, const char *text, size_t len)
{
	unsigned v = 0;
	int bits = 0;
	size_t i, o = 0;

	while (len > 0 && text[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++) {
		int d = digit_value((unsigned char)text[i]);
		if (d < 0)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return -1;
			out[o++] = (unsigned char)((v >> bits) & 0xff);
		}
	}
	if (size == 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}
