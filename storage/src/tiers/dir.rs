//! A tier in a local directory: blobs under `blobs/ab/cd/<hex>` as in the local store,
//! written to `tmp/`, fsynced, checked against their name and renamed into place.

use super::TierBackend;
use crate::blob::{blob_path, Hash};
use crate::perms;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct DirTier {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl DirTier {
    /// The tier at `root`, created if missing (owner-only, like the data directory).
    pub fn open(root: &Path) -> io::Result<DirTier> {
        let (blobs, tmp) = (root.join("blobs"), root.join("tmp"));
        perms::create_dir_all(&blobs)?;
        perms::create_dir_all(&tmp)?;
        Ok(DirTier { blobs, tmp })
    }
}

impl TierBackend for DirTier {
    fn put_file(&self, hash: &Hash, src: &Path) -> io::Result<()> {
        let final_path = blob_path(&self.blobs, hash);
        if final_path.exists() {
            return Ok(());
        }
        let tmp_path = self.tmp.join(format!("{}.{:016x}", hex::encode(hash), rand::random::<u64>()));
        let result = (|| {
            let mut src = File::open(src)?;
            let mut file = perms::file_options().write(true).create_new(true).open(&tmp_path)?;
            super::copy_verified(&mut src, hash, |chunk| file.write_all(chunk))?;
            file.sync_all()?;
            let dir = final_path.parent().expect("blob path has a parent");
            perms::create_dir_all(dir)?;
            fs::rename(&tmp_path, &final_path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result
    }

    fn contains(&self, hash: &Hash) -> io::Result<bool> {
        Ok(blob_path(&self.blobs, hash).exists())
    }

    fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let mut file = File::open(blob_path(&self.blobs, hash))?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(io::BufReader::with_capacity(256 * 1024, file)))
    }

    fn delete(&self, hash: &Hash) -> io::Result<()> {
        match fs::remove_file(blob_path(&self.blobs, hash)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn stores_checks_reads_and_deletes_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let tier = DirTier::open(&dir.path().join("tier")).unwrap();
        let data = b"cold bytes".to_vec();
        let hash: Hash = Sha256::digest(&data).into();
        assert!(!tier.contains(&hash).unwrap());
        // Bytes that do not hash to the name are refused and leave nothing behind.
        let (other, good) = (dir.path().join("other"), dir.path().join("good"));
        fs::write(&other, b"other bytes").unwrap();
        fs::write(&good, &data).unwrap();
        let wrong = tier.put_file(&hash, &other);
        assert_eq!(wrong.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(!tier.contains(&hash).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("tier/tmp")).unwrap().count(), 0);
        tier.put_file(&hash, &good).unwrap();
        let mut tail = String::new();
        tier.open_at(&hash, 5).unwrap().read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "bytes");
        tier.delete(&hash).unwrap();
        tier.delete(&hash).unwrap();
        assert!(!tier.contains(&hash).unwrap());
    }
}
