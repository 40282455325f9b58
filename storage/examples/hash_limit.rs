//! What the hashes of an upload cost on this machine, for scripts/bench.sh: every stored byte
//! of a PUT is hashed with MD5 (its ETag), SHA-256 (its blob's name) and CRC32C (checked on
//! reads), each over the same 64 MiB buffer on one thread here. Prints one JSON line: each
//! hash's MB/s on one core, and `mb_per_core`, the rate one core reaches doing all three (the
//! most any number of uploads can get per core the server has, before a byte is copied or
//! written, were the hashes computed one after the other), and `interleaved_mb_per_core`, the
//! rate of MD5 and SHA-256 computed together (`coffer_storage::Md5Sha256`, fed 128 KiB at a
//! time as the network gives them) plus a CRC32C pass, and `paired_mb_per_core`, the bytes of
//! two uploads MD5 and SHA-256 hash on one core when their blocks go side by side, as the
//! hashing pool does (without CRC32C, which the writing thread computes).
//! `cargo run --release --example hash_limit [MiB]`.

use md5::{Digest, Md5};
use sha2::Sha256;
use std::time::Instant;

/// Seconds one pass of `f` over `data` takes, the best of three (the first warms the caches).
fn best_of_three(data: &[u8], f: impl Fn(&[u8])) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            f(data);
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    // Bytes that do not compress or repeat (a xorshift stream), as an upload's would be.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mb = data.len() as f64 / 1e6;
    let md5 = best_of_three(&data, |d| { std::hint::black_box(Md5::digest(d)); });
    let sha256 = best_of_three(&data, |d| { std::hint::black_box(Sha256::digest(d)); });
    let crc32c = best_of_three(&data, |d| { std::hint::black_box(crc32c::crc32c(d)); });
    let interleaved = best_of_three(&data, |d| {
        let mut hasher = coffer_storage::Md5Sha256::new();
        for piece in d.chunks(128 << 10) {
            hasher.update(piece);
        }
        std::hint::black_box(hasher.finish().md5);
    });
    // Two uploads hashed together, MD5 and SHA-256 of each, side by side on this one core.
    let other: Vec<u8> = data.iter().rev().copied().collect();
    let paired = best_of_three(&data, |d| {
        let (mut a, mut b) = (coffer_storage::Md5Sha256::new(), coffer_storage::Md5Sha256::new());
        for (mut x, mut y) in d.chunks(128 << 10).zip(other.chunks(128 << 10)) {
            while !x.is_empty() && !y.is_empty() {
                let (x_taken, y_taken) = coffer_storage::Md5Sha256::update_pair(&mut a, x, &mut b, y);
                (x, y) = (&x[x_taken..], &y[y_taken..]);
            }
            a.update(x);
            b.update(y);
        }
        std::hint::black_box((a.finish().md5, b.finish().md5));
    });
    println!(
        "{{\"mib\": {mib}, \"md5_mb_s\": {:.0}, \"sha256_mb_s\": {:.0}, \"crc32c_mb_s\": {:.0}, \"mb_per_core\": {:.0}, \"interleaved_mb_per_core\": {:.0}, \"paired_mb_per_core\": {:.0}}}",
        mb / md5,
        mb / sha256,
        mb / crc32c,
        mb / (md5 + sha256 + crc32c),
        mb / (interleaved + crc32c),
        2.0 * mb / paired
    );
}
