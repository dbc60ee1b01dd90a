/*
 * registry.c: the list of input formats and detection by content.
 */
#include "adapter.h"

#include <string.h>

extern const struct adapter adapter_xapi;
extern const struct adapter adapter_moodle_track;
extern const struct adapter adapter_moodle_users;
extern const struct adapter adapter_moodle_report;
extern const struct adapter adapter_scormcloud;
extern const struct adapter adapter_totara;

const struct adapter *const adapter_list[] = {
	&adapter_xapi,
	&adapter_moodle_track,
	&adapter_moodle_users,
	&adapter_moodle_report,
	&adapter_scormcloud,
	&adapter_totara,
	NULL
};

const struct adapter *adapter_find(const char *name)
{
	size_t i;

	for (i = 0; adapter_list[i]; i++)
		if (strcmp(adapter_list[i]->name, name) == 0)
			return adapter_list[i];
	return NULL;
}

const struct adapter *adapter_detect(const char *head, size_t len, int *score)
{
	const struct adapter *best = NULL;
	int best_score = 0;
	size_t i;

	for (i = 0; adapter_list[i]; i++) {
		int s = adapter_list[i]->sniff(head, len);
		if (s > best_score) {
			best_score = s;
			best = adapter_list[i];
		}
	}
	if (score)
		*score = best_score;
	return best;
}
