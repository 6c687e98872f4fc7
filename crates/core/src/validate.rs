//! Input checks shared by every adapter. Each returns the cleaned value or a
//! `ValidationError` naming the field, which the API shows as a 400.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        ValidationError { field, problem: problem.into() }
    }
}

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 20_000;
pub const MAX_ECHO_ID_CHARS: usize = 100;

/// Lower-cases and trims; requires one `@` with text on both sides and a dot
/// in the domain. Deliberately not RFC 5322: we only need to reject typos.
pub fn email(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let e = raw.trim().to_lowercase();
    let bad = || ValidationError::new(field, "is not a valid email address");
    if e.len() > 254 || e.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad());
    }
    Ok(e)
}

/// Trimmed, non-empty, at most `max` characters, no control characters.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(t.to_owned())
}

pub fn name(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let n = text(field, raw, MAX_NAME_CHARS)?;
    if n.contains('\n') {
        return Err(ValidationError::new(field, "must be a single line"));
    }
    Ok(n)
}

/// Phone numbers: digits with optional leading `+` and common separators,
/// normalised to `+digits` / `digits`. 5–20 digits.
pub fn phone(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim();
    let mut out = String::new();
    for (i, c) in t.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(ValidationError::new(field, "is not a valid phone number")),
        }
    }
    let digits = out.trim_start_matches('+').len();
    if !(5..=20).contains(&digits) {
        return Err(ValidationError::new(field, "is not a valid phone number"));
    }
    Ok(out)
}

pub fn password(raw: &str) -> Result<(), ValidationError> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(ValidationError::new("password", "must be at least 8 characters"));
    }
    if n > 256 {
        return Err(ValidationError::new("password", "must be at most 256 characters"));
    }
    Ok(())
}

/// Tags: 1–50 chars of letters, digits, `-`, `_`, space; stored lower-case.
pub fn tag(raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim().to_lowercase();
    if t.is_empty() || t.chars().count() > 50 {
        return Err(ValidationError::new("tag", "must be 1-50 characters"));
    }
    if !t.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ')) {
        return Err(ValidationError::new("tag", "may contain letters, digits, '-', '_' and spaces"));
    }
    Ok(t)
}

/// `#rrggbb`.
pub fn color(raw: &str) -> Result<String, ValidationError> {
    let c = raw.trim().to_lowercase();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok { Ok(c) } else { Err(ValidationError::new("color", "must look like #1f8a70")) }
}

pub fn echo_id(raw: &str) -> Result<String, ValidationError> {
    let t = raw.trim();
    if t.is_empty() || t.len() > MAX_ECHO_ID_CHARS || !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValidationError::new("echo_id", "must be 1-100 printable ASCII characters"));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("email", " Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        for bad in ["", "ann", "@x.io", "a@b", "a@@b.io", "a b@c.io", "a@.io"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(phone("phone", "+7 (912) 345-67-89").as_deref(), Ok("+79123456789"));
        assert!(phone("phone", "12").is_err());
        assert!(phone("phone", "call me").is_err());
        assert!(phone("phone", "12+345678").is_err());
    }

    #[test]
    fn texts() {
        assert!(text("content", "   ", 10).is_err());
        assert!(text("content", "12345678901", 10).is_err());
        assert!(text("content", "a\u{0}b", 10).is_err());
        assert_eq!(text("content", " hi\nthere ", 100).as_deref(), Ok("hi\nthere"));
        assert!(name("name", "two\nlines").is_err());
    }

    #[test]
    fn tags_and_colors() {
        assert_eq!(tag(" Hired ").as_deref(), Ok("hired"));
        assert!(tag("no/slash").is_err());
        assert!(color("#1F8A70").is_ok());
        assert!(color("red").is_err());
    }
}

/// A file name to store and show: the last path segment, without control
/// or quote characters, at most 200 characters.
pub fn filename(raw: &str) -> Result<String, ValidationError> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let clean: String = last.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>')).take(200).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        return Err(ValidationError::new("filename", "is required"));
    }
    Ok(clean)
}

#[cfg(test)]
mod filename_tests {
    use super::*;

    #[test]
    fn keeps_the_last_segment_and_drops_dangerous_characters() {
        assert_eq!(filename("../../etc/passwd").as_deref(), Ok("passwd"));
        assert_eq!(filename("C:\\x\\photo \"1\".jpg").as_deref(), Ok("photo 1.jpg"));
        assert!(filename("  ").is_err());
        assert!(filename("a/..").is_err());
    }
}
