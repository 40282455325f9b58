//! KeyringIndex on PostgreSQL: nodes racing to replace the keyring or to record their master
//! key's fingerprint.

use super::TestDb;
use crate::meta::KeyringIndex;
use crate::postgres::PgIndex;
use std::sync::Arc;

#[tokio::test]
async fn of_two_nodes_replacing_one_version_exactly_one_wins() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (Arc::new(PgIndex::connect(&db.url).await.unwrap()), Arc::new(PgIndex::connect(&db.url).await.unwrap()));
    for seen in 0..10u64 {
        let race = |index: &Arc<PgIndex>, value: String| {
            let index = index.clone();
            tokio::task::spawn_blocking(move || index.replace_kms_keyring_blocking(seen, &value).unwrap())
        };
        let (from_a, from_b) = (race(&a, format!("a{seen}")), race(&b, format!("b{seen}")));
        let (from_a, from_b) = (from_a.await.unwrap(), from_b.await.unwrap());
        assert_eq!(from_a.is_some() as u8 + from_b.is_some() as u8, 1, "round {seen}: {from_a:?} {from_b:?}");
        let winner = if from_a.is_some() { "a" } else { "b" };
        let b2 = b.clone();
        let now = tokio::task::spawn_blocking(move || b2.kms_keyring_blocking().unwrap().unwrap()).await.unwrap();
        assert_eq!((now.version, now.value), (seen + 1, format!("{winner}{seen}")));
    }
}

#[tokio::test]
async fn nodes_starting_at_once_agree_on_one_fingerprint() {
    let Some(db) = TestDb::create().await else { return };
    let nodes: Vec<PgIndex> = futures::future::try_join_all((0..4).map(|_| PgIndex::connect(&db.url))).await.unwrap();
    let names: Vec<String> = (0..nodes.len()).map(|n| format!("fp{n}")).collect();
    let recorded = futures::future::try_join_all(nodes.iter().zip(&names).map(|(node, name)| node.master_key_fingerprint(name))).await.unwrap();
    assert!(recorded.iter().all(|r| *r == recorded[0]), "{recorded:?}");
    assert!(recorded[0].starts_with("fp"));
    assert_eq!(nodes[0].master_key_fingerprint("other").await.unwrap(), recorded[0]);
}
