//! Carrying out a fan-out object's own plan ([`crate::fanout::Plan`]), in order.

use crate::fanout::Op;
use crate::shell::room::sockets::{attachment, mark_closing, send_text, set_attachment};
use std::collections::{BTreeSet, HashMap, HashSet};
use wasm_bindgen::JsValue;
use worker::WebSocket;

/// Ends a socket as the room decided: marked closing (its frames are dropped from now on, and
/// a wake does not bring it back), then closed now (`by` 0) or left to the client until `by`.
fn end(ws: &WebSocket, code: u16, reason: &str, by: u64) {
    if let Some(mut a) = attachment(ws) {
        a.closing = true;
        if by > 0 {
            (a.close_by, a.close_code) = (by, code);
        }
        let _ = set_attachment(ws, &a);
    }
    mark_closing(ws);
    if by == 0 {
        let _ = ws.close(Some(code), Some(reason));
    }
}

/// A plan being carried out: its texts (each converted to a JS string once, when first sent),
/// the connections it named that are not here, and the earliest fallback close it set.
pub(super) struct Run<'p> {
    pub(super) texts: &'p [String],
    pub(super) js: Vec<Option<JsValue>>,
    pub(super) missing: BTreeSet<String>,
    /// The connections a `check` named that are not here.
    pub(super) lost: BTreeSet<String>,
    pub(super) wake: Option<u64>,
}

impl Run<'_> {
    pub(super) fn op(&mut self, map: &mut HashMap<String, WebSocket>, op: Op) {
        match op {
            Op::Send { t, to } => {
                for c in to {
                    match map.get(&c) {
                        Some(ws) => self.send(ws, &t),
                        None => {
                            self.missing.insert(c);
                        }
                    }
                }
            }
            Op::SendAll { t, except } => {
                let except: HashSet<&str> = except.iter().map(String::as_str).collect();
                let to = map.iter().filter(|(c, _)| !except.contains(c.as_str()));
                for (_, ws) in to {
                    self.send(ws, &t);
                }
            }
            Op::Close {
                c,
                code,
                reason,
                by,
            } => {
                if let Some(ws) = map.remove(&c) {
                    end(&ws, code, &reason, by);
                    if by > 0 {
                        self.wake = Some(self.wake.map_or(by, |w| w.min(by)));
                    }
                }
            }
            Op::Check { c } => {
                self.lost
                    .extend(c.into_iter().filter(|c| !map.contains_key(c)));
            }
        }
    }

    /// Sends texts `t`, in order, to one socket.
    fn send(&mut self, ws: &WebSocket, t: &[usize]) {
        for &i in t {
            let (Some(text), Some(js)) = (self.texts.get(i), self.js.get_mut(i)) else {
                continue;
            };
            let _ = send_text(ws, js.get_or_insert_with(|| JsValue::from_str(text)));
        }
    }
}
