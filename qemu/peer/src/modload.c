/*
 * modload - insmod_rmmod_small: finit_module + delete_module of one small module (no
 * dependencies, nothing depends on it), per cycle, on core 0.
 * usage: modload FILE.ko NAME N
 */
#include "peer.h"
#include <fcntl.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return fprintf(stderr, "usage: modload FILE.ko NAME N\n"), 2;
	long n = atol(argv[3]);
	int r = rounds(), fd = open(argv[1], O_RDONLY);
	uint64_t total[MAX_ROUNDS];
	if (fd < 0)
		die(argv[1]);
	pin(0);
	for (int i = -1; i < r; i++) { /* round -1: the warm-up, with the first load */
		uint64_t t0 = ticks();
		for (long k = 0; k < n; k++) {
			if (syscall(SYS_finit_module, fd, "", 0) != 0)
				die("finit_module");
			if (syscall(SYS_delete_module, argv[2], O_NONBLOCK) != 0)
				die("delete_module");
		}
		if (i >= 0)
			total[i] = ticks() - t0;
	}
	report("insmod_rmmod_small", n, total, r);
	return 0;
}
