/*
 * munmap - mmap one anonymous page, write to it, munmap it, on core 0, with S spinning threads
 * of the same process on cores 1..S (so the unmap must reach their TLBs; arm64 Linux does it
 * with broadcast TLBI, not IPIs). Only the munmap call is timed.
 * usage: munmap S KEY N
 */
#include "peer.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return fprintf(stderr, "usage: munmap S KEY N\n"), 2;
	long n = atol(argv[3]);
	int r = rounds();
	uint64_t total[MAX_ROUNDS];
	pin(0);
	spinners_start(atoi(argv[1]));
	for (int i = -1; i < r; i++) { /* round -1: the warm-up */
		uint64_t sum = 0;
		for (long k = 0; k < n; k++) {
			volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				die("mmap");
			p[0] = 1;
			uint64_t t0 = ticks();
			if (munmap((void *)p, 4096) != 0)
				die("munmap");
			sum += ticks() - t0;
		}
		if (i >= 0)
			total[i] = sum;
	}
	spinners_stop();
	report(argv[2], n, total, r);
	return 0;
}
