//! The smol adapter under async-std's executor, over an async-std socket: the driver only
//! needs `futures-io` and `async-io`, not smol.

use std::time::Duration;

use airflow_sdk_smol::prelude::*;
use airflow_sdk_smol::sdk::local::{self, AnswerOrder, LocalSupervisor};
use airflow_sdk_smol::sdk::protocol::ToSupervisor;

async fn work(ctx: TaskContext) -> Result<String, TaskError> {
    let (a, b) = futures_lite::future::zip(ctx.get_variable("a"), ctx.get_variable("b")).await;
    ctx.sleep(Duration::from_millis(10)).await;
    ctx.xcom_push("joined", &format!("{}+{}", a?, b?)).await?;
    Ok("done".to_owned())
}

#[test]
fn runs_under_async_std() {
    let mut args = local::test_args("d", "work");
    args.vars = vec![("a".into(), "left".into()), ("b".into(), "right".into())];
    let supervisor = LocalSupervisor::for_args(&args)
        .unwrap()
        .answer_order(AnswerOrder::ReversedBatches(2));
    let launch = local::local_launch(&supervisor, Duration::from_secs(10)).unwrap();
    let handle = supervisor.spawn(|_| {});
    let bundle = Bundle::new("t").dag("d", |dag| dag.task("work", work));
    let outcome = async_std::task::block_on(async {
        // The connected socket, as an async-std stream: async-std's reactor drives it.
        let stream = async_std::net::TcpStream::from(launch.comm.try_clone().unwrap());
        airflow_sdk_smol::run_over(&bundle, launch, stream).await
    })
    .unwrap();
    assert_eq!(outcome.protocol_error, None);
    let report = handle.finish().unwrap();
    assert!(
        matches!(report.terminal, Some(ToSupervisor::SucceedTask(_))),
        "{:?}",
        report.terminal
    );
    let joined = report
        .store
        .xcoms
        .iter()
        .find(|(k, _)| k.3 == "joined")
        .map(|(_, v)| v.clone());
    assert_eq!(joined, Some(serde_json::json!("left+right")));
}
