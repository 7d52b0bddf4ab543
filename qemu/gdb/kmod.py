# GDB extension for this kernel and its modules (loaded by `just gdb`; from a plain GDB:
# `source qemu/gdb/kmod.py` after `file` and `target remote`, see the README).
#
# It keeps GDB's symbol files in step with the modules the module server has loaded, at their
# real (randomized) load addresses, adding and removing them as modules come and go:
#   - the list of loaded modules is the kernel's KERNEL_DEBUG_IMAGES (kernel/src/debug.rs: a
#     #[repr(C)] table in kernel memory, readable through any core stopped in the kernel, and
#     through a core stopped in a module via another one: see KernelView); the module server
#     reports each module after mapping it and before unmapping it;
#   - a silent internal breakpoint on kernel_debug_images_changed (called after every change)
#     resynchronises; so does any stop whose list generation differs from the last one seen;
#   - each module's ELF is found by its GNU build-id among the unstripped ELFs of the build
#     (target/aarch64-unknown-none/release) and the directory EXTRA_MODULES names.
#
# Commands (each has `help`): mod-list, mod-sync, core-info, caps, mod-break.

import os
import re
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
        self.id_of = {}  # path -> the build-id it had when scanned

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
                try:
                    stamp = os.stat(p).st_mtime_ns
                except OSError:
                    continue  # removed meanwhile (a build running)
                if self.seen.get(p) == stamp:
                    continue
                self.seen[p] = stamp
                bid = build_id_of(p)
                old = self.id_of.pop(p, None)
                if old is not None and self.by_id.get(old) == p:
                    del self.by_id[old]  # rebuilt in place: its old build-id is gone
                if bid:
                    self.id_of[p] = bid
                # The first directory wins: the build's unstripped ELF over a stripped copy in
                # EXTRA_MODULES with the same build-id.
                if bid and (bid not in self.by_id or not os.path.isfile(self.by_id[bid])):
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
    """(generation, [Image]) from the kernel, or None if it cannot be read now. Read through a
    core stopped in the kernel when the selected one is in a module (see KernelView)."""
    got = _read_list()
    if got is None and _exception_level() == 0:
        try:
            with KernelView():
                got = _read_list()
        except gdb.GdbError:
            return None
    return got


def _read_list():
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
        self.images = images
        now = {img.id: img for img in images if img.id != SERVER_ID}
        failed = False
        for mid, (key, path) in list(self.loaded.items()):
            img = now.get(mid)
            if img is None or img.key() != key:
                if path:
                    if not self.execute("remove-symbol-file -a 0x%x" % key[1]):
                        failed = True
                        continue  # still loaded: removed at the next try
                    self.say("symbols of module %d removed (base 0x%x)" % (mid, key[1]))
                del self.loaded[mid]
        for mid, img in now.items():
            if mid in self.loaded:
                continue
            path = self.elves.find(img.build_id) if img.build_id else None
            if path:
                if not self.execute('add-symbol-file "%s" -o 0x%x' % (path, img.base)):
                    failed = True
                    continue  # not recorded: tried again at the next stop
                self.say("symbols of %s (module %d) added at 0x%x from %s" % (img.name, mid, img.base, path))
            else:
                why = "no build-id" if not img.build_id else "no ELF with build-id " + img.build_id
                self.say("module %s (%d) at 0x%x: %s" % (img.name, mid, img.base, why))
            self.loaded[mid] = (img.key(), path)
        # After a failure the generation is not recorded, so the next stop tries again.
        self.generation = None if failed else generation
        return True

    def execute(self, command):
        """Runs a GDB command; says why if it fails (a rebuilt or deleted ELF, say)."""
        try:
            gdb.execute(command, to_string=True)
            return True
        except Exception as e:  # noqa: BLE001 - any failure is reported, never raised into GDB
            self.say("`%s` failed: %s" % (command, e))
            return False

    def by_name(self, name):
        """The module listed under `name` (the newest instance, if several)."""
        found = [img for img in self.images if img.name == name and img.id != SERVER_ID]
        return max(found, key=lambda i: i.id) if found else None

    def by_id(self, mid):
        for img in self.images:
            if img.id == mid:
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
        except Exception as e:  # noqa: BLE001 - a silent hook must never stop the target
            _write("[kmod] resync failed: %s\n" % e)
        return False


def on_stop(_event):
    try:
        STATE.sync()
    except Exception as e:  # noqa: BLE001
        _write("[kmod] resync failed: %s\n" % e)


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


def _exception_level():
    try:
        return (int(gdb.parse_and_eval("$cpsr")) >> 2) & 3
    except gdb.error:
        return None


class KernelView:
    """`with KernelView():` reads kernel memory through a core stopped at EL1. QEMU's gdbstub
    reads memory with the stopped core's current privilege, so a core stopped in a module (EL0)
    cannot read the kernel's data; another core, stopped in the kernel, can. The selected
    thread and frame are restored afterwards."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        try:
            self.frame = gdb.selected_frame()
        except gdb.error:
            self.frame = None
        if _exception_level() != 0:
            return self
        for t in sorted(_inferior().threads(), key=lambda t: t.num):
            t.switch()
            if _exception_level() not in (0, None):
                return self
        self.__exit__(None, None, None)
        raise gdb.GdbError("every core is stopped at EL0, where the kernel's memory cannot be read; "
                           "stop one in the kernel first (e.g. `break el0_sync`, continue)")

    def __exit__(self, *exc):
        self.thread.switch()
        if self.frame is not None:
            try:
                self.frame.select()
            except gdb.error:
                pass
        return False


def _per_cpu_thread(core):
    """The thread core `core` runs (the kernel's object id), 0 if none. Call inside a
    KernelView."""
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
        cores = []
        try:
            for t in sorted(_inferior().threads(), key=lambda t: t.num):
                t.switch()
                frame = gdb.newest_frame()
                el = _exception_level()
                cores.append((t.num - 1, "?" if el is None else el, frame.pc(), current_asid(), frame.name() or "??"))
        finally:
            selected.switch()
        try:
            with KernelView():
                threads = {core: _per_cpu_thread(core) for core, *_ in cores}
        except gdb.GdbError:
            threads = {}
        for core, el, pc, asid, sym in cores:
            thread = threads.get(core)
            img = STATE.by_asid(asid) if asid else None
            if img is not None:
                owner = "module-server" if img.id == SERVER_ID else "module " + img.name
            elif asid == 0 or thread == 0:
                owner = "idle (no user address space)"
            else:
                owner = "a program without a module entry"
            _write("core %d: EL%s thread %s %s asid %s pc 0x%x %s\n" % (
                core, el, "0x%x" % thread if thread else "-", owner,
                "?" if asid is None else asid, pc, sym))


class ModBreakpoint(gdb.Breakpoint):
    """Stops only when the module's address space is the one running. A symbolic location (a
    function, FILE:LINE) is GDB's to re-resolve: it goes pending when the module's symbols go
    and resolves at the new base when it is loaded again. A `+OFFSET` one is `pinned` to the
    instance it was set in (`module_id`) and never stops in another."""

    def __init__(self, spec, module, module_id, pinned):
        super().__init__(spec)
        self.module, self.module_id, self.pinned = module, module_id, pinned

    def stop(self):
        img = STATE.by_id(self.module_id) if self.pinned else STATE.by_name(self.module)
        if img is None:
            return False
        asid = current_asid()
        return asid is None or asid == img.asid


class ModBreak(gdb.Command):
    """mod-break MODULE LOCATION: a breakpoint at LOCATION (a function, FILE:LINE, or +OFFSET
from the module's base) in module MODULE that stops only while MODULE's address space runs
(its ASID in TTBR0_EL1): QEMU matches breakpoints on the virtual pc in every address space.
A function or FILE:LINE follows the module: GDB re-resolves it when the module is loaded again
at a new base. A +OFFSET breakpoint belongs to the instance it was set in.
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
            try:
                pc = img.base + int(location[1:], 0)
            except ValueError:
                raise gdb.GdbError("mod-break: %s is not an offset (+0x1a4)" % location)
            if not img.base <= pc < img.base + img.size:
                raise gdb.GdbError("mod-break: %s is past the end of %s (0x%x bytes)" % (location, name, img.size))
            bp = ModBreakpoint("*0x%x" % pc, name, img.id, pinned=True)
            _write("mod-break: breakpoint %d at 0x%x in %s (this instance only), only in its address space (asid %d)\n" % (
                bp.number, pc, name, img.asid))
            return
        else:
            try:
                sals = gdb.decode_line(location)[1] or []
            except gdb.error as e:
                raise gdb.GdbError("mod-break: %s" % e)
            pcs = sorted({s.pc for s in sals if img.base <= s.pc < img.base + img.size or s.pc >= KERNEL_BASE})
        if not pcs:
            raise gdb.GdbError("mod-break: %s is neither inside %s (0x%x..0x%x) nor in the kernel" % (
                location, name, img.base, img.base + img.size))
        bp = ModBreakpoint(location, name, img.id, pinned=False)
        for pc in pcs:
            _write("mod-break: breakpoint %d at 0x%x in %s, only in its address space (asid %d)\n" % (
                bp.number, pc, name, img.asid))


# ---- caps: a thread's CSpace, read from the kernel's object table and derivation tree ----
#
# Read through the debug information's types and field offsets (kernel::sched::KERNEL ->
# Kernel { objects: Objects { chunks: Vec<Box<[Entry; 256]>> }, cdt: Cdt { spaces:
# Vec<Option<Box<[Node]>>> } }); a slot id is (CNode object index << 16) | index.

SPACE_BITS = 16
NIL = 0xFFFFFFFFFFFFFFFF
CHUNK = 256


def _dig(v, prefix, depth=0):
    """The first value inside v (through wrappers: locks, cells, MaybeUninit) whose type
    name starts with prefix."""
    t = v.type.strip_typedefs()
    if str(t).startswith(prefix):
        return v
    if depth > 12 or t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return None
    for f in t.fields():
        try:
            found = _dig(v[f], prefix, depth + 1)
        except gdb.error:
            found = None
        if found is not None:
            return found
    return None


def _vec(v):
    """(address of the first element, length) of a Vec."""
    ptr = _dig(v["buf"], "*mut u8")
    return int(ptr), int(v["len"])


def _u64(addr):
    return struct.unpack("<Q", bytes(_inferior().read_memory(addr, 8)))[0]


def _rights(r):
    return "".join(c if r & b else "-" for c, b in (("r", 1), ("w", 2), ("g", 4), ("x", 8)))


class Caps:
    def __init__(self):
        kernel = _dig(gdb.parse_and_eval("kernel::sched::KERNEL"), "kernel::sched::Kernel")
        if kernel is None:
            raise gdb.GdbError("caps: kernel::sched::KERNEL has no Kernel yet (stop after boot)")
        self.chunks = _vec(kernel["objects"]["chunks"])
        self.spaces = _vec(kernel["cdt"]["spaces"])
        self.entry_t = gdb.lookup_type("kernel::object::Entry")
        self.node_t = gdb.lookup_type("klogic::cdt::Node")

    def entry(self, obj):
        index, generation = obj & 0xFFFFFFFF, obj >> 32
        base, n = self.chunks
        if index // CHUNK >= n:
            return None
        chunk = _u64(base + 8 * (index // CHUNK))
        e = gdb.Value(chunk + (index % CHUNK) * self.entry_t.sizeof).cast(self.entry_t.pointer()).dereference()
        if int(e["generation"]) != generation:
            return None
        return e

    def object(self, obj):
        """(type name, detail text) of object id obj, or None if it is gone."""
        e = self.entry(obj)
        if e is None:
            return None
        text = e["object"].format_string(max_depth=2, max_elements=4)
        m = re.search(r"Object::(\w+)\((.*)\)\)?$", text)
        if not m:
            return None
        return m.group(1), m.group(2)

    def tcb_cspace(self, thread):
        kind = self.object(thread)
        if kind is None or kind[0] != "Tcb":
            raise gdb.GdbError("caps: 0x%x is not a live thread" % thread)
        ptr = int(re.search(r"0x[0-9a-f]+", kind[1]).group(0), 16)
        tcb = gdb.Value(ptr).cast(gdb.lookup_type("kernel::object::tcb::Tcb").pointer()).dereference()
        m = re.search(r"ObjId \((\d+)\)|ObjId\((\d+)\)", tcb["cspace"].format_string())
        return int(m.group(1) or m.group(2)) if m else None

    def nodes(self, space):
        """[(index, node)] of the used slots of CNode space `space`."""
        base, n = self.spaces
        if space >= n:
            return []
        data, length = _u64(base + 16 * space), _u64(base + 16 * space + 8)
        if data == 0:
            return []
        arr = gdb.Value(data).cast(self.node_t.pointer())
        size = self.node_t.sizeof
        raw = bytes(_inferior().read_memory(data, length * size))
        used_off = [f for f in self.node_t.fields() if f.name == "used"][0].bitpos // 8
        out = []
        for i in range(length):
            if raw[i * size + used_off]:
                out.append((i, arr[i]))
        return out


def _slot_name(slot, labels):
    """A slot as a path from the CSpace's root: `5`, or `1391/5` for slot 5 of the CNode
    held in root slot 1391 (`cnode#N:5` for a CNode not reachable from the root)."""
    space, index = slot >> SPACE_BITS, slot & ((1 << SPACE_BITS) - 1)
    if space in labels:
        return labels[space] + "%d" % index
    return "cnode#%d:%d" % (space, index)


class CapsCommand(gdb.Command):
    """caps [THREAD] [TYPE]: the capabilities in THREAD's CSpace (a thread id as the kernel
prints it, e.g. 0x100000358; default: the thread running on the selected core, so `caps` at a
breakpoint in a module shows the module's). One line per used slot: slot, object id, object
type, rights (r w g x), badge, and where it came from in the derivation tree (`copy of SLOT`,
`made from SLOT` for a new object made from a quota, or `root` for boot objects). Slots of
CNodes held in the CSpace follow, as HOLDER/SLOT (slot 5 of the CNode in slot 1391: 1391/5).
TYPE (Endpoint, Frame, CNode, Tcb, ...) lists only capabilities to objects of that type."""

    def __init__(self):
        super().__init__("caps", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        words = arg.split()
        only = None
        if words and not words[-1][:1].isdigit():
            only = words.pop()
        arg = " ".join(words)
        if arg:
            try:
                thread = int(gdb.parse_and_eval(arg))
            except gdb.error as e:
                raise gdb.GdbError("caps: %s" % e)
        else:
            thread = None
        core = gdb.selected_thread().num - 1
        with KernelView():
            self.show(core, thread, only)

    def show(self, core, thread, only):
        if thread is None:
            thread = _per_cpu_thread(core)
            if not thread:
                raise gdb.GdbError("caps: core %d runs no thread now; name one (caps 0x100000358)" % core)
        c = Caps()
        root = c.tcb_cspace(thread)
        if root is None:
            _write("caps: thread 0x%x has no CSpace\n" % thread)
            return
        todo, seen = [root & 0xFFFFFFFF], set()
        labels = {root & 0xFFFFFFFF: ""}
        _write("caps: thread 0x%x, CSpace root CNode 0x%x\n" % (thread, root))
        _write("%-12s %-12s %-12s %-6s %-10s %s\n" % ("slot", "object", "type", "rights", "badge", "derived"))
        total = 0
        while todo:
            space = todo.pop(0)
            if space in seen:
                continue
            seen.add(space)
            for index, node in c.nodes(space):
                cap = node["cap"]
                obj = int(cap["object"])
                kind = c.object(obj)
                kname = kind[0] if kind else "(gone)"
                if kname == "CNode" and (obj & 0xFFFFFFFF) not in labels:
                    labels[obj & 0xFFFFFFFF] = "%s%d/" % (labels.get(space, ""), index)
                    todo.append(obj & 0xFFFFFFFF)
                if only and kname != only:
                    continue
                badge = int(cap["badge"])
                parent = int(node["parent"])
                if parent == NIL:
                    derived = "root"
                else:
                    how = "made from" if bool(node["original"]) else "copy of"
                    derived = "%s %s" % (how, _slot_name(parent, labels))
                rights = int(_dig(cap["rights"], "u8"))
                _write("%-12s 0x%-10x %-12s %-6s %-10s %s\n" % (
                    _slot_name((space << SPACE_BITS) | index, labels), obj, kname, _rights(rights),
                    "0x%x" % badge if badge else "-", derived))
                total += 1
        _write("%d capabilities%s\n" % (total, " to %s objects" % only if only else ""))


ModList()
ModSync()
CapsCommand()
CoreInfo()
ModBreak()
ChangedHook()
gdb.events.stop.connect(on_stop)
if STATE.sync():
    _write("[kmod] %d modules loaded (mod-list, core-info, mod-break, mod-sync)\n" % len(
        [i for i in STATE.images if i.id != SERVER_ID]))
else:
    _write("[kmod] ready; the module list is read at the next stop (mod-list, core-info, mod-break)\n")
