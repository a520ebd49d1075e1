//! `ClientMessage::decode`: the first thing the server does with every frame a device sends.

use arbitrary::Unstructured;
use keukentafel_core::sync::ClientMessage;

use super::Target;
use crate::generate::{Pool, client_message, mutate_client_frame};
use crate::mutate::Rng;

/// Decodes a frame; what decodes must encode and decode to the same message.
pub struct ClientMessageTarget;

impl Target for ClientMessageTarget {
    fn run(&mut self, data: &[u8]) {
        if let Ok(msg) = ClientMessage::decode(data) {
            let again = ClientMessage::decode(&msg.encode()).ok();
            assert!(
                again.as_ref() == Some(&msg),
                "a decoded message does not round-trip"
            );
        }
    }

    fn mutate_inside(&self, rng: &mut Rng, input: &[u8], pool: &Pool) -> Option<Vec<u8>> {
        mutate_client_frame(rng, input, pool)
    }

    fn generate(
        &self,
        u: &mut Unstructured<'_>,
        pool: &Pool,
    ) -> arbitrary::Result<Option<Vec<u8>>> {
        Ok(Some(client_message(u, pool)?.encode()))
    }
}
