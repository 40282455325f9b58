//! MD5's compression function run on several independent streams at once, one block of each per
//! call, with the steps of all of them written side by side.
//!
//! MD5 is one chain of 64 dependent steps per block, so one stream leaves most of a core's
//! integer units idle however fast the core is. Two chains of two different streams interleaved
//! step by step keep twice as many in flight: on this project's 2-core EPYC test machine two
//! streams hash at 1,164 MB/s together on one core, against 640 MB/s for one. (Three lanes gave
//! 1,445-1,547, four no more than three: the states then no longer fit in registers.)
//!
//! The result for each lane is exactly `md5::block_api::compress` of that lane's block; only
//! the order of the work differs. The step constants and rotations are MD5's own (RFC 1321).

/// The 64 additive constants, `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
    0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
    0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
    0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
    0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
    0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
    0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
    0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
];

/// Each step's left rotation.
const ROTATE: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, //
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, //
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, //
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Which of the block's sixteen words step `i` adds.
#[inline(always)]
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// The round's boolean function of step `i`.
#[inline(always)]
fn mix(i: usize, x: u32, y: u32, z: u32) -> u32 {
    match i / 16 {
        0 => (x & y) | (!x & z),
        // The two masked halves never share a bit, so adding them is the same as or-ing them,
        // and an addition spreads better over the integer units.
        1 => (x & z).wrapping_add(y & !z),
        2 => x ^ y ^ z,
        _ => y ^ (x | !z),
    }
}

/// One block of each of two streams.
#[inline(never)]
pub(crate) fn compress_two(a: &mut [u32; 4], b: &mut [u32; 4], block_a: &[u8; 64], block_b: &[u8; 64]) {
    compress([a, b], [block_a, block_b]);
}

/// One block of each of `L` streams: `states[l]` advances over `blocks[l]`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
pub(crate) fn compress<const L: usize>(states: [&mut [u32; 4]; L], blocks: [&[u8; 64]; L]) {
    let mut words = [[0u32; 16]; L];
    for l in 0..L {
        for j in 0..16 {
            words[l][j] = u32::from_le_bytes(blocks[l][4 * j..4 * j + 4].try_into().expect("four bytes"));
        }
    }
    // Plain indexed loops on purpose: with `array::from_fn` and iterator zips here the states
    // were kept in memory instead of registers, and two lanes ran at 708 MB/s instead of 1,116.
    let mut v = [[0u32; 4]; L];
    for l in 0..L {
        v[l] = *states[l];
    }
    // The 64 steps, each on every lane before the next step; `step!` is unrolled with constant
    // indices so that the tables above fold into the instructions.
    macro_rules! step {
        ($i:expr) => {
            for l in 0..L {
                let [a, b, c, d] = v[l];
                let t = mix($i, b, c, d)
                    .wrapping_add(a)
                    .wrapping_add(words[l][word($i)])
                    .wrapping_add(K[$i])
                    .rotate_left(ROTATE[$i])
                    .wrapping_add(b);
                v[l] = [d, t, b, c];
            }
        };
    }
    macro_rules! steps {
        ($($i:literal)*) => { $(step!($i);)* };
    }
    steps!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
           32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    for l in 0..L {
        for j in 0..4 {
            states[l][j] = states[l][j].wrapping_add(v[l][j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lane_is_what_the_md5_crate_computes_for_it() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut block = || -> [u8; 64] {
            std::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
        };
        let start = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        let (mut a, mut b) = (start, [1, 2, 3, 4]);
        let (mut want_a, mut want_b) = (a, b);
        for _ in 0..50 {
            let (ba, bb) = (block(), block());
            compress_two(&mut a, &mut b, &ba, &bb);
            md5::block_api::compress(&mut want_a, &[ba]);
            md5::block_api::compress(&mut want_b, &[bb]);
            assert_eq!((a, b), (want_a, want_b));
        }
        let mut one = start;
        let only = block();
        compress([&mut one], [&only]);
        let mut want = start;
        md5::block_api::compress(&mut want, &[only]);
        assert_eq!(one, want);
    }
}
