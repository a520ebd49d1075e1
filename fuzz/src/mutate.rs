//! A small, deterministic, seeded byte mutator in the style of libFuzzer's: bit flips, byte
//! and chunk insert/delete/duplicate, splices with other corpus entries, interesting
//! integers, and edits that find a LEB128 number (Automerge's and postcard's integers) and
//! replace it with an extreme one. Same seed, same corpus: same sequence of inputs.

/// SplitMix64: tiny, fast and good enough to pick mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    /// True with probability 1 in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

/// Numbers at the edges of what decoders check: zero, one, powers of two around the byte,
/// word and allocation sizes, and the extremes.
const INTERESTING: [u64; 16] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x10_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 40,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX,
];

/// Encodes `v` as unsigned LEB128.
pub fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes `v` as signed LEB128.
pub fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

/// The LEB128 number starting at `at`: its length and unsigned value.
fn leb_at(data: &[u8], at: usize) -> Option<(usize, u64)> {
    let mut v: u64 = 0;
    for (i, b) in data.get(at..)?.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f).checked_shl(7 * u32::try_from(i).ok()?)?;
        if b & 0x80 == 0 {
            return Some((i + 1, v));
        }
    }
    None
}

fn chunk_len(rng: &mut Rng, max: usize) -> usize {
    // Mostly short chunks; sometimes long ones.
    let cap = if rng.one_in(8) { max } else { max.min(16) };
    1 + rng.below(cap.max(1))
}

/// Applies one random mutation to `data`, drawing on `others` for splices; keeps the
/// result within `max_len` bytes.
pub fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>], max_len: usize) {
    let len = data.len();
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.bytes(1)[0];
        }
        2 => {
            let at = rng.below(len + 1);
            let n = chunk_len(rng, 64);
            let bytes = if rng.one_in(2) {
                rng.bytes(n)
            } else {
                vec![rng.bytes(1)[0]; n]
            };
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let n = chunk_len(rng, len - at);
            data.drain(at..(at + n).min(len));
        }
        4 if len > 0 => {
            let from = rng.below(len);
            let n = chunk_len(rng, len - from).min(len - from);
            let piece = data[from..from + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, piece);
        }
        5 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if other.is_empty() {
                return;
            }
            let from = rng.below(other.len());
            let n = chunk_len(rng, other.len() - from).min(other.len() - from);
            let at = rng.below(len + 1);
            if rng.one_in(2) {
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            } else {
                data.splice(at..at, other[from..from + n].iter().copied());
            }
        }
        6 if len > 0 => {
            let v = INTERESTING[rng.below(INTERESTING.len())];
            let width = [1usize, 2, 4, 8][rng.below(4)];
            let bytes = if rng.one_in(2) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            let bytes = if bytes[..8 - width].iter().all(|b| *b == 0) || rng.one_in(2) {
                &bytes[..width]
            } else {
                &bytes[8 - width..]
            };
            let at = rng.below(len);
            let end = (at + width).min(len);
            data.splice(at..end, bytes.iter().copied());
        }
        7 | 8 if len > 0 => {
            // Find the LEB128 number at or after a random place and make it extreme.
            let start = rng.below(len);
            let Some((at, n, v)) = (start..len)
                .take(32)
                .find_map(|i| leb_at(data, i).map(|(n, v)| (i, n, v)))
            else {
                return;
            };
            let new = match rng.below(5) {
                0 => INTERESTING[rng.below(INTERESTING.len())],
                1 => v.wrapping_add(1),
                2 => v.wrapping_sub(1),
                3 => v.wrapping_mul(1 << (1 + rng.below(40))),
                _ => v ^ (1 << rng.below(64)),
            };
            let mut enc = Vec::new();
            if rng.one_in(3) {
                sleb(&mut enc, new as i64);
            } else {
                uleb(&mut enc, new);
            }
            data.splice(at..at + n, enc);
        }
        9 if len > 0 => data.truncate(rng.below(len)),
        10 if len > 0 => {
            // Text protocols (the JSON API) carry numbers in decimal: make one extreme.
            let start = rng.below(len);
            let Some(at) = (start..len).find(|i| data[*i].is_ascii_digit()) else {
                return;
            };
            let end = (at..len)
                .find(|i| !data[*i].is_ascii_digit())
                .unwrap_or(len);
            let v = INTERESTING[rng.below(INTERESTING.len())];
            let text = match rng.below(3) {
                0 => (v as i64).to_string(),
                1 => format!("-{v}"),
                _ => v.to_string(),
            };
            data.splice(at..end, text.into_bytes());
        }
        _ if len > 1 => {
            let (a, b) = (rng.below(len), rng.below(len));
            data.swap(a, b);
        }
        _ => {
            let n = chunk_len(rng, 8);
            data.extend(rng.bytes(n));
        }
    }
    data.truncate(max_len);
}

/// A new input from `base`: one to four stacked mutations.
pub fn mutate(rng: &mut Rng, base: &[u8], others: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut data, others, max_len);
    }
    data
}

/// The first bytes of every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Recomputes the checksum of every Automerge chunk in `data` whose declared length fits, so
/// that a mutated chunk gets past the checksum to the column decoders.
pub fn fix_checksums(data: &mut [u8]) {
    use sha2::Digest;
    let mut at = 0;
    while let Some(found) = data
        .get(at..)
        .and_then(|rest| rest.windows(4).position(|w| w == MAGIC))
    {
        let start = at + found;
        at = start + 4;
        let Some((n, len)) = leb_at(data, start + 9) else {
            continue;
        };
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| (start + 9 + n).checked_add(len))
            .filter(|end| *end <= data.len())
        else {
            continue;
        };
        let hash = sha2::Sha256::digest(&data[start + 8..end]);
        data[start + 4..start + 8].copy_from_slice(&hash[..4]);
    }
}

/// Most bytes [`inflate_chunks`] inflates one chunk to.
const MAX_INFLATED: u64 = 4 << 20;

/// `data` with every compressed change chunk (type 2) replaced by the same change
/// uncompressed (type 1), so that mutations hit the columns rather than deflate's bit
/// stream. Chunks are walked from the start; whatever does not parse is kept as it is.
pub fn inflate_chunks(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    while at < data.len() {
        let parsed = data
            .get(at..at + 4)
            .filter(|m| *m == MAGIC)
            .and_then(|_| Some((*data.get(at + 8)?, leb_at(data, at + 9)?)))
            .and_then(|(kind, (n, len))| {
                let body = at + 9 + n;
                let end = body.checked_add(usize::try_from(len).ok()?)?;
                (end <= data.len()).then_some((kind, body, end))
            });
        let Some((kind, body, end)) = parsed else {
            out.extend_from_slice(&data[at..]);
            break;
        };
        let mut inflated = Vec::new();
        let ok = kind == 2
            && flate2::read::DeflateDecoder::new(&data[body..end])
                .take(MAX_INFLATED)
                .read_to_end(&mut inflated)
                .is_ok();
        if ok {
            out.extend_from_slice(&data[at..at + 8]);
            out.push(1);
            uleb(&mut out, inflated.len() as u64);
            out.extend_from_slice(&inflated);
        } else {
            out.extend_from_slice(&data[at..end]);
        }
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let corpus = vec![
            b"hello world".to_vec(),
            vec![0x85, 0x6f, 0x4a, 0x83, 0x80, 1],
        ];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|i| mutate(&mut rng, &corpus[i % 2], &corpus, 1024))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn leb_edits_rewrite_a_whole_number() {
        let mut out = Vec::new();
        uleb(&mut out, 300);
        assert_eq!(leb_at(&out, 0), Some((2, 300)));
        let mut s = Vec::new();
        sleb(&mut s, -1);
        assert_eq!(s, vec![0x7f]);
    }

    #[test]
    fn a_broken_checksum_is_repaired() {
        let mut chunk = MAGIC.to_vec();
        chunk.extend_from_slice(&[0; 4]);
        chunk.extend_from_slice(&[1, 3, b'a', b'b', b'c']);
        let mut framed = [b"xy".as_slice(), &chunk, b"z"].concat();
        fix_checksums(&mut framed);
        use sha2::Digest;
        let hash = sha2::Sha256::digest([1, 3, b'a', b'b', b'c']);
        assert_eq!(&framed[6..10], &hash[..4]);
    }

    #[test]
    fn mutations_keep_within_the_length_limit() {
        let mut rng = Rng::new(1);
        let base = vec![0xaa; 100];
        for _ in 0..2_000 {
            assert!(mutate(&mut rng, &base, std::slice::from_ref(&base), 128).len() <= 128);
        }
    }
}
