/*
 * gen.c: writes realistic xAPI statements as JSON lines, for benchmarks and
 * the memory test: authoring-tool and LMS shaped, about 1 KB each, learners
 * known by account or mbox, context activities, results, a few voids.
 *
 *   gen N [SEED [LEARNERS]] > statements.jsonl
 *
 * LEARNERS (default 200000) is the size of the population the learners are
 * drawn from. The output is a function of the arguments only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

int main(int argc, char **argv)
{
	long n, i;
	unsigned population;

	if (argc < 2) {
		fprintf(stderr, "usage: gen N [SEED [LEARNERS]]\n");
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
