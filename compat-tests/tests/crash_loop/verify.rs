//! After a restart: every key of a task shows its acknowledged state or the state its write in
//! flight would have left, byte for byte with metadata, tags and version history.

use super::oracle::{Observed, TaskState};
use super::{PLAIN, VERSIONED};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::error_code;

/// Checks and settles every key of `st`; returns how many object versions were read back.
pub async fn task(s3: &Client, st: &mut TaskState) -> u64 {
    let mut checked = 0;
    for i in 0..st.plain.len() {
        let key = st.key(i);
        let seen = observe(s3, PLAIN, &key, None).await;
        let k = &mut st.plain[i];
        let is = |want: &Option<_>| match (&seen, want) {
            (None, None) => true,
            (Some(o), Some(c)) => o.is(c),
            _ => false,
        };
        if !is(&k.acked) {
            match k.pending.take() {
                Some(pending) if is(&pending) => k.acked = pending,
                pending => panic!(
                    "LOST {PLAIN}/{key}: found {}, acknowledged {:?}, in flight {pending:?}",
                    describe(&seen),
                    k.acked
                ),
            }
        }
        k.pending = None;
        checked += u64::from(k.acked.is_some());
    }
    for i in 0..st.versioned.len() {
        let key = st.key(i);
        let listed = history(s3, &key).await;
        let k = &mut st.versioned[i];
        k.acked = k.resolve(&listed).unwrap_or_else(|e| panic!("LOST {VERSIONED}/{key}: {e}"));
        k.pending = None;
        for v in &k.acked {
            let Some(c) = &v.content else { continue };
            let seen = observe(s3, VERSIONED, &key, Some(&v.id)).await;
            assert!(seen.as_ref().is_some_and(|o| o.is(c)), "LOST {VERSIONED}/{key} version {}: found {}, want {c:?}", v.id, describe(&seen));
            checked += 1;
        }
    }
    checked
}

fn describe(seen: &Option<Observed>) -> String {
    match seen {
        None => "nothing".into(),
        Some(o) => format!("{} bytes, {:?}, seed {:?}, tags {:?}", o.bytes.len(), o.content_type, o.meta_seed, o.tags),
    }
}

/// GET (and GetObjectTagging) of a key or one version; `None` if there is no such object.
async fn observe(s3: &Client, bucket: &str, key: &str, version: Option<&str>) -> Option<Observed> {
    let got = s3.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_string)).send().await;
    let got = match got {
        Ok(g) => g,
        Err(e) if error_code(&e).as_deref() == Some("NoSuchKey") => return None,
        Err(e) => panic!("GET {bucket}/{key} {version:?}: {e:?}"),
    };
    let content_type = got.content_type().map(str::to_string);
    let meta_seed = got.metadata().and_then(|m| m.get("seed").cloned());
    let bytes = got.body.collect().await.expect("read body").into_bytes().to_vec();
    let tagging = s3.get_object_tagging().bucket(bucket).key(key).set_version_id(version.map(str::to_string)).send().await;
    let tags = tagging
        .unwrap_or_else(|e| panic!("GetObjectTagging {bucket}/{key}: {e:?}"))
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Some(Observed { bytes, content_type, meta_seed, tags })
}

/// A key's version history, oldest first, as (version id, is a delete marker); exactly the
/// newest entry is the latest. Coffer's version ids sort by age.
async fn history(s3: &Client, key: &str) -> Vec<(String, bool)> {
    let page = s3.list_object_versions().bucket(VERSIONED).prefix(key).send().await.expect("ListObjectVersions");
    assert!(!page.is_truncated().unwrap_or(false));
    let versions = page.versions().iter().map(|v| (v.key(), v.version_id(), v.is_latest(), false));
    let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id(), m.is_latest(), true));
    let mut entries: Vec<(String, bool, bool)> = versions
        .chain(markers)
        .filter(|(k, ..)| *k == Some(key))
        .map(|(_, id, latest, marker)| (id.unwrap_or_default().to_string(), latest.unwrap_or(false), marker))
        .collect();
    entries.sort();
    for (n, (id, latest, _)) in entries.iter().enumerate() {
        assert_eq!(*latest, n + 1 == entries.len(), "{VERSIONED}/{key} version {id}: IsLatest wrong in {entries:?}");
    }
    entries.into_iter().map(|(id, _, marker)| (id, marker)).collect()
}

/// Aborts the multipart uploads the kills left unfinished.
pub async fn abort_leftover_uploads(s3: &Client) {
    let page = s3.list_multipart_uploads().bucket(PLAIN).send().await.expect("ListMultipartUploads");
    for u in page.uploads() {
        s3.abort_multipart_upload()
            .bucket(PLAIN)
            .key(u.key().unwrap_or_default())
            .upload_id(u.upload_id().unwrap_or_default())
            .send()
            .await
            .expect("AbortMultipartUpload");
    }
}
