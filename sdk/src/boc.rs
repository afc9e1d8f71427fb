//! Bag-of-cells (BoC) encoding: the wire format of cells in messages, API calls
//! and contract artifacts.
//!
//! Cells are `tonlib-core` [`Cell`]s, but the codec lives here because
//! `tonlib-core`'s own trusts header counts and reference indices (hostile
//! input can make it panic or allocate without bound), skips the CRC, and
//! orders cells breadth-first. This decoder checks everything first and returns
//! [`Error::Boc`]; this encoder orders cells like `@ton/core`'s `toBoc()`, so
//! both sides produce identical bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crc::{CRC_32_ISCSI, Crc};

use crate::{ArcCell, Cell, Error, Result, TonHash};

const MAGIC: [u8; 4] = [0xb5, 0xee, 0x9c, 0x72];
const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Decodes a single-root BoC.
pub fn from_boc(bytes: &[u8]) -> Result<ArcCell> {
    let mut roots = decode(bytes)?;
    if roots.len() != 1 {
        return Err(Error::Boc(format!(
            "expected one root, found {}",
            roots.len()
        )));
    }
    Ok(roots.remove(0))
}

/// Decodes a single-root BoC given in standard base64 (as toncenter and TonConnect use).
pub fn from_boc_base64(s: &str) -> Result<ArcCell> {
    let bytes = STANDARD
        .decode(s.trim())
        .map_err(|e| Error::Base64(e.to_string()))?;
    from_boc(&bytes)
}

/// Decodes a single-root BoC given in hex.
pub fn from_boc_hex(s: &str) -> Result<ArcCell> {
    let bytes = hex::decode(s.trim()).map_err(|e| Error::Hex(e.to_string()))?;
    from_boc(&bytes)
}

/// Encodes like `@ton/core`'s `cell.toBoc()`: no index, with CRC32C.
pub fn to_boc(root: &Cell) -> Vec<u8> {
    encode(root)
}

/// [`to_boc`] in standard base64.
pub fn to_boc_base64(root: &Cell) -> String {
    STANDARD.encode(encode(root))
}

/// Builds a cell from a closure over a fresh builder, so callers can write
/// `boc::build(|b| { b.store_u32(32, op)?; Ok(()) })`.
pub fn build(
    f: impl FnOnce(&mut crate::CellBuilder) -> Result<(), crate::TonCellError>,
) -> Result<Cell> {
    let mut b = crate::CellBuilder::new();
    f(&mut b)?;
    Ok(b.build()?)
}

// ---- decoding ----

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| Error::Boc("truncated".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> Result<usize> {
        Ok(self
            .bytes(n)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize))
    }
}

struct RawCell {
    data: Vec<u8>,
    bit_len: usize,
    refs: Vec<usize>,
    exotic: bool,
}

fn decode(bytes: &[u8]) -> Result<Vec<ArcCell>> {
    let bad = |m: &str| Error::Boc(m.to_owned());
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.bytes(4)? != MAGIC {
        return Err(bad(
            "bad magic (only the generic b5ee9c72 format is accepted)",
        ));
    }
    let flags = r.uint(1)?;
    let (has_idx, has_crc) = (flags & 0x80 != 0, flags & 0x40 != 0);
    let size = flags & 0x07;
    if !(1..=4).contains(&size) {
        return Err(bad("reference size must be 1..=4 bytes"));
    }
    let off_bytes = r.uint(1)?;
    if !(1..=8).contains(&off_bytes) {
        return Err(bad("offset size must be 1..=8 bytes"));
    }
    let cells = r.uint(size)?;
    let roots = r.uint(size)?;
    let absent = r.uint(size)?;
    let total_size = r.uint(off_bytes)?;
    // Every cell takes at least two bytes: bounds the allocations below by the input size.
    if cells == 0 || roots == 0 || roots > cells || cells > bytes.len() / 2 {
        return Err(bad("implausible cell or root count"));
    }
    if absent != 0 {
        return Err(bad("absent cells are not supported"));
    }
    let root_idx = (0..roots)
        .map(|_| r.uint(size))
        .collect::<Result<Vec<_>>>()?;
    if root_idx.iter().any(|&i| i >= cells) {
        return Err(bad("root index out of range"));
    }
    if has_idx {
        r.bytes(
            cells
                .checked_mul(off_bytes)
                .ok_or_else(|| bad("index too large"))?,
        )?;
    }
    let data_start = r.pos;
    let raw = (0..cells)
        .map(|i| read_cell(&mut r, i, cells, size))
        .collect::<Result<Vec<_>>>()?;
    if r.pos - data_start != total_size {
        return Err(bad("cell data size does not match the header"));
    }
    if has_crc {
        let body_len = r.pos;
        let expected = u32::from_le_bytes(r.bytes(4)?.try_into().expect("4 bytes"));
        if CRC32C.checksum(&bytes[..body_len]) != expected {
            return Err(bad("CRC32C mismatch"));
        }
    }
    if r.pos != bytes.len() {
        return Err(bad("trailing bytes after the BoC"));
    }
    // References only point forward, so building from the last cell back always
    // finds the children ready.
    let mut built: Vec<Option<ArcCell>> = vec![None; cells];
    for (i, c) in raw.into_iter().enumerate().rev() {
        let refs = c
            .refs
            .iter()
            .map(|&j| built[j].clone().expect("forward reference"))
            .collect();
        built[i] = Some(Arc::new(Cell::new(c.data, c.bit_len, refs, c.exotic)?));
    }
    Ok(root_idx
        .into_iter()
        .map(|i| built[i].clone().expect("built"))
        .collect())
}

fn read_cell(r: &mut Reader, index: usize, cells: usize, size: usize) -> Result<RawCell> {
    let bad = |m: &str| Error::Boc(format!("cell {index}: {m}"));
    let d1 = r.uint(1)?;
    let d2 = r.uint(1)?;
    let ref_count = d1 & 7;
    if ref_count > 4 {
        return Err(bad("more than 4 references"));
    }
    if d1 & 0x10 != 0 {
        // Stored hashes and depths: skip them, they are recomputed.
        let hashes = ((d1 >> 5) as u8).count_ones() as usize + 1;
        r.bytes(hashes * (32 + 2))?;
    }
    let data = r.bytes(d2.div_ceil(2))?;
    let bit_len = if d2 % 2 == 0 {
        data.len() * 8
    } else {
        // The last byte carries a completion tag: a 1 bit followed by zeros.
        let last = *data.last().ok_or_else(|| bad("empty padded data"))?;
        if last == 0 {
            return Err(bad("padded data without completion bit"));
        }
        data.len() * 8 - last.trailing_zeros() as usize - 1
    };
    if bit_len > 1023 {
        return Err(bad("more than 1023 bits"));
    }
    let refs = (0..ref_count)
        .map(|_| r.uint(size))
        .collect::<Result<Vec<_>>>()?;
    if refs.iter().any(|&j| j <= index || j >= cells) {
        return Err(bad("reference is not to a later cell"));
    }
    let mut data = data[..bit_len.div_ceil(8)].to_vec();
    if bit_len % 8 != 0 {
        data[bit_len / 8] &= !(0xffu8 >> (bit_len % 8)); // drop the completion tag
    }
    Ok(RawCell {
        data,
        bit_len,
        refs,
        exotic: d1 & 8 != 0,
    })
}

// ---- encoding ----

/// `@ton/core` order: depth-first from the root, children in order, each cell
/// once (at its first position after all of its parents).
fn encode(root: &Cell) -> Vec<u8> {
    let mut post = Vec::new();
    let mut seen = HashSet::new();
    visit(root, &mut seen, &mut post);
    post.reverse();
    let index: HashMap<TonHash, usize> = post
        .iter()
        .enumerate()
        .map(|(i, c)| (c.cell_hash(), i))
        .collect();

    let size = bytes_for(post.len());
    let mut cells = Vec::new();
    let mut levels = HashMap::new();
    for c in &post {
        let level = level_mask(c, &mut levels);
        cells.push((c.references().len() + if c.is_exotic() { 8 } else { 0 } + level * 32) as u8);
        let bits = c.bit_len();
        cells.push((bits / 8 + bits.div_ceil(8)) as u8);
        let mut data = c.data()[..bits.div_ceil(8)].to_vec();
        if bits % 8 != 0 {
            let last = data.last_mut().expect("non-empty");
            let tag = 0x80u8 >> (bits % 8);
            *last = (*last & !(tag - 1)) | tag;
        }
        cells.extend(data);
        for child in c.references() {
            cells.extend(be(index[&child.cell_hash()], size));
        }
    }
    let off = bytes_for(cells.len());
    let mut out = MAGIC.to_vec();
    out.push(0x40 | size as u8); // has_crc32c, no index, no cache bits
    out.push(off as u8);
    out.extend(be(post.len(), size));
    out.extend(be(1, size)); // roots
    out.extend(be(0, size)); // absent
    out.extend(be(cells.len(), off));
    out.extend(be(0, size)); // root index
    out.extend(cells);
    out.extend(CRC32C.checksum(&out).to_le_bytes());
    out
}

fn visit<'a>(c: &'a Cell, seen: &mut HashSet<TonHash>, post: &mut Vec<&'a Cell>) {
    if !seen.insert(c.cell_hash()) {
        return;
    }
    for child in c.references().iter().rev() {
        visit(child, seen, post);
    }
    post.push(c);
}

/// The level mask `tonlib-core` keeps private, recomputed from the cell type.
fn level_mask(c: &Cell, memo: &mut HashMap<TonHash, usize>) -> usize {
    if let Some(&m) = memo.get(&c.cell_hash()) {
        return m;
    }
    let children = |memo: &mut HashMap<TonHash, usize>| {
        c.references()
            .iter()
            .fold(0, |m, r| m | level_mask(r, memo))
    };
    let m = match (c.is_exotic(), c.data().first()) {
        (false, _) => children(memo),
        (true, Some(1)) => c.data().get(1).copied().unwrap_or(0) as usize, // pruned branch
        (true, Some(3)) => children(memo) >> 1,                            // Merkle proof
        (true, Some(4)) => children(memo) >> 1,                            // Merkle update
        _ => 0,                                                            // library
    };
    memo.insert(c.cell_hash(), m);
    m
}

fn bytes_for(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()).div_ceil(8).max(1) as usize
}

fn be(n: usize, width: usize) -> Vec<u8> {
    n.to_be_bytes()[std::mem::size_of::<usize>() - width..].to_vec()
}
