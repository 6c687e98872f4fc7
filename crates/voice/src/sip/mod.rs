//! SIP (RFC 3261): message grammar, transactions, dialogs, digest auth and
//! the registrar. Sans-IO: nothing here reads a socket or a clock; the
//! server's socket loop feeds bytes and `now` in and carries the outputs out.

pub mod dialog;
pub mod digest;
pub mod error;
pub mod header;
pub mod message;
pub mod parse;
pub mod register_client;
pub mod registrar;
pub mod transaction;
pub mod uri;

pub use dialog::{Dialog, DialogError, DialogId, DialogState};
pub use digest::{DigestAuthenticator, DigestCredentials, DigestError, authorize, challenge_is_stale, ha1};
pub use error::SipParseError;
pub use header::{AuthParams, CSeq, Contact, Header, Headers, NameAddr, Via};
pub use message::{Message, Method, Request, Response, SipMessage};
pub use parse::{MAX_HEADERS, MAX_MESSAGE_SIZE, leading_crlf_len, parse_datagram, parse_stream};
pub use register_client::{RegisterClient, RegisterConfig, RegisterStep};
pub use registrar::{Binding, Registrar, RegistrarConfig};
pub use transaction::{
    Output, Peer, Role, TimerConfig, TransactionError, TransactionKey, TransactionLayer, Transport,
    response_destination,
};
pub use uri::{Scheme, Uri};
