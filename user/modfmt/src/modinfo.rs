//! Module metadata: the `.modinfo` section of a module ELF.
//!
//! # Format
//!
//! The section ([`SECTION`]) holds a sequence of NUL-terminated UTF-8 strings of the form
//! `key=value`, as in Linux: for example `name=hello\0version=0.1.0\0license=MIT\0`. The key is
//! everything before the first `=`; the value is everything after it (it may contain `=`).
//! Empty strings (runs of NULs, e.g. alignment padding) are skipped. The last string must be
//! NUL-terminated.
//!
//! | key           | required | value                                                          |
//! |---------------|----------|----------------------------------------------------------------|
//! | `name`        | yes      | the module's name: 1 to 31 of `a-z`, `0-9`, `_`, `-`           |
//! | `version`     | yes      | any non-empty text                                             |
//! | `license`     | yes      | any non-empty text                                             |
//! | `description` | yes      | any non-empty text                                             |
//! | `depends`     | no       | module names separated by `,` (no spaces); may be empty        |
//!
//! Each of these keys may appear at most once. Other keys are ignored (and may repeat). A
//! `depends` list may not name a module twice, nor the module itself.
//!
//! In Rust a module can emit its entry with
//! `#[link_section = ".modinfo"] #[used] static NAME: [u8; 11] = *b"name=hello\0";`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Name of the ELF section holding the metadata.
pub const SECTION: &str = ".modinfo";
/// Longest module name in bytes.
pub const MAX_NAME_LEN: usize = 31;

/// A module's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModInfo {
    /// The module's name (1 to 31 of `a-z`, `0-9`, `_`, `-`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its license.
    pub license: String,
    /// What it does.
    pub description: String,
    /// Names of the modules it needs loaded first (empty if none).
    pub depends: Vec<String>,
}

/// Why a `.modinfo` section was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModInfoError {
    /// A required key is missing.
    Missing(&'static str),
    /// A known key appears more than once.
    Duplicate(&'static str),
    /// A required key has an empty value.
    Empty(&'static str),
    /// The string starting at this byte offset is not UTF-8.
    NotUtf8(usize),
    /// The string starting at this byte offset has no `=`.
    NoEquals(usize),
    /// The string starting at this byte offset has an empty key.
    EmptyKey(usize),
    /// The last string (starting at this byte offset) has no terminating NUL.
    Unterminated(usize),
    /// The `name` value is not a valid module name.
    BadName(String),
    /// A `depends` element is not a valid module name.
    BadDependency(String),
    /// `depends` names this module twice.
    DuplicateDependency(String),
    /// `depends` names the module itself.
    DependsOnItself(String),
}

impl fmt::Display for ModInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(key) => write!(f, "missing `{key}`"),
            Self::Duplicate(key) => write!(f, "`{key}` given more than once"),
            Self::Empty(key) => write!(f, "`{key}` is empty"),
            Self::NotUtf8(at) => write!(f, "entry at byte {at} is not UTF-8"),
            Self::NoEquals(at) => write!(f, "entry at byte {at} is not `key=value`"),
            Self::EmptyKey(at) => write!(f, "entry at byte {at} has an empty key"),
            Self::Unterminated(at) => write!(f, "entry at byte {at} is not NUL-terminated"),
            Self::BadName(name) => write!(f, "module name `{name}` is not 1 to {MAX_NAME_LEN} of a-z, 0-9, `_`, `-`"),
            Self::BadDependency(name) => write!(
                f,
                "dependency `{name}` is not a module name (1 to {MAX_NAME_LEN} of a-z, 0-9, \
                 `_`, `-`, separated by `,`)"
            ),
            Self::DuplicateDependency(name) => write!(f, "`depends` lists `{name}` twice"),
            Self::DependsOnItself(name) => write!(f, "module `{name}` depends on itself"),
        }
    }
}

/// Whether `name` is a valid module name: 1 to 31 of `a-z`, `0-9`, `_`, `-`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// The known keys, in [`ModInfo`] field order.
const KEYS: [&str; 5] = ["name", "version", "license", "description", "depends"];
/// Index of `depends` in [`KEYS`] (the only optional key).
const DEPENDS: usize = 4;

/// Parses the contents of a `.modinfo` section.
pub fn parse(section: &[u8]) -> Result<ModInfo, ModInfoError> {
    let mut values: [Option<&str>; 5] = [None; 5];
    let mut at = 0;
    while at < section.len() {
        let rest = &section[at..];
        let len = rest.iter().position(|&b| b == 0).ok_or(ModInfoError::Unterminated(at))?;
        if len > 0 {
            let entry = core::str::from_utf8(&rest[..len]).map_err(|_| ModInfoError::NotUtf8(at))?;
            let (key, value) = entry.split_once('=').ok_or(ModInfoError::NoEquals(at))?;
            if key.is_empty() {
                return Err(ModInfoError::EmptyKey(at));
            }
            if let Some(i) = KEYS.iter().position(|&k| k == key) {
                if values[i].replace(value).is_some() {
                    return Err(ModInfoError::Duplicate(KEYS[i]));
                }
            }
        }
        at += len + 1;
    }
    let mut required = [""; 4];
    for (i, slot) in required.iter_mut().enumerate() {
        *slot = values[i].ok_or(ModInfoError::Missing(KEYS[i]))?;
        if slot.is_empty() {
            return Err(ModInfoError::Empty(KEYS[i]));
        }
    }
    let [name, version, license, description] = required;
    if !is_valid_name(name) {
        return Err(ModInfoError::BadName(name.into()));
    }
    let depends = parse_depends(name, values[DEPENDS].unwrap_or(""))?;
    Ok(ModInfo {
        name: name.into(),
        version: version.into(),
        license: license.into(),
        description: description.into(),
        depends,
    })
}

/// Parses the `depends` list of module `name`.
fn parse_depends(name: &str, list: &str) -> Result<Vec<String>, ModInfoError> {
    let mut depends: Vec<String> = Vec::new();
    if list.is_empty() {
        return Ok(depends);
    }
    for dep in list.split(',') {
        if !is_valid_name(dep) {
            return Err(ModInfoError::BadDependency(dep.into()));
        }
        if dep == name {
            return Err(ModInfoError::DependsOnItself(name.into()));
        }
        if depends.iter().any(|d| d == dep) {
            return Err(ModInfoError::DuplicateDependency(dep.into()));
        }
        depends.push(dep.to_string());
    }
    Ok(depends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    extern crate std;

    /// [`super::parse`] with a time limit, so a parse loop that stops advancing fails this test
    /// binary quickly instead of hanging it (every test here parses through this).
    fn parse(section: &[u8]) -> Result<ModInfo, ModInfoError> {
        let section = section.to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(super::parse(&section)));
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("parse returns (within 5 s)")
    }

    const GOOD: &[u8] = b"name=hello\0version=0.1.0\0license=MIT OR Apache-2.0\0\
        description=says hello\0depends=console,log_core\0";

    #[test]
    fn parses_all_keys() {
        assert_eq!(
            parse(GOOD).unwrap(),
            ModInfo {
                name: "hello".into(),
                version: "0.1.0".into(),
                license: "MIT OR Apache-2.0".into(),
                description: "says hello".into(),
                depends: vec!["console".into(), "log_core".into()],
            }
        );
    }

    #[test]
    fn depends_is_optional_and_may_be_empty() {
        let base = b"name=a\0version=1\0license=MIT\0description=d\0";
        assert_eq!(parse(base).unwrap().depends, Vec::<String>::new());
        let with_empty = [&base[..], b"depends=\0"].concat();
        assert_eq!(parse(&with_empty).unwrap().depends, Vec::<String>::new());
    }

    #[test]
    fn skips_padding_and_unknown_keys_and_keeps_equals_in_values() {
        let bytes = b"\0\0author=me\0name=a-b_9\0\0\0version=x=1\0author=you\0license=L\0\
            description=d\0\0\0\0";
        let info = parse(bytes).unwrap();
        assert_eq!(info.name, "a-b_9");
        assert_eq!(info.version, "x=1");
    }

    #[test]
    fn rejects_missing_duplicate_and_empty_keys() {
        let without = |key: &str| {
            let kept: Vec<&[u8]> =
                GOOD.split_inclusive(|&b| b == 0).filter(|e| !e.starts_with(key.as_bytes())).collect();
            kept.concat()
        };
        for key in ["name", "version", "license", "description"] {
            assert_eq!(parse(&without(key)), Err(ModInfoError::Missing(key)));
        }
        assert!(parse(&without("depends")).is_ok());
        let twice = [GOOD, b"license=GPL\0"].concat();
        assert_eq!(parse(&twice), Err(ModInfoError::Duplicate("license")));
        let twice = [GOOD, b"depends=x\0"].concat();
        assert_eq!(parse(&twice), Err(ModInfoError::Duplicate("depends")));
        let empty = [without("version"), b"version=\0".to_vec()].concat();
        assert_eq!(parse(&empty), Err(ModInfoError::Empty("version")));
        assert_eq!(parse(b""), Err(ModInfoError::Missing("name")));
    }

    #[test]
    fn rejects_malformed_strings() {
        assert_eq!(parse(b"name=a\0junk\0"), Err(ModInfoError::NoEquals(7)));
        assert_eq!(parse(b"name=a\0=v\0"), Err(ModInfoError::EmptyKey(7)));
        assert_eq!(parse(b"name=a\0version=1"), Err(ModInfoError::Unterminated(7)));
        assert_eq!(parse(b"name=\xff\0"), Err(ModInfoError::NotUtf8(0)));
    }

    #[test]
    fn rejects_bad_names_and_dependencies() {
        let with = |name: &str, depends: &str| {
            let text = alloc::format!("name={name}\0version=1\0license=MIT\0description=d\0depends={depends}\0");
            parse(text.as_bytes())
        };
        assert!(with("abcdefghijklmnopqrstuvwxyz01234", "").is_ok());
        for bad in ["Hello", "a b", "abcdefghijklmnopqrstuvwxyz012345", "é", "a.b"] {
            assert_eq!(with(bad, ""), Err(ModInfoError::BadName(bad.into())));
        }
        assert_eq!(with("a", "b,,c"), Err(ModInfoError::BadDependency("".into())));
        assert_eq!(with("a", "b, c"), Err(ModInfoError::BadDependency(" c".into())));
        assert_eq!(with("a", "b,"), Err(ModInfoError::BadDependency("".into())));
        assert_eq!(with("a", "b,a"), Err(ModInfoError::DependsOnItself("a".into())));
        assert_eq!(with("a", "b,c,b"), Err(ModInfoError::DuplicateDependency("b".into())));
    }

    #[test]
    fn messages_are_clear() {
        use alloc::string::ToString;
        assert_eq!(ModInfoError::Missing("license").to_string(), "missing `license`");
        assert_eq!(ModInfoError::Duplicate("name").to_string(), "`name` given more than once");
        assert_eq!(
            ModInfoError::BadName("Foo".into()).to_string(),
            "module name `Foo` is not 1 to 31 of a-z, 0-9, `_`, `-`"
        );
    }
}
