//! The boot archive: a flat, read-only bundle of named files (the modules the system starts
//! with), loaded into memory next to the module server.
//!
//! # Format
//!
//! All integers are little-endian. Offsets count bytes from the first byte of the archive.
//!
//! | bytes                | field                                                        |
//! |----------------------|--------------------------------------------------------------|
//! | `0..8`               | magic: the 8 ASCII bytes `MODARCH1`                          |
//! | `8..12`              | `count`: number of entries (u32)                             |
//! | `12..16`             | reserved (u32), must be 0                                    |
//! | `16..16 + 64*count`  | the entry table: `count` records of 64 bytes each            |
//! | after the table      | the entries' data                                            |
//!
//! An entry record (64 bytes):
//!
//! | bytes    | field                                                                   |
//! |----------|-------------------------------------------------------------------------|
//! | `0..48`  | name: UTF-8, then NUL bytes up to byte 48 (at least one NUL)            |
//! | `48..56` | `offset` of the entry's data (u64)                                      |
//! | `56..64` | `size` of the entry's data in bytes (u64)                               |
//!
//! Rules a reader checks (and [`parse`] enforces):
//!
//! - a name is 1 to [`MAX_NAME_LEN`] (47) bytes of UTF-8 with no NUL and no `/`; every byte of
//!   the field after the name is NUL; no two entries have the same name;
//! - `offset` is a multiple of 8 ([`ALIGN`]) and not inside the header or the table;
//!   `offset + size` is at most the archive's length;
//! - no two entries' data overlap (empty entries overlap nothing).
//!
//! Bytes not covered by any entry (padding between entries, trailing bytes) are ignored; a
//! writer should make them zero. [`build`] writes the entries in the order given, each at the
//! next multiple of 8 after the previous one, and ends the archive at the end of the last entry.
//!
//! Example: one entry `hello` holding the 3 bytes `abc` is 16 + 64 + 3 = 83 bytes long: the
//! header `MODARCH1` `01 00 00 00` `00 00 00 00`, the record (`hello`, 43 NULs, offset 80
//! = `50 00 00 00 00 00 00 00`, size 3), then `abc` at offset 80.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The first 8 bytes of every archive.
pub const MAGIC: [u8; 8] = *b"MODARCH1";
/// Size of the header (magic, entry count, reserved word).
pub const HEADER_SIZE: usize = 16;
/// Size of one entry record in the table.
pub const RECORD_SIZE: usize = 64;
/// Size of the name field of an entry record.
pub const NAME_FIELD: usize = 48;
/// Longest name in bytes (the name field keeps at least one NUL).
pub const MAX_NAME_LEN: usize = NAME_FIELD - 1;
/// Alignment of every entry's data offset.
pub const ALIGN: usize = 8;

/// One file in an archive, borrowed from the archive's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The file's name (see the format rules for what a name may be).
    pub name: &'a str,
    /// The file's contents.
    pub data: &'a [u8],
}

/// Why an archive could not be parsed or built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// Shorter than the 16-byte header.
    TooShort {
        /// The archive's length.
        len: usize,
    },
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// The reserved header word is not 0.
    Reserved(u32),
    /// The entry table runs past the end of the archive.
    TableTruncated {
        /// Number of entries the header claims.
        count: u32,
        /// The archive's length.
        len: usize,
    },
    /// An entry's name breaks the naming rules.
    BadName {
        /// Index of the entry in the table (or in the list given to [`build`]).
        index: usize,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// Two entries have the same name.
    DuplicateName(String),
    /// An entry's data lies (partly) outside the archive.
    OutOfRange {
        /// The entry's name.
        name: String,
        /// Its data offset.
        offset: u64,
        /// Its data size.
        size: u64,
        /// The archive's length.
        len: usize,
    },
    /// An entry's data starts inside the header or the entry table.
    InsideTable {
        /// The entry's name.
        name: String,
        /// Its data offset.
        offset: u64,
    },
    /// An entry's data offset is not a multiple of [`ALIGN`].
    Misaligned {
        /// The entry's name.
        name: String,
        /// Its data offset.
        offset: u64,
    },
    /// Two entries' data overlap.
    Overlap {
        /// The entry that starts first.
        first: String,
        /// The entry that starts inside it.
        second: String,
    },
    /// More entries than the 32-bit count can say (only from [`build`]).
    TooManyEntries(usize),
}

/// What is wrong with an entry name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong(String),
    /// The 48-byte name field has no NUL.
    NotTerminated,
    /// Bytes other than NUL follow the name's terminating NUL.
    NotPadded,
    /// The name is not UTF-8.
    NotUtf8,
    /// The name contains a `/` or a NUL.
    BadChar(String),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the name is empty"),
            Self::TooLong(name) => write!(f, "name `{name}` is {} bytes long (at most {MAX_NAME_LEN})", name.len()),
            Self::NotTerminated => write!(f, "the {NAME_FIELD}-byte name field has no NUL"),
            Self::NotPadded => write!(f, "the name field has non-NUL bytes after the name"),
            Self::NotUtf8 => write!(f, "the name is not UTF-8"),
            Self::BadChar(name) => write!(f, "name `{name}` contains `/` or NUL"),
        }
    }
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(f, "archive is {len} bytes, shorter than its {HEADER_SIZE}-byte header")
            }
            Self::BadMagic => write!(f, "not a module archive (magic is not `MODARCH1`)"),
            Self::Reserved(v) => write!(f, "reserved header word is {v:#x} (must be 0)"),
            Self::TableTruncated { count, len } => write!(
                f,
                "entry table of {count} entries needs {} bytes but the archive has {len}",
                table_end(*count).unwrap_or(u64::MAX)
            ),
            Self::BadName { index, problem } => write!(f, "entry {index}: {problem}"),
            Self::DuplicateName(name) => write!(f, "two entries are named `{name}`"),
            Self::OutOfRange { name, offset, size, len } => write!(
                f,
                "entry `{name}` (offset {offset:#x}, size {size}) runs past the end of the \
                 archive ({len} bytes)"
            ),
            Self::InsideTable { name, offset } => {
                write!(f, "entry `{name}` starts at {offset:#x}, inside the header or entry table")
            }
            Self::Misaligned { name, offset } => {
                write!(f, "entry `{name}` starts at {offset:#x}, not a multiple of {ALIGN}")
            }
            Self::Overlap { first, second } => {
                write!(f, "entries `{first}` and `{second}` overlap")
            }
            Self::TooManyEntries(n) => write!(f, "{n} entries do not fit a 32-bit count"),
        }
    }
}

/// Byte offset of the end of the entry table for `count` entries.
fn table_end(count: u32) -> Option<u64> {
    u64::from(count).checked_mul(RECORD_SIZE as u64)?.checked_add(HEADER_SIZE as u64)
}

/// Checks a name against the naming rules.
fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        Err(NameProblem::Empty)
    } else if name.len() > MAX_NAME_LEN {
        Err(NameProblem::TooLong(name.into()))
    } else if name.contains(['/', '\0']) {
        Err(NameProblem::BadChar(name.into()))
    } else {
        Ok(())
    }
}

/// Decodes a 48-byte name field.
fn decode_name(field: &[u8]) -> Result<&str, NameProblem> {
    let len = field.iter().position(|&b| b == 0).ok_or(NameProblem::NotTerminated)?;
    if field[len..].iter().any(|&b| b != 0) {
        return Err(NameProblem::NotPadded);
    }
    let name = core::str::from_utf8(&field[..len]).map_err(|_| NameProblem::NotUtf8)?;
    check_name(name)?;
    Ok(name)
}

/// Reads the little-endian u32 at `at` (the caller has checked the bounds).
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Reads the little-endian u64 at `at` (the caller has checked the bounds).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Parses an archive, checking every rule of the format, and returns its entries in table
/// order.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry<'_>>, ArchiveError> {
    let len = bytes.len();
    if len < HEADER_SIZE {
        return Err(ArchiveError::TooShort { len });
    }
    if bytes[..8] != MAGIC {
        return Err(ArchiveError::BadMagic);
    }
    let count = u32_at(bytes, 8);
    let reserved = u32_at(bytes, 12);
    if reserved != 0 {
        return Err(ArchiveError::Reserved(reserved));
    }
    let table_end = match table_end(count) {
        Some(end) if end <= len as u64 => end,
        _ => return Err(ArchiveError::TableTruncated { count, len }),
    };

    let mut entries = Vec::with_capacity(count as usize);
    let mut spans = Vec::with_capacity(count as usize);
    let mut names = BTreeMap::new();
    for index in 0..count as usize {
        let record = &bytes[HEADER_SIZE + index * RECORD_SIZE..][..RECORD_SIZE];
        let name = decode_name(&record[..NAME_FIELD]).map_err(|problem| ArchiveError::BadName { index, problem })?;
        if names.insert(name, index).is_some() {
            return Err(ArchiveError::DuplicateName(name.into()));
        }
        let offset = u64_at(record, NAME_FIELD);
        let size = u64_at(record, NAME_FIELD + 8);
        if offset < table_end {
            return Err(ArchiveError::InsideTable { name: name.into(), offset });
        }
        if !offset.is_multiple_of(ALIGN as u64) {
            return Err(ArchiveError::Misaligned { name: name.into(), offset });
        }
        match offset.checked_add(size) {
            Some(end) if end <= len as u64 => {}
            _ => return Err(ArchiveError::OutOfRange { name: name.into(), offset, size, len }),
        }
        // Both fit in `len`, a usize, so the casts are exact.
        let (start, end) = (offset as usize, (offset + size) as usize);
        entries.push(Entry { name, data: &bytes[start..end] });
        if size != 0 {
            spans.push((start, end, name));
        }
    }
    check_overlaps(spans)?;
    Ok(entries)
}

/// Fails if two of the (start, end, name) data spans overlap.
fn check_overlaps(mut spans: Vec<(usize, usize, &str)>) -> Result<(), ArchiveError> {
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((_, end, first), (start, _, second)) = (pair[0], pair[1]);
        if start < end {
            return Err(ArchiveError::Overlap { first: first.into(), second: second.into() });
        }
    }
    Ok(())
}

/// Builds an archive holding `entries` (name, data) in the order given. Fails if a name breaks
/// the naming rules or two entries have the same name.
pub fn build(entries: &[(&str, &[u8])]) -> Result<Vec<u8>, ArchiveError> {
    let count = u32::try_from(entries.len()).map_err(|_| ArchiveError::TooManyEntries(entries.len()))?;
    let mut names = BTreeMap::new();
    for (index, &(name, _)) in entries.iter().enumerate() {
        check_name(name).map_err(|problem| ArchiveError::BadName { index, problem })?;
        if names.insert(name, index).is_some() {
            return Err(ArchiveError::DuplicateName(name.into()));
        }
    }

    let data_start = HEADER_SIZE + entries.len() * RECORD_SIZE;
    let mut out = Vec::with_capacity(data_start);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut next = data_start;
    for &(name, data) in entries {
        next = next.next_multiple_of(ALIGN);
        let mut field = [0u8; NAME_FIELD];
        field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&field);
        out.extend_from_slice(&(next as u64).to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        next += data.len();
    }
    for &(_, data) in entries {
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        out.extend_from_slice(data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    /// Overwrites the little-endian u64 at `at`.
    fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
        bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Offset of field `field` of record `index`.
    fn rec(index: usize, field: usize) -> usize {
        HEADER_SIZE + index * RECORD_SIZE + field
    }

    fn sample() -> Vec<u8> {
        build(&[("hello.elf", b"abc"), ("empty", b""), ("world.elf", &[7u8; 20])]).unwrap()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let entries = parse(&bytes).unwrap();
        assert_eq!(
            entries,
            vec![
                Entry { name: "hello.elf", data: b"abc" },
                Entry { name: "empty", data: b"" },
                Entry { name: "world.elf", data: &[7; 20] },
            ]
        );
        for e in &entries {
            assert_eq!((e.data.as_ptr() as usize - bytes.as_ptr() as usize) % ALIGN, 0);
        }
    }

    #[test]
    fn documented_example_layout() {
        let bytes = build(&[("hello", b"abc")]).unwrap();
        assert_eq!(bytes.len(), 83);
        assert_eq!(&bytes[..16], b"MODARCH1\x01\0\0\0\0\0\0\0");
        assert_eq!(&bytes[16..21], b"hello");
        assert!(bytes[21..64].iter().all(|&b| b == 0));
        assert_eq!(&bytes[64..72], &80u64.to_le_bytes());
        assert_eq!(&bytes[72..80], &3u64.to_le_bytes());
        assert_eq!(&bytes[80..], b"abc");
    }

    #[test]
    fn empty_archive() {
        let bytes = build(&[]).unwrap();
        assert_eq!(bytes.len(), HEADER_SIZE);
        assert_eq!(parse(&bytes).unwrap(), vec![]);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(parse(b"MODARCH"), Err(ArchiveError::TooShort { len: 7 }));
        let mut bytes = sample();
        bytes[7] = b'2';
        assert_eq!(parse(&bytes), Err(ArchiveError::BadMagic));
        let mut bytes = sample();
        bytes[12] = 1;
        assert_eq!(parse(&bytes), Err(ArchiveError::Reserved(1)));
        let bytes = sample();
        assert_eq!(parse(&bytes[..rec(2, 10)]), Err(ArchiveError::TableTruncated { count: 3, len: rec(2, 10) }));
        let mut bytes = sample();
        bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bytes), Err(ArchiveError::TableTruncated { .. })));
    }

    #[test]
    fn rejects_bad_entries() {
        let len = sample().len();
        let mut bytes = sample();
        put_u64(&mut bytes, rec(2, 56), 100);
        assert_eq!(
            parse(&bytes),
            Err(ArchiveError::OutOfRange { name: "world.elf".into(), offset: 216, size: 100, len })
        );
        let mut bytes = sample();
        put_u64(&mut bytes, rec(2, 48), u64::MAX - 7);
        assert!(matches!(parse(&bytes), Err(ArchiveError::OutOfRange { .. })));
        let mut bytes = sample();
        put_u64(&mut bytes, rec(0, 48), 8);
        assert_eq!(parse(&bytes), Err(ArchiveError::InsideTable { name: "hello.elf".into(), offset: 8 }));
        let mut bytes = sample();
        put_u64(&mut bytes, rec(0, 48), 209);
        assert_eq!(parse(&bytes), Err(ArchiveError::Misaligned { name: "hello.elf".into(), offset: 209 }));
        let mut bytes = sample();
        put_u64(&mut bytes, rec(0, 56), 9); // hello.elf at 208 now reaches into world.elf at 216
        assert_eq!(parse(&bytes), Err(ArchiveError::Overlap { first: "hello.elf".into(), second: "world.elf".into() }));
    }

    #[test]
    fn adjacent_entries_do_not_overlap() {
        // hello.elf grown to end exactly where world.elf starts (208 + 8 = 216).
        let mut bytes = sample();
        put_u64(&mut bytes, rec(0, 56), 8);
        let entries = parse(&bytes).unwrap();
        assert_eq!(entries[0].data, &bytes[208..216]);
        assert_eq!(entries[2].data, &[7; 20]);
        // build packs entries whose sizes are multiples of 8 back to back.
        let bytes = build(&[("a", &[1; 8]), ("b", &[2; 8])]).unwrap();
        assert_eq!(bytes.len(), HEADER_SIZE + 2 * RECORD_SIZE + 16);
        assert_eq!(
            parse(&bytes).unwrap(),
            vec![Entry { name: "a", data: &[1; 8] }, Entry { name: "b", data: &[2; 8] }]
        );
    }

    #[test]
    fn rejects_bad_names() {
        let bad = |edit: &dyn Fn(&mut [u8])| {
            let mut bytes = sample();
            edit(&mut bytes[rec(1, 0)..rec(1, NAME_FIELD)]);
            match parse(&bytes) {
                Err(ArchiveError::BadName { index: 1, problem }) => problem,
                other => panic!("expected a bad name, got {other:?}"),
            }
        };
        assert_eq!(bad(&|f| f.fill(0)), NameProblem::Empty);
        assert_eq!(bad(&|f| f.fill(b'a')), NameProblem::NotTerminated);
        assert_eq!(bad(&|f| f[40] = b'x'), NameProblem::NotPadded);
        assert_eq!(bad(&|f| f[0] = 0xff), NameProblem::NotUtf8);
        assert_eq!(bad(&|f| f[1] = b'/'), NameProblem::BadChar("e/pty".into()));

        let mut bytes = sample();
        bytes[rec(2, 0)..rec(2, 9)].copy_from_slice(b"hello.elf");
        assert_eq!(parse(&bytes), Err(ArchiveError::DuplicateName("hello.elf".into())));
    }

    #[test]
    fn build_checks_names() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            build(&[("a", b""), (&long, b"")]),
            Err(ArchiveError::BadName { index: 1, problem: NameProblem::TooLong(long.clone()) })
        );
        assert!(build(&[(&long[1..], b"")]).is_ok());
        assert_eq!(build(&[("a", b"1"), ("a", b"2")]), Err(ArchiveError::DuplicateName("a".into())));
        assert!(matches!(build(&[("", b"")]), Err(ArchiveError::BadName { index: 0, .. })));
        assert!(matches!(build(&[("a/b", b"")]), Err(ArchiveError::BadName { index: 0, .. })));
    }

    #[test]
    fn messages_are_clear() {
        let msg = |e: ArchiveError| e.to_string();
        assert_eq!(msg(ArchiveError::BadMagic), "not a module archive (magic is not `MODARCH1`)");
        assert_eq!(msg(ArchiveError::DuplicateName("a.elf".into())), "two entries are named `a.elf`");
        assert_eq!(
            msg(ArchiveError::TableTruncated { count: 2, len: 100 }),
            "entry table of 2 entries needs 144 bytes but the archive has 100"
        );
        assert_eq!(
            msg(ArchiveError::BadName { index: 3, problem: NameProblem::TooLong("x".repeat(48)) }),
            format!("entry 3: name `{}` is 48 bytes long (at most 47)", "x".repeat(48))
        );
    }
}
