/*
 * hash.h: the digests lrhub needs (SHA-1 for mbox_sha1sum and name-based
 * UUIDs, SHA-256 for file provenance and statement comparison, HMAC-SHA-256
 * for pseudonymised person ids), over OpenSSL's libcrypto.
 */
#ifndef LRHUB_HASH_H
#define LRHUB_HASH_H

#include <stddef.h>

#define HASH_SHA1_LEN 20
#define HASH_SHA256_LEN 32

/* The digests return 0, or LR_ENOMEM when libcrypto could not compute them. */
int hash_sha1(unsigned char out[HASH_SHA1_LEN], const void *data, size_t len);
/* SHA-1 of the concatenation a || b. Returns 0 or LR_ENOMEM. */
int hash_sha1_pair(unsigned char out[HASH_SHA1_LEN], const void *a, size_t a_len,
		    const void *b, size_t b_len);
int hash_sha256(unsigned char out[HASH_SHA256_LEN], const void *data, size_t len);
/* Returns 0, or LR_EINVAL if libcrypto refuses the key. */
int hash_hmac_sha256(unsigned char out[HASH_SHA256_LEN], const void *key, size_t key_len,
		     const void *data, size_t len);

/* An incremental SHA-256, for hashing a file while it is read. */
struct hash_sha256_ctx;
/* Returns a new context (caller frees with hash_sha256_free), NULL on no memory. */
struct hash_sha256_ctx *hash_sha256_new(void);
void hash_sha256_update(struct hash_sha256_ctx *ctx, const void *data, size_t len);
/* Writes the digest; the context may not be updated afterwards. */
void hash_sha256_final(struct hash_sha256_ctx *ctx, unsigned char out[HASH_SHA256_LEN]);
void hash_sha256_free(struct hash_sha256_ctx *ctx);

/*
 * 1 if the len bytes at a and b are the same, 0 if not, in a time that does
 * not depend on where they differ (for comparing secrets and their hashes).
 */
int hash_equal(const void *a, const void *b, size_t len);

/* Writes len bytes as 2*len lower-case hex digits plus a NUL into hex. */
void hash_hex(char *hex, const unsigned char *bytes, size_t len);

#endif
