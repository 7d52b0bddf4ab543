/*
 * pingpong - round trips between two processes (two address spaces, like our call+reply):
 * the parent on core 0, the child on core B.
 *   futex: one shared word; the parent stores 1 and wakes, then waits while it is 1; the child
 *          waits for 1, stores 2 and wakes. Both sides block in the kernel every time.
 *   pipe:  one byte there through one pipe, back through another.
 * usage: pingpong futex|pipe B KEY N
 */
#include "peer.h"
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static atomic_int *word; /* MAP_SHARED: the same page in both processes */
static int there[2], back[2];

static void futex(int op, int val)
{
	syscall(SYS_futex, (int *)word, op, val, NULL, NULL, 0);
}

static void partner(int use_futex, long trips)
{
	char c;
	for (long k = 0; k < trips; k++) {
		if (use_futex) {
			int v;
			while ((v = atomic_load(word)) != 1)
				futex(FUTEX_WAIT, v);
			atomic_store(word, 2);
			futex(FUTEX_WAKE, 1);
		} else if (read(there[0], &c, 1) != 1 || write(back[1], &c, 1) != 1) {
			die("child pipe");
		}
	}
}

static void trip(int use_futex)
{
	char c = 'x';
	if (use_futex) {
		atomic_store(word, 1);
		futex(FUTEX_WAKE, 1);
		while (atomic_load(word) == 1)
			futex(FUTEX_WAIT, 1);
	} else if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) {
		die("parent pipe");
	}
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return fprintf(stderr, "usage: pingpong futex|pipe B KEY N\n"), 2;
	int use_futex = strcmp(argv[1], "futex") == 0, b = atoi(argv[2]);
	long n = atol(argv[4]);
	int r = rounds(), status;
	uint64_t total[MAX_ROUNDS];

	word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (word == MAP_FAILED || pipe(there) != 0 || pipe(back) != 0)
		die("mmap/pipe");
	pin(0);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		pin(b);
		partner(use_futex, n * (r + 1));
		_exit(0);
	}
	for (int i = -1; i < r; i++) { /* round -1: the warm-up (and the child's pinning) */
		uint64_t t0 = ticks();
		for (long k = 0; k < n; k++)
			trip(use_futex);
		if (i >= 0)
			total[i] = ticks() - t0;
	}
	if (waitpid(child, &status, 0) != child || status != 0)
		die("child");
	report(argv[3], n, total, r);
	return 0;
}
