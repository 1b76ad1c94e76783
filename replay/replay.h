/* SPDX-License-Identifier: MIT */
/*
 * dejavm replay TRACE: rebuilds the VM a trace describes, runs it in deterministic mode and
 * compares every event the run emits with the recorded one, stopping at the first divergence.
 */
#ifndef DEJAVM_REPLAY_H
#define DEJAVM_REPLAY_H

/* argv[0] is "replay". Returns the process exit status: 0 matched, 1 diverged/error, 2 usage. */
int replay_main(int argc, char **argv);

#endif
