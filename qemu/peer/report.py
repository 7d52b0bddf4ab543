#!/usr/bin/env python3
"""Reads the peer Linux's serial consoles, prints the table and writes the JSON record.

usage: report.py QEMU_COMMAND_LINE ROUNDS VERSIONS OUT_JSON CONSOLE_LOG [BOOT_ONLY_LOG...]

The guest prints `peer-rec KEY N v1 .. vR` (ns of guest time per operation, one value per round,
= guest instructions under -icount shift=0) and `peer-info NAME VALUE`. The first console has
every figure; each boot (the boot-only ones too) adds one value to `boot`. The keys below are
fixed: our report tool joins on them.
"""
import json
import statistics
import sys

# key -> what one operation is (the `what` of the record), in the order of the table
WHAT = {
    "null_syscall": "getppid by inline svc, core 0, per call",
    "futex_one_core": "futex wait/wake ping-pong, two processes on core 0, per round trip",
    "futex_cross_core": "futex wait/wake ping-pong, two processes on cores 0 and 1, per round trip",
    "pipe_one_core": "1-byte ping-pong over two pipes, two processes on core 0, per round trip",
    "pipe_cross_core": "1-byte ping-pong over two pipes, two processes on cores 0 and 1, per round trip",
    "membarrier_idle": "membarrier PRIVATE_EXPEDITED (registered) on core 0, other cores idle, per call",
    "membarrier_busy": "membarrier PRIVATE_EXPEDITED on core 0, a spinning thread of the process on each other core, per call",
    "munmap_one_core": "munmap of one touched anonymous page (the munmap call alone), no other threads, per op",
    "munmap_all_cores": "munmap of one touched anonymous page (the munmap call alone), a spinning thread of the process on each other core, per op",
    "insmod_rmmod_small": "finit_module + delete_module of nls_utf8.ko (7.5 KiB, no dependencies), core 0, per cycle",
    "boot": "reset to the start of /init: CNTVCT_EL0 read first thing in /init (it counts from reset under QEMU), one value per boot",
}


def fail(message):
    sys.exit(f"error: peer: {message}")


def read_console(path):
    """The figures and facts of one console; fails unless /init finished without a failure."""
    recs, info, done = {}, {}, False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.replace("\r", "").rstrip("\n")
            words = line.split()
            if line.startswith("peer: FAILED"):
                fail(f"{line[len('peer: '):]} (console: {path})")
            elif words[:1] == ["peer-rec"] and len(words) > 3:
                recs[words[1]] = (int(words[2]), [float(v) for v in words[3:]])
            elif words[:1] == ["peer-info"] and len(words) > 1:
                info.setdefault(words[1], " ".join(words[2:]))
            elif line == "peer: done":
                done = True
    if not done:
        fail(f"/init did not finish (a guest panic or a hang?); console: {path}")
    return recs, info


def main():
    qemu, rounds, versions, out = sys.argv[1:5]
    recs, info = read_console(sys.argv[5])
    for path in sys.argv[6:]:
        recs["boot"][1].extend(read_console(path)[0]["boot"][1])
    missing = [k for k in WHAT if k not in recs]
    if missing:
        fail(f"no figure for {', '.join(missing)} (console: {sys.argv[5]})")
    with open(versions) as f:
        package = " ".join(f.readline().split()[:2])
    top = {
        "kernel": f"{package}, uname -r {info.get('uname', '?')}",
        "qemu": qemu,
        "mode": "icount",
        "cores": int(info.get("cores", 0)),
        "rounds": int(rounds),
        "kpti": info.get("kpti", "?"),
        "kaslr": info.get("kaslr", "?"),
        "cmdline": info.get("cmdline", "?"),
        "records": [],
    }
    for key, what in WHAT.items():
        n, values = recs[key]
        top["records"].append({
            "key": key, "what": what, "unit": "instructions", "mode": "icount",
            "cores": top["cores"], "runs": len(values), "iterations": n,
            "median": round(statistics.median(values)), "min": round(min(values)),
            "max": round(max(values)),
        })
    with open(out, "w") as f:
        json.dump(top, f, indent=1)
        f.write("\n")

    print(f"peer: {top['kernel']}; kpti {top['kpti']}, kaslr {top['kaslr']}; "
          f"{top['cores']} cores, -icount shift=0 (guest instructions per operation)")
    print(f"{'figure':<20} {'median':>13} {'min':>13} {'max':>13} {'runs':>4} {'ops':>6}")
    for r in top["records"]:
        print(f"{r['key']:<20} {r['median']:>13,} {r['min']:>13,} {r['max']:>13,} {r['runs']:>4} {r['iterations']:>6}")
    print(f"peer: wrote {out}")


if __name__ == "__main__":
    main()
