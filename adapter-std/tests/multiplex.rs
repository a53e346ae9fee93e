//! Several threads of one task wait at once: one of them reads the socket for all, and each
//! answer still reaches its own caller when the local supervisor answers them last first.

use std::time::Duration;

use airflow_sdk_std::prelude::*;
use airflow_sdk_std::sdk::local::{self, AnswerOrder, LocalSupervisor};
use airflow_sdk_std::sdk::protocol::ToSupervisor;

// Three threads, each blocked on its own read, so the driver's reader hand-over is exercised:
// whichever thread reads must feed the others' answers to them.
fn three_threads(ctx: &TaskContext) -> Result<Vec<String>, TaskError> {
    std::thread::scope(|scope| {
        let reads: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|key| scope.spawn(move || ctx.get_variable(key).map_err(Box::new)))
            .collect();
        reads
            .into_iter()
            .map(|read| read.join().expect("a reading thread panicked"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TaskError::from(*e))
    })
}

fn never_answered(ctx: &TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("a")?)
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
        dag.task("three_threads", three_threads)
            .task("never_answered", never_answered)
    })
}

#[test]
fn answers_in_reverse_order_reach_their_threads() {
    // Repeated, since which thread ends up reading varies from run to run.
    for _ in 0..10 {
        let supervisor = supervisor("three_threads", AnswerOrder::ReversedBatches(3));
        let launch = local::local_launch(&supervisor, Duration::from_secs(10)).unwrap();
        let handle = supervisor.spawn(|_| {});
        let outcome = airflow_sdk_std::run(&bundle(), launch).unwrap();
        assert_eq!(outcome.protocol_error, None);
        let report = handle.finish().unwrap();
        assert_eq!(report.count_requests("GetVariable"), 3);
        assert_eq!(
            report.store.xcoms.values().next().cloned(),
            Some(serde_json::json!(["first", "second", "third"]))
        );
        assert!(
            matches!(report.terminal, Some(ToSupervisor::SucceedTask(_))),
            "{:?}",
            report.terminal
        );
    }
}

#[test]
fn a_request_never_answered_times_out_and_the_task_fails() {
    let supervisor = supervisor("never_answered", AnswerOrder::NeverAnswer);
    let launch = local::local_launch(&supervisor, Duration::from_millis(300)).unwrap();
    let handle = supervisor.spawn(|_| {});
    let started = std::time::Instant::now();
    let outcome = airflow_sdk_std::run(&bundle(), launch).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.state, airflow_sdk_std::sdk::FinalState::Failed);
    let report = handle.finish().unwrap();
    assert!(
        matches!(report.terminal, Some(ToSupervisor::TaskState(_))),
        "{:?}",
        report.terminal
    );
}
