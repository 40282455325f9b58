//! A wave of deletes for scripts/bench-scale.sh: `delete_wave ENDPOINT BUCKET PREFIX` lists
//! every key under PREFIX (ListObjectsV2, 1,000 a page) and removes each page with one
//! DeleteObjects request, four requests in flight, as `aws s3 rm --recursive` does; then
//! prints the seconds it took. Credentials come from COFFER_ROOT_ACCESS_KEY and
//! COFFER_ROOT_SECRET_KEY. The official Rust SDK rather than boto3, so that the client's own
//! CPU (boto3 spent twice the server's time here) does not crowd the requests being measured
//! beside the wave on a small machine.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use coffer_compat_tests::sdk_client;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const IN_FLIGHT: usize = 4;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, bucket, prefix] = &args[..] else {
        return Err("usage: delete_wave ENDPOINT BUCKET PREFIX".into());
    };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let http = aws_smithy_http_client::Builder::new().build_http();
    let s3 = sdk_client(endpoint, &var("COFFER_ROOT_ACCESS_KEY")?, &var("COFFER_ROOT_SECRET_KEY")?, http);
    let started = Instant::now();
    let places = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut deletes: JoinSet<Result<(), Failure>> = JoinSet::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let keys = page?.contents.unwrap_or_default().into_iter().filter_map(|o| o.key);
        let objects = keys.map(|k| ObjectIdentifier::builder().key(k).build()).collect::<Result<Vec<_>, _>>()?;
        if objects.is_empty() {
            continue;
        }
        let place = places.clone().acquire_owned().await?;
        let request = s3.delete_objects().bucket(bucket).delete(Delete::builder().set_objects(Some(objects)).quiet(true).build()?);
        deletes.spawn(async move {
            let answer = request.send().await?;
            drop(place);
            match answer.errors.unwrap_or_default().first() {
                Some(e) => Err(format!("DeleteObjects refused {:?}: {:?}", e.key, e.code).into()),
                None => Ok(()),
            }
        });
    }
    while let Some(done) = deletes.join_next().await {
        done??;
    }
    println!("{:.1}", started.elapsed().as_secs_f64());
    Ok(())
}
