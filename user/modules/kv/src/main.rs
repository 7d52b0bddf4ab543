//! A key-value store: `set KEY VALUE`, `get KEY`, `del KEY`, `list`. Keys and values are short
//! words; the store holds a fixed number of entries (no heap in modules).
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};
use spin::Mutex;

modsdk::module! {
    name: "kv", version: "1.2.0", license: "MIT",
    description: "a small key-value store", depends: "",
    handler: handle,
}

const ENTRIES: usize = 32;
const LEN: usize = 32;

/// One word of at most [`LEN`] bytes.
#[derive(Clone, Copy)]
struct Word {
    bytes: [u8; LEN],
    len: usize,
}

impl Word {
    fn new(s: &str) -> Option<Word> {
        (s.len() <= LEN).then(|| {
            let mut bytes = [0; LEN];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Word { bytes, len: s.len() }
        })
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
    }
}

static STORE: Mutex<[Option<(Word, Word)>; ENTRIES]> = Mutex::new([None; ENTRIES]);

fn handle(req: &Request, reply: &mut Reply) {
    let mut args = req.args();
    let mut store = STORE.lock();
    match (args.next(), args.next(), args.next()) {
        (Some("set"), Some(k), Some(v)) => {
            let (Some(key), Some(value)) = (Word::new(k), Word::new(v)) else {
                return reply.error("key and value must be at most 32 bytes");
            };
            let slot = store.iter().position(|e| e.is_some_and(|(k2, _)| k2.as_str() == k));
            match slot.or_else(|| store.iter().position(|e| e.is_none())) {
                Some(i) => {
                    store[i] = Some((key, value));
                    let _ = write!(reply, "{k}={v}");
                }
                None => reply.error("store full"),
            }
        }
        (Some("get"), Some(k), None) => match store.iter().flatten().find(|(key, _)| key.as_str() == k) {
            Some((_, v)) => {
                let _ = write!(reply, "{k}={}", v.as_str());
            }
            None => reply.error("no such key"),
        },
        (Some("del"), Some(k), None) => match store.iter().position(|e| e.is_some_and(|(key, _)| key.as_str() == k)) {
            Some(i) => {
                store[i] = None;
                let _ = write!(reply, "deleted {k}");
            }
            None => reply.error("no such key"),
        },
        (Some("list"), None, None) => {
            let n = store.iter().flatten().count();
            let _ = write!(reply, "{n} keys:");
            for (k, v) in store.iter().flatten() {
                let _ = write!(reply, " {}={}", k.as_str(), v.as_str());
            }
        }
        _ => reply.error("usage: set KEY VALUE | get KEY | del KEY | list"),
    }
}
