//! Canned-reply rendering: `{{contact.name}}`-style variables. Unknown or
//! empty variables render as an empty string, never as the raw braces the
//! customer would otherwise see.

/// Replaces every `{{ path }}` with `lookup(path)`.
pub fn render(template: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                out.push_str(&lookup(key).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_and_blanks_unknown_variables() {
        let s = render("Hi {{ contact.name }}, I'm {{agent.name}}{{x}}!", |k| match k {
            "contact.name" => Some("Ann".into()),
            "agent.name" => Some("Bob".into()),
            _ => None,
        });
        assert_eq!(s, "Hi Ann, I'm Bob!");
    }

    #[test]
    fn unterminated_braces_are_kept() {
        assert_eq!(render("a {{b", |_| None), "a {{b");
    }
}
