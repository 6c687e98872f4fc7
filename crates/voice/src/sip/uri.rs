//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), kept close to how they
//! were written: escapes are not decoded, so `Display` gives back the input.

use std::fmt;

use super::error::SipParseError;

/// The URI scheme. Schemes other than sip/sips/tel are carried opaquely
/// because a Request-URI may be any absoluteURI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(String),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// A parsed URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    /// The user part (sip/sips) or the subscriber number (tel), escapes kept.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The host for sip/sips (an IPv6 reference keeps its brackets); empty
    /// for tel; for other schemes everything after the colon.
    pub host: String,
    pub port: Option<u16>,
    /// `;name[=value]` parameters in order of appearance.
    pub params: Vec<(String, Option<String>)>,
    /// `?name=value&...` headers in order of appearance.
    pub headers: Vec<(String, String)>,
}

impl Uri {
    /// A plain `sip:user@host` URI.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host.to_owned(),
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn parse(input: &str) -> Result<Uri, SipParseError> {
        let (scheme, rest) = input.split_once(':').ok_or(SipParseError::BadUri)?;
        if !is_scheme(scheme) {
            return Err(SipParseError::BadUri);
        }
        // These never appear unescaped in a URI, and allowing them would let a
        // URI break out of the `<...>` or quoted string it is written in.
        if rest.is_empty()
            || rest.chars().any(|c| {
                c.is_ascii_whitespace() || c.is_ascii_control() || matches!(c, '<' | '>' | '"')
            })
        {
            return Err(SipParseError::BadUri);
        }
        let scheme = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Ok(Uri {
                scheme: Scheme::Other(scheme.to_owned()),
                user: None,
                password: None,
                host: rest.to_owned(),
                port: None,
                params: Vec::new(),
                headers: Vec::new(),
            });
        };
        if scheme == Scheme::Tel {
            let (number, params) = match rest.split_once(';') {
                Some((n, p)) => (n, parse_params(p)?),
                None => (rest, Vec::new()),
            };
            if number.is_empty() {
                return Err(SipParseError::BadUri);
            }
            return Ok(Uri {
                scheme,
                user: Some(number.to_owned()),
                password: None,
                host: String::new(),
                port: None,
                params,
                headers: Vec::new(),
            });
        }

        // A user part may itself contain ';' and '?' (RFC 4475 §3.1.1.10),
        // while '@' is never legal unescaped after it, so the first '@' ends it.
        let (userinfo, hostpart) = match rest.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
            None => (None, None),
        };
        let (before_headers, headers_part) = match hostpart.split_once('?') {
            Some((a, b)) => (a, Some(b)),
            None => (hostpart, None),
        };
        let (hostport, params_part) = match before_headers.split_once(';') {
            Some((a, b)) => (a, Some(b)),
            None => (before_headers, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let params = match params_part {
            Some(p) => parse_params(p)?,
            None => Vec::new(),
        };
        let headers = match headers_part {
            Some(h) => h
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => (pair.to_owned(), String::new()),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Uri {
            scheme,
            user,
            password,
            host: host.to_owned(),
            port,
            params,
            headers,
        })
    }

    /// The value of a URI parameter (`None` if absent; `Some(None)` if it has
    /// no value, like `;lr`). Names compare case-insensitively.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The `transport=` parameter, if any.
    pub fn transport_param(&self) -> Option<&str> {
        self.param("transport").flatten()
    }

    /// The address-of-record form: scheme, user and lower-cased host, with
    /// no port, parameters or headers (RFC 3261 §10.3 step 5).
    pub fn aor(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "{}:{}@{}",
                self.scheme.as_str(),
                u,
                self.host.to_ascii_lowercase()
            ),
            None => format!(
                "{}:{}",
                self.scheme.as_str(),
                self.host.to_ascii_lowercase()
            ),
        }
    }

    /// A simplified RFC 3261 §19.1.4 comparison: scheme, user, password and
    /// port exactly, host case-insensitively; parameters are ignored.
    pub fn same_address(&self, other: &Uri) -> bool {
        self.scheme == other.scheme
            && self.user == other.user
            && self.password == other.password
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Scheme::Other(_) = self.scheme {
            return f.write_str(&self.host);
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            if self.scheme != Scheme::Tel {
                f.write_str("@")?;
            }
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

pub(crate) fn write_params(
    f: &mut fmt::Formatter<'_>,
    params: &[(String, Option<String>)],
) -> fmt::Result {
    for (n, v) in params {
        match v {
            Some(v) => write!(f, ";{n}={v}")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn parse_params(s: &str) -> Result<Vec<(String, Option<String>)>, SipParseError> {
    s.split(';')
        .map(|p| {
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (p, None),
            };
            if n.is_empty() {
                Err(SipParseError::BadUri)
            } else {
                Ok((n.to_owned(), v))
            }
        })
        .collect()
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 reference.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, Option<u16>), SipParseError> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(SipParseError::BadUri)?;
        let (host, rest) = s.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if rest.is_empty() => (host, None),
            None => return Err(SipParseError::BadUri),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    if !valid_host {
        return Err(SipParseError::BadUri);
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| SipParseError::BadUri)?)
        }
        Some(_) => return Err(SipParseError::BadUri),
        None => None,
    };
    Ok((host, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_sip_uri() {
        let u = Uri::parse(
            "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr?subject=project&priority=urgent",
        )
        .unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "Atlanta.com");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport_param(), Some("tcp"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.aor(), "sips:alice@atlanta.com");
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr?subject=project&priority=urgent"
        );
    }

    #[test]
    fn parses_ipv6_and_tel_and_other() {
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user.as_deref(), Some("+1-201-555-0123"));
        assert_eq!(
            t.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        let o = Uri::parse("mailto:someone@example.com").unwrap();
        assert_eq!(o.to_string(), "mailto:someone@example.com");
    }

    #[test]
    fn escaped_semicolon_in_user_part() {
        // RFC 4475 §3.1.1.10 (semiuri): the user part contains ';'.
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sip",
            "sip:",
            "1sip:a@b",
            "sip:a@",
            "sip:host:99999",
            "sip:host:",
            "sip:a b@c",
            "sip:[::1",
        ] {
            assert_eq!(Uri::parse(bad), Err(SipParseError::BadUri), "{bad}");
        }
    }
}
