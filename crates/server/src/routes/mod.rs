//! HTTP handlers, one module per resource. Handlers parse and check input,
//! call the store, publish what the store committed, and shape the answer.

pub mod auth;
pub mod automation;
pub mod calls;
pub mod contacts;
pub mod conversations;
pub mod files;
pub mod hours_sla;
pub mod inboxes;
pub mod library;
pub mod public_files;
pub mod realtime;
pub mod routing;
pub mod system;
pub mod teams;
pub mod voice;
pub mod webhooks;
pub mod widget;
pub mod workspace;

use crate::error::ApiError;
use serde::Deserialize;
use switchboard_store::{Cursor, Page};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| ApiError::BadRequest("cursor is not valid".into()))?),
        };
        Ok(Page { after, limit })
    }
}

pub fn next_cursor(next: Option<Cursor>) -> Option<String> {
    next.map(Cursor::encode)
}
