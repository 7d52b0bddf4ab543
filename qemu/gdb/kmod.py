# GDB extension for this kernel and its modules (loaded by `just gdb`; from a plain GDB:
# `source qemu/gdb/kmod.py` after `file` and `target remote`, see the README).
#
# It keeps GDB's symbol files in step with the modules the module server has loaded, at their
# real (randomized) load addresses, adding and removing them as modules come and go:
#   - the list of loaded modules is the kernel's KERNEL_DEBUG_IMAGES (kernel/src/debug.rs: a
#     #[repr(C)] table, mapped in every address space, so it can be read wherever a core is
#     stopped); the module server reports each module after mapping it and before unmapping it;
#   - a silent internal breakpoint on kernel_debug_images_changed (called after every change)
#     resynchronises; so does any stop whose list generation differs from the last one seen;
#   - each module's ELF is found by its GNU build-id among the unstripped ELFs of the build
#     (target/aarch64-unknown-none/release) and the directory EXTRA_MODULES names.
#
# Commands (each has `help`): mod-list, mod-sync, core-info, mod-break.

import os
import struct

import gdb

ENTRY_FORMAT = "<QQ" + "QQQQQ32sQ32s"  # used, asid, then abi::DebugImage
ENTRY_BYTES = struct.calcsize(ENTRY_FORMAT)
HEADER_FORMAT = "<4Q"  # magic, version, generation, capacity
HEADER_BYTES = struct.calcsize(HEADER_FORMAT)
MAGIC = struct.unpack("<Q", b"KMODLIST")[0]
STATES = {1: "loading", 2: "live", 3: "unloading", 4: "failed"}
KERNEL_BASE = 0xFFFF000000000000  # the kernel's half of the address space (TTBR1)
SERVER_ID = 0  # the module server reports itself with id 0 (its symbols come from `just gdb`)

def _write(text):
    """gdb.write, flushed: GDB buffers its output when it is a pipe (a script or the harness
    reading it would otherwise see half a table until the next prompt)."""
    gdb.write(text)
    gdb.flush()


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _search_dirs():
    dirs = [os.path.join(ROOT, "target", "aarch64-unknown-none", "release")]
    extra = os.environ.get("EXTRA_MODULES")
    if extra:
        dirs.append(os.path.abspath(extra))
    return dirs


def build_id_of(path):
    """The GNU build-id of an ELF64 little-endian file, as hex, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    if shentsize != 64 or shoff + shnum * 64 > len(data):
        return None
    for i in range(shnum):
        sh_type, = struct.unpack_from("<I", data, shoff + i * 64 + 4)
        if sh_type != 7:  # SHT_NOTE
            continue
        off, size = struct.unpack_from("<QQ", data, shoff + i * 64 + 0x18)
        at, end = off, min(off + size, len(data))
        while at + 12 <= end:
            namesz, descsz, kind = struct.unpack_from("<III", data, at)
            name = data[at + 12:at + 12 + namesz]
            desc_at = at + 12 + ((namesz + 3) & ~3)
            if kind == 3 and name == b"GNU\0":
                return data[desc_at:desc_at + descsz].hex()
            at = desc_at + ((descsz + 3) & ~3)
    return None


class Elves:
    """ELF files by build-id, rescanned when a build-id is not found."""

    def __init__(self):
        self.by_id = {}
        self.seen = {}

    def find(self, build_id):
        if build_id not in self.by_id:
            self.scan()
        return self.by_id.get(build_id)

    def scan(self):
        for d in _search_dirs():
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                p = os.path.join(d, n)
                if not os.path.isfile(p) or n.endswith((".d", ".rlib", ".rmeta")):
                    continue
                stamp = os.stat(p).st_mtime_ns
                if self.seen.get(p) == stamp:
                    continue
                self.seen[p] = stamp
                bid = build_id_of(p)
                if bid:
                    self.by_id[bid] = p


class Image:
    def __init__(self, raw):
        (self.used, self.asid, self.id, self.base, self.size, state, name_len, name, bid_len,
         bid) = struct.unpack(ENTRY_FORMAT, raw)
        self.state = STATES.get(state, str(state))
        self.name = name[:min(name_len, 32)].decode("utf-8", "replace")
        self.build_id = bid[:min(bid_len, 32)].hex()

    def key(self):
        return (self.id, self.base, self.build_id)


def _inferior():
    return gdb.selected_inferior()


_LIST_ADDRESS = []


def list_address():
    """The address of KERNEL_DEBUG_IMAGES (its debug-info name is namespaced; the linker
    symbol is not), looked up once."""
    if not _LIST_ADDRESS:
        try:
            addr = int(gdb.parse_and_eval("&kernel::debug::KERNEL_DEBUG_IMAGES"))
        except gdb.error:
            text = gdb.execute("info address KERNEL_DEBUG_IMAGES", to_string=True)
            addr = int(text.split(" at address ")[1].split()[0].rstrip("."), 16)
        _LIST_ADDRESS.append(addr)
    return _LIST_ADDRESS[0]


def read_list():
    """(generation, [Image]) from the kernel, or None if it cannot be read now."""
    try:
        addr = list_address()
        head = bytes(_inferior().read_memory(addr, HEADER_BYTES))
        magic, version, generation, capacity = struct.unpack(HEADER_FORMAT, head)
        if magic != MAGIC or version != 1 or capacity > 4096:
            return None
        raw = bytes(_inferior().read_memory(addr + HEADER_BYTES, capacity * ENTRY_BYTES))
    except (gdb.error, gdb.MemoryError, RuntimeError, IndexError, ValueError):
        return None
    images = []
    for i in range(capacity):
        img = Image(raw[i * ENTRY_BYTES:(i + 1) * ENTRY_BYTES])
        if img.used == 1:
            images.append(img)
    return generation, images


class State:
    def __init__(self):
        self.elves = Elves()
        self.loaded = {}  # id -> (key, path or None)
        self.images = []
        self.generation = None
        self.verbose = True

    def say(self, text):
        if self.verbose:
            _write("[kmod] " + text + "\n")

    def sync(self, force=False):
        got = read_list()
        if got is None:
            return False
        generation, images = got
        if generation == self.generation and not force:
            return True
        self.generation, self.images = generation, images
        now = {img.id: img for img in images if img.id != SERVER_ID}
        for mid, (key, path) in list(self.loaded.items()):
            img = now.get(mid)
            if img is None or img.key() != key:
                if path:
                    gdb.execute("remove-symbol-file -a 0x%x" % key[1], to_string=True)
                    self.say("symbols of module %d removed (base 0x%x)" % (mid, key[1]))
                del self.loaded[mid]
        for mid, img in now.items():
            if mid in self.loaded:
                continue
            path = self.elves.find(img.build_id) if img.build_id else None
            if path:
                gdb.execute("add-symbol-file %s -o 0x%x" % (path, img.base), to_string=True)
                self.say("symbols of %s (module %d) added at 0x%x from %s" % (img.name, mid, img.base, path))
            else:
                why = "no build-id" if not img.build_id else "no ELF with build-id " + img.build_id
                self.say("module %s (%d) at 0x%x: %s" % (img.name, mid, img.base, why))
            self.loaded[mid] = (img.key(), path)
        return True

    def by_name(self, name):
        for img in self.images:
            if img.name == name:
                return img
        return None

    def by_asid(self, asid):
        for img in self.images:
            if img.asid == asid:
                return img
        return None


STATE = State()


class ChangedHook(gdb.Breakpoint):
    """Silent: resynchronises and lets the target run on."""

    def __init__(self):
        super().__init__("kernel_debug_images_changed", internal=True)
        self.silent = True

    def stop(self):
        try:
            STATE.sync()
        except gdb.error as e:
            _write("[kmod] resync failed: %s\n" % e)
        return False


def on_stop(_event):
    try:
        STATE.sync()
    except gdb.error:
        pass


def ttbr0():
    for reg in ("$TTBR0_EL1", "$ttbr0_el1"):
        try:
            return int(gdb.parse_and_eval(reg)) & 0xFFFFFFFFFFFFFFFF
        except gdb.error:
            continue
    return None


def current_asid():
    t = ttbr0()
    return None if t is None else t >> 48


class ModList(gdb.Command):
    """mod-list: the modules loaded now (name, instance id, base, state, ASID, ELF path).
Read from the kernel's KERNEL_DEBUG_IMAGES; symbols follow it automatically."""

    def __init__(self):
        super().__init__("mod-list", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if not STATE.sync():
            _write("mod-list: the kernel's module list cannot be read here\n")
            return
        _write("%-16s %4s %-18s %-9s %5s  %s\n" % ("name", "id", "base", "state", "asid", "ELF"))
        for img in sorted(STATE.images, key=lambda i: i.id):
            if img.id == SERVER_ID:
                path = "(the module server: symbols from `just gdb`)"
            else:
                path = STATE.loaded.get(img.id, (None, None))[1] or "(no ELF with build-id %s)" % (img.build_id or "-")
            _write("%-16s %4d 0x%016x %-9s %5d  %s\n" % (img.name, img.id, img.base, img.state, img.asid, path))
        _write("%d modules\n" % len([i for i in STATE.images if i.id != SERVER_ID]))


class ModSync(gdb.Command):
    """mod-sync: read the kernel's module list again and add or remove module symbols now."""

    def __init__(self):
        super().__init__("mod-sync", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if STATE.sync(force=True):
            _write("mod-sync: %d modules, generation %d\n" % (len(STATE.images), STATE.generation))
        else:
            _write("mod-sync: the kernel's module list cannot be read here\n")


def _per_cpu_thread(core):
    try:
        v = gdb.parse_and_eval("kernel::percpu::PER_CPU")[core]["current_thread"]["v"]["value"]
        return int(v)
    except gdb.error:
        return None


class CoreInfo(gdb.Command):
    """core-info: for each core, its exception level, the thread it runs (kernel object id),
that thread's module or program (by the ASID in TTBR0_EL1), the ASID, and pc as a symbol."""

    def __init__(self):
        super().__init__("core-info", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        STATE.sync()
        selected = gdb.selected_thread()
        try:
            for t in sorted(_inferior().threads(), key=lambda t: t.num):
                t.switch()
                core = t.num - 1
                frame = gdb.newest_frame()
                pc = frame.pc()
                try:
                    el = (int(gdb.parse_and_eval("$cpsr")) >> 2) & 3
                except gdb.error:
                    el = "?"
                asid = current_asid()
                thread = _per_cpu_thread(core)
                img = STATE.by_asid(asid) if asid else None
                if img is not None:
                    owner = "module-server" if img.id == SERVER_ID else "module " + img.name
                elif asid == 0 or thread == 0:
                    owner = "idle (no user address space)"
                else:
                    owner = "a program without a module entry"
                sym = frame.name() or "??"
                _write("core %d: EL%s thread %s %s asid %s pc 0x%x %s\n" % (
                    core, el, "0x%x" % thread if thread else "-", owner,
                    "?" if asid is None else asid, pc, sym))
        finally:
            selected.switch()


class ModBreakpoint(gdb.Breakpoint):
    """Stops only when the module's address space is the one running."""

    def __init__(self, spec, module):
        super().__init__(spec)
        self.module = module

    def stop(self):
        img = STATE.by_name(self.module)
        if img is None:
            return False
        asid = current_asid()
        return asid is None or asid == img.asid


class ModBreak(gdb.Command):
    """mod-break MODULE LOCATION: a breakpoint at LOCATION (a function, FILE:LINE, or +OFFSET
from the module's base) in module MODULE that stops only while MODULE's address space runs
(its ASID in TTBR0_EL1): QEMU matches breakpoints on the virtual pc in every address space.
LOCATION may also be in the kernel: `mod-break hello kernel::syscall::handle` stops only in
the system calls hello makes."""

    def __init__(self):
        super().__init__("mod-break", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: mod-break MODULE LOCATION")
        name, location = parts
        STATE.sync()
        img = STATE.by_name(name)
        if img is None:
            raise gdb.GdbError("mod-break: no module named %s is loaded (mod-list)" % name)
        if location.startswith("+"):
            pcs = [img.base + int(location[1:], 0)]
        else:
            try:
                sals = gdb.decode_line(location)[1] or []
            except gdb.error as e:
                raise gdb.GdbError("mod-break: %s" % e)
            pcs = sorted({s.pc for s in sals if img.base <= s.pc < img.base + img.size or s.pc >= KERNEL_BASE})
        if not pcs:
            raise gdb.GdbError("mod-break: %s is neither inside %s (0x%x..0x%x) nor in the kernel" % (
                location, name, img.base, img.base + img.size))
        for pc in pcs:
            bp = ModBreakpoint("*0x%x" % pc, name)
            _write("mod-break: breakpoint %d at 0x%x in %s, only in its address space (asid %d)\n" % (
                bp.number, pc, name, img.asid))


ModList()
ModSync()
CoreInfo()
ModBreak()
ChangedHook()
gdb.events.stop.connect(on_stop)
if STATE.sync():
    _write("[kmod] %d modules loaded (mod-list, core-info, mod-break, mod-sync)\n" % len(
        [i for i in STATE.images if i.id != SERVER_ID]))
else:
    _write("[kmod] ready; the module list is read at the next stop (mod-list, core-info, mod-break)\n")
