/*
 * test_xtime.c: timestamps and durations (lrs/xtime.c).
 */
#include "lrs/error.h"
#include "lrs/xtime.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

/* ms of a timestamp that must parse; INT64_MIN when it does not. */
static int64_t parse(const char *text)
{
	int64_t ms = 0;

	if (xtime_parse(&ms, text, 0) != 0)
		return INT64_MIN;
	return ms;
}

static const char *fmt(int64_t ms)
{
	static char out[XTIME_MAX];

	xtime_format(out, ms);
	return out;
}

static const char *fmt_ms(int64_t ms)
{
	static char out[XTIME_MAX];

	xtime_format_ms(out, ms);
	return out;
}

static void test_parse_zones(void)
{
	CHECK_INT(parse("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(parse("1970-01-01T00:00:00.001Z"), 1);
	CHECK_INT(parse("2013-04-01T12:00:00Z"), 1364817600000LL);
	CHECK_INT(parse("2013-04-01T13:00:00+01:00"), 1364817600000LL);
	CHECK_INT(parse("2013-04-01T13:00:00+0100"), 1364817600000LL);
	CHECK_INT(parse("2013-04-01T13:00:00+01"), 1364817600000LL);
	CHECK_INT(parse("2013-04-01T06:30:00-05:30"), 1364817600000LL);
	CHECK_INT(parse("2013-04-01t12:00:00z"), 1364817600000LL);
	CHECK_INT(parse("2012-06-01T19:09:13.245+00:00"), 1338577753245LL);
	CHECK_INT(parse("2013-04-01T12:00:00+00"), 1364817600000LL);
	/* -00:00 means "unknown offset" in RFC 3339; xAPI refuses it. */
	CHECK_INT(parse("2013-04-01T12:00:00-00:00"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00-0000"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00-00"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00+24:00"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00+01:60"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00+1"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00 Z"), INT64_MIN);
}

static void test_parse_fractions(void)
{
	CHECK_INT(parse("2013-04-01T12:00:00.5Z"), 1364817600500LL);
	CHECK_INT(parse("2013-04-01T12:00:00.12Z"), 1364817600120LL);
	CHECK_INT(parse("2013-04-01T12:00:00.123456789Z"), 1364817600123LL);
	CHECK_INT(parse("2013-04-01T12:00:00.9999Z"), 1364817600999LL);
	CHECK_INT(parse("2013-04-01T12:00:00,25Z"), 1364817600250LL);
	CHECK_INT(parse("2013-04-01T12:00:00.Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00Z"), 1364817600000LL);
	CHECK_INT(parse("20130401T120000Z"), 1364817600000LL);
	CHECK_INT(parse("20130401T1200Z"), 1364817600000LL);
}

static void test_parse_refused(void)
{
	int64_t ms = 42;

	CHECK_INT(parse(""), INT64_MIN);
	CHECK_INT(parse("2013-04-01"), INT64_MIN);
	CHECK_INT(parse("2013-04-01 12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-02-29T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2012-02-30T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-31T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-13-01T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-00-01T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-00T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T24:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:60:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:60Z"), INT64_MIN);
	CHECK_INT(parse("0000-01-01T00:00:00Z"), INT64_MIN);
	CHECK_INT(parse("13-04-01T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-4-01T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T12:00:00Zjunk"), INT64_MIN);
	CHECK_INT(parse("2013-0401T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("20130401T12:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2013-04-01T1200Z"), INT64_MIN);
	CHECK_INT(xtime_parse(&ms, NULL, 1), LR_EINVAL);
	CHECK_INT(ms, 42);
}

static void test_parse_local(void)
{
	int64_t ms = 0;

	CHECK_INT(xtime_parse(&ms, "2013-04-01T12:00:00", 0), LR_EINVAL);
	CHECK_INT(xtime_parse(&ms, "2013-04-01T12:00:00", 1), 0);
	CHECK_INT(ms, 1364817600000LL);
	CHECK_INT(xtime_parse(&ms, "2013-04-01T12:00:00.250", 1), 0);
	CHECK_INT(ms, 1364817600250LL);
	CHECK_INT(xtime_parse(&ms, "2013-04-01T12:00:00+02:00", 1), 0);
	CHECK_INT(ms, 1364810400000LL);
}

static void test_calendar(void)
{
	CHECK_INT(parse("2000-02-29T00:00:00Z"), 951782400000LL);
	CHECK_INT(parse("1900-02-29T00:00:00Z"), INT64_MIN);
	CHECK_INT(parse("2400-02-29T00:00:00Z"), 13574563200000LL);
	CHECK_INT(parse("1969-12-31T23:59:59.999Z"), -1);
	CHECK_INT(parse("0001-01-01T00:00:00Z"), -62135596800000LL);
	CHECK_INT(parse("9999-12-31T23:59:59.999Z"), 253402300799999LL);
	/* A zone can move the instant across a day, month and year. */
	CHECK_INT(parse("2021-01-01T00:30:00+01:00"), parse("2020-12-31T23:30:00Z"));
}

static void test_format(void)
{
	CHECK_STR(fmt(0), "1970-01-01T00:00:00Z");
	CHECK_STR(fmt(1364817600000LL), "2013-04-01T12:00:00Z");
	CHECK_STR(fmt(1364817600120LL), "2013-04-01T12:00:00.120Z");
	CHECK_STR(fmt(-1), "1969-12-31T23:59:59.999Z");
	CHECK_STR(fmt(-62135596800000LL), "0001-01-01T00:00:00Z");
	CHECK_STR(fmt(253402300799999LL), "9999-12-31T23:59:59.999Z");
	CHECK_STR(fmt(951782400000LL), "2000-02-29T00:00:00Z");
	CHECK_STR(fmt_ms(0), "1970-01-01T00:00:00.000Z");
	CHECK_STR(fmt_ms(1338577753245LL), "2012-06-01T19:09:13.245Z");
}

static void test_round_trip(void)
{
	int64_t ms, back;
	char out[XTIME_MAX];
	int bad = 0;

	/* Every ~37 hours and some odd milliseconds over 1600..2600. */
	for (ms = -11676096000000LL; ms < 20000000000000LL; ms += 133331777LL) {
		xtime_format(out, ms);
		if (xtime_parse(&back, out, 0) != 0 || back != ms)
			bad++;
		xtime_format_ms(out, ms);
		if (xtime_parse(&back, out, 0) != 0 || back != ms)
			bad++;
	}
	CHECK_INT(bad, 0);
}

static void test_now(void)
{
	int64_t now = xtime_now_ms();

	/* After 2020-01-01 and before 2100-01-01. */
	CHECK(now > 1577836800000LL);
	CHECK(now < 4102444800000LL);
}

static void test_durations(void)
{
	static const char *const valid[] = {
		"PT4H35M59.14S", "PT16559.14S", "P3Y1M29DT4H35M59.14S", "P3Y", "P4W",
		"PT30M", "PT1234S", "P1D", "P1DT2.5S", "PT1H30M", "P0D", "PT0S",
		"P1M", "PT1M", "P1Y2M3DT4H5M6S", "PT0.5S", "PT1,5S", "P1.5Y", "P2.5W",
		"PT1.25H"
	};
	static const char *const invalid[] = {
		"", "P", "PT", "P1DT", "4H", "T1H", "P4W1D", "P1Y4W", "PT1H1H", "PT1S1M",
		"P1D1Y", "P1.5DT1H", "PT1.5H30M", "PT.5S", "PT1.S", "P-1D", "-P1D",
		"p1d", "P1d", "P1H", "PT1D", "PT1Y", "P0003-01-29T04:35:59", "PT1H ", " PT1H",
		"P1W1W", "PW", "P1X"
	};
	size_t i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		CHECK_MSG(xtime_duration_valid(valid[i]) == 1, "%s", valid[i]);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		CHECK_MSG(xtime_duration_valid(invalid[i]) == 0, "%s", invalid[i]);
	CHECK_INT(xtime_duration_valid(NULL), 0);
}

int main(void)
{
	RUN(test_parse_zones);
	RUN(test_parse_fractions);
	RUN(test_parse_refused);
	RUN(test_parse_local);
	RUN(test_calendar);
	RUN(test_format);
	RUN(test_round_trip);
	RUN(test_now);
	RUN(test_durations);
	TEST_END();
}
