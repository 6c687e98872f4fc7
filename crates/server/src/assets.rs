//! The web UI files embedded at build time (see build.rs).

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

pub struct Asset {
    pub mime: &'static str,
    pub bytes: &'static [u8],
}

pub fn get(path: &str) -> Option<&'static Asset> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static INDEX: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    INDEX
        .get_or_init(|| ASSETS.iter().map(|(p, m, b)| (*p, Asset { mime: m, bytes: b })).collect())
        .get(path)
}

pub fn has_ui() -> bool {
    get("index.html").is_some()
}
