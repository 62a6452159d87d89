//! Owned copies of the DOM-style drivers' events (`websocket::Event`),
//! comparable in assertions: for the DOM layer's unit tests and the driver
//! suites.

use super::Fault;
use crate::websocket::{Event, MessageData};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// An owned, comparable summary of a DOM [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomEv {
    Open,
    Text(String),
    Blob(Vec<u8>),
    ArrayBuffer(Vec<u8>),
    /// Which failure the error event reported.
    Error(Fault),
    Close {
        clean: bool,
        code: u16,
        reason: String,
    },
}

impl DomEv {
    pub fn text(t: &str) -> Self {
        DomEv::Text(t.to_owned())
    }

    /// The close event with these attributes.
    pub fn close(clean: bool, code: u16, reason: &str) -> Self {
        DomEv::Close {
            clean,
            code,
            reason: reason.to_owned(),
        }
    }
}

/// The owned summary of `event`.
pub fn own_dom(event: &Event) -> DomEv {
    match event {
        Event::Open => DomEv::Open,
        Event::Message(m) => match &m.data {
            MessageData::Text(t) => DomEv::Text(t.clone()),
            MessageData::Blob(b) => DomEv::Blob(b.to_vec()),
            MessageData::ArrayBuffer(b) => DomEv::ArrayBuffer(b.clone()),
        },
        Event::Error(e) => DomEv::Error(Fault::from(&e.error)),
        Event::Close(c) => DomEv::close(c.was_clean, c.code, &c.reason),
    }
}
