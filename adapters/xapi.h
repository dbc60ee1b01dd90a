/*
 * xapi.h (adapters): xAPI statement files: a JSON array of statements, a
 * single statement, a StatementResult page ({"statements": [...],
 * "more": ...}) or JSON lines. Streams through jsonstream, so any size of
 * file is read in bounded memory.
 */
#ifndef LRHUB_ADAPTERS_XAPI_H
#define LRHUB_ADAPTERS_XAPI_H

#include "adapter.h"

extern const struct adapter adapter_xapi;

#endif
