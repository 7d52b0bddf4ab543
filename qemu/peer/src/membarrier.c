/*
 * membarrier - membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) on core 0 (registered first),
 * with S spinning threads of the same process on cores 1..S (0: the other cores idle).
 * usage: membarrier S KEY N
 */
#include "peer.h"
#include <linux/membarrier.h>
#include <sys/syscall.h>

static long membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return fprintf(stderr, "usage: membarrier S KEY N\n"), 2;
	long n = atol(argv[3]);
	int r = rounds();
	uint64_t total[MAX_ROUNDS];
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
		die("membarrier register");
	pin(0);
	spinners_start(atoi(argv[1]));
	for (int i = -1; i < r; i++) { /* round -1: the warm-up */
		uint64_t t0 = ticks();
		for (long k = 0; k < n; k++)
			if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
				die("membarrier");
		if (i >= 0)
			total[i] = ticks() - t0;
	}
	spinners_stop();
	report(argv[2], n, total, r);
	return 0;
}
