// SPDX-License-Identifier: MIT
/* The event schema as data, expanded from trace_events.h: what readers and docs iterate. */
#include <stddef.h>

#include "trace.h"

#define FIELD_DESC(kind, name, doc) {#name, TF_##kind, doc},
#define FIELDS_ARRAY(num, name, required, doc) \
	static const struct trace_field_desc fields_##name[] = {TRACE_FIELDS_##name(FIELD_DESC)};
TRACE_EVENTS(FIELDS_ARRAY)

#define EVENT_DESC(num, name, required, doc)                                            \
	{num,	   #name,	 doc, sizeof(fields_##name) / sizeof(fields_##name[0]), \
	 required, fields_##name},
const struct trace_event_desc trace_event_descs[] = {TRACE_EVENTS(EVENT_DESC)};
const unsigned int trace_event_ndescs = sizeof(trace_event_descs) / sizeof(trace_event_descs[0]);

const struct trace_event_desc *trace_event_desc(unsigned int type)
{
	for (unsigned int i = 0; i < trace_event_ndescs; i++)
		if (trace_event_descs[i].type == type)
			return &trace_event_descs[i];
	return NULL;
}
