"""What the seed writers share: the AWS documentation's example credentials, SigV4 key
derivation, and writing a seed file into fuzz/corpus/<target>/."""
import hashlib, hmac, os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def head(lines):
    """A request head as the fuzz targets read it: request line, then header lines."""
    return "\r\n".join(lines) + "\r\n"


def mac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


def signing_key(date, region="us-east-1"):
    k = mac(("AWS4" + SECRET).encode(), date)
    return mac(mac(mac(k, region), "s3"), "aws4_request")
