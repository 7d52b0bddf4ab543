//! The kernel command line: whitespace-separated `key=value` words (a bare `key` means `key=1`),
//! taken from the device tree's `/chosen/bootargs` (QEMU's `-append`).

/// A parsed view over the command line; it borrows the text and allocates nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct CmdLine<'a> {
    text: &'a str,
}

impl<'a> CmdLine<'a> {
    /// Wraps the raw text.
    pub fn new(text: &'a str) -> Self {
        CmdLine { text }
    }

    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The value of the last occurrence of `key` (later words override earlier ones).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.text
            .split_ascii_whitespace()
            .filter_map(|word| match word.split_once('=') {
                Some((k, v)) => (k == key).then_some(v),
                None => (word == key).then_some("1"),
            })
            .next_back()
    }

    /// True if `key` is set to `1`, `on`, `yes` or `true`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "on" | "yes" | "true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_flags_and_overrides() {
        let c = CmdLine::new("  debug.panic_trigger=1 quiet log=debug log=info  ");
        assert!(c.flag("debug.panic_trigger"));
        assert!(c.flag("quiet"));
        assert_eq!(c.get("log"), Some("info"));
        assert_eq!(c.get("missing"), None);
        assert!(!c.flag("missing"));
        assert!(!CmdLine::new("x=0").flag("x"));
        assert_eq!(CmdLine::default().get("x"), None);
    }

    #[test]
    fn as_str_is_the_raw_text() {
        let text = " quiet  log=info ";
        assert_eq!(CmdLine::new(text).as_str(), text);
        assert_eq!(CmdLine::default().as_str(), "");
    }
}
