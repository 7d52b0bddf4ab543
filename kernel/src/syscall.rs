//! System calls: decode the registers of the calling thread, check every argument, act, and
//! write the results back. The ABI (numbers, registers, errors) is documented in `abi`.

use crate::arch::exceptions::UserContext;
use crate::arch::psci;
use crate::{board, console, mm, percpu, sched};
use abi::{Error, InfoKey, Syscall};

/// What a syscall did to its caller.
enum Outcome {
    /// Return to the caller with `x1..x3`.
    Return([u64; 3]),
    /// The caller blocked (its results are written when it is woken) or ended.
    NoReturn,
}

/// Handles the syscall of the thread running on this core.
pub fn handle(k: &mut sched::Guard) {
    let core = percpu::core_id();
    let Some(t) = k.current(core) else { return };
    let (number, args) = (t.ctx.x[8], <[u64; 6]>::try_from(&t.ctx.x[..6]).expect("6 registers"));
    let result = match Syscall::from_number(number) {
        Some(call) => dispatch(k, core, call, args),
        None => Err(Error::InvalidSyscall),
    };
    let Some(t) = k.current_mut(core) else { return };
    write_result(&mut t.ctx, result);
}

fn write_result(ctx: &mut UserContext, result: Result<Outcome, Error>) {
    match result {
        Ok(Outcome::Return(r)) => {
            ctx.x[0] = 0;
            ctx.x[1..4].copy_from_slice(&r);
        }
        Ok(Outcome::NoReturn) => {}
        Err(e) => ctx.x[0] = e as u64,
    }
}

fn ok(r1: u64) -> Result<Outcome, Error> {
    Ok(Outcome::Return([r1, 0, 0]))
}

fn dispatch(k: &mut sched::Guard, core: usize, call: Syscall, a: [u64; 6]) -> Result<Outcome, Error> {
    let me = k.current(core).ok_or(Error::InvalidArgument)?;
    let (my_id, my_vs) = (me.id, me.vspace);
    match call {
        Syscall::Null => ok(0),
        Syscall::DebugWrite => {
            let len = a[1];
            if len > abi::DEBUG_WRITE_MAX {
                return Err(Error::InvalidArgument);
            }
            let mut buf = [0u8; abi::DEBUG_WRITE_MAX as usize];
            let buf = &mut buf[..len as usize];
            k.vspace(my_vs).ok_or(Error::NotFound)?.read_user(a[0], buf)?;
            console::write_user(buf);
            ok(len)
        }
        Syscall::DebugRead => match k.console_read(core) {
            Some(b) => ok(u64::from(b)),
            None => Ok(Outcome::NoReturn),
        },
        Syscall::Yield => {
            k.preempt(core);
            ok(0)
        }
        Syscall::ThreadExit => {
            k.exit_current(core, a[0], false);
            Ok(Outcome::NoReturn)
        }
        Syscall::ThreadSpawn => {
            let (entry, sp, arg, want_core) = (a[0], a[1], a[2], a[3]);
            let vs = k.vspace(my_vs).ok_or(Error::NotFound)?;
            if !vs.is_user_executable(entry) || sp == 0 || sp > abi::USER_VA_END {
                return Err(Error::BadAddress);
            }
            if sp % 16 != 0 {
                return Err(Error::InvalidArgument);
            }
            let target = if want_core == u64::MAX { core } else { want_core as usize };
            let name = alloc::format!("thread-of-{my_id}");
            let id = k.spawn(my_vs, &name, UserContext::new_user(entry, sp, arg), target)?;
            ok(id)
        }
        Syscall::ThreadJoin => match k.join(core, a[0])? {
            Some((code, killed)) => Ok(Outcome::Return([code, killed as u64, 0])),
            None => Ok(Outcome::NoReturn),
        },
        Syscall::SystemInfo => {
            let key = InfoKey::from_number(a[0]).ok_or(Error::InvalidArgument)?;
            ok(match key {
                InfoKey::Cores => k.cores as u64,
                InfoKey::RamMib => board::get().ram_bytes() >> 20,
                InfoKey::FreeFrames => mm::frames::free_frames() as u64,
                InfoKey::CurrentCore => core as u64,
                InfoKey::Ticks => percpu::total_ticks(k.cores),
                InfoKey::ThreadId => my_id,
            })
        }
        Syscall::PowerOff => {
            log::info!("power off requested by thread {my_id}");
            let err = psci::system_off(board::get().psci);
            log::error!("PSCI SYSTEM_OFF failed: {}", err.name());
            Err(Error::Denied)
        }
        Syscall::DebugPanic => {
            if !board::get().cmdline.flag("debug.panic_trigger") {
                return Err(Error::Denied);
            }
            panic!("debug panic trigger pulled by thread {my_id}");
        }
    }
}
