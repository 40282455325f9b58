#!/usr/bin/env python3
"""Writes the seed corpora of the auth fuzz targets (sigv4, sigv2, aws_chunked) into
fuzz/corpus/<target>/. The requests are the AWS documentation's examples; the aws-chunked
bodies are signed with the same example key, date and seed signatures as the target."""
import hashlib, sys

from common import AKID, head, mac, signing_key, write
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
EMPTY = hashlib.sha256(b"").hexdigest()
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
KEY = signing_key("20130524")



def sigv4():
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE},SignedHeaders="
    write("sigv4", "get_object", head([
        "GET /test.txt",
        "host: examplebucket.s3.amazonaws.com",
        "range: bytes=0-9",
        f"x-amz-content-sha256: {EMPTY}",
        f"x-amz-date: {AMZ_DATE}",
        f"authorization: {auth}host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ]))
    write("sigv4", "presigned_get", head([
        "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
        "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        "host: examplebucket.s3.amazonaws.com",
    ]))
    write("sigv4", "streaming_put", head([
        "PUT /examplebucket/chunkObject.txt",
        "host: s3.amazonaws.com",
        f"x-amz-date: {AMZ_DATE}",
        "x-amz-storage-class: REDUCED_REDUNDANCY",
        "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding: aws-chunked",
        "x-amz-decoded-content-length: 66560",
        "content-length: 66824",
        f"authorization: {auth}content-encoding;content-length;host;x-amz-content-sha256;"
        f"x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}",
    ]))
    write("sigv4", "list_objects", head([
        "GET /?max-keys=2&prefix=J",
        "host: examplebucket.s3.amazonaws.com",
        f"x-amz-content-sha256: {EMPTY}",
        f"x-amz-date: {AMZ_DATE}",
        f"authorization: {auth}host;x-amz-content-sha256;x-amz-date,"
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ]))
    write("sigv4", "unsigned_trailer_put", head([
        "PUT /examplebucket/key?x-id=PutObject",
        "host: 127.0.0.1:9000",
        f"x-amz-date: {AMZ_DATE}",
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer: x-amz-checksum-crc32",
        "x-amz-decoded-content-length: 5",
        f"authorization: {auth}host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        f"x-amz-trailer,Signature={'0' * 64}",
    ]))
    write("sigv4", "anonymous", head(["GET /bucket/key", "host: localhost"]))


def sigv2():
    write("sigv2", "get_object", head([
        "GET /photos/puppy.jpg",
        "host: johnsmith.s3.amazonaws.com",
        "date: Tue, 27 Mar 2007 19:36:42 +0000",
        f"authorization: AWS {AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    ]))
    write("sigv2", "presigned_get", head([
        "GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
        "&Expires=1175139620",
        "host: johnsmith.s3.amazonaws.com",
    ]))
    write("sigv2", "path_style_acl", head([
        "GET /johnsmith/?acl&versionId=3&response-content-type=text%2Fplain",
        "host: s3.amazonaws.com",
        "x-amz-date: Tue, 27 Mar 2007 19:36:42 +0000",
        "x-amz-meta-reviewedby: joe@johnsmith.net,jane@johnsmith.net",
        "content-md5: 4gJE4saaMU4BqNR0kLY+lw==",
        "content-type: text/plain",
        f"authorization: AWS {AKID}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ]))


def chunk_sig(prev, data):
    sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{prev}\n{EMPTY}\n{hashlib.sha256(data).hexdigest()}"
    return mac(KEY, sts).hex()


def signed_body(seed, chunks, trailers=None):
    out, prev = b"", seed
    for c in chunks + [b""]:
        prev = chunk_sig(prev, c)
        out += f"{len(c):x};chunk-signature={prev}\r\n".encode() + c + b"\r\n"
    if trailers is None:
        return out
    out = out[:-2]  # the trailer section follows the last chunk header directly
    canonical = "".join(f"{n}:{v}\n" for n, v in trailers)
    out += "".join(f"{n}:{v}\r\n" for n, v in trailers).encode()
    sts = f"AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{SCOPE}\n{prev}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    out += f"x-amz-trailer-signature:{mac(KEY, sts).hex()}\r\n\r\n".encode()
    return out


def unsigned_body(chunks, trailers):
    out = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    out += b"0\r\n" + "".join(f"{n}:{v}\r\n" for n, v in trailers).encode() + b"\r\n"
    return out


def aws_chunked():
    # byte 0: mode | decoded-length-known << 2 | max piece << 3; byte 1: split seed; byte 2: length.
    def seed_file(name, mode, body, decoded=None, max_piece=0, split_seed=0):
        flags = mode | (4 if decoded is not None else 0) | (max_piece << 3)
        write("aws_chunked", name, bytes([flags, split_seed, decoded or 0]) + body)

    hello = [b"hello ", b"world"]
    seed_file("signed", 0, signed_body(SEED, hello), decoded=11)
    seed_file("signed_split", 0, signed_body(SEED, hello), max_piece=7, split_seed=42)
    seed_file("signed_empty", 0, signed_body(SEED, []), decoded=0)
    trailer = [("x-amz-checksum-crc32c", "yZRlqg==")]
    seed_file("signed_trailer", 1, signed_body(TRAILER_SEED, hello, trailer), decoded=11)
    seed_file("signed_trailer_split", 1, signed_body(TRAILER_SEED, hello, trailer), max_piece=3, split_seed=7)
    seed_file("unsigned_trailer", 2, unsigned_body(hello, [("x-amz-checksum-crc32", "DUoRhQ==")]), decoded=11)
    seed_file("unsigned_trailer_split", 2, unsigned_body([b"a" * 20, b"b"], [("x-amz-checksum-crc32", "AAAAAA==")]),
              max_piece=5, split_seed=3)
    seed_file("unsigned_no_names", 3, unsigned_body([b"abc"], []), decoded=3)


if __name__ == "__main__":
    for f in sys.argv[1:] or ["sigv4", "sigv2", "aws_chunked"]:
        globals()[f]()
