//! Running gdb in batch mode against QEMU's gdbstub (the `gdb` step).

use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::ChildGuard;
use crate::stream::{deadline_after, Stream};

/// How a gdb run ended.
pub enum GdbEnd {
    /// gdb ran to completion.
    Exited(ExitStatus),
    /// gdb was still running at the timeout, and was killed.
    TimedOut,
    /// gdb could not be started (or waited for).
    Error(io::Error),
}

/// The result of one gdb run.
pub struct GdbRun {
    /// gdb's stdout and stderr, interleaved as it wrote them.
    pub output: String,
    pub end: GdbEnd,
}

/// gdb's arguments: batch mode, no init files, load the kernel's symbols, connect to the
/// gdbstub on `port` (retrying for up to 60 s: QEMU may not be listening yet when gdb starts),
/// then run `commands` in order.
pub fn arguments(kernel: &Path, port: u16, commands: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-batch".into(), "-nx".into()];
    let setup = [
        "set pagination off".to_string(),
        "set confirm off".to_string(),
        "set tcp auto-retry on".to_string(),
        "set tcp connect-timeout 60".to_string(),
        format!("file {}", kernel.display()),
        format!("target remote 127.0.0.1:{port}"),
    ];
    for command in setup.iter().chain(commands) {
        args.extend(["-ex".to_string(), command.clone()]);
    }
    args
}

/// Runs `gdb` with [`arguments`] and waits for it to finish, killing it at `timeout`.
pub fn run(gdb: &Path, kernel: &Path, port: u16, commands: &[String], timeout: Duration) -> GdbRun {
    let (mut process, output) = match start(gdb, &arguments(kernel, port, commands)) {
        Ok(started) => started,
        Err(e) => return GdbRun { output: String::new(), end: GdbEnd::Error(e) },
    };
    // gdb's output closes when gdb exits.
    let end = if output.wait_closed(deadline_after(timeout)) {
        process.wait().map_or_else(GdbEnd::Error, GdbEnd::Exited)
    } else {
        process.kill();
        // Let the reader collect what gdb wrote before it was killed.
        output.wait_closed(Instant::now() + Duration::from_secs(1));
        GdbEnd::TimedOut
    };
    GdbRun { output: output.text(), end }
}

/// A gdb session that stays attached while the scenario goes on (`gdb-start`): commands are
/// written to its stdin, its output read into a [`Stream`].
pub struct Live {
    pub process: ChildGuard,
    pub stdin: Option<std::process::ChildStdin>,
    pub output: Arc<Stream>,
}

impl Live {
    /// Starts gdb (not in batch mode: it reads commands from its stdin after the set-up and
    /// `commands`).
    pub fn start(gdb: &Path, kernel: &Path, port: u16, commands: &[String]) -> io::Result<Live> {
        let mut args = arguments(kernel, port, commands);
        args.retain(|a| a != "-batch");
        let (reader, writer) = io::pipe()?;
        let mut process = {
            let mut command = Command::new(gdb);
            command.args(&args).stdin(Stdio::piped()).stdout(writer.try_clone()?).stderr(writer);
            ChildGuard::spawn(&mut command)?
        };
        let stdin = process.take_stdin();
        Ok(Live { process, stdin, output: Stream::spawn(reader, None) })
    }

    /// Writes `commands` to gdb, one per line.
    pub fn send(&mut self, commands: &[String]) -> io::Result<()> {
        use std::io::Write;
        let stdin = self.stdin.as_mut().ok_or_else(|| io::Error::other("gdb's input is closed"))?;
        for c in commands {
            stdin.write_all(c.as_bytes())?;
            stdin.write_all(b"\n")?;
        }
        stdin.flush()
    }
}

/// Spawns gdb with its stdout and stderr both writing into one pipe, read by a [`Stream`].
fn start(gdb: &Path, args: &[String]) -> io::Result<(ChildGuard, Arc<Stream>)> {
    let (reader, writer) = io::pipe()?;
    let process = {
        let mut command = Command::new(gdb);
        command.args(args).stdin(Stdio::null()).stdout(writer.try_clone()?).stderr(writer);
        ChildGuard::spawn(&mut command)?
        // `command` is dropped here, closing our copies of the pipe's write end: from now on
        // only gdb holds it, so the reader sees the end of the output when gdb exits.
    };
    Ok((process, Stream::spawn(reader, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdb_arguments() {
        let args = arguments(Path::new("k.elf"), 4321, &["bt".into(), "info registers".into()]);
        assert_eq!(
            args,
            [
                "-batch",
                "-nx",
                "-ex",
                "set pagination off",
                "-ex",
                "set confirm off",
                "-ex",
                "set tcp auto-retry on",
                "-ex",
                "set tcp connect-timeout 60",
                "-ex",
                "file k.elf",
                "-ex",
                "target remote 127.0.0.1:4321",
                "-ex",
                "bt",
                "-ex",
                "info registers"
            ]
        );
    }
}
