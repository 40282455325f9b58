//! MD5 and SHA-256 of a byte stream, computed together: each 64-byte
//! block goes through MD5's compression and then SHA-256's before the next block; and, with
//! `update_pair`, of two streams at once.
//!
//! Why not one hash after the other: MD5 is a single chain of dependent integer additions, so a
//! core running it alone leaves most of its execution ports idle; SHA-256 here runs on the SHA
//! extensions, other ports. With their blocks alternating, the core's out-of-order window
//! overlaps the two, and both cost about 10 % more than MD5 alone instead of 37 % (measured on
//! this project's 2-core EPYC test machine: 578 MB/s for both against 472 MB/s one after the
//! other; `storage/examples/hash_limit.rs` prints the figures). Two streams go further: their
//! MD5 chains run side by side (`md5_lanes`), each followed by its SHA-256, 780-815 MB/s for the
//! two together on one core. (The stored bytes' CRC32C is the writing thread's, `ingest`.)
//!
//! SHA-256's compression and padding are the sha2 crate's (RustCrypto's published `block_api`);
//! MD5's single-stream compression is the md-5 crate's, and its padding is done here.

use super::md5_lanes;
use digest::block_api::{Block, Eager, UpdateCore, VariableOutputCore};
use digest::block_buffer::BlockBuffer;
use digest::typenum::U64;
use sha2::block_api::Sha256VarCore;

/// MD5's state before the first block (RFC 1321).
const MD5_START: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

pub struct Md5Sha256 {
    md5: [u32; 4],
    /// Whole blocks hashed so far (MD5's padding ends with the length).
    blocks: u64,
    /// Absent for a hasher made `md5_only`.
    sha256: Option<Sha256VarCore>,
    /// The bytes after the last whole block, until more arrive.
    tail: BlockBuffer<U64, Eager>,
}

pub struct Digests {
    pub md5: [u8; 16],
    /// Present unless the hasher was made `md5_only`.
    pub sha256: Option<[u8; 32]>,
}

impl Default for Md5Sha256 {
    fn default() -> Md5Sha256 {
        Md5Sha256::new()
    }
}

impl Md5Sha256 {
    pub fn new() -> Md5Sha256 {
        Md5Sha256 {
            md5: MD5_START,
            blocks: 0,
            sha256: Some(Sha256VarCore::new(32).expect("32 bytes is SHA-256's own output size")),
            tail: BlockBuffer::default(),
        }
    }

    /// MD5 alone (a sealed body's plaintext, whose SHA-256 nothing needs).
    pub fn md5_only() -> Md5Sha256 {
        Md5Sha256 { sha256: None, ..Md5Sha256::new() }
    }

    pub fn update(&mut self, data: &[u8]) {
        let Md5Sha256 { md5, blocks, sha256, tail } = self;
        tail.digest_blocks(data, |whole: &[Block<Sha256VarCore>]| {
            for block in whole.chunks(1) {
                md5::block_api::compress(md5, Block::<Sha256VarCore>::cast_slice_to_core(block));
                if let Some(sha256) = sha256 {
                    sha256.update_blocks(block);
                }
            }
            *blocks += whole.len() as u64;
        });
    }

    /// Hashes the bytes of two streams at once, a block of one beside a block of the other, which
    /// costs little more than one stream alone (see `md5_lanes`). Takes as much of each as pairs
    /// up with the other and returns how many bytes of each it took: all of at least one of them,
    /// and of the other, all but whole blocks left for its partner's next bytes.
    pub fn update_pair(a: &mut Md5Sha256, a_data: &[u8], b: &mut Md5Sha256, b_data: &[u8]) -> (usize, usize) {
        let a_start = a.fill_tail(a_data);
        let b_start = b.fill_tail(b_data);
        let (a_blocks, _) = a_data[a_start..].as_chunks::<64>();
        let (b_blocks, _) = b_data[b_start..].as_chunks::<64>();
        let pairs = a_blocks.len().min(b_blocks.len());
        for (block_a, block_b) in a_blocks[..pairs].iter().zip(&b_blocks[..pairs]) {
            md5_lanes::compress_two(&mut a.md5, &mut b.md5, block_a, block_b);
            for (lane, block) in [(&mut *a, block_a), (&mut *b, block_b)] {
                if let Some(sha256) = &mut lane.sha256 {
                    sha256.update_blocks(Block::<Sha256VarCore>::cast_slice_from_core(std::slice::from_ref(block)));
                }
            }
        }
        a.blocks += pairs as u64;
        b.blocks += pairs as u64;
        let a_taken = a.take_rest(a_data, a_start + pairs * 64, pairs < a_blocks.len());
        let b_taken = b.take_rest(b_data, b_start + pairs * 64, pairs < b_blocks.len());
        (a_taken, b_taken)
    }

    /// Completes a partial block from the front of `data` (hashing it once whole) and returns
    /// how many bytes that took.
    fn fill_tail(&mut self, data: &[u8]) -> usize {
        let pos = self.tail.get_pos();
        if pos == 0 {
            return 0;
        }
        let taken = (64 - pos).min(data.len());
        self.update(&data[..taken]);
        taken
    }

    /// After the pairs, which hashed `data[start..paired_to]`: when whole blocks are left they
    /// wait for the partner's next bytes; otherwise the last bytes wait in the tail and all of
    /// `data` is taken. Returns where what was taken ends.
    fn take_rest(&mut self, data: &[u8], paired_to: usize, whole_blocks_left: bool) -> usize {
        if whole_blocks_left {
            return paired_to;
        }
        self.tail.digest_blocks(&data[paired_to..], |_| unreachable!("fewer bytes than a block, after a whole one"));
        data.len()
    }

    pub fn finish(mut self) -> Digests {
        let length_bits = (self.blocks * 64 + self.tail.get_pos() as u64).wrapping_mul(8);
        let mut md5 = self.md5;
        let mut md5_tail = self.tail.clone();
        md5_tail.len64_padding_le(length_bits, |block| md5::block_api::compress(&mut md5, &[block.0]));
        let sha256 = self.sha256.take().map(|mut core| {
            let mut out = Default::default();
            core.finalize_variable_core(&mut self.tail, &mut out);
            out.into()
        });
        let md5_bytes = std::array::from_fn(|i| md5[i / 4].to_le_bytes()[i % 4]);
        Digests { md5: md5_bytes, sha256 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use sha2::Sha256;

    fn bytes(len: usize) -> Vec<u8> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Every length around the block and 4 KiB edges, fed whole and in uneven pieces, gives
    /// what the crates' own one-hash-at-a-time digests give.
    #[test]
    fn the_digests_match_the_separate_hashes_for_any_split() {
        let data = bytes(3 * 4096 + 200);
        let lengths = [0, 1, 55, 56, 63, 64, 65, 127, 128, 4095, 4096, 4097, 8192 + 64, data.len()];
        for len in lengths {
            let input = &data[..len];
            for piece in [1usize, 7, 64, 100, 4096, usize::MAX] {
                let mut hasher = Md5Sha256::new();
                for chunk in input.chunks(piece.min(len.max(1))) {
                    hasher.update(chunk);
                }
                assert_digests(hasher.finish(), input, &format!("len {len}, pieces of {piece}"));
            }
        }
    }

    fn assert_digests(got: Digests, input: &[u8], case: &str) {
        assert_eq!(got.md5[..], Md5::digest(input)[..], "md5, {case}");
        assert_eq!(got.sha256.map(|h| h.to_vec()), Some(Sha256::digest(input).to_vec()), "sha256, {case}");
    }

    /// Two streams cut into pieces of different sizes, hashed in pairs the way the hashing pool
    /// does (each stream's next piece once its last is all taken), give each stream's own digests.
    #[test]
    fn paired_streams_give_each_its_own_digests() {
        let data = bytes(5 * 4096 + 333);
        let b_data: Vec<u8> = data.iter().rev().copied().collect();
        for (a_len, b_len) in [(0, 100), (63, 64), (65, 4096), (4096 + 1, 3 * 4096), (data.len(), data.len() - 17)] {
            for (a_piece, b_piece) in [(1usize, 7usize), (64, 100), (100, 64), (4096, 333), (usize::MAX, 1000)] {
                let (a_input, b_input) = (&data[..a_len], &b_data[..b_len]);
                let mut a_pieces = a_input.chunks(a_piece.min(a_len.max(1)));
                let mut b_pieces = b_input.chunks(b_piece.min(b_len.max(1)));
                let (mut a, mut b) = (Md5Sha256::new(), Md5Sha256::new());
                let (mut a_left, mut b_left): (&[u8], &[u8]) = (&[], &[]);
                loop {
                    if a_left.is_empty() {
                        a_left = a_pieces.next().unwrap_or_default();
                    }
                    if b_left.is_empty() {
                        b_left = b_pieces.next().unwrap_or_default();
                    }
                    if a_left.is_empty() || b_left.is_empty() {
                        break;
                    }
                    let (a_taken, b_taken) = Md5Sha256::update_pair(&mut a, a_left, &mut b, b_left);
                    assert!(a_taken == a_left.len() || b_taken == b_left.len(), "one of the two is all taken");
                    (a_left, b_left) = (&a_left[a_taken..], &b_left[b_taken..]);
                }
                for piece in std::iter::once(a_left).chain(a_pieces) {
                    a.update(piece);
                }
                for piece in std::iter::once(b_left).chain(b_pieces) {
                    b.update(piece);
                }
                let case = format!("lengths {a_len}/{b_len}, pieces of {a_piece}/{b_piece}");
                assert_digests(a.finish(), a_input, &format!("a, {case}"));
                assert_digests(b.finish(), b_input, &format!("b, {case}"));
            }
        }
    }

    #[test]
    fn md5_only_leaves_sha256_out() {
        let mut hasher = Md5Sha256::new();
        hasher.update(b"abc");
        let got = hasher.finish();
        assert!(got.sha256.is_some());
        assert_eq!(hex::encode(got.md5), "900150983cd24fb0d6963f7d28e17f72");
        let mut md5_only = Md5Sha256::md5_only();
        md5_only.update(b"abc");
        let got = md5_only.finish();
        assert_eq!((got.sha256, hex::encode(got.md5)), (None, "900150983cd24fb0d6963f7d28e17f72".to_string()));
    }
}
