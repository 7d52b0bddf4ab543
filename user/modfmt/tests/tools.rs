//! The host tools `mkarchive` and `badelf`, run as programs.

mod common;

use modfmt::archive;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("modfmt-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const MKARCHIVE: &str = env!("CARGO_BIN_EXE_mkarchive");
const BADELF: &str = env!("CARGO_BIN_EXE_badelf");

#[test]
fn mkarchive_packs_files_under_their_base_names() {
    let s = Scratch::new("mkarchive");
    std::fs::create_dir(s.path("sub")).unwrap();
    std::fs::write(s.path("hello.elf"), b"hello").unwrap();
    std::fs::write(s.path("sub/world.elf"), vec![9u8; 1000]).unwrap();
    let out = s.path("boot.mar");
    let o = run(MKARCHIVE, &[&out, &s.path("hello.elf"), &s.path("sub/world.elf")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].ends_with(" 5 hello.elf"), "{stdout}");
    assert!(lines[1].ends_with(" 1000 world.elf"), "{stdout}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(lines[2], format!("{out}: 2 entries, {} bytes", bytes.len()));
    let entries = archive::parse(&bytes).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0].name, entries[0].data), ("hello.elf", &b"hello"[..]));
    assert_eq!((entries[1].name, entries[1].data), ("world.elf", &[9u8; 1000][..]));
}

#[test]
fn mkarchive_reports_clear_errors() {
    let s = Scratch::new("mkarchive-errors");
    std::fs::create_dir(s.path("sub")).unwrap();
    std::fs::write(s.path("a.elf"), b"a").unwrap();
    std::fs::write(s.path("sub/a.elf"), b"b").unwrap();
    let long = "x".repeat(48);
    std::fs::write(s.path(&long), b"c").unwrap();
    let out = s.path("out.mar");

    let o = run(MKARCHIVE, &["--help"]);
    assert!(o.status.success() && text(&o.stdout).starts_with("usage: mkarchive OUT FILE..."));
    assert_eq!(run(MKARCHIVE, &[]).status.code(), Some(2));

    let err = |args: &[&str]| {
        let o = run(MKARCHIVE, args);
        assert!(!o.status.success());
        text(&o.stderr)
    };
    let missing = s.path("missing.elf");
    assert!(err(&[&out, &missing]).starts_with(&format!("mkarchive: error: cannot read `{missing}`")));
    assert_eq!(
        err(&[&out, &s.path("a.elf"), &s.path("sub/a.elf")]),
        format!(
            "mkarchive: error: duplicate name `a.elf` (from `{}` and `{}`)\n",
            s.path("a.elf"),
            s.path("sub/a.elf")
        )
    );
    assert!(err(&[&out, &s.path(&long)]).contains("is 48 bytes long (at most 47)"));
    assert!(std::fs::metadata(&out).is_err(), "nothing written on error");
}

#[test]
fn badelf_writes_a_corpus_that_is_all_refused() {
    let s = Scratch::new("badelf");
    let good = s.path("good.elf");
    std::fs::write(&good, common::good()).unwrap();
    let dir = s.path("corpus");
    let o = run(BADELF, &[&good, &dir]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.lines().next(), Some(format!("{good}: ok (module `hello`)").as_str()));
    for name in [
        "bad-truncated.elf",
        "bad-machine.elf",
        "bad-segment-past-eof.elf",
        "bad-wx.elf",
        "bad-memsz.elf",
        "bad-reloc.elf",
        "bad-no-modinfo.elf",
        "bad-not-elf.elf",
    ] {
        let path = format!("{dir}/{name}");
        assert!(std::fs::metadata(&path).is_ok(), "{path} written");
        assert!(stdout.contains(&format!("{path}: refused: ")), "{stdout}");
    }
    assert!(stdout.contains("bad-no-modinfo.elf: refused: missing .modinfo section"), "{stdout}");
}

#[test]
fn badelf_fails_when_the_good_module_is_refused() {
    let s = Scratch::new("badelf-bad-good");
    let bad = s.path("bad.elf");
    std::fs::write(&bad, modfmt::corpus::machine(&common::good()).unwrap()).unwrap();
    let o = run(BADELF, &[&bad, &s.path("corpus")]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("the good module is refused: built for machine X86_64"));
    assert_eq!(run(BADELF, &[&bad]).status.code(), Some(2));
}

#[test]
fn mkarchive_reports_each_entry_at_its_offset() {
    let s = Scratch::new("mkarchive-offsets");
    std::fs::write(s.path("one.elf"), b"abc").unwrap();
    std::fs::write(s.path("two.elf"), [5u8; 300]).unwrap();
    let out = s.path("boot.mar");
    let o = run(MKARCHIVE, &[&out, &s.path("one.elf"), &s.path("two.elf")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let entries = archive::parse(&bytes).unwrap();
    let offset = |i: usize| entries[i].data.as_ptr() as usize - bytes.as_ptr() as usize;
    // The data follows the header and two records: at 144, then at the next multiple of 8.
    assert_eq!((offset(0), offset(1)), (144, 152));
    assert_eq!(
        text(&o.stdout),
        format!(
            "0x00000090          3 one.elf\n0x00000098        300 two.elf\n{out}: 2 entries, {} bytes\n",
            bytes.len()
        )
    );
}

#[test]
fn mkarchive_takes_names_of_up_to_47_bytes() {
    let s = Scratch::new("mkarchive-name-len");
    let longest = "y".repeat(47);
    std::fs::write(s.path(&longest), b"ok").unwrap();
    let out = s.path("out.mar");
    let o = run(MKARCHIVE, &[&out, &s.path(&longest)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(archive::parse(&bytes).unwrap()[0].name, longest);

    // One more byte is refused by the tool itself, naming the file, before reading it.
    let long = "x".repeat(48);
    let path = s.path(&long);
    let o = run(MKARCHIVE, &[&out, &path]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), format!("mkarchive: error: name `{long}` of `{path}` is 48 bytes long (at most 47)\n"));
}

#[test]
fn badelf_prints_usage_for_help() {
    for flag in ["--help", "-h"] {
        let o = run(BADELF, &[flag]);
        assert!(o.status.success(), "{flag}: {}", text(&o.stderr));
        assert!(text(&o.stdout).starts_with("usage: badelf GOOD_MODULE_ELF OUT_DIR\n"), "{flag}");
        assert!(o.stderr.is_empty());
    }
    let o = run(BADELF, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("usage: badelf GOOD_MODULE_ELF OUT_DIR\n"));
}

#[test]
fn mkarchive_prints_usage_for_help() {
    for flag in ["--help", "-h"] {
        let o = run(MKARCHIVE, &[flag]);
        assert!(o.status.success(), "{flag}: {}", text(&o.stderr));
        assert!(text(&o.stdout).starts_with("usage: mkarchive OUT FILE...\n"), "{flag}");
    }
    let o = run(MKARCHIVE, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("usage: mkarchive OUT FILE...\n"));
}
