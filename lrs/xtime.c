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
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

	total = days_from_civil(year, month, day) * MS_PER_DAY
		+ ((int64_t)hour * 3600 + minute * 60 + second) * 1000 + ms;
	total -= (int64_t)zone_sign * ((int64_t)zone_h * 3600 + zone_m * 60) * 1000;
	*out_ms = total;
	return 0;
}

static void format(char out[XTIME_MAX], int64_t ms, int always_ms)
{
	int64_t days = ms / MS_PER_DAY, rest = ms % MS_PER_DAY, year;
	int month, day, hour, minute, second, milli;

	if (rest < 0) {
		rest += MS_PER_DAY;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	milli = (int)(rest % 1000);
	rest /= 1000;
	second = (int)(rest % 60);
	minute = (int)(rest / 60 % 60);
	hour = (int)(rest / 3600);
	if (always_ms || milli)
		snprintf(out, XTIME_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 (long long)year, month, day, hour, minute, second, milli);
	else
		snprintf(out, XTIME_MAX, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
			 (long long)year, month, day, hour, minute, second);
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
