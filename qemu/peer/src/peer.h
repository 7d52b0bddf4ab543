/*
 * peer.h - what every peer benchmark shares: the virtual counter, pinning, rounds, spinners
 * and the one output line.
 *
 * Time is CNTVCT_EL0, read at EL0 (Linux lets user space read it); under -icount shift=0 one
 * nanosecond of it is one guest instruction, summed over all cores. Each benchmark does one
 * untimed warm-up round and then BENCH_ROUNDS (default 5) timed rounds of N operations, and
 * prints one line per figure: `peer-rec KEY N v1 .. vR`, each v the nanoseconds per operation
 * of one round. qemu/peer/report.py takes the median, min and max.
 */
#ifndef PEER_H
#define PEER_H
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROUNDS 64
#define MAX_SPIN 16

static inline uint64_t ticks(void)
{
	uint64_t v;
	/* isb: the read must not be taken before the instructions in front of it */
	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
	return v;
}

static inline double ticks_to_ns(uint64_t t)
{
	uint64_t hz;
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
	return (double)t * 1e9 / (double)hz;
}

static inline void die(const char *what)
{
	printf("peer: FAILED: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Run the calling thread on this core only (and be there when it returns). */
static inline void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		die("sched_setaffinity");
	sched_yield();
	if (sched_getcpu() != cpu)
		die("pinned, yet on another core");
}

static inline int rounds(void)
{
	const char *s = getenv("BENCH_ROUNDS");
	int r = s ? atoi(s) : 5;
	return r < 1 ? 1 : r > MAX_ROUNDS ? MAX_ROUNDS : r;
}

/* The figure's line: ns per op of each round (total_ticks[r] over n ops). */
static inline void report(const char *key, long n, const uint64_t *total_ticks, int r)
{
	printf("peer-rec %s %ld", key, n);
	for (int i = 0; i < r; i++)
		printf(" %.1f", ticks_to_ns(total_ticks[i]) / (double)n);
	printf("\n");
	fflush(stdout);
}

/* Spinners: one thread of this process on each of cores 1..n, writing to its own page in a
 * loop, so the address space is live (and in the TLB) on every one of those cores. */
static atomic_int spin_stop, spin_ready;
static pthread_t spin_thread[MAX_SPIN];
static int spin_count;

static void *spin(void *arg)
{
	static volatile char page[MAX_SPIN + 1][4096];
	volatile char *p = page[(long)arg];
	pin((int)(long)arg);
	atomic_fetch_add(&spin_ready, 1);
	for (unsigned i = 0; !atomic_load_explicit(&spin_stop, memory_order_relaxed); i += 64)
		p[i % 4096]++;
	return NULL;
}

static inline void spinners_start(int n)
{
	if (n >= sysconf(_SC_NPROCESSORS_ONLN) || n > MAX_SPIN)
		die("more spinners than other cores");
	spin_count = n;
	for (long i = 1; i <= n; i++)
		if (pthread_create(&spin_thread[i - 1], NULL, spin, (void *)i) != 0)
			die("pthread_create");
	while (atomic_load(&spin_ready) < n)
		sched_yield();
}

static inline void spinners_stop(void)
{
	atomic_store(&spin_stop, 1);
	for (int i = 0; i < spin_count; i++)
		pthread_join(spin_thread[i], NULL);
}
#endif
