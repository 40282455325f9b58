//! S3 additional checksums (`x-amz-checksum-*`): the five algorithms, an incremental hasher,
//! base64 wire form, and CRC combination for full-object checksums of multipart uploads.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// One of the checksum algorithms S3 accepts alongside an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The request/response header carrying this checksum, in lower case.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm whose checksum header is `name` (any letter case).
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The name S3 uses in `x-amz-checksum-algorithm` and in XML bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The algorithm named `s` as in [`as_str`](Self::as_str) (any letter case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// Length in bytes of the raw digest.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Checksummer {
        let state = match self {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => State::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(Sha256::new()),
        };
        Checksummer { state }
    }
}

/// Computes a [`Checksum`] over data fed in pieces.
pub struct Checksummer {
    state: State,
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Checksummer {
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            State::Crc32(_) => ChecksumAlgorithm::Crc32,
            State::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            State::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            State::Sha1(_) => ChecksumAlgorithm::Sha1,
            State::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64Nvme(h) => h.write(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Checksum {
        let algorithm = self.algorithm();
        let bytes = match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        Checksum { algorithm, bytes }
    }
}

/// A computed checksum: the raw digest, CRCs in big-endian byte order as S3 sends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub bytes: Vec<u8>,
}

impl Checksum {
    /// Checksum of `data` in one call.
    pub fn compute(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
        let mut hasher = algorithm.hasher();
        hasher.update(data);
        hasher.finish()
    }

    /// The header / XML form: standard base64 with padding.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }

    /// Parses the header / XML form; `None` if it is not base64 or has the wrong length.
    pub fn from_base64(algorithm: ChecksumAlgorithm, s: &str) -> Option<Checksum> {
        let bytes = BASE64.decode(s.trim()).ok()?;
        (bytes.len() == algorithm.digest_len()).then_some(Checksum { algorithm, bytes })
    }
}

/// Given `crc(A)`, `crc(B)` and `len(B)`, returns `crc(A || B)` (big-endian bytes) for the
/// CRC algorithms; used to build a full-object CRC from a multipart upload's parts.
///
/// # Panics
/// If `algorithm` is not a CRC, or a CRC is not `digest_len` bytes long.
pub fn combine_crc(
    algorithm: ChecksumAlgorithm,
    crc_a: &[u8],
    crc_b: &[u8],
    len_b: u64,
) -> Vec<u8> {
    let params = match algorithm {
        ChecksumAlgorithm::Crc32 => CRC32_PARAMS,
        ChecksumAlgorithm::Crc32c => CRC32C_PARAMS,
        ChecksumAlgorithm::Crc64Nvme => CRC64NVME_PARAMS,
        other => panic!("combine_crc: {} is not a CRC", other.as_str()),
    };
    let width_bytes = params.width as usize / 8;
    assert_eq!(
        crc_a.len(),
        width_bytes,
        "combine_crc: crc_a has the wrong length"
    );
    assert_eq!(
        crc_b.len(),
        width_bytes,
        "combine_crc: crc_b has the wrong length"
    );
    let a = be_to_u64(crc_a);
    let b = be_to_u64(crc_b);
    let combined = params.combine(a, b, len_b);
    combined.to_be_bytes()[8 - width_bytes..].to_vec()
}

fn be_to_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |acc, &byte| (acc << 8) | u64::from(byte))
}

/// A reflected CRC whose initial value and final XOR are both all ones (true of all three
/// S3 CRCs), which is what makes `crc(A||B) = crc(A) * x^(8*len(B)) + crc(B)` hold.
#[derive(Clone, Copy)]
struct CrcParams {
    width: u32,
    /// The generator polynomial without its x^width term, bit-reversed within `width` bits.
    reflected_poly: u64,
}

const CRC32_PARAMS: CrcParams = CrcParams {
    width: 32,
    reflected_poly: 0xEDB8_8320,
};
const CRC32C_PARAMS: CrcParams = CrcParams {
    width: 32,
    reflected_poly: 0x82F6_3B78,
};
const CRC64NVME_PARAMS: CrcParams = CrcParams {
    width: 64,
    reflected_poly: 0x9A6C_9329_AC4B_C9B5,
};

impl CrcParams {
    /// In the reflected representation the top bit of the register holds the x^0 coefficient.
    fn one(self) -> u64 {
        1 << (self.width - 1)
    }

    /// Product of two polynomials modulo the generator, both in reflected representation.
    fn mul_mod(self, a: u64, mut b: u64) -> u64 {
        let mut product = 0;
        let mut bit = self.one();
        // Walk a's coefficients from x^0 upwards while b becomes b * x^i mod P.
        while bit != 0 {
            if a & bit != 0 {
                product ^= b;
            }
            b = if b & 1 != 0 {
                (b >> 1) ^ self.reflected_poly
            } else {
                b >> 1
            };
            bit >>= 1;
        }
        product
    }

    /// x^(8 * n) mod P, by square-and-multiply on the exponent's bits.
    fn x_pow_8n(self, mut n: u64) -> u64 {
        let mut result = self.one();
        let mut power = self.one() >> 8; // x^8
        while n != 0 {
            if n & 1 != 0 {
                result = self.mul_mod(result, power);
            }
            power = self.mul_mod(power, power);
            n >>= 1;
        }
        result
    }

    fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        self.mul_mod(crc_a, self.x_pow_8n(len_b)) ^ crc_b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc_value(algorithm: ChecksumAlgorithm, data: &[u8]) -> u64 {
        be_to_u64(&Checksum::compute(algorithm, data).bytes)
    }

    #[test]
    fn check_values() {
        assert_eq!(
            crc_value(ChecksumAlgorithm::Crc32, b"123456789"),
            0xCBF4_3926
        );
        assert_eq!(
            crc_value(ChecksumAlgorithm::Crc32c, b"123456789"),
            0xE306_9283
        );
        assert_eq!(
            crc_value(ChecksumAlgorithm::Crc64Nvme, b"123456789"),
            0xAE8B_1486_0A79_9888
        );
        assert_eq!(
            hex::encode(Checksum::compute(ChecksumAlgorithm::Sha1, b"abc").bytes),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(Checksum::compute(ChecksumAlgorithm::Sha256, b"abc").bytes),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reflected_polys_match_normal_form() {
        for (params, normal) in [
            (CRC32_PARAMS, 0x04C1_1DB7_u64),
            (CRC32C_PARAMS, 0x1EDC_6F41),
            (CRC64NVME_PARAMS, 0xAD93_D235_94C9_3659),
        ] {
            let reversed = normal.reverse_bits() >> (64 - params.width);
            assert_eq!(reversed, params.reflected_poly);
        }
    }

    #[test]
    fn base64_matches_aws_sdks() {
        let b64 = |alg, data: &[u8]| Checksum::compute(alg, data).to_base64();
        assert_eq!(b64(ChecksumAlgorithm::Crc32, b""), "AAAAAA==");
        assert_eq!(b64(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(b64(ChecksumAlgorithm::Crc32c, b""), "AAAAAA==");
        assert_eq!(b64(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(b64(ChecksumAlgorithm::Crc64Nvme, b""), "AAAAAAAAAAA=");
        assert_eq!(
            b64(ChecksumAlgorithm::Sha1, b""),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        );
        assert_eq!(
            b64(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn base64_round_trip_and_rejects() {
        for alg in ChecksumAlgorithm::ALL {
            let sum = Checksum::compute(alg, b"some bytes");
            assert_eq!(sum.bytes.len(), alg.digest_len());
            assert_eq!(Checksum::from_base64(alg, &sum.to_base64()), Some(sum));
        }
        assert_eq!(
            Checksum::from_base64(ChecksumAlgorithm::Crc32, "not base64!"),
            None
        );
        // Valid base64 of 8 bytes is the wrong length for CRC32.
        assert_eq!(
            Checksum::from_base64(ChecksumAlgorithm::Crc32, "AAAAAAAAAAA="),
            None
        );
        assert_eq!(
            Checksum::from_base64(ChecksumAlgorithm::Sha256, "AAAAAA=="),
            None
        );
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::parse(alg.as_str()), Some(alg));
            assert_eq!(
                ChecksumAlgorithm::parse(&alg.as_str().to_lowercase()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(alg.header_name()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&alg.header_name().to_uppercase()),
                Some(alg)
            );
        }
        assert_eq!(ChecksumAlgorithm::parse("MD5"), None);
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"),
            None
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-algorithm"),
            None
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let mut hasher = alg.hasher();
            assert_eq!(hasher.algorithm(), alg);
            for piece in data.chunks(777) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finish(), Checksum::compute(alg, &data));
        }
    }

    /// A small deterministic generator so the split test needs no extra dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn combine_equals_direct_over_random_splits() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let data: Vec<u8> = (0..70_000).map(|_| rng.next() as u8).collect();
        let crcs = [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ];
        for _ in 0..50 {
            let len = (rng.next() % data.len() as u64) as usize;
            let split = (rng.next() % (len as u64 + 1)) as usize;
            let (a, b) = data[..len].split_at(split);
            for alg in crcs {
                let crc_a = Checksum::compute(alg, a).bytes;
                let crc_b = Checksum::compute(alg, b).bytes;
                let combined = combine_crc(alg, &crc_a, &crc_b, b.len() as u64);
                assert_eq!(
                    combined,
                    Checksum::compute(alg, &data[..len]).bytes,
                    "{alg:?} {split}/{len}"
                );
            }
        }
    }

    #[test]
    fn combine_edge_cases_and_many_parts() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let empty = Checksum::compute(alg, b"").bytes;
            let abc = Checksum::compute(alg, b"abc").bytes;
            assert_eq!(combine_crc(alg, &abc, &empty, 0), abc);
            assert_eq!(combine_crc(alg, &empty, &abc, 3), abc);

            // Fold a multipart-like sequence of parts into one full-object CRC.
            let parts: Vec<Vec<u8>> = (1..=6).map(|i| vec![i as u8; i * 1000 + 3]).collect();
            let whole: Vec<u8> = parts.concat();
            let mut acc = Checksum::compute(alg, &parts[0]).bytes;
            for part in &parts[1..] {
                let crc = Checksum::compute(alg, part).bytes;
                acc = combine_crc(alg, &acc, &crc, part.len() as u64);
            }
            assert_eq!(acc, Checksum::compute(alg, &whole).bytes);
        }
    }

    #[test]
    #[should_panic(expected = "not a CRC")]
    fn combine_rejects_sha() {
        combine_crc(ChecksumAlgorithm::Sha256, &[0; 32], &[0; 32], 1);
    }
}
