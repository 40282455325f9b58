//! Envelope encryption of object bytes: AES-256-GCM over fixed-size packages, so a byte range
//! is decrypted from just the packages that cover it; data keys and small stored secrets sealed by other keys.
//!
//! A sealed segment is a 32-byte header (magic, format version, random salt) followed by
//! packages of up to `PACKAGE_SIZE` plaintext bytes, each followed by its 16-byte tag. The
//! segment key is derived from the object's data key and the salt, so many segments (the
//! parts of one upload, say) can share a data key without ever sharing a (key, nonce) pair.
//! A package's nonce is its index and a flag marking the last package, so reordered,
//! dropped or appended packages fail to open.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

use hkdf::Hkdf;
use rand::RngExt;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Plaintext bytes per package.
pub const PACKAGE_SIZE: usize = 64 * 1024;
/// Bytes of authentication tag after each package.
pub const TAG_SIZE: usize = 16;
/// Bytes of the segment header.
pub const HEADER_SIZE: usize = 32;

const MAGIC: &[u8; 4] = b"CFE\x01";
const SALT_RANGE: std::ops::Range<usize> = 16..32;
const SEGMENT_INFO: &[u8] = b"coffer segment key v1";

/// Why sealed bytes or a wrapped key could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a sealed segment (bad header)")]
    BadHeader,
    #[error("package {0} failed authentication: the stored bytes were altered")]
    Tampered(u64),
    #[error("the wrapped key does not open with this key")]
    WrongKey,
}

/// A 256-bit secret key (a data key, a master key or a customer key); wiped when dropped.
#[derive(Clone)]
pub struct Key256(Zeroizing<[u8; 32]>);

impl Key256 {
    pub fn generate() -> Key256 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut bytes[..]);
        Key256(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Key256 {
        Key256(Zeroizing::new(bytes))
    }

    /// A key from exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Key256> {
        <[u8; 32]>::try_from(bytes).ok().map(Key256::from_bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// AES-256-GCM under this key (ring's implementation: several times faster here than
    /// the pure-Rust crates, and already in the tree through rustls).
    fn cipher(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.0.as_ref()).expect("a 32-byte key suits AES-256-GCM"))
    }

    /// The segment key for a segment with this salt.
    fn derive(&self, salt: &[u8]) -> Key256 {
        let mut out = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(salt), self.0.as_ref())
            .expand(SEGMENT_INFO, out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Key256(out)
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(..)")
    }
}

/// How many packages hold `plain_len` bytes (an empty segment still has one, so that
/// truncating a segment to nothing is detected).
pub fn package_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(PACKAGE_SIZE as u64).max(1)
}

/// The stored size of a segment of `plain_len` plaintext bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    HEADER_SIZE as u64 + plain_len + package_count(plain_len) * TAG_SIZE as u64
}

/// The plaintext size of a sealed segment of `sealed` bytes; `None` if no plaintext size
/// seals to exactly that many bytes.
pub fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER_SIZE as u64)?;
    let packages = body.div_ceil((PACKAGE_SIZE + TAG_SIZE) as u64).max(1);
    let plain = body.checked_sub(packages * TAG_SIZE as u64)?;
    (sealed_len(plain) == sealed).then_some(plain)
}

/// Each package's nonce is unique under its segment key: the package index and the flag.
fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    Nonce::assume_unique_for_key(n)
}

/// Encrypts one segment as its plaintext streams through.
pub struct Sealer {
    cipher: LessSafeKey,
    header: Option<[u8; HEADER_SIZE]>,
    index: u64,
    pending: Vec<u8>,
}

impl Sealer {
    /// A sealer for a new segment under `key`, with a fresh random salt.
    pub fn new(key: &Key256) -> Sealer {
        let mut header = [0u8; HEADER_SIZE];
        header[..4].copy_from_slice(MAGIC);
        rand::rng().fill(&mut header[SALT_RANGE]);
        let cipher = key.derive(&header[SALT_RANGE]).cipher();
        Sealer { cipher, header: Some(header), index: 0, pending: Vec::with_capacity(PACKAGE_SIZE + TAG_SIZE) }
    }

    /// Takes plaintext; hands every finished piece of sealed output to `emit`, in order.
    pub fn update<E>(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if let Some(header) = self.header.take() {
            emit(&header)?;
        }
        while !data.is_empty() {
            if self.pending.len() == PACKAGE_SIZE {
                // A full package is sealed only once more data shows it is not the last.
                self.seal_pending(false);
                emit(&self.pending)?;
                self.pending.clear();
            }
            let take = (PACKAGE_SIZE - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals the last package and hands it (and the header, for an empty segment) to `emit`.
    pub fn finish<E>(mut self, emit: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if let Some(header) = self.header.take() {
            emit(&header)?;
        }
        self.seal_pending(true);
        emit(&self.pending)
    }

    /// Seals a whole small body at once.
    pub fn seal_all(key: &Key256, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(sealed_len(plain.len() as u64) as usize);
        let mut push = |b: &[u8]| -> Result<(), std::convert::Infallible> {
            out.extend_from_slice(b);
            Ok(())
        };
        let mut sealer = Sealer::new(key);
        let _ = sealer.update(plain, &mut push);
        let _ = sealer.finish(&mut push);
        out
    }

    fn seal_pending(&mut self, last: bool) {
        let tag = self
            .cipher
            .seal_in_place_separate_tag(nonce(self.index, last), Aad::empty(), &mut self.pending)
            .expect("a package is far below AES-GCM's message size limit");
        self.pending.extend_from_slice(tag.as_ref());
        self.index += 1;
    }
}

/// Decrypts packages of one sealed segment.
pub struct Opener {
    cipher: LessSafeKey,
    plain_len: u64,
}

/// Where one package lies: in the sealed bytes and in the plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageSpan {
    pub index: u64,
    /// Offset of the package in the sealed segment.
    pub sealed_offset: u64,
    /// Its sealed length (plaintext plus tag).
    pub sealed_len: usize,
    /// Offset of its first byte in the segment's plaintext.
    pub plain_offset: u64,
}

impl Opener {
    /// An opener for a segment of `plain_len` plaintext bytes whose header is `header`.
    pub fn new(key: &Key256, header: &[u8], plain_len: u64) -> Result<Opener, OpenError> {
        if header.len() != HEADER_SIZE || &header[..4] != MAGIC {
            return Err(OpenError::BadHeader);
        }
        Ok(Opener { cipher: key.derive(&header[SALT_RANGE]).cipher(), plain_len })
    }

    /// The package holding plaintext byte `offset` of the segment.
    pub fn span_at(&self, offset: u64) -> PackageSpan {
        self.span(offset / PACKAGE_SIZE as u64)
    }

    pub fn span(&self, index: u64) -> PackageSpan {
        let plain_offset = index * PACKAGE_SIZE as u64;
        let plain = (self.plain_len.saturating_sub(plain_offset)).min(PACKAGE_SIZE as u64) as usize;
        PackageSpan {
            index,
            sealed_offset: HEADER_SIZE as u64 + index * (PACKAGE_SIZE + TAG_SIZE) as u64,
            sealed_len: plain + TAG_SIZE,
            plain_offset,
        }
    }

    /// Decrypts package `index` in place: `buf` holds its sealed bytes and is cut down to
    /// the plaintext. Fails if any byte was altered.
    pub fn open(&self, index: u64, buf: &mut Vec<u8>) -> Result<(), OpenError> {
        let last = index + 1 == package_count(self.plain_len);
        if buf.len() < TAG_SIZE || index >= package_count(self.plain_len) {
            return Err(OpenError::Tampered(index));
        }
        let split = buf.len() - TAG_SIZE;
        let tag = Tag::try_from(&buf[split..]).map_err(|_| OpenError::Tampered(index))?;
        buf.truncate(split);
        self.cipher
            .open_in_place_separate_tag(nonce(index, last), Aad::empty(), tag, buf, 0..)
            .map(|_| ())
            .map_err(|_| OpenError::Tampered(index))
    }

    /// Opens a whole sealed segment held in memory (a small inline body).
    pub fn open_all(key: &Key256, sealed: &[u8], plain_len: u64) -> Result<Vec<u8>, OpenError> {
        let header = sealed.get(..HEADER_SIZE).ok_or(OpenError::BadHeader)?;
        let opener = Opener::new(key, header, plain_len)?;
        let mut out = Vec::with_capacity(plain_len as usize);
        for index in 0..package_count(plain_len) {
            let span = opener.span(index);
            let start = span.sealed_offset as usize;
            let mut buf = sealed.get(start..start + span.sealed_len).ok_or(OpenError::Tampered(index))?.to_vec();
            opener.open(index, &mut buf)?;
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }
}

/// Bytes a sealed value adds to its plaintext: the nonce before it, the tag after it.
pub const SEALED_OVERHEAD: usize = 12 + TAG_SIZE;
/// Bytes of a wrapped 256-bit key: nonce, encrypted key, tag.
pub const WRAPPED_LEN: usize = 32 + SEALED_OVERHEAD;

/// Encrypts a small value (a key, a stored secret) under `kek`, bound to `context` (which
/// must be given again to open it): a random nonce, the ciphertext and its tag.
pub fn seal_value(kek: &Key256, plain: &[u8], context: &[u8]) -> Vec<u8> {
    let mut nonce_bytes = [0u8; 12];
    rand::rng().fill(&mut nonce_bytes);
    let mut out = Vec::with_capacity(plain.len() + SEALED_OVERHEAD);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(plain);
    let tag = kek
        .cipher()
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context), &mut out[12..])
        .expect("a small value is far below AES-GCM's message size limit");
    out.extend_from_slice(tag.as_ref());
    out
}

/// Reverses `seal_value`; fails if `kek` or `context` differ or the bytes were altered.
pub fn open_value(kek: &Key256, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if sealed.len() < SEALED_OVERHEAD {
        return Err(OpenError::WrongKey);
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..12]).map_err(|_| OpenError::WrongKey)?;
    let split = sealed.len() - TAG_SIZE;
    let tag = Tag::try_from(&sealed[split..]).map_err(|_| OpenError::WrongKey)?;
    let mut body = Zeroizing::new(sealed[12..split].to_vec());
    kek.cipher()
        .open_in_place_separate_tag(nonce, Aad::from(context), tag, body.as_mut_slice(), 0..)
        .map_err(|_| OpenError::WrongKey)?;
    Ok(body)
}

/// Encrypts `key` under `kek`, bound to `context` (which must be given again to unwrap).
pub fn wrap_key(kek: &Key256, key: &Key256, context: &[u8]) -> Vec<u8> {
    seal_value(kek, key.as_bytes(), context)
}

/// Reverses `wrap_key`; fails if `kek` or `context` differ or the bytes were altered.
pub fn unwrap_key(kek: &Key256, wrapped: &[u8], context: &[u8]) -> Result<Key256, OpenError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(OpenError::WrongKey);
    }
    let plain = open_value(kek, wrapped, context)?;
    Ok(Key256::from_slice(&plain).expect("a wrapped key opens to 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_in_pieces(key: &Key256, plain: &[u8], piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        let mut s = Sealer::new(key);
        for chunk in plain.chunks(piece.max(1)) {
            s.update(chunk, &mut push).unwrap();
        }
        s.finish(&mut push).unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_package_boundaries() {
        let key = Key256::generate();
        for len in [0, 1, 13, PACKAGE_SIZE - 1, PACKAGE_SIZE, PACKAGE_SIZE + 1, 3 * PACKAGE_SIZE, 3 * PACKAGE_SIZE + 7] {
            let plain = sample(len);
            for piece in [1000, 7919, PACKAGE_SIZE, 200_000] {
                let sealed = seal_in_pieces(&key, &plain, piece);
                assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
                assert_eq!(plain_len(sealed.len() as u64), Some(len as u64));
                assert_eq!(Opener::open_all(&key, &sealed, len as u64).unwrap(), plain, "len {len} piece {piece}");
            }
        }
    }

    #[test]
    fn same_plaintext_seals_differently() {
        let key = Key256::generate();
        assert_ne!(Sealer::seal_all(&key, b"hello"), Sealer::seal_all(&key, b"hello"));
    }

    #[test]
    fn plaintext_never_appears_in_sealed_bytes() {
        let key = Key256::generate();
        let plain = b"MARKER-MARKER-MARKER".repeat(10_000);
        let sealed = Sealer::seal_all(&key, &plain);
        assert!(!sealed.windows(20).any(|w| w == b"MARKER-MARKER-MARKER"));
    }

    #[test]
    fn any_flipped_byte_fails_to_open() {
        let key = Key256::generate();
        let plain = sample(PACKAGE_SIZE + 100);
        let sealed = Sealer::seal_all(&key, &plain);
        for pos in [0, 20, HEADER_SIZE, HEADER_SIZE + 5, HEADER_SIZE + PACKAGE_SIZE + 3, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[pos] ^= 1;
            assert!(Opener::open_all(&key, &bad, plain.len() as u64).is_err(), "flip at {pos}");
        }
    }

    #[test]
    fn truncation_and_reordering_are_detected() {
        let key = Key256::generate();
        let plain = sample(2 * PACKAGE_SIZE);
        let sealed = Sealer::seal_all(&key, &plain);
        // Cut after the first package: it is not flagged last, so it does not open as a
        // one-package segment.
        let cut = &sealed[..HEADER_SIZE + PACKAGE_SIZE + TAG_SIZE];
        assert!(Opener::open_all(&key, cut, PACKAGE_SIZE as u64).is_err());
        let mut swapped = sealed[..HEADER_SIZE].to_vec();
        let p = PACKAGE_SIZE + TAG_SIZE;
        swapped.extend_from_slice(&sealed[HEADER_SIZE + p..]);
        swapped.extend_from_slice(&sealed[HEADER_SIZE..HEADER_SIZE + p]);
        assert!(Opener::open_all(&key, &swapped, plain.len() as u64).is_err());
    }

    #[test]
    fn a_range_opens_from_its_packages_only() {
        let key = Key256::generate();
        let plain = sample(5 * PACKAGE_SIZE + 10);
        let sealed = Sealer::seal_all(&key, &plain);
        let opener = Opener::new(&key, &sealed[..HEADER_SIZE], plain.len() as u64).unwrap();
        let span = opener.span_at(3 * PACKAGE_SIZE as u64 + 5);
        assert_eq!(span.index, 3);
        let start = span.sealed_offset as usize;
        let mut buf = sealed[start..start + span.sealed_len].to_vec();
        opener.open(span.index, &mut buf).unwrap();
        assert_eq!(buf, &plain[3 * PACKAGE_SIZE..4 * PACKAGE_SIZE]);
        let last = opener.span(5);
        assert_eq!(last.sealed_len, 10 + TAG_SIZE);
    }

    #[test]
    fn wrong_key_does_not_open() {
        let plain = sample(100);
        let sealed = Sealer::seal_all(&Key256::generate(), &plain);
        assert!(Opener::open_all(&Key256::generate(), &sealed, 100).is_err());
    }

    #[test]
    fn wrapped_keys_need_the_same_kek_and_context() {
        let kek = Key256::generate();
        let dk = Key256::generate();
        let wrapped = wrap_key(&kek, &dk, b"ctx");
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(unwrap_key(&kek, &wrapped, b"ctx").unwrap().as_bytes(), dk.as_bytes());
        assert_eq!(unwrap_key(&kek, &wrapped, b"other").unwrap_err(), OpenError::WrongKey);
        assert_eq!(unwrap_key(&Key256::generate(), &wrapped, b"ctx").unwrap_err(), OpenError::WrongKey);
    }

    #[test]
    fn sealed_values_need_the_same_kek_and_context() {
        let kek = Key256::generate();
        for plain in [&b""[..], b"x", b"a forty-character secret access key 0123"] {
            let sealed = seal_value(&kek, plain, b"ctx");
            assert_eq!(sealed.len(), plain.len() + SEALED_OVERHEAD);
            assert_eq!(open_value(&kek, &sealed, b"ctx").unwrap().as_slice(), plain);
            assert_eq!(open_value(&kek, &sealed, b"other").unwrap_err(), OpenError::WrongKey);
            assert_eq!(open_value(&Key256::generate(), &sealed, b"ctx").unwrap_err(), OpenError::WrongKey);
            let mut bad = sealed.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(open_value(&kek, &bad, b"ctx").unwrap_err(), OpenError::WrongKey);
        }
        assert_eq!(open_value(&kek, b"short", b"ctx").unwrap_err(), OpenError::WrongKey);
    }
}
