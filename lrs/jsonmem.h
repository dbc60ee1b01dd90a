/*
 * jsonmem.h: jansson's allocations made through lrhub's, so that a JSON
 * parse that failed for lack of memory can be told from bad JSON. jansson
 * reports some allocation failures inside its parser as a syntax error, and
 * recovers from others with a different value; without this, a good record
 * would be rejected as "not valid JSON", or stored altered, when memory ran
 * short.
 *
 *   jsonmem_clear();
 *   value = json_loadb(...);
 *   if (jsonmem_failed())  ... out of memory, whatever json_loadb returned
 */
#ifndef LRHUB_JSONMEM_H
#define LRHUB_JSONMEM_H

/* Routes jansson's allocations through lrhub's (once) and clears this thread's failure flag. */
void jsonmem_clear(void);

/* 1 if a jansson allocation failed on this thread since jsonmem_clear. */
int jsonmem_failed(void);

#endif
