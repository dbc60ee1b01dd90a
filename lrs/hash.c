/*
 * hash.c: thin wrappers over libcrypto's EVP digests and HMAC.
 */
#include "hash.h"
#include "error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <pthread.h>

/*
 * The digests, fetched from libcrypto's providers once: EVP_sha256() in a
 * digest call makes OpenSSL 3 look the algorithm up again each time, under a
 * lock, which cost more than hashing a statement. If the fetch fails (out of
 * memory), each call looks it up as before.
 */
static EVP_MD *sha1_md, *sha256_md;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md_sha1(void)
{
	pthread_once(&fetch_once, fetch_digests);
	return sha1_md ? sha1_md : EVP_sha1();
}

static const EVP_MD *md_sha256(void)
{
	pthread_once(&fetch_once, fetch_digests);
	return sha256_md ? sha256_md : EVP_sha256();
}

int hash_sha1(unsigned char out[HASH_SHA1_LEN], const void *data, size_t len)
{
	return EVP_Digest(data, len, out, NULL, md_sha1(), NULL) == 1 ? 0 : LR_ENOMEM;
}

int hash_sha1_pair(unsigned char out[HASH_SHA1_LEN], const void *a, size_t a_len,
		   const void *b, size_t b_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return LR_ENOMEM;
	ok = EVP_DigestInit_ex(md, md_sha1(), NULL) == 1 &&
	     EVP_DigestUpdate(md, a, a_len) == 1 &&
	     EVP_DigestUpdate(md, b, b_len) == 1 &&
	     EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : LR_ENOMEM;
}

int hash_sha256(unsigned char out[HASH_SHA256_LEN], const void *data, size_t len)
{
	return EVP_Digest(data, len, out, NULL, md_sha256(), NULL) == 1 ? 0 : LR_ENOMEM;
}

int hash_hmac_sha256(unsigned char out[HASH_SHA256_LEN], const void *key, size_t key_len,
		     const void *data, size_t len)
{
	unsigned int out_len = HASH_SHA256_LEN;

	if (key_len > 0x7fffffff)
		return LR_EINVAL;
	if (!HMAC(md_sha256(), key, (int)key_len, data, len, out, &out_len))
		return LR_EINVAL;
	return 0;
}

/* struct hash_sha256_ctx is never defined: the pointer is libcrypto's EVP_MD_CTX. */

struct hash_sha256_ctx *hash_sha256_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md)
		return NULL;
	if (EVP_DigestInit_ex(md, md_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return NULL;
	}
	return (struct hash_sha256_ctx *)md;
}

void hash_sha256_update(struct hash_sha256_ctx *ctx, const void *data, size_t len)
{
	EVP_DigestUpdate((EVP_MD_CTX *)ctx, data, len);
}

void hash_sha256_final(struct hash_sha256_ctx *ctx, unsigned char out[HASH_SHA256_LEN])
{
	EVP_DigestFinal_ex((EVP_MD_CTX *)ctx, out, NULL);
}

void hash_sha256_free(struct hash_sha256_ctx *ctx)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
}

int hash_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void hash_hex(char *hex, const unsigned char *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * len] = '\0';
}
