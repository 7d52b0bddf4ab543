//! Starting QEMU and talking to it over its serial console.

use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::ChildGuard;
use crate::scenario::MemSize;
use crate::stream::Stream;

/// How long [`Qemu::stop`] waits for the last output once QEMU has been killed.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The machine to boot.
pub struct Machine<'a> {
    pub kernel: &'a Path,
    pub smp: u32,
    pub mem: &'a MemSize,
    /// The kernel command line (`-append`).
    pub append: Option<&'a str>,
    /// Start halted with a gdbstub on this port of 127.0.0.1.
    pub gdb_port: Option<u16>,
    /// Extra arguments, added last.
    pub extra_args: &'a [String],
}

impl Machine<'_> {
    /// QEMU's arguments (without the program name).
    pub fn arguments(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-M",
            "virt,gic-version=3",
            "-cpu",
            "cortex-a72",
            "-smp",
            &self.smp.to_string(),
            "-m",
            &self.mem.text,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            // No network: the kernel drives none, and the default NIC needs a ROM file that
            // Debian's qemu-system-arm only recommends.
            "-nic",
            "none",
            "-kernel",
            &self.kernel.to_string_lossy(),
        ]
        .map(String::from)
        .into();
        if let Some(append) = self.append {
            args.extend(["-append".to_string(), append.to_string()]);
        }
        if let Some(port) = self.gdb_port {
            // -S: do not start the CPUs until the debugger says so.
            args.extend(["-S".into(), "-gdb".into(), format!("tcp:127.0.0.1:{port}")]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A running QEMU. Dropping it kills QEMU.
pub struct Qemu {
    process: ChildGuard,
    /// The serial console's input; `None` once closed.
    stdin: Option<ChildStdin>,
    /// The serial console's output (QEMU's stdout).
    pub serial: Arc<Stream>,
    /// QEMU's own messages (its stderr), kept apart from the serial output.
    pub stderr: Arc<Stream>,
}

impl Qemu {
    /// Starts `program` with `args`, with the serial console on its stdin and stdout.
    /// With `echo`, serial output is also printed live after that prefix.
    pub fn start(program: &Path, args: &[String], echo: Option<String>) -> io::Result<Qemu> {
        let mut process = ChildGuard::spawn(
            Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()),
        )?;
        let stdin = process.take_stdin();
        let stdout = process.take_stdout().expect("stdout is piped");
        let stderr = process.take_stderr().expect("stderr is piped");
        Ok(Qemu { process, stdin, serial: Stream::spawn(stdout, echo), stderr: Stream::spawn(stderr, None) })
    }

    /// Writes `bytes` to the serial console.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "console closed"))?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// Waits for QEMU to exit and returns its status. Call it once the serial output has
    /// closed (QEMU closes it by exiting), or it blocks until QEMU exits.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.process.wait()
    }

    /// Kills QEMU if it still runs, then gives the reader threads a moment to collect the
    /// last of its output.
    pub fn stop(&mut self) {
        self.stdin = None;
        self.process.kill();
        let deadline = Instant::now() + DRAIN_GRACE;
        self.serial.wait_closed(deadline);
        self.stderr.wait_closed(deadline);
    }
}

/// Finds a free TCP port on 127.0.0.1 for the gdbstub, by binding port 0 and letting go.
///
/// Another program could take the port before QEMU does; that is unlikely enough here.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A command line as one string that a POSIX shell would split back into the same words.
pub fn shell_command_line(program: &Path, args: &[String]) -> String {
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().cloned())
        .map(|word| shell_quote(&word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes `word` for a POSIX shell when it needs quoting.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let mem = MemSize::parse("1G").unwrap();
        let extra = vec!["-d".to_string(), "int".to_string()];
        let machine = Machine {
            kernel: Path::new("target/kernel"),
            smp: 2,
            mem: &mem,
            append: Some("log=debug quiet"),
            gdb_port: Some(1234),
            extra_args: &extra,
        };
        let args = machine.arguments();
        assert_eq!(
            shell_command_line(Path::new("qemu-system-aarch64"), &args),
            "qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -smp 2 -m 1G \
             -display none -monitor none -serial stdio -no-reboot -nic none -kernel target/kernel \
             -append 'log=debug quiet' -S -gdb tcp:127.0.0.1:1234 -d int"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a-b"), "a-b");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn free_port_is_not_zero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
