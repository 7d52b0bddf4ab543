//! The output of a child process, collected by a reader thread and waited on by the runner.
//!
//! A [`Stream`] is a growing text buffer behind a mutex, plus a condition variable that the
//! reader thread signals whenever text arrives or the output ends. The runner waits on it with
//! a deadline ([`Stream::wait_until`]), so it wakes exactly when there is something new to
//! look at — it never sleeps or polls.

use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The instant `timeout` from now; far in the future if the timeout is too large to add.
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 60 * 60))
}

/// The end of the complete lines of `text` from byte `from` on: just after the last `\n` at
/// or after `from`, or `from` itself if no line there has ended yet.
///
/// A stream's text only grows at its end, so a line is final once its `\n` has arrived; the
/// text after the last `\n` may still grow.
pub fn complete_lines_end(text: &str, from: usize) -> usize {
    text[from..].rfind('\n').map_or(from, |i| from + i + 1)
}

/// Text read from a child process's output.
pub struct Stream {
    state: Mutex<State>,
    /// Signalled when `state` changes.
    changed: Condvar,
}

struct State {
    /// Everything read so far, decoded as UTF-8 (invalid bytes become U+FFFD).
    text: String,
    /// Whether the output has ended (the child closed it, normally by exiting).
    closed: bool,
}

impl Stream {
    /// Starts a thread that reads `source` to its end into a new stream.
    ///
    /// With `echo`, each complete line is also printed to our stdout as it arrives, after the
    /// given prefix (for `--verbose`).
    pub fn spawn(source: impl Read + Send + 'static, echo: Option<String>) -> Arc<Stream> {
        let stream = Arc::new(Stream {
            state: Mutex::new(State { text: String::new(), closed: false }),
            changed: Condvar::new(),
        });
        let writer = Arc::clone(&stream);
        thread::spawn(move || writer.read_all(source, echo));
        stream
    }

    /// The reader thread's loop.
    fn read_all(&self, mut source: impl Read, echo: Option<String>) {
        let mut decoder = Utf8Decoder::default();
        let mut echo = echo.map(LineEcho::new);
        let mut buffer = [0u8; 4096];
        loop {
            let text = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => decoder.decode(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Some(echo) = &mut echo {
                echo.push(&text);
            }
            self.lock().text.push_str(&text);
            self.changed.notify_all();
        }
        let rest = decoder.finish();
        if let Some(echo) = &mut echo {
            echo.push(&rest);
            echo.finish();
        }
        let mut state = self.lock();
        state.text.push_str(&rest);
        state.closed = true;
        drop(state);
        self.changed.notify_all();
    }

    /// Calls `check(text, closed)` now and again whenever the stream changes, until it returns
    /// `Some` — that value is returned — or `deadline` passes, which returns `None`.
    ///
    /// `text` is everything read so far; `closed` tells that no more will come, so a `check`
    /// that is still waiting for something should give up when it is set.
    pub fn wait_until<T>(&self, deadline: Instant, mut check: impl FnMut(&str, bool) -> Option<T>) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(result) = check(&state.text, state.closed) {
                return Some(result);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            // A wake-up may be spurious or early; the loop checks again either way.
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until the stream is closed; returns whether it was before `deadline`.
    pub fn wait_closed(&self, deadline: Instant) -> bool {
        self.wait_until(deadline, |_, closed| closed.then_some(())).is_some()
    }

    /// A copy of everything read so far.
    pub fn text(&self) -> String {
        self.lock().text.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a thread panicked while holding the lock (every
        // update is a single push or assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Decodes UTF-8 that arrives in arbitrary pieces: a character split between two reads is
/// decoded whole, and invalid bytes become U+FFFD, as with [`String::from_utf8_lossy`].
#[derive(Default)]
struct Utf8Decoder {
    /// The start of a character whose remaining bytes have not arrived yet.
    incomplete: Vec<u8>,
}

impl Utf8Decoder {
    /// Decodes `bytes`, after any incomplete character left over from the previous call.
    fn decode(&mut self, bytes: &[u8]) -> String {
        let mut input = std::mem::take(&mut self.incomplete);
        input.extend_from_slice(bytes);
        let mut out = String::with_capacity(input.len());
        let mut rest = &input[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).expect("valid up to here"));
                    match error.error_len() {
                        // Invalid bytes: replace them and go on after them.
                        Some(len) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                        // The input ends inside a character: keep its start for later.
                        None => {
                            self.incomplete = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// At the end of the input, a character that never completed is invalid.
    fn finish(&mut self) -> String {
        if std::mem::take(&mut self.incomplete).is_empty() {
            String::new()
        } else {
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

/// Prints complete lines of a stream to stdout with a prefix (`--verbose`).
struct LineEcho {
    prefix: String,
    /// The current line, not yet ended by `\n`.
    partial: String,
}

impl LineEcho {
    fn new(prefix: String) -> LineEcho {
        LineEcho { prefix, partial: String::new() }
    }

    fn push(&mut self, text: &str) {
        self.partial.push_str(text);
        if let Some(end) = self.partial.rfind('\n') {
            let complete: String = self.partial.drain(..=end).collect();
            let mut out = io::stdout().lock();
            for line in complete.lines() {
                // Echo is best effort: a closed stdout must not stop the reader thread.
                let _ = writeln!(out, "{}{}", self.prefix, line.trim_end_matches('\r'));
            }
        }
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.push("\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_joins_split_characters_and_replaces_invalid_bytes() {
        let mut d = Utf8Decoder::default();
        let bytes = "é€".as_bytes(); // 2 + 3 bytes
        assert_eq!(d.decode(&bytes[..1]), "");
        assert_eq!(d.decode(&bytes[1..3]), "é");
        assert_eq!(d.decode(&bytes[3..]), "€");
        assert_eq!(d.decode(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(d.decode(b"c\xe2\x82"), "c");
        assert_eq!(d.finish(), "\u{FFFD}");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn complete_lines() {
        let text = "one\r\ntwo\nthr";
        assert_eq!(complete_lines_end(text, 0), "one\r\ntwo\n".len());
        assert_eq!(complete_lines_end(text, 2), "one\r\ntwo\n".len());
        assert_eq!(complete_lines_end(text, text.len() - 1), text.len() - 1);
        assert_eq!(complete_lines_end(text, text.len()), text.len());
    }

    #[test]
    fn waits_for_text_and_end() {
        let (reader, mut writer) = io::pipe().unwrap();
        let stream = Stream::spawn(reader, None);
        let soon = || Instant::now() + Duration::from_secs(5);
        writer.write_all(b"hello ").unwrap();
        let seen = stream.wait_until(soon(), |text, _| text.contains("hello").then_some(1));
        assert_eq!(seen, Some(1));
        // Nothing new arrives: the deadline passes.
        let nothing = stream
            .wait_until(Instant::now() + Duration::from_millis(50), |text, _| text.contains("world").then_some(()));
        assert_eq!(nothing, None);
        writer.write_all(b"world").unwrap();
        drop(writer);
        assert!(stream.wait_closed(soon()));
        assert_eq!(stream.text(), "hello world");
    }
}
