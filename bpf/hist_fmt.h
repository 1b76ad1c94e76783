/* SPDX-License-Identifier: MIT */
/* Userspace side of hist.h: adding, merging, quantiles, text (as bcc's tools) and JSON. */
#ifndef DEJAVM_BPF_HIST_FMT_H
#define DEJAVM_BPF_HIST_FMT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

#define LAT_BAR_WIDTH 40

void lat_hist_add(struct lat_hist *h, uint64_t v);
void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src);
uint64_t lat_hist_quantile(const struct lat_hist *h, double q);
void lat_hist_print(FILE *f, const struct lat_hist *h, const char *unit);
void lat_hist_json(FILE *f, const struct lat_hist *h);
void lat_json_str(FILE *f, const char *s);

#endif
