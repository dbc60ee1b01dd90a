/*
 * xtime.c: reading and writing the time syntaxes of xAPI (see xtime.h).
 *
 * Dates are converted with proleptic Gregorian day arithmetic of our own
 * (days_from_civil / civil_from_days), so nothing here depends on the
 * process time zone, on mktime() or on the GNU-only timegm().
 */
#include "xtime.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY 86400000LL

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads exactly n digits at *p into *out and advances *p; 0 if not there. */
static int read_digits(const char **p, int n, int *out)
{
	int value = 0, i;

	for (i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return 0;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = value;
	return 1;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
int64_t xtime_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void xtime_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int xtime_parse_bound(int64_t *out_ms, const char *text, int end_of_day)
{
	char buf[64];

	if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
		snprintf(buf, sizeof(buf), "%sT%s", text, end_of_day ? "23:59:59.999Z" : "00:00:00Z");
		return xtime_parse(out_ms, buf, 0);
	}
	return xtime_parse(out_ms, text, 0);
}

int xtime_parse(int64_t *out_ms, const char *text, int allow_local)
{
	const char *p = text;
	int year, month, day, hour, minute, second = 0, ms = 0;
	int extended, zone_sign = 0, zone_h = 0, zone_m = 0, digits;
	int64_t total;

	if (!text)
		return LR_EINVAL;
	/* Date: YYYY-MM-DD (extended) or YYYYMMDD (basic). */
	if (!read_digits(&p, 4, &year))
		return LR_EINVAL;
	extended = *p == '-';
	if (extended)
		p++;
	if (!read_digits(&p, 2, &month))
		return LR_EINVAL;
	if (extended && *p++ != '-')
		return LR_EINVAL;
	if (!read_digits(&p, 2, &day))
		return LR_EINVAL;
	if (*p != 'T' && *p != 't')
		return LR_EINVAL;
	p++;

	/* Time: hh:mm[:ss[.fff]] or hhmm[ss[.fff]], same format as the date. */
	if (!read_digits(&p, 2, &hour))
		return LR_EINVAL;
	if (extended && *p++ != ':')
		return LR_EINVAL;
	if (!read_digits(&p, 2, &minute))
		return LR_EINVAL;
	if ((extended && *p == ':') || (!extended && is_digit(*p))) {
		if (extended)
			p++;
		if (!read_digits(&p, 2, &second))
			return LR_EINVAL;
		if (*p == '.' || *p == ',') {
			p++;
			if (!is_digit(*p))
				return LR_EINVAL;
			for (digits = 0; is_digit(*p); p++, digits++) {
				if (digits < 3)
					ms = ms * 10 + (*p - '0');
			}
			for (; digits < 3; digits++)
				ms *= 10;
		}
	}

	/* Zone: Z, +hh:mm, +hhmm, +hh; -00, -0000 and -00:00 are refused. */
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		zone_sign = *p == '+' ? 1 : -1;
		p++;
		if (!read_digits(&p, 2, &zone_h))
			return LR_EINVAL;
		if (*p == ':') {
			p++;
			if (!read_digits(&p, 2, &zone_m))
				return LR_EINVAL;
		} else if (is_digit(*p)) {
			if (!read_digits(&p, 2, &zone_m))
				return LR_EINVAL;
		}
		if (zone_h > 23 || zone_m > 59)
			return LR_EINVAL;
		if (zone_sign < 0 && zone_h == 0 && zone_m == 0)
			return LR_EINVAL;
	} else if (!allow_local) {
		return LR_EINVAL;
	}
	if (*p != '\0')
		return LR_EINVAL;

	if (year < 1 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
		return LR_EINVAL;

	total = xtime_days_from_civil(year, month, day) * MS_PER_DAY
		+ ((int64_t)hour * 3600 + minute * 60 + second) * 1000 + ms;
	total -= (int64_t)zone_sign * ((int64_t)zone_h * 3600 + zone_m * 60) * 1000;
	*out_ms = total;
	return 0;
}

/* Writes v (0 <= v < 10^width) as width digits; returns the end. */
static char *digits(char *o, int v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + width;
}

static void format(char out[XTIME_MAX], int64_t ms, int always_ms)
{
	int64_t days = ms / MS_PER_DAY, rest = ms % MS_PER_DAY, year;
	int month, day, hour, minute, second, milli;

	if (rest < 0) {
		rest += MS_PER_DAY;
		days--;
	}
	xtime_civil_from_days(days, &year, &month, &day);
	milli = (int)(rest % 1000);
	rest /= 1000;
	second = (int)(rest % 60);
	minute = (int)(rest / 60 % 60);
	hour = (int)(rest / 3600);
	if (year >= 0 && year <= 9999) {
		/* Digit by digit: snprintf was 3,500 instructions a stored statement. */
		char *o = out;
		o = digits(o, (int)year, 4);
		*o++ = '-';
		o = digits(o, month, 2);
		*o++ = '-';
		o = digits(o, day, 2);
		*o++ = 'T';
		o = digits(o, hour, 2);
		*o++ = ':';
		o = digits(o, minute, 2);
		*o++ = ':';
		o = digits(o, second, 2);
		if (always_ms || milli) {
			*o++ = '.';
			o = digits(o, milli, 3);
		}
		*o++ = 'Z';
		*o = '\0';
	} else if (always_ms || milli) {
		snprintf(out, XTIME_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 (long long)year, month, day, hour, minute, second, milli);
	} else {
		snprintf(out, XTIME_MAX, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
			 (long long)year, month, day, hour, minute, second);
	}
}

void xtime_format(char out[XTIME_MAX], int64_t ms)
{
	format(out, ms, 0);
}

void xtime_format_ms(char out[XTIME_MAX], int64_t ms)
{
	format(out, ms, 1);
}

int64_t xtime_now_ms(void)
{
	struct timespec now;

	if (timespec_get(&now, TIME_UTC) != TIME_UTC)
		return (int64_t)time(NULL) * 1000;
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * One "n<unit>" of a duration: digits, an optional fraction (which must end
 * the duration), then the unit letter. Returns the unit letter, or 0.
 */
static char duration_part(const char **p, int *fraction)
{
	const char *q = *p;

	if (!is_digit(*q))
		return 0;
	while (is_digit(*q))
		q++;
	*fraction = 0;
	if (*q == '.' || *q == ',') {
		q++;
		if (!is_digit(*q))
			return 0;
		while (is_digit(*q))
			q++;
		*fraction = 1;
	}
	if (*q < 'A' || *q > 'Z')
		return 0;
	*p = q + 1;
	return q[0];
}

int xtime_duration_valid(const char *text)
{
	static const char date_units[] = "YMD";
	static const char time_units[] = "HMS";
	const char *p = text;
	int parts = 0, fraction = 0, next;
	char unit;

	if (!p || *p++ != 'P')
		return 0;
	/* "PnW" stands alone: weeks do not combine with other units. */
	{
		const char *q = p;

		if (duration_part(&q, &fraction) == 'W')
			return *q == '\0';
	}
	fraction = 0;
	next = 0;
	while (*p && *p != 'T') {
		if (fraction)
			return 0;
		unit = duration_part(&p, &fraction);
		if (!unit)
			return 0;
		while (date_units[next] && date_units[next] != unit)
			next++;
		if (!date_units[next])
			return 0;
		next++;
		parts++;
	}
	if (*p == 'T') {
		int time_parts = 0;

		p++;
		next = 0;
		while (*p) {
			if (fraction)
				return 0;
			unit = duration_part(&p, &fraction);
			if (!unit)
				return 0;
			while (time_units[next] && time_units[next] != unit)
				next++;
			if (!time_units[next])
				return 0;
			next++;
			time_parts++;
		}
		if (time_parts == 0)
			return 0;
		parts += time_parts;
	}
	return parts > 0;
}

/* ------------------------------------------------------------------ */
/* Time zones from TZif files (RFC 8536)                               */
/* ------------------------------------------------------------------ */

#define TZIF_MAX (1L << 20)

struct tz_rule_date {
	int kind;            /* 'M' month.week.day, 'J' julian 1..365 no leap, 'N' 0..365 */
	int month, week, wday, yday;
	long time;           /* seconds after local midnight (may be negative or > 24h) */
};

struct xtime_zone {
	int64_t *times;      /* transition times, seconds UTC */
	unsigned char *idx;  /* the type after each transition */
	long *offsets;       /* UT offset of each type, seconds east */
	int *isdst;
	size_t n_times, n_types;
	/* The POSIX TZ rule after the last transition. */
	int has_rule, rule_dst;
	long std_off, dst_off;  /* seconds east */
	struct tz_rule_date start, end;
};

void xtime_zone_free(struct xtime_zone *zone)
{
	if (!zone)
		return;
	free(zone->times);
	free(zone->idx);
	free(zone->offsets);
	free(zone->isdst);
	free(zone);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* A POSIX TZ name: letters, or <...>. */
static const char *rule_name(const char *p)
{
	if (*p == '<') {
		while (*p && *p != '>')
			p++;
		return *p ? p + 1 : NULL;
	}
	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		return NULL;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p;
}

/* [+-]hh[:mm[:ss]] into seconds. */
static const char *rule_time(const char *p, long *out)
{
	long sign = 1, h = 0, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!is_digit(*p))
		return NULL;
	while (is_digit(*p))
		h = h * 10 + (*p++ - '0');
	if (*p == ':') {
		p++;
		while (is_digit(*p))
			m = m * 10 + (*p++ - '0');
		if (*p == ':') {
			p++;
			while (is_digit(*p))
				s = s * 10 + (*p++ - '0');
		}
	}
	if (h > 167)
		return NULL;
	*out = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *rule_date(const char *p, struct tz_rule_date *d)
{
	long n = 0;

	d->time = 7200;
	if (*p == 'M') {
		d->kind = 'M';
		p++;
		if (sscanf(p, "%d.%d.%d", &d->month, &d->week, &d->wday) != 3)
			return NULL;
		while (is_digit(*p) || *p == '.')
			p++;
		if (d->month < 1 || d->month > 12 || d->week < 1 || d->week > 5 || d->wday < 0 ||
		    d->wday > 6)
			return NULL;
	} else {
		d->kind = *p == 'J' ? 'J' : 'N';
		if (*p == 'J')
			p++;
		if (!is_digit(*p))
			return NULL;
		while (is_digit(*p))
			n = n * 10 + (*p++ - '0');
		d->yday = (int)n;
		if (n > 365)
			return NULL;
	}
	if (*p == '/') {
		p = rule_time(p + 1, &d->time);
		if (!p)
			return NULL;
	}
	return p;
}

/* Reads the footer rule ("GMT0BST,M3.5.0/1,M10.5.0"); 0 if there is none usable. */
static void parse_rule(struct xtime_zone *z, const char *p)
{
	long off;

	p = rule_name(p);
	if (!p || !(p = rule_time(p, &off)))
		return;
	z->std_off = -off;
	z->has_rule = 1;
	if (*p == '\0')
		return;
	p = rule_name(p);
	if (!p) {
		z->has_rule = 0;
		return;
	}
	z->dst_off = z->std_off + 3600;
	if (*p && *p != ',') {
		p = rule_time(p, &off);
		if (!p) {
			z->has_rule = 0;
			return;
		}
		z->dst_off = -off;
	}
	if (*p != ',' || !(p = rule_date(p + 1, &z->start)) || *p != ',' ||
	    !(p = rule_date(p + 1, &z->end))) {
		z->has_rule = 0;
		return;
	}
	z->rule_dst = 1;
}

int xtime_zone_load(struct xtime_zone **out, const char *name)
{
	const char *dir = getenv("TZDIR");
	struct xtime_zone *z = NULL;
	unsigned char *data = NULL;
	char path[1024];
	const char *p;
	size_t len = 0, off, need, i, tsz;
	uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;
	FILE *f = NULL;
	int rc = 0, version;

	*out = NULL;
	if (!name || !*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 255)
		return LR_EINVAL;
	for (p = name; *p; p++)
		if (!is_digit(*p) && !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) &&
		    !strchr("/_+-", *p))
			return LR_EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return LR_ENOMEM;
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0 ||
	    strcmp(name, "GMT") == 0) {
		z->has_rule = 1;
		*out = z;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	f = fopen(path, "rb");
	if (!f) {
		rc = LR_ENOTFOUND;
		goto out;
	}
	data = malloc(TZIF_MAX);
	if (!data) {
		rc = LR_ENOMEM;
		goto out;
	}
	len = fread(data, 1, TZIF_MAX, f);
	rc = LR_EINVAL;
	if (len < 44 || memcmp(data, "TZif", 4) != 0)
		goto out;
	version = data[4];
	off = 0;
	tsz = 4;
	for (;;) {
		isut = be32(data + off + 20);
		isstd = be32(data + off + 24);
		leap = be32(data + off + 28);
		timecnt = be32(data + off + 32);
		typecnt = be32(data + off + 36);
		charcnt = be32(data + off + 40);
		if (timecnt > 100000 || typecnt == 0 || typecnt > 256 || leap > 100000)
			goto out;
		need = 44 + timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) + isstd + isut;
		if (off + need > len)
			goto out;
		if (tsz == 4 && version >= '2') {
			off += need;  /* skip the 32-bit block, read the 64-bit one */
			tsz = 8;
			if (off + 44 > len || memcmp(data + off, "TZif", 4) != 0)
				goto out;
			continue;
		}
		break;
	}
	z->n_times = timecnt;
	z->n_types = typecnt;
	z->times = malloc((timecnt ? timecnt : 1) * sizeof(*z->times));
	z->idx = malloc(timecnt ? timecnt : 1);
	z->offsets = malloc(typecnt * sizeof(*z->offsets));
	z->isdst = malloc(typecnt * sizeof(*z->isdst));
	if (!z->times || !z->idx || !z->offsets || !z->isdst) {
		rc = LR_ENOMEM;
		goto out;
	}
	{
		const unsigned char *q = data + off + 44;
		for (i = 0; i < timecnt; i++, q += tsz)
			z->times[i] = tsz == 8 ? be64(q) : (int64_t)(int32_t)be32(q);
		for (i = 0; i < timecnt; i++, q++) {
			if (*q >= typecnt)
				goto out;
			z->idx[i] = *q;
		}
		for (i = 0; i < typecnt; i++, q += 6) {
			z->offsets[i] = (long)(int32_t)be32(q);
			z->isdst[i] = q[4];
		}
		off += need;
	}
	/* The footer: "\nRULE\n". */
	if (tsz == 8 && off < len && data[off] == '\n') {
		char rule[128];
		size_t n = 0;
		for (i = off + 1; i < len && data[i] != '\n' && n + 1 < sizeof(rule); i++)
			rule[n++] = (char)data[i];
		rule[n] = '\0';
		if (n > 0)
			parse_rule(z, rule);
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	free(data);
	if (rc == 0)
		*out = z;
	else
		xtime_zone_free(z);
	return rc;
}

/* The UTC second of a rule date in year y, given the offset in force before it. */
static int64_t rule_when(const struct tz_rule_date *d, int64_t y, long offset_before)
{
	int64_t day;

	if (d->kind == 'M') {
		int64_t first = xtime_days_from_civil(y, d->month, 1);
		int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
		int mday = 1 + (d->wday - wday_first + 7) % 7 + (d->week - 1) * 7;
		while (mday > days_in_month((int)y, d->month))
			mday -= 7;
		day = first + mday - 1;
	} else if (d->kind == 'J') {
		day = xtime_days_from_civil(y, 1, 1) + d->yday - 1;
		if (is_leap((int)y) && d->yday >= 60)
			day++;
	} else {
		day = xtime_days_from_civil(y, 1, 1) + d->yday;
	}
	return day * 86400 + d->time - offset_before;
}

static long rule_offset(const struct xtime_zone *z, int64_t t)
{
	int64_t y, start, end;
	int m, d;

	if (!z->rule_dst)
		return z->std_off;
	xtime_civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &y, &m, &d);
	start = rule_when(&z->start, y, z->std_off);
	end = rule_when(&z->end, y, z->dst_off);
	if (start < end)
		return t >= start && t < end ? z->dst_off : z->std_off;
	return t >= end && t < start ? z->std_off : z->dst_off;
}

long xtime_zone_offset(const struct xtime_zone *z, int64_t utc_ms)
{
	int64_t t = utc_ms / 1000 - (utc_ms % 1000 < 0);
	size_t lo = 0, hi;

	if (!z)
		return 0;
	if (z->n_times == 0 || t >= z->times[z->n_times - 1]) {
		if (z->has_rule)
			return rule_offset(z, t);
		if (z->n_times == 0)
			return z->n_types ? z->offsets[0] : 0;
		return z->offsets[z->idx[z->n_times - 1]];
	}
	if (t < z->times[0]) {
		size_t i;
		for (i = 0; i < z->n_types; i++)
			if (!z->isdst[i])
				return z->offsets[i];
		return z->offsets[0];
	}
	hi = z->n_times - 1;
	/* The last transition at or before t. */
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;
		if (z->times[mid] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return z->offsets[z->idx[lo]];
}

int xtime_zone_local(int64_t *out_ms, const struct xtime_zone *zone, int year, int month, int day,
		     int hour, int minute, int second)
{
	int64_t local, before, after;
	long off_before, off_after;

	if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
	    second < 0 || second > 59)
		return LR_EINVAL;
	local = xtime_days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 + minute * 60 + second;
	if (!zone) {
		*out_ms = local * 1000;
		return 0;
	}
	/* The offsets a day before and a day after bracket any change near local. */
	off_before = xtime_zone_offset(zone, (local - 86400) * 1000);
	off_after = xtime_zone_offset(zone, (local + 86400) * 1000);
	before = local - off_before;
	after = local - off_after;
	if (xtime_zone_offset(zone, before * 1000) == off_before)
		*out_ms = before * 1000;      /* valid with the earlier offset (also the first of two) */
	else if (xtime_zone_offset(zone, after * 1000) == off_after)
		*out_ms = after * 1000;
	else
		*out_ms = before * 1000;      /* in a gap: the offset before the change */
	return 0;
}
