//! Dialog state (RFC 3261 §12) for both sides of a call, and the building
//! of in-dialog requests (BYE, re-INVITE, ACK for 2xx).

use super::error::SipParseError;
use super::header::{Contact, NameAddr};
use super::message::{Method, Request, Response, SipMessage};
use super::uri::{Scheme, Uri};

/// Call-ID plus both tags, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request belongs to (we are its UAS side for
    /// this request: our tag is in To). `None` outside a dialog (no To tag).
    pub fn for_incoming_request(request: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: request.call_id().ok()?.to_owned(),
            local_tag: request.to().ok()?.tag()?.to_owned(),
            remote_tag: request.from().ok()?.tag()?.to_owned(),
        })
    }

    /// The dialog a response to our request belongs to (our tag is in From).
    pub fn for_incoming_response(response: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: response.call_id().ok()?.to_owned(),
            local_tag: response.from().ok()?.tag()?.to_owned(),
            remote_tag: response.to().ok()?.tag()?.to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 1xx with a To tag.
    Early,
    Confirmed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("malformed message: {0}")]
    Malformed(#[from] SipParseError),
    #[error("a From or To tag is missing")]
    MissingTag,
    #[error("the response does not create a dialog")]
    NotDialogCreating,
    #[error("CSeq {got} is not above {last}; answer 500")]
    OutOfOrder { got: u32, last: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// Our address without tag (From of our requests).
    pub local_uri: NameAddr,
    /// Their address without tag (To of our requests).
    pub remote_uri: NameAddr,
    /// The CSeq of our last request in this dialog.
    pub local_seq: u32,
    /// The CSeq of their last request, once they sent one.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go: their Contact.
    pub remote_target: Uri,
    /// Our Contact, sent in target refresh requests.
    pub local_contact: Option<NameAddr>,
    pub route_set: Vec<NameAddr>,
    pub secure: bool,
}

fn without_tag(mut addr: NameAddr) -> NameAddr {
    addr.params.retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
    addr
}

fn contact_uri<M: SipMessage>(m: &M) -> Result<Option<Uri>, DialogError> {
    Ok(m.contacts()?.into_iter().find_map(|c| match c {
        Contact::Address(a) => Some(a.uri),
        Contact::Wildcard => None,
    }))
}

impl Dialog {
    /// The UAC side, from our INVITE (or SUBSCRIBE/REFER) and a 1xx/2xx
    /// carrying a To tag (§12.1.2). The route set is Record-Route reversed.
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        if !(101..300).contains(&response.status) {
            return Err(DialogError::NotDialogCreating);
        }
        let id = DialogId::for_incoming_response(response).ok_or(DialogError::MissingTag)?;
        let mut route_set = response.record_routes()?;
        route_set.reverse();
        Ok(Dialog {
            id,
            state: if response.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_uri: without_tag(request.from()?),
            remote_uri: without_tag(response.to()?),
            local_seq: request.cseq()?.seq,
            remote_seq: None,
            remote_target: contact_uri(response)?.unwrap_or_else(|| request.uri.clone()),
            local_contact: request.contacts()?.into_iter().find_map(|c| match c {
                Contact::Address(a) => Some(a),
                Contact::Wildcard => None,
            }),
            route_set,
            secure: request.uri.scheme == Scheme::Sips,
        })
    }

    /// The UAS side, from a dialog-creating request we answer with a To tag
    /// of `local_tag` and a Contact of `local_contact` (§12.1.1).
    pub fn uas(
        request: &Request,
        local_tag: &str,
        local_contact: NameAddr,
    ) -> Result<Dialog, DialogError> {
        let from = request.from()?;
        let remote_tag = from.tag().ok_or(DialogError::MissingTag)?.to_owned();
        Ok(Dialog {
            id: DialogId {
                call_id: request.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag,
            },
            state: DialogState::Confirmed,
            local_uri: without_tag(request.to()?),
            remote_uri: without_tag(from),
            local_seq: 0,
            remote_seq: Some(request.cseq()?.seq),
            remote_target: contact_uri(request)?.unwrap_or_else(|| request.uri.clone()),
            local_contact: Some(local_contact),
            route_set: request.record_routes()?,
            secure: request.uri.scheme == Scheme::Sips,
        })
    }

    /// A 2xx for an early dialog confirms it and refreshes target and route set.
    pub fn on_response(&mut self, response: &Response) -> Result<(), DialogError> {
        if response.is_success() && self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            let mut routes = response.record_routes()?;
            routes.reverse();
            self.route_set = routes;
        }
        if let Some(target) = contact_uri(response)? {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Checks an incoming in-dialog request's CSeq (§12.2.2) and applies a
    /// target refresh. ACK and CANCEL reuse their INVITE's number.
    pub fn on_request(&mut self, request: &Request) -> Result<(), DialogError> {
        let seq = request.cseq()?.seq;
        if !matches!(request.method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq
                && seq <= last
            {
                return Err(DialogError::OutOfOrder { got: seq, last });
            }
            self.remote_seq = Some(seq);
        }
        if matches!(
            request.method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify
        ) && let Some(target) = contact_uri(request)?
        {
            self.remote_target = target;
        }
        Ok(())
    }

    /// A new in-dialog request with the next CSeq (§12.2.1.1). `via` is the
    /// full Via value with a fresh branch.
    pub fn new_request(&mut self, method: Method, via: &str) -> Request {
        self.local_seq = self.local_seq.saturating_add(1);
        self.build(method, self.local_seq, via)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4):
    /// same number, its own branch.
    pub fn ack(&self, invite_seq: u32, via: &str) -> Request {
        self.build(Method::Ack, invite_seq, via)
    }

    fn build(&self, method: Method, seq: u32, via: &str) -> Request {
        let loose = self
            .route_set
            .first()
            .is_none_or(|r| r.uri.param("lr").is_some());
        let (uri, routes): (Uri, Vec<String>) = match self.route_set.split_first() {
            Some((first, rest)) if !loose => {
                // Strict routing (RFC 2543 proxy): the first route becomes
                // the Request-URI and the remote target travels last.
                let mut routes: Vec<String> = rest.iter().map(NameAddr::to_string).collect();
                routes.push(NameAddr::new(self.remote_target.clone()).to_string());
                (first.uri.clone(), routes)
            }
            _ => (
                self.remote_target.clone(),
                self.route_set.iter().map(NameAddr::to_string).collect(),
            ),
        };
        let mut request = Request::new(method.clone(), uri);
        request.headers.push("Via", via);
        request.headers.push("Max-Forwards", "70");
        for r in routes {
            request.headers.push("Route", r);
        }
        let mut from = self.local_uri.clone();
        from.set_param("tag", Some(self.id.local_tag.clone()));
        let mut to = self.remote_uri.clone();
        to.set_param("tag", Some(self.id.remote_tag.clone()));
        request.headers.push("From", from.to_string());
        request.headers.push("To", to.to_string());
        request.headers.push("Call-ID", self.id.call_id.clone());
        request.headers.push("CSeq", format!("{seq} {method}"));
        if matches!(method, Method::Invite | Method::Update)
            && let Some(contact) = &self.local_contact
        {
            request.headers.push("Contact", contact.to_string());
        }
        request
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn invite() -> Request {
        let mut r = Request::new(Method::Invite, Uri::parse("sip:bob@biloxi.com").unwrap());
        r.headers
            .push("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK74bf9");
        r.headers
            .push("From", "Alice <sip:alice@atlanta.com>;tag=9fxced76sl");
        r.headers.push("To", "Bob <sip:bob@biloxi.com>");
        r.headers.push("Call-ID", "3848276298220188511@atlanta.com");
        r.headers.push("CSeq", "1 INVITE");
        r.headers.push("Contact", "<sip:alice@client.atlanta.com>");
        r
    }

    fn ok(req: &Request) -> Response {
        let mut resp = Response::for_request(req, 200, "OK", Some("8321234356"));
        resp.headers
            .push("Record-Route", "<sip:ss2.biloxi.example.com;lr>");
        resp.headers
            .push("Record-Route", "<sip:ss1.atlanta.example.com;lr>");
        resp.headers
            .push("Contact", "<sip:bob@client.biloxi.example.com>");
        resp
    }

    #[test]
    fn uac_dialog_builds_ack_and_bye_with_routes() {
        let req = invite();
        let mut d = Dialog::uac(&req, &ok(&req)).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.id.local_tag, "9fxced76sl");
        assert_eq!(d.id.remote_tag, "8321234356");
        let ack = d.ack(1, "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKack");
        assert_eq!(ack.uri.to_string(), "sip:bob@client.biloxi.example.com");
        assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
        assert_eq!(
            ack.headers.get_all("Route").collect::<Vec<_>>(),
            [
                "<sip:ss1.atlanta.example.com;lr>",
                "<sip:ss2.biloxi.example.com;lr>"
            ]
        );
        let bye = d.new_request(
            Method::Bye,
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKbye",
        );
        assert_eq!(bye.cseq().unwrap().seq, 2);
        assert_eq!(bye.from().unwrap().tag(), Some("9fxced76sl"));
        assert_eq!(bye.to().unwrap().tag(), Some("8321234356"));
        assert_eq!(bye.to().unwrap().display_name.as_deref(), Some("Bob"));
        assert_eq!(bye.headers.get("Contact"), None);
        let reinvite = d.new_request(
            Method::Invite,
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKre",
        );
        assert_eq!(reinvite.cseq().unwrap().seq, 3);
        assert_eq!(
            reinvite.headers.get("Contact"),
            Some("<sip:alice@client.atlanta.com>")
        );
    }

    #[test]
    fn uas_dialog_matches_and_orders_requests() {
        let req = invite();
        let mut d = Dialog::uas(
            &req,
            "uas-tag",
            NameAddr::new(Uri::parse("sip:pbx@192.0.2.1").unwrap()),
        )
        .unwrap();
        assert_eq!(d.remote_target.to_string(), "sip:alice@client.atlanta.com");
        let mut bye = Request::new(Method::Bye, Uri::parse("sip:pbx@192.0.2.1").unwrap());
        bye.headers
            .push("From", "Alice <sip:alice@atlanta.com>;tag=9fxced76sl");
        bye.headers
            .push("To", "Bob <sip:bob@biloxi.com>;tag=uas-tag");
        bye.headers
            .push("Call-ID", "3848276298220188511@atlanta.com");
        bye.headers.push("CSeq", "2 BYE");
        assert_eq!(DialogId::for_incoming_request(&bye), Some(d.id.clone()));
        assert_eq!(d.on_request(&bye), Ok(()));
        assert_eq!(
            d.on_request(&bye),
            Err(DialogError::OutOfOrder { got: 2, last: 2 })
        );
        let ours = d.new_request(Method::Bye, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx");
        assert_eq!(ours.cseq().unwrap().seq, 1);
        assert_eq!(ours.to().unwrap().tag(), Some("9fxced76sl"));
        assert_eq!(
            DialogId::for_incoming_request(&invite()),
            None,
            "no To tag: not in a dialog"
        );
    }

    #[test]
    fn strict_route_puts_target_last() {
        let req = invite();
        let mut resp = ok(&req);
        resp.headers.remove("Record-Route");
        resp.headers
            .push("Record-Route", "<sip:strict.example.com>");
        let d = Dialog::uac(&req, &resp).unwrap();
        let ack = d.ack(1, "SIP/2.0/UDP h;branch=z9hG4bKs");
        assert_eq!(ack.uri.to_string(), "sip:strict.example.com");
        assert_eq!(
            ack.headers.get("Route"),
            Some("<sip:bob@client.biloxi.example.com>")
        );
    }
}
