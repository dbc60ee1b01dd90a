/*
 * gen.c: writes realistic xAPI statements as JSON lines, for benchmarks and
 * the memory test: authoring-tool and LMS shaped, about 1 KB each, learners
 * known by account or mbox, context activities, results, a few voids.
 *
 *   gen N [SEED [LEARNERS]] > statements.jsonl
 *   gen moodle N [SEED [LEARNERS]] > tracking.csv
 *
 * The second form writes N Moodle SCORM tracking rows (the scorm_scoes_track
 * shape, userid,scormid,scoid,attempt,element,value,timemodified): each
 * attempt is 5 to 9 element rows of SCORM 1.2 or 2004 (status, scores,
 * times), and four learners work at once, so their rows interleave as in an
 * export ordered by row id.
 *
 * LEARNERS (default 200000) is the size of the population the learners are
 * drawn from. The output is a function of the arguments only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state;

static uint64_t next(void)
{
	/* splitmix64 */
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const char *const verbs[] = { "attempted", "experienced", "answered", "completed", "passed",
				     "failed", "progressed", "initialized", "terminated" };
static const char *const orgs[] = { "north-trust", "county-council", "riverside-gp", "carers-trust" };

/* One learner's attempt at a SCO, written row by row. */
struct attempt {
	unsigned user, scorm, sco, number;
	int scorm2004, row, rows;
	long time;
	unsigned score;
	const char *status;
};

static void attempt_start(struct attempt *a, unsigned population, long *clock)
{
	static const char *const status12[] = { "completed", "passed", "failed", "incomplete", "browsed" };
	static const char *const status2004[] = { "completed", "incomplete", "completed", "not attempted" };
	uint64_t r = next();

	a->user = (unsigned)(r % population) + 2;
	a->scorm = (unsigned)((r >> 20) % 40) + 1;
	a->sco = a->scorm * 100 + (unsigned)((r >> 28) % 12);
	a->number = (unsigned)((r >> 34) % 3) + 1;
	a->scorm2004 = (r >> 37) & 1;
	a->status = a->scorm2004 ? status2004[(r >> 38) % 4] : status12[(r >> 38) % 5];
	a->score = (unsigned)((r >> 41) % 101);
	a->rows = a->scorm2004 ? 9 : 7;
	if ((r >> 49) & 1)
		a->rows -= a->scorm2004 ? 4 : 3; /* no score */
	a->row = 0;
	*clock += (long)((r >> 50) % 40);
	a->time = *clock;
}

/* Writes the attempt's next row; 0 when it has no more. */
static int attempt_row(struct attempt *a)
{
	char value[64];
	const char *element;
	int k = a->row++;

	if (k >= a->rows)
		return 0;
	if (k == 0) {
		element = "x.start.time";
		snprintf(value, sizeof(value), "%ld", a->time);
	} else if (a->scorm2004) {
		static const char *const el[] = { "cmi.completion_status", "cmi.success_status",
						  "cmi.total_time", "cmi.location", "cmi.score.scaled",
						  "cmi.score.raw", "cmi.score.min", "cmi.score.max" };
		int e = k - 1;
		element = el[e];
		switch (e) {
		case 0: snprintf(value, sizeof(value), "%s", a->status); break;
		case 1: snprintf(value, sizeof(value), "%s", a->score >= 80 ? "passed" : "failed"); break;
		case 2: snprintf(value, sizeof(value), "PT%uM%uS", a->score % 50, a->score % 60); break;
		case 3: snprintf(value, sizeof(value), "page-%u", a->score % 12); break;
		case 4: snprintf(value, sizeof(value), "%.2f", a->score / 100.0); break;
		case 5: snprintf(value, sizeof(value), "%u", a->score); break;
		case 6: snprintf(value, sizeof(value), "0"); break;
		default: snprintf(value, sizeof(value), "100"); break;
		}
	} else {
		static const char *const el[] = { "cmi.core.lesson_status", "cmi.core.total_time",
						  "cmi.core.lesson_location", "cmi.core.score.raw",
						  "cmi.core.score.min", "cmi.core.score.max" };
		int e = k - 1;
		element = el[e];
		switch (e) {
		case 0: snprintf(value, sizeof(value), "%s", a->status); break;
		case 1: snprintf(value, sizeof(value), "00:%02u:%02u.00", a->score % 50, a->score % 60); break;
		case 2: snprintf(value, sizeof(value), "page-%u", a->score % 12); break;
		case 3: snprintf(value, sizeof(value), "%u", a->score); break;
		case 4: snprintf(value, sizeof(value), "0"); break;
		default: snprintf(value, sizeof(value), "100"); break;
		}
	}
	a->time += 7;
	printf("%u,%u,%u,%u,%s,%s,%ld\n", a->user, a->scorm, a->sco, a->number, element, value,
	       k == 0 ? a->time - 7 : a->time);
	return 1;
}

/* N tracking rows, four learners' attempts interleaved. */
static int moodle(long n, unsigned population)
{
	struct attempt open[4];
	long clock = 1735689600, i = 0; /* 2025-01-01 */
	int j;

	for (j = 0; j < 4; j++)
		attempt_start(&open[j], population, &clock);
	printf("userid,scormid,scoid,attempt,element,value,timemodified\n");
	while (i < n) {
		j = (int)(next() % 4);
		if (!attempt_row(&open[j]))
			attempt_start(&open[j], population, &clock);
		else
			i++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n, i;
	unsigned population;

	if (argc >= 3 && strcmp(argv[1], "moodle") == 0) {
		n = strtol(argv[2], NULL, 10);
		state = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
		population = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 200000;
		return moodle(n, population ? population : 1);
	}
	if (argc < 2) {
		fprintf(stderr, "usage: gen N [SEED [LEARNERS]] | gen moodle N [SEED [LEARNERS]]\n");
		return 1;
	}
	n = strtol(argv[1], NULL, 10);
	state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	population = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 200000;
	if (population == 0)
		population = 1;
	for (i = 0; i < n; i++) {
		uint64_t r = next();
		unsigned learner = (unsigned)(r % population);
		unsigned course = (unsigned)((r >> 20) % 40);
		unsigned sco = (unsigned)((r >> 28) % 12);
		const char *verb = verbs[(r >> 36) % 9];
		const char *org = orgs[(r >> 40) % 4];
		int day = (int)((r >> 44) % 28) + 1, month = (int)((r >> 50) % 12) + 1;
		int hour = (int)((r >> 54) % 24), minute = (int)((r >> 59) % 60);
		uint64_t id1 = next(), id2 = next();
		char actor[256];

		if (r & 1)
			snprintf(actor, sizeof(actor),
				 "{\"objectType\":\"Agent\",\"name\":\"Learner %u\",\"account\":{\"homePage\":\"https://lms.%s.example\",\"name\":\"%u\"}}",
				 learner, org, learner);
		else
			snprintf(actor, sizeof(actor),
				 "{\"objectType\":\"Agent\",\"name\":\"Learner %u\",\"mbox\":\"mailto:learner%u@%s.example\"}",
				 learner, learner, org);
		printf("{\"id\":\"%08x-%04x-4%03x-8%03x-%012llx\",\"actor\":%s,"
		       "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/%s\",\"display\":{\"en-US\":\"%s\"}},"
		       "\"object\":{\"objectType\":\"Activity\",\"id\":\"https://elearning.example.org/courses/c%u/sco%u\","
		       "\"definition\":{\"name\":{\"en-GB\":\"Course %u, part %u\"},\"description\":{\"en-GB\":\"Part %u of the course %u, an e-learning module for health and care staff\"},"
		       "\"type\":\"http://adlnet.gov/expapi/activities/lesson\"}},"
		       "\"result\":{\"score\":{\"scaled\":%.2f,\"raw\":%u,\"min\":0,\"max\":100},\"success\":%s,\"completion\":%s,\"duration\":\"PT%uM%uS\"},"
		       "\"context\":{\"registration\":\"%08x-%04x-4%03x-a%03x-%012llx\",\"platform\":\"Moodle 4.3\",\"language\":\"en-GB\","
		       "\"contextActivities\":{\"parent\":[{\"objectType\":\"Activity\",\"id\":\"https://elearning.example.org/courses/c%u\"}],"
		       "\"grouping\":[{\"objectType\":\"Activity\",\"id\":\"https://elearning.example.org/programmes/mecc\"}],"
		       "\"category\":[{\"objectType\":\"Activity\",\"id\":\"https://w3id.org/xapi/scorm\",\"definition\":{\"type\":\"http://adlnet.gov/expapi/activities/profile\"}}]},"
		       "\"extensions\":{\"https://w3id.org/xapi/scorm/attempt\":%u}},"
		       "\"timestamp\":\"2025-%02d-%02dT%02d:%02d:00.000Z\"}\n",
		       (unsigned)(id1 >> 32), (unsigned)(id1 >> 16) & 0xffff, (unsigned)id1 & 0xfff,
		       (unsigned)(id2 >> 52) & 0xfff, (unsigned long long)(id2 & 0xffffffffffffULL), actor,
		       verb, verb, course, sco, course, sco, sco, course, (double)(r % 101) / 100.0,
		       (unsigned)(r % 101), (r >> 3) & 1 ? "true" : "false", (r >> 4) & 1 ? "true" : "false",
		       (unsigned)(r >> 5) % 60, (unsigned)(r >> 11) % 60,
		       (unsigned)(learner * 2654435761u), course, (unsigned)sco & 0xfff, (unsigned)course & 0xfff,
		       (unsigned long long)learner, course, (unsigned)(r >> 7) % 3 + 1, month, day, hour,
		       minute);
	}
	return 0;
}
