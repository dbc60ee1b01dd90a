/*
 * moodle_track.h: Moodle SCORM tracking data.
 *
 * moodle-track: rows userid,scormid,scoid,attempt,element,value,timemodified
 * (the scorm_scoes_track table of Moodle up to 4.2, or the same columns
 * joined from 4.3's scorm_attempt, scorm_scoes_value and scorm_element), as
 * CSV, or Moodle 4.3's three tables as a JSON dump ({"scorm_attempt": [...],
 * "scorm_scoes_value": [...], "scorm_element": [...]}). The rows of one
 * (user, scorm, SCO, attempt) are grouped and become the SCORM profile's
 * statements (see scorm_statement.h). Course key: the scorm id; part key:
 * the SCO id.
 *
 * moodle-users: Moodle's user table id,username,email,firstname,lastname,
 * idnumber, a file of its own: each row links the user id (the account
 * name of the tracking statements) to the email.
 */
#ifndef LRHUB_ADAPTERS_MOODLE_TRACK_H
#define LRHUB_ADAPTERS_MOODLE_TRACK_H

#include "adapter.h"

extern const struct adapter adapter_moodle_track;
extern const struct adapter adapter_moodle_users;

#endif
