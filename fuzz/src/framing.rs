//! Several frames in one fuzz input: each a little-endian `u32` length and the bytes. A
//! length past the end takes the rest, so every mutation still yields frames.

/// Most frames taken from one input: keeps one execution short.
pub const MAX_FRAMES: usize = 16;

/// The frames of an input.
pub fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < MAX_FRAMES {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            out.push(data);
            break;
        };
        let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
        let (frame, rest) = rest.split_at(len.min(rest.len()));
        out.push(frame);
        data = rest;
    }
    out
}

/// One input carrying `frames`.
pub fn join<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let f = f.as_ref();
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_a_round_trip_and_a_short_length_takes_the_rest() {
        let input = join(&[b"abc".as_slice(), b"", b"de"]);
        assert_eq!(split(&input), vec![b"abc".as_slice(), b"", b"de"]);
        let mut cut = join(&[b"abcdef".as_slice()]);
        cut.truncate(7);
        assert_eq!(split(&cut), vec![b"abc".as_slice()]);
    }
}
