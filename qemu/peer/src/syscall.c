/*
 * syscall - null_syscall: getppid by an inline `svc #0` (no libc wrapper), on core 0.
 * usage: syscall N
 */
#include "peer.h"
#include <sys/syscall.h>

static inline void getppid_svc(void)
{
	register long x8 __asm__("x8") = __NR_getppid;
	register long x0 __asm__("x0");
	__asm__ volatile("svc #0" : "=r"(x0) : "r"(x8) : "memory");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	int r = rounds();
	uint64_t total[MAX_ROUNDS];
	pin(0);
	for (int i = -1; i < r; i++) { /* round -1: the warm-up */
		uint64_t t0 = ticks();
		for (long k = 0; k < n; k++)
			getppid_svc();
		if (i >= 0)
			total[i] = ticks() - t0;
	}
	report("null_syscall", n, total, r);
	return 0;
}
