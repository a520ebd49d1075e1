//! Structure-aware inputs: protocol messages built with `arbitrary` from random bytes, out
//! of the documents and change bytes the corpus already holds, so that a generated push
//! names a real case and carries (pieces of) real Automerge changes.

use arbitrary::{Result, Unstructured};

use crate::framing;
use crate::mutate::{Rng, fix_checksums, inflate_chunks, mutate};
use keukentafel_core::sync::{
    ClientMessage, DocChanges, DocRef, DocUpdate, Heads, Payload, ServerMessage,
};
use keukentafel_core::{CaseId, WorkspaceId};

/// Documents and byte strings seen in the corpus.
#[derive(Debug, Default)]
pub struct Pool {
    /// Documents named by corpus messages.
    pub docs: Vec<DocRef>,
    /// Change and document bytes carried by corpus messages.
    pub blobs: Vec<Vec<u8>>,
}

impl Pool {
    /// Collects what the decodable frames among `frames` name and carry.
    pub fn from_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Pool {
        let mut pool = Pool::default();
        for f in frames {
            if let Ok(m) = ClientMessage::decode(f) {
                match m {
                    ClientMessage::Hello { lacking, .. } => pool.docs.extend(lacking),
                    ClientMessage::Push { docs, .. } => {
                        for d in docs {
                            pool.docs.push(d.doc);
                            pool.blobs.push(d.changes);
                        }
                    }
                    ClientMessage::Ack { .. } => {}
                }
            } else if let Ok(m) = ServerMessage::decode(f) {
                match m {
                    ServerMessage::Updates { docs, .. } => {
                        for d in docs {
                            pool.docs.push(d.doc);
                            match d.payload {
                                Payload::Full(b) | Payload::Changes(b) => pool.blobs.push(b),
                                Payload::Remove => {}
                            }
                        }
                    }
                    ServerMessage::Accepted { doc, .. } | ServerMessage::Refused { doc, .. } => {
                        pool.docs.push(doc);
                    }
                    ServerMessage::UpToDate { .. } | ServerMessage::Stop { .. } => {}
                }
            }
        }
        pool.docs.sort();
        pool.docs.dedup();
        pool.blobs.sort();
        pool.blobs.dedup();
        pool
    }
}

fn id_string(u: &mut Unstructured<'_>) -> Result<String> {
    // Sometimes longer than an id may be, sometimes with characters an id may not hold.
    let len = u.int_in_range(0..=80)?;
    (0..len)
        .map(|_| Ok(char::from(*u.choose(b"0123456789abcdef-_Z/ \xc3")?)))
        .collect()
}

fn doc_ref(u: &mut Unstructured<'_>, pool: &Pool) -> Result<DocRef> {
    if !pool.docs.is_empty() && u.ratio(7, 8)? {
        return Ok(u.choose(&pool.docs)?.clone());
    }
    // Ids that fail validation cannot be built (they are refused when decoding, which byte
    // mutations try); those become fresh random ids, unknown to the server.
    let s = id_string(u)?;
    Ok(if u.arbitrary()? {
        DocRef::Case(CaseId::parse(&s).unwrap_or_else(|_| CaseId::random()))
    } else {
        DocRef::Workspace(WorkspaceId::parse(&s).unwrap_or_else(|_| WorkspaceId::random()))
    })
}

fn blob(u: &mut Unstructured<'_>, pool: &Pool) -> Result<Vec<u8>> {
    if pool.blobs.is_empty() || u.ratio(1, 8)? {
        return u.arbitrary();
    }
    let mut out = Vec::new();
    // Concatenated changes of several documents, or a piece of one.
    for _ in 0..u.int_in_range(1..=3)? {
        let b = u.choose(&pool.blobs)?;
        let from = u.int_in_range(0..=b.len())?;
        let to = if u.ratio(3, 4)? {
            b.len()
        } else {
            u.int_in_range(from..=b.len())?
        };
        out.extend_from_slice(if u.ratio(3, 4)? { b } else { &b[from..to] });
    }
    Ok(out)
}

fn heads(u: &mut Unstructured<'_>) -> Result<Heads> {
    let n = u.int_in_range(0..=3)?;
    Ok(Heads((0..n).map(|_| u.arbitrary()).collect::<Result<_>>()?))
}

fn cursor(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(if u.ratio(3, 4)? {
        u.int_in_range(0..=20)?
    } else {
        u.arbitrary()?
    })
}

/// A message a device might send, honest or not.
pub fn client_message(u: &mut Unstructured<'_>, pool: &Pool) -> Result<ClientMessage> {
    Ok(match u.int_in_range(0..=3)? {
        0 => ClientMessage::Hello {
            cursor: cursor(u)?,
            lacking: (0..u.int_in_range(0..=3)?)
                .map(|_| doc_ref(u, pool))
                .collect::<Result<_>>()?,
        },
        1 => ClientMessage::Ack { cursor: cursor(u)? },
        _ => ClientMessage::Push {
            batch: u.arbitrary()?,
            docs: (0..u.int_in_range(0..=3)?)
                .map(|_| {
                    Ok(DocChanges {
                        doc: doc_ref(u, pool)?,
                        changes: blob(u, pool)?,
                    })
                })
                .collect::<Result<_>>()?,
        },
    })
}

/// A message a server might send, honest or not.
pub fn server_message(u: &mut Unstructured<'_>, pool: &Pool) -> Result<ServerMessage> {
    let reason = |u: &mut Unstructured<'_>| -> Result<String> { u.arbitrary() };
    Ok(match u.int_in_range(0..=5)? {
        0 => ServerMessage::UpToDate { cursor: cursor(u)? },
        1 => ServerMessage::Accepted {
            batch: u.arbitrary()?,
            doc: doc_ref(u, pool)?,
            heads: heads(u)?,
        },
        2 => ServerMessage::Refused {
            batch: u.arbitrary()?,
            doc: doc_ref(u, pool)?,
            reason: reason(u)?,
            heads: heads(u)?,
        },
        3 if u.ratio(1, 4)? => ServerMessage::Stop {
            reason: reason(u)?,
            erase: u.arbitrary()?,
        },
        _ => ServerMessage::Updates {
            cursor: cursor(u)?,
            more: u.arbitrary()?,
            docs: (0..u.int_in_range(0..=3)?)
                .map(|_| {
                    Ok(DocUpdate {
                        doc: doc_ref(u, pool)?,
                        payload: match u.int_in_range(0..=4)? {
                            0 => Payload::Remove,
                            1 => Payload::Full(blob(u, pool)?),
                            _ => Payload::Changes(blob(u, pool)?),
                        },
                        heads: heads(u)?,
                    })
                })
                .collect::<Result<_>>()?,
        },
    })
}

/// Longest byte string the in-message mutations make.
const MAX_BLOB: usize = 1 << 20;

/// Mutates Automerge bytes, mostly uncompressed first, and mostly repairs their chunk
/// checksums after.
pub fn mutate_automerge(rng: &mut Rng, bytes: &[u8], pool: &Pool) -> Vec<u8> {
    let mut out = if rng.one_in(4) {
        mutate(rng, bytes, &pool.blobs, MAX_BLOB)
    } else {
        mutate(rng, &inflate_chunks(bytes), &pool.blobs, MAX_BLOB)
    };
    if !rng.one_in(4) {
        fix_checksums(&mut out);
    }
    out
}

/// A push with one document's changes mutated, re-encoded so that the message still
/// decodes and the mutation reaches the change decoder; `None` for other frames.
pub fn mutate_client_frame(rng: &mut Rng, frame: &[u8], pool: &Pool) -> Option<Vec<u8>> {
    let ClientMessage::Push { batch, mut docs } = ClientMessage::decode(frame).ok()? else {
        return None;
    };
    let i = rng.below(docs.len());
    let d = docs.get_mut(i)?;
    d.changes = mutate_automerge(rng, &d.changes, pool);
    Some(ClientMessage::Push { batch, docs }.encode())
}

/// An update with one document's payload mutated likewise; `None` for other frames.
pub fn mutate_server_frame(rng: &mut Rng, frame: &[u8], pool: &Pool) -> Option<Vec<u8>> {
    let ServerMessage::Updates {
        cursor,
        mut docs,
        more,
    } = ServerMessage::decode(frame).ok()?
    else {
        return None;
    };
    let i = rng.below(docs.len());
    match &mut docs.get_mut(i)?.payload {
        Payload::Full(b) | Payload::Changes(b) => *b = mutate_automerge(rng, b, pool),
        Payload::Remove => return None,
    }
    Some(ServerMessage::Updates { cursor, docs, more }.encode())
}

/// Applies `one` to a frame of a framed input, trying the frames from a random one on.
pub fn mutate_some_frame(
    rng: &mut Rng,
    input: &[u8],
    pool: &Pool,
    one: fn(&mut Rng, &[u8], &Pool) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = framing::split(input)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let start = rng.below(frames.len());
    for k in 0..frames.len() {
        let i = (start + k) % frames.len();
        if let Some(m) = one(rng, &frames[i], pool) {
            frames[i] = m;
            return Some(framing::join(&frames));
        }
    }
    None
}
