/*
 * assets.h: the files of web/ (page frame, stylesheet, upload form), built
 * into the binary by scripts/embed.sh (a generated C file), so the
 * dashboard needs nothing on disk and nothing from the network.
 */
#ifndef LRHUB_ASSETS_H
#define LRHUB_ASSETS_H

#include <stddef.h>

struct asset {
	const char *name;            /* the file's base name: "style.css" */
	const unsigned char *data;   /* its bytes, followed by a NUL */
	size_t len;
};

/* Every asset, ended by an entry whose name is NULL. */
extern const struct asset assets[];

/* The asset named name, or NULL. */
const struct asset *asset_find(const char *name);

#endif
