//! A structural check of Automerge's binary format, run before Automerge decodes anything.
//!
//! Automerge 0.12 trusts the run counts inside columns: a 40-byte document whose column
//! says "this value, 2^40 times" makes it allocate terabytes and abort, which no
//! `catch_unwind` can stop. Deflated columns and compressed changes can likewise inflate a
//! thousandfold. This walk reads chunk headers, inflates under a byte budget and adds up
//! every column's rows without materialising them, so the cost of what Automerge will
//! allocate is known, and bounded, before it runs.
//!
//! Layout (Automerge binary format): a chunk is `magic(4) checksum(4) type(1) uleb(len)
//! data(len)`; type 0 is a document, 1 a change, 2 a deflated change, 3 a bundle. Column
//! metadata is a count of `(uleb spec, uleb length)` pairs; `spec & 8` marks a deflated
//! column and `spec & 7` its encoding.

use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// What makes a chunk unacceptable; static texts only, since the input is hostile.
pub(super) type Refusal = &'static str;

type Check<T> = Result<T, Refusal>;

/// Bounds for one call.
pub(super) struct Budget {
    /// Rows any one column may describe (and values a group column may sum to).
    pub max_rows: u64,
    /// Rows all columns of the input together may still describe: a batch of many chunks,
    /// each just under `max_rows`, is bounded too.
    pub rows_left: u64,
    /// Bytes all inflation together may produce.
    pub inflate_left: u64,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn byte(&mut self) -> Check<u8> {
        let b = *self.bytes.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Check<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| "length out of range")?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("length beyond the input")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uleb(&mut self) -> Check<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err("integer overflow");
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("integer overflow")
    }

    fn sleb(&mut self) -> Check<i64> {
        let mut value: i64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if shift >= 63 && b & 0x80 != 0 {
                return Err("integer overflow");
            }
            value |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
            if shift > 63 {
                return Err("integer overflow");
            }
        }
    }

    fn skip_prefixed(&mut self) -> Check<()> {
        let len = self.uleb()?;
        self.take(len).map(|_| ())
    }
}

fn add_rows(a: u64, b: u64, budget: &Budget) -> Check<u64> {
    let sum = a.checked_add(b).ok_or("too many rows")?;
    if sum > budget.max_rows {
        Err("too many rows")
    } else {
        Ok(sum)
    }
}

const GROUP: u64 = 0;
const BOOLEAN: u64 = 4;
const STRING: u64 = 5;
const RAW: u64 = 7;

/// Adds up the rows one uncompressed column describes, and takes them from the budget.
fn column_rows(encoding: u64, data: &[u8], budget: &mut Budget) -> Check<()> {
    let mut c = Cursor::new(data);
    let (mut rows, mut group_sum) = (0u64, 0u64);
    match encoding {
        // Raw value bytes: their length is bounded by the input, their count by the
        // value-metadata column.
        RAW => {}
        // Alternating run lengths of false and true.
        BOOLEAN => {
            while !c.done() {
                rows = add_rows(rows, c.uleb()?, budget)?;
            }
        }
        // Run-length encoded (group, actor, integer, string, value metadata) and delta
        // columns: a positive count repeats one value, a negative count lists literals,
        // zero is followed by a count of nulls.
        _ => {
            while !c.done() {
                let n = c.sleb()?;
                if n > 0 {
                    let n = n.unsigned_abs();
                    rows = add_rows(rows, n, budget)?;
                    let v = skip_value(&mut c, encoding)?;
                    if encoding == GROUP {
                        group_sum =
                            add_rows(group_sum, v.checked_mul(n).ok_or("too many rows")?, budget)?;
                    }
                } else if n < 0 {
                    let k = n.unsigned_abs();
                    rows = add_rows(rows, k, budget)?;
                    for _ in 0..k {
                        let v = skip_value(&mut c, encoding)?;
                        if encoding == GROUP {
                            group_sum = add_rows(group_sum, v, budget)?;
                        }
                    }
                } else {
                    rows = add_rows(rows, c.uleb()?, budget)?;
                }
            }
        }
    }
    budget.rows_left = budget.rows_left.checked_sub(rows).ok_or("too many rows")?;
    Ok(())
}

fn skip_value(c: &mut Cursor<'_>, encoding: u64) -> Check<u64> {
    if encoding == STRING {
        c.skip_prefixed()?;
        Ok(0)
    } else {
        // Signed and unsigned LEB128 have the same length; the value only matters for group
        // columns, which are unsigned.
        c.uleb()
    }
}

fn column_specs(c: &mut Cursor<'_>) -> Check<Vec<(u64, u64)>> {
    let n = c.uleb()?;
    let mut specs = Vec::new();
    for _ in 0..n {
        specs.push((c.uleb()?, c.uleb()?));
    }
    Ok(specs)
}

fn columns(
    c: &mut Cursor<'_>,
    specs: &[(u64, u64)],
    deflate_allowed: bool,
    budget: &mut Budget,
) -> Check<()> {
    for &(spec, len) in specs {
        let raw = c.take(len)?;
        if spec & 8 != 0 {
            if !deflate_allowed {
                return Err("deflated column in a change");
            }
            let data = inflate(raw, budget)?;
            column_rows(spec & 7, &data, budget)?;
        } else {
            column_rows(spec & 7, raw, budget)?;
        }
    }
    Ok(())
}

fn inflate(raw: &[u8], budget: &mut Budget) -> Check<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(raw)
        .take(budget.inflate_left.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| "bad deflate data")?;
    let produced = u64::try_from(out.len()).map_err(|_| "inflates too far")?;
    budget.inflate_left = budget
        .inflate_left
        .checked_sub(produced)
        .ok_or("inflates too far")?;
    Ok(out)
}

fn change_body(data: &[u8], budget: &mut Budget) -> Check<()> {
    let mut c = Cursor::new(data);
    let deps = c.uleb()?;
    c.take(deps.checked_mul(32).ok_or("length out of range")?)?;
    c.skip_prefixed()?; // actor
    c.uleb()?; // seq
    c.uleb()?; // start op
    c.sleb()?; // time
    c.skip_prefixed()?; // message
    let others = c.uleb()?;
    for _ in 0..others {
        c.skip_prefixed()?;
    }
    let specs = column_specs(&mut c)?;
    columns(&mut c, &specs, false, budget)
}

fn document_body(data: &[u8], budget: &mut Budget) -> Check<()> {
    let mut c = Cursor::new(data);
    let actors = c.uleb()?;
    for _ in 0..actors {
        c.skip_prefixed()?;
    }
    let heads = c.uleb()?;
    c.take(heads.checked_mul(32).ok_or("length out of range")?)?;
    let change_specs = column_specs(&mut c)?;
    let op_specs = column_specs(&mut c)?;
    columns(&mut c, &change_specs, true, budget)?;
    columns(&mut c, &op_specs, true, budget)
}

/// Checks a concatenation of chunks, as `load` and `load_incremental` accept them.
/// Bundles (type 3) are refused: nothing of ours produces them.
pub(super) fn check(mut input: &[u8], budget: &mut Budget) -> Check<()> {
    if input.is_empty() {
        return Err("empty");
    }
    while !input.is_empty() {
        let mut c = Cursor::new(input);
        if c.take(4)? != MAGIC {
            return Err("not an Automerge chunk");
        }
        c.take(4)?; // checksum: forgeable, Automerge checks it where it matters
        let kind = c.byte()?;
        let len = c.uleb()?;
        let data = c.take(len)?;
        match kind {
            0 => document_body(data, budget)?,
            1 => change_body(data, budget)?,
            2 => {
                let inflated = inflate(data, budget)?;
                change_body(&inflated, budget)?;
            }
            _ => return Err("unsupported chunk type"),
        }
        input = &input[c.pos..];
    }
    Ok(())
}
