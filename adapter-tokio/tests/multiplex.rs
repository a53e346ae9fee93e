//! Requests in flight together are routed by id: the local supervisor holds three reads and
//! answers them last first, and each answer still reaches its own caller.

use std::time::Duration;

use airflow_sdk_tokio::prelude::*;
use airflow_sdk_tokio::sdk::local::{self, AnswerOrder, LocalReport, LocalSupervisor};
use airflow_sdk_tokio::sdk::protocol::ToSupervisor;
use airflow_sdk_tokio::sdk::{FinalState, RunOutcome};

async fn three_reads(ctx: TaskContext) -> Result<Vec<String>, TaskError> {
    let (a, b, c) = tokio::join!(
        ctx.get_variable("a"),
        ctx.get_variable("b"),
        ctx.get_variable("c")
    );
    Ok(vec![a?, b?, c?])
}

async fn never_answered(ctx: TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("a").await?)
}

// A read with a long timeout goes out first and arms the driver's timer; a read with a short
// one follows, and its earlier deadline must still end the wait.
async fn earlier_deadline(ctx: TaskContext) -> Result<String, TaskError> {
    let slow = ctx.with_timeout(Duration::from_secs(60)).get_variable("a");
    let fast = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ctx.with_timeout(Duration::from_millis(200))
            .get_variable("b")
            .await
    };
    Ok(tokio::select! {
        biased;
        read = slow => read?,
        read = fast => read?,
    })
}

// The first read, answered, arms the driver's timer at its one-minute deadline; the second
// is sent alone (its caller writes it) with an earlier deadline, which must still end the
// wait.
async fn earlier_deadline_after_an_answer(ctx: TaskContext) -> Result<String, TaskError> {
    ctx.with_timeout(Duration::from_secs(60))
        .get_variable("a")
        .await?;
    Ok(ctx
        .with_timeout(Duration::from_millis(200))
        .get_variable("b")
        .await?)
}

fn supervisor(task: &str, order: AnswerOrder) -> LocalSupervisor {
    let mut args = local::test_args("d", task);
    for (k, v) in [("a", "first"), ("b", "second"), ("c", "third")] {
        args.vars.push((k.into(), v.into()));
    }
    LocalSupervisor::for_args(&args)
        .unwrap()
        .answer_order(order)
}

fn bundle() -> Bundle {
    Bundle::new("t").dag("d", |dag| {
        dag.task("three_reads", three_reads)
            .task("never_answered", never_answered)
            .task("earlier_deadline", earlier_deadline)
            .task(
                "earlier_deadline_after_an_answer",
                earlier_deadline_after_an_answer,
            )
    })
}

/// Runs `task` against a supervisor that answers as `order` says, with `timeout` as the
/// launch's request timeout: its outcome, the supervisor's report, and how long the run took.
async fn run_unanswered(
    task: &str,
    order: AnswerOrder,
    timeout: Duration,
) -> (RunOutcome, LocalReport, Duration) {
    let supervisor = supervisor(task, order);
    let launch = local::local_launch(&supervisor, timeout).unwrap();
    let handle = supervisor.spawn(|_| {});
    let started = std::time::Instant::now();
    let outcome = airflow_sdk_tokio::run(&bundle(), launch).await.unwrap();
    let took = started.elapsed();
    (outcome, handle.finish().unwrap(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_reverse_order_reach_their_callers() {
    let supervisor = supervisor("three_reads", AnswerOrder::ReversedBatches(3));
    let launch = local::local_launch(&supervisor, Duration::from_secs(10)).unwrap();
    let handle = supervisor.spawn(|_| {});
    let outcome = airflow_sdk_tokio::run(&bundle(), launch).await.unwrap();
    assert_eq!(outcome.protocol_error, None);
    let report = handle.finish().unwrap();
    assert_eq!(report.count_requests("GetVariable"), 3);
    let pushed = report.store.xcoms.values().next().cloned();
    assert_eq!(
        pushed,
        Some(serde_json::json!(["first", "second", "third"]))
    );
    assert!(
        matches!(report.terminal, Some(ToSupervisor::SucceedTask(_))),
        "{:?}",
        report.terminal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_answered_times_out_and_the_task_fails() {
    let (outcome, report, took) = run_unanswered(
        "never_answered",
        AnswerOrder::NeverAnswer,
        Duration::from_millis(300),
    )
    .await;
    assert!(took < Duration::from_secs(5));
    assert_eq!(outcome.state, FinalState::Failed);
    assert!(
        matches!(report.terminal, Some(ToSupervisor::TaskState(_))),
        "{:?}",
        report.terminal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_deadline_than_the_armed_one_still_ends_the_wait() {
    let (outcome, report, took) = run_unanswered(
        "earlier_deadline",
        AnswerOrder::NeverAnswer,
        Duration::from_secs(60),
    )
    .await;
    // The short read times out after 200 ms; the long one would have waited a minute.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(outcome.state, FinalState::Failed);
    assert_eq!(report.count_requests("GetVariable"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_deadline_after_an_answer_still_ends_the_wait() {
    let (outcome, report, took) = run_unanswered(
        "earlier_deadline_after_an_answer",
        AnswerOrder::AnswerFirst(1),
        Duration::from_secs(60),
    )
    .await;
    // The second read times out after 200 ms; the timer armed for the first would have
    // waited a minute.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(outcome.state, FinalState::Failed);
    assert_eq!(report.count_requests("GetVariable"), 2);
}
