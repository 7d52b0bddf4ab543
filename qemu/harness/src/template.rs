//! Text with `${name}` variable references, and the variables that fill them.
//!
//! Scenario steps may refer to variables that only get their values while the scenario runs
//! (for example a regex capture group from an earlier `expect`). So a [`Template`] is parsed
//! once, when the scenario file is read (catching syntax errors with a line number), and
//! rendered each time the step runs, against the variables known at that moment.

use std::collections::BTreeMap;
use std::fmt;

/// The variables of one scenario run: name → value.
pub type Vars = BTreeMap<String, String>;

/// How variable values are inserted when a template is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    /// Insert the value as it is (for text sent to the guest, gdb commands, values).
    Plain,
    /// Insert the value regex-escaped and wrapped in a non-capturing group `(?:…)`, so it
    /// matches itself literally and a following `+` or `?` applies to all of it (for regexes).
    RegexLiteral,
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// Text copied as it is.
    Literal(String),
    /// A `${name}` reference.
    Var(String),
}

/// A string that may contain `${name}` references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The text as written in the scenario file, for messages.
    source: String,
    parts: Vec<Part>,
}

/// Rendering failed because the template refers to a variable that is not set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVariable(pub String);

impl fmt::Display for UnknownVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown variable `${{{}}}`", self.0)
    }
}

/// Whether `name` is a valid variable name: an ASCII letter or `_`, then letters, digits, `_`.
/// (These are also the names the regex crate allows for capture groups.)
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Template {
    /// Splits `source` into literal text and `${name}` references.
    ///
    /// A `$` that is not followed by `{` is ordinary text (so regex anchors like `done$` work).
    /// Errors: a `${` without its `}`, or an invalid name inside the braces.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("unterminated `${{` in `{source}`"));
            };
            let name = &after[..end];
            if !is_valid_name(name) {
                return Err(format!(
                    "invalid variable name `{name}` in `{source}` \
                     (use letters, digits and `_`, not starting with a digit)"
                ));
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { source: source.to_string(), parts })
    }

    /// The text as written in the scenario file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template refers to no variable at all (so it renders to its source).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Part::Literal(_)))
    }

    /// Replaces every `${name}` with the value of `name` in `vars`.
    pub fn render(&self, vars: &Vars, how: Render) -> Result<String, UnknownVariable> {
        self.render_with(|name| vars.get(name).cloned(), how)
    }

    /// Like [`render`](Self::render), with any `lookup` function: used by the parser to check
    /// a regex with variables by rendering it with a placeholder value.
    pub fn render_with(
        &self,
        mut lookup: impl FnMut(&str) -> Option<String>,
        how: Render,
    ) -> Result<String, UnknownVariable> {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(name) => {
                    let value = lookup(name).ok_or_else(|| UnknownVariable(name.clone()))?;
                    match how {
                        Render::Plain => out.push_str(&value),
                        Render::RegexLiteral => {
                            out.push_str("(?:");
                            out.push_str(&regex::escape(&value));
                            out.push(')');
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_text_is_constant() {
        let t = Template::parse("boot ok$").unwrap();
        assert!(t.is_constant());
        assert_eq!(t.render(&Vars::new(), Render::Plain).unwrap(), "boot ok$");
    }

    #[test]
    fn substitutes_plain_and_escaped() {
        let t = Template::parse("free=${n} at ${addr}!").unwrap();
        assert!(!t.is_constant());
        let v = vars(&[("n", "1+2"), ("addr", "0x4000.0")]);
        assert_eq!(t.render(&v, Render::Plain).unwrap(), "free=1+2 at 0x4000.0!");
        assert_eq!(t.render(&v, Render::RegexLiteral).unwrap(), r"free=(?:1\+2) at (?:0x4000\.0)!");
    }

    #[test]
    fn unknown_variable_is_reported_by_name() {
        let t = Template::parse("x ${missing} y").unwrap();
        let err = t.render(&Vars::new(), Render::Plain).unwrap_err();
        assert_eq!(err.to_string(), "unknown variable `${missing}`");
    }

    #[test]
    fn syntax_errors() {
        assert!(Template::parse("a ${b").unwrap_err().contains("unterminated"));
        assert!(Template::parse("${1x}").unwrap_err().contains("invalid variable name"));
        assert!(Template::parse("${}").unwrap_err().contains("invalid variable name"));
    }

    #[test]
    fn names() {
        assert!(is_valid_name("free_frames2"));
        assert!(is_valid_name("_x"));
        assert!(!is_valid_name("2x"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}
