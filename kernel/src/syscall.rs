//! System calls: decode the registers of the calling thread, check every argument, act, and
//! write the results back. The ABI (numbers, registers, errors) is documented in `abi`.

use crate::arch::{exceptions::UserContext, psci, timer};
use crate::object::Object;
use crate::object::{ObjId, State};
use crate::sched::Kernel;
use crate::{board, console, cspace, mm, percpu, sched};
use abi::{Authority, Error, InfoKey, ObjectType, Registers, Rights, Syscall};
use core::sync::atomic::Ordering;

/// What a syscall did to its caller.
pub enum Outcome {
    /// Return success with the first `n` of `x1..x7` set to these values (the rest keep theirs).
    Return(usize, [u64; 7]),
    /// The results (and `x0`) are already in the caller's registers.
    Written,
    /// The caller blocked or stopped: its results are written when it is woken.
    Blocked,
    /// The call stopped part-way to let an interrupt in (a preempted `CapRevoke`): the caller
    /// redoes it when it next runs, and the redo goes on where this one stopped.
    Restart,
}

fn ok(r1: u64) -> Result<Outcome, Error> {
    Ok(Outcome::Return(1, [r1, 0, 0, 0, 0, 0, 0]))
}

fn done() -> Result<Outcome, Error> {
    Ok(Outcome::Return(0, [0; 7]))
}

/// Handles the syscall of the thread running on this core.
pub fn handle(k: &mut sched::Guard) {
    let core = percpu::core_id();
    let Some(me) = k.current_id(core) else { return };
    let Some(t) = k.objects.tcb_mut(me) else { return };
    if t.state != State::Running {
        // Stopped by another core while entering: the syscall runs when it is resumed.
        t.restart_syscall();
        return;
    }
    let (number, a) = (t.ctx.x[8], <[u64; 8]>::try_from(&t.ctx.x[..8]).expect("8 registers"));
    let result = match Syscall::from_number(number) {
        Some(call) => dispatch(k, core, me, call, a),
        None => Err(Error::InvalidSyscall),
    };
    // The caller may have been destroyed (it deleted its own TCB); then there is nothing to write.
    let Some(t) = k.objects.tcb_mut(me) else { return };
    if matches!(result, Ok(Outcome::Restart)) {
        t.restart_syscall();
        return;
    }
    write_result(&mut t.ctx, result);
}

fn write_result(ctx: &mut UserContext, result: Result<Outcome, Error>) {
    match result {
        Ok(Outcome::Return(n, r)) => {
            ctx.x[0] = 0;
            ctx.x[1..1 + n].copy_from_slice(&r[..n]);
        }
        Ok(Outcome::Written | Outcome::Blocked | Outcome::Restart) => {}
        Err(e) => ctx.x[0] = e as u64,
    }
}

fn dispatch(k: &mut Kernel, core: usize, me: ObjId, call: Syscall, a: [u64; 8]) -> Result<Outcome, Error> {
    let cspace = k.objects.tcb(me).and_then(|t| t.cspace);
    match call {
        Syscall::Null => ok(0),
        Syscall::DebugWrite => {
            authority(k, cspace, a[2], Authority::Console, Rights::WRITE)?;
            let len = a[1];
            if len > abi::DEBUG_WRITE_MAX {
                return Err(Error::InvalidArgument);
            }
            let mut buf = [0u8; abi::DEBUG_WRITE_MAX as usize];
            let buf = &mut buf[..len as usize];
            my_vspace(k, me)?.read_user(a[0], buf)?;
            console::queue_user(buf); // written once the kernel lock is released
            ok(len)
        }
        Syscall::DebugRead => {
            authority(k, cspace, a[0], Authority::Console, Rights::READ)?;
            match k.console_read(core) {
                Some(b) => ok(u64::from(b)),
                None => Ok(Outcome::Blocked),
            }
        }
        Syscall::Yield => {
            k.preempt(core);
            done()
        }
        Syscall::ThreadExit => {
            k.stop(me);
            if let Some(t) = k.objects.tcb_mut(me) {
                t.exit_code = a[0];
            }
            Ok(Outcome::Blocked)
        }
        Syscall::SystemInfo => {
            let key = InfoKey::from_number(a[0]).ok_or(Error::InvalidArgument)?;
            if matches!(key, InfoKey::FreeFrames | InfoKey::Ticks) {
                authority(k, cspace, a[1], Authority::Debug, Rights::NONE)?;
            }
            ok(match key {
                InfoKey::Cores => k.cores as u64,
                InfoKey::RamMib => board::get().ram_bytes() >> 20,
                InfoKey::FreeFrames => mm::frames::free_frames() as u64,
                InfoKey::CurrentCore => core as u64,
                InfoKey::Ticks => percpu::total_ticks(k.cores),
                InfoKey::ThreadId => me.0,
                InfoKey::CounterHz => timer::frequency(),
            })
        }
        Syscall::PowerOff => {
            authority(k, cspace, a[0], Authority::Power, Rights::NONE)?;
            log::info!("power off requested by thread {:#x}", me.0);
            let err = psci::system_off(board::get().psci);
            log::error!("PSCI SYSTEM_OFF failed: {}", err.name());
            Err(Error::Denied)
        }
        Syscall::DebugPanic => {
            authority(k, cspace, a[0], Authority::Debug, Rights::NONE)?;
            if !board::get().cmdline.flag("debug.panic_trigger") {
                return Err(Error::Denied);
            }
            panic!("debug panic trigger pulled by thread {:#x}", me.0);
        }

        Syscall::Send => k.send(core, a[0], true, false),
        Syscall::NbSend => k.send(core, a[0], false, false),
        Syscall::Call => k.send(core, a[0], true, true),
        Syscall::Recv => k.recv(core, a[0], true),
        Syscall::NbRecv => k.recv(core, a[0], false),
        Syscall::Reply => k.reply(core),
        Syscall::ReplyRecv => k.reply_recv(core, a[0]),
        Syscall::Signal => k.signal(core, a[0]),
        Syscall::Wait => k.wait(core, a[0], true),
        Syscall::Poll => k.wait(core, a[0], false),

        Syscall::CapCopy => k.cap_derive(cspace, a[0], a[1], None).and_then(|_| done()),
        Syscall::CapMint => k.cap_derive(cspace, a[0], a[1], Some((a[2], a[3]))).and_then(|_| done()),
        Syscall::CapMove => k.cap_move(cspace, a[0], a[1]).and_then(|_| done()),
        Syscall::CapDelete => k.cap_delete(cspace, a[0]).and_then(|_| done()),
        Syscall::CapRevoke => match k.cap_revoke(cspace, a[0], me)? {
            Some(n) => ok(n),
            None => Ok(Outcome::Restart),
        },
        Syscall::Sleep => {
            let now = timer::counter();
            if a[0] <= now {
                return ok(now);
            }
            k.sleep(core, a[0]);
            Ok(Outcome::Blocked)
        }
        Syscall::CapInfo => {
            let r = k.cap_info(cspace, a[0])?;
            Ok(Outcome::Return(7, r))
        }
        Syscall::Create => k.create(cspace, a[0], a[1], a[2], a[3], a[4], core).and_then(|_| done()),
        Syscall::QuotaInfo => {
            let (f, b) = k.quota_info(cspace, a[0])?;
            Ok(Outcome::Return(2, [f, b, 0, 0, 0, 0, 0]))
        }
        Syscall::FrameMap => k.frame_map(cspace, a[0], a[1], a[2], a[3]).and_then(|_| done()),
        Syscall::FrameUnmap => k.frame_unmap(cspace, a[0]).and_then(|_| done()),
        Syscall::VSpaceUnmap => k.vspace_unmap(cspace, a[0], a[1], a[2]).and_then(ok),
        Syscall::Sync => {
            authority(k, cspace, a[0], Authority::Sync, Rights::NONE)?;
            match crate::sync::sync_all(k.cores) {
                Ok(cores) => ok(cores),
                Err(late) => {
                    // The error path writes only `r0`: `r1` names the cores that did not answer.
                    if let Some(t) = k.objects.tcb_mut(me) {
                        t.ctx.x[1] = late;
                    }
                    Err(Error::NoResponse)
                }
            }
        }
        Syscall::DebugImage => {
            authority(k, cspace, a[0], Authority::Debug, Rights::NONE)?;
            match a[1] {
                abi::DEBUG_IMAGE_SET => {
                    let vs = k.lookup_typed(cspace, a[2], ObjectType::VSpace, Rights::NONE)?.obj;
                    let asid = k.objects.vspace(vs).ok_or(Error::WrongType)?.asid();
                    let mut bytes = [0u8; abi::DebugImage::BYTES];
                    my_vspace(k, me)?.read_user(a[3], &mut bytes)?;
                    let image = abi::DebugImage::from_bytes(&bytes).ok_or(Error::InvalidArgument)?;
                    crate::debug::set(image, asid).and_then(|()| done())
                }
                abi::DEBUG_IMAGE_REMOVE => crate::debug::remove(a[2]).and_then(|()| done()),
                _ => Err(Error::InvalidArgument),
            }
        }
        Syscall::DebugStall => {
            authority(k, cspace, a[0], Authority::Debug, Rights::NONE)?;
            // A test hook that stops a core: only on a kernel booted for such tests.
            if !board::get().cmdline.flag("debug.stall") {
                return Err(Error::Denied);
            }
            if a[1] > abi::STALL_MAX_US {
                return Err(Error::InvalidArgument);
            }
            let ticks = a[1].saturating_mul(timer::frequency()) / 1_000_000;
            if ticks > 0 {
                percpu::this().stall_until.store(timer::counter().saturating_add(ticks), Ordering::Relaxed);
            }
            done()
        }

        Syscall::KernelCheck => {
            authority(k, cspace, a[0], Authority::Debug, Rights::NONE)?;
            // Leftovers of a preempted revoke are finished first (unbudgeted: a debug call), so
            // the check never reports them as objects that should have been destroyed.
            k.drain_reap_queue();
            let stats = crate::selfcheck::run(k);
            if a[1] != 0 {
                let mut bytes = [0u8; abi::KernelStats::BYTES];
                for (chunk, w) in bytes.chunks_exact_mut(8).zip(stats.to_words()) {
                    chunk.copy_from_slice(&w.to_le_bytes());
                }
                my_vspace(k, me)?.write_user(a[1], &bytes)?;
            }
            ok(stats.violations)
        }
        Syscall::TcbConfigure => tcb_configure(k, cspace, a),
        Syscall::TcbSetPriority => {
            let t = tcb(k, cspace, a[0], Rights::WRITE)?;
            let my_prio = k.objects.tcb(me).map_or(0, |m| m.prio);
            if a[1] >= abi::PRIORITIES {
                return Err(Error::InvalidArgument);
            }
            if a[1] > u64::from(my_prio) {
                return Err(Error::Denied);
            }
            k.requeue(t, |t| t.prio = a[1] as u8);
            done()
        }
        Syscall::TcbSetAffinity => {
            let t = tcb(k, cspace, a[0], Rights::WRITE)?;
            if a[1] >= k.cores as u64 {
                return Err(Error::InvalidArgument);
            }
            k.requeue(t, |t| t.core = a[1] as usize);
            done()
        }
        Syscall::TcbResume => {
            let t = tcb(k, cspace, a[0], Rights::WRITE)?;
            let th = k.objects.tcb(t).expect("typed");
            if th.cspace.is_none() || th.vspace.is_none() {
                return Err(Error::InvalidArgument);
            }
            if th.state == State::Inactive {
                k.make_runnable(t);
            }
            done()
        }
        Syscall::TcbSuspend => {
            let t = tcb(k, cspace, a[0], Rights::WRITE)?;
            let remote = k.stop(t);
            if t == me {
                // It suspended itself: x0 reads "success" when it is resumed (it is not in a
                // syscall the kernel would redo).
                if let Some(m) = k.objects.tcb_mut(me) {
                    m.ctx.x[0] = 0;
                }
                Ok(Outcome::Blocked)
            } else if remote.is_some() {
                // Woken with success once the other core has let it go; if it is suspended
                // meanwhile, it redoes this syscall with its arguments intact.
                k.wait_for_stop(core, t);
                Ok(Outcome::Blocked)
            } else {
                done()
            }
        }
        Syscall::TcbReadRegisters => {
            let t = tcb(k, cspace, a[0], Rights::READ)?;
            let th = k.objects.tcb(t).expect("typed");
            if th.on_core.is_some() {
                return Err(Error::Busy);
            }
            let c = &th.ctx;
            let mut r = Registers { x: c.x, sp: c.sp, pc: c.pc, pstate: c.spsr, tpidr: c.tpidr };
            if t == me {
                r.x[0] = 0;
            }
            let bytes = registers_bytes(&r);
            my_vspace(k, me)?.write_user(a[1], &bytes)?;
            done()
        }
        Syscall::TcbWriteRegisters => {
            let t = tcb(k, cspace, a[0], Rights::WRITE)?;
            // Only an inactive thread off every core: the kernel owns a blocked thread's
            // registers (its message, its syscall to restart) and a running one's.
            let th = k.objects.tcb(t).expect("typed");
            if th.state != State::Inactive || th.on_core.is_some() {
                return Err(Error::Busy);
            }
            let mut bytes = [0u8; core::mem::size_of::<Registers>()];
            my_vspace(k, me)?.read_user(a[1], &mut bytes)?;
            let r = registers_from_bytes(&bytes);
            let th = k.objects.tcb_mut(t).expect("typed");
            th.revoked = 0; // a restarted revoke's count does not carry over to new registers
            let c = &mut th.ctx;
            c.x = r.x;
            c.sp = r.sp;
            c.pc = r.pc;
            c.tpidr = r.tpidr;
            c.spsr = r.pstate & 0xf000_0000; // flags only: always EL0t, interrupts unmasked
            done()
        }
    }
}

fn my_vspace(k: &Kernel, me: ObjId) -> Result<&mm::vspace::VSpace, Error> {
    let vs = k.objects.tcb(me).and_then(|t| t.vspace).ok_or(Error::BadAddress)?;
    k.objects.vspace(vs).ok_or(Error::BadAddress)
}

/// Checks that `cptr` names an authority capability of kind `want` with `rights`: the only way
/// to reach power, the console, the machine-wide sync and the debug facilities.
fn authority(k: &Kernel, cspace: Option<ObjId>, cptr: u64, want: Authority, rights: Rights) -> Result<(), Error> {
    let f = k.lookup_typed(cspace, cptr, ObjectType::Authority, rights)?;
    match k.objects.get(f.obj) {
        Some(Object::Authority(a)) if *a == want => Ok(()),
        _ => Err(Error::WrongType),
    }
}

fn tcb(k: &Kernel, cspace: Option<ObjId>, cptr: u64, rights: Rights) -> Result<ObjId, Error> {
    Ok(k.lookup_typed(cspace, cptr, ObjectType::Tcb, rights)?.obj)
}

fn tcb_configure(k: &mut Kernel, cspace: Option<ObjId>, a: [u64; 8]) -> Result<Outcome, Error> {
    let t = tcb(k, cspace, a[0], Rights::WRITE)?;
    let cs = k.lookup_typed(cspace, a[1], ObjectType::CNode, Rights::NONE)?.obj;
    let vs = k.lookup_typed(cspace, a[2], ObjectType::VSpace, Rights::NONE)?.obj;
    let (ipc_buffer, fault_ep) = (a[3], a[4]);
    if ipc_buffer % abi::PAGE_SIZE != 0 || ipc_buffer >= abi::USER_VA_END {
        return Err(Error::InvalidArgument);
    }
    let th = k.objects.tcb(t).expect("typed");
    if th.state != State::Inactive || th.on_core.is_some() {
        return Err(Error::Busy);
    }
    for held in [cs, vs] {
        k.objects.entry_mut(held).expect("looked up").holds += 1;
    }
    let th = k.objects.tcb_mut(t).expect("typed");
    let old = [th.cspace.replace(cs), th.vspace.replace(vs)];
    th.ipc_buffer = ipc_buffer;
    th.fault_ep = fault_ep;
    for held in old.into_iter().flatten() {
        cspace::release_hold(k, held);
    }
    done()
}

fn registers_bytes(r: &Registers) -> [u8; core::mem::size_of::<Registers>()] {
    let mut out = [0u8; core::mem::size_of::<Registers>()];
    let tail = [r.sp, r.pc, r.pstate, r.tpidr];
    let words = r.x.iter().chain(tail.iter());
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn registers_from_bytes(b: &[u8; core::mem::size_of::<Registers>()]) -> Registers {
    let mut w = [0u64; 35];
    for (word, chunk) in w.iter_mut().zip(b.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    let mut r = Registers { sp: w[31], pc: w[32], pstate: w[33], tpidr: w[34], ..Default::default() };
    r.x.copy_from_slice(&w[..31]);
    r
}
