/*
 * xtime.h: the time syntaxes of xAPI. Timestamps are ISO 8601 (1.0.3) or
 * RFC 3339 (2.0) date-times; lrhub keeps them as milliseconds since the Unix
 * epoch in UTC and writes them back as "YYYY-MM-DDTHH:MM:SS[.mmm]Z".
 * Durations are ISO 8601 durations ("PT1H30M", "P1DT2.5S", "P3W").
 */
#ifndef LRHUB_XTIME_H
#define LRHUB_XTIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for any timestamp xtime_format writes, with the NUL. */
#define XTIME_MAX 32

/*
 * Parses an ISO 8601 / RFC 3339 combined date and time with a time zone
 * ("Z", "+01:00", "+0100", "+01"; "-00:00" is refused as xAPI requires), a
 * 'T' or 't' separator, optional fractional seconds of any length (cut to
 * milliseconds), into milliseconds since the epoch in UTC (*out_ms).
 * A date-time without a zone is refused unless allow_local is non-zero, in
 * which case it is read as UTC. Also read, as ISO 8601 allows: "hh:mm"
 * without seconds, ',' as the decimal sign, and the basic format
 * ("20130401T120000Z"). Years 0001 to 9999; no leap seconds (":60" is
 * refused), no "24:00". Returns 0 or LR_EINVAL.
 */
int xtime_parse(int64_t *out_ms, const char *text, int allow_local);

/*
 * A bound of a date range given on a command line or in a query: a full
 * timestamp, or a bare day YYYY-MM-DD meaning its start, or with end_of_day
 * its last millisecond (UTC). Returns as xtime_parse.
 */
int xtime_parse_bound(int64_t *out_ms, const char *text, int end_of_day);

/* Writes ms as "YYYY-MM-DDTHH:MM:SSZ", or with ".mmm" when ms has a fraction. */
void xtime_format(char out[XTIME_MAX], int64_t ms);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ", always with milliseconds. */
void xtime_format_ms(char out[XTIME_MAX], int64_t ms);

/* The current time in milliseconds since the epoch. */
int64_t xtime_now_ms(void);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t xtime_days_from_civil(int64_t y, int m, int d);
void xtime_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/*
 * 1 if text is an ISO 8601 duration as xAPI uses them ("P" then
 * nY nM nW nD and "T" nH nM nS, any may be absent but not all, the last unit
 * may have a decimal fraction; "PnW" alone), else 0.
 */
int xtime_duration_valid(const char *text);

/*
 * Time zones, for exports that write local times without an offset. A zone
 * is read from the system's TZif files ($TZDIR, else /usr/share/zoneinfo)
 * by its IANA name ("Europe/London"), including the POSIX rule at the end
 * of the file for years after its last transition. Nothing here touches
 * the process's TZ or calls tzset(), so it is safe in threads; a loaded
 * zone is read-only.
 */
struct xtime_zone;

/*
 * Loads zone name into *out (free with xtime_zone_free). "UTC", "Etc/UTC"
 * and "Z" need no file. Returns 0, LR_EINVAL for a malformed name or file,
 * LR_ENOTFOUND when there is no such zone, LR_ENOMEM.
 */
int xtime_zone_load(struct xtime_zone **out, const char *name);
void xtime_zone_free(struct xtime_zone *zone);

/*
 * Converts a local date and time in zone (NULL means UTC) to milliseconds
 * since the epoch in UTC (*out_ms). A time that occurs twice (clocks going
 * back) is the first; a time that does not exist (clocks going forward) is
 * read with the offset before the change, as mktime() does. Returns 0 or
 * LR_EINVAL for an impossible date.
 */
int xtime_zone_local(int64_t *out_ms, const struct xtime_zone *zone, int year, int month, int day,
		     int hour, int minute, int second);

/* The zone's offset from UTC in seconds at utc_ms (east positive). */
long xtime_zone_offset(const struct xtime_zone *zone, int64_t utc_ms);

#endif
